"""The bbs part of cf-mysql-consul."""
