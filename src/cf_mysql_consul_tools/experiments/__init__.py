"""The experiments part of cf-mysql-consul."""
