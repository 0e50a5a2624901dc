"""The lock part of cf-mysql-consul."""
