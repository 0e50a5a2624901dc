"""The release part of cf-mysql-consul."""
