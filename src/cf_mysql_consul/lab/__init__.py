"""The lab part of cf-mysql-consul."""
