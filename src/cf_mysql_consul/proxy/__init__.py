"""The proxy part of cf-mysql-consul."""
