"""Tooling for cf-mysql-consul: the local lab, release tooling, experiments, benchmarks and the
invoke tasks. Never shipped to a VM; the runtime (``cf_mysql_consul``) never imports it."""
