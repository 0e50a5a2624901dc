"""The drain part of cf-mysql-consul."""
