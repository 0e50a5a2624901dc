"""cf-mysql-consul: an HA MySQL proxy tier for CF-MySQL (Galera), driven by Consul.

Subpackages, one part each: ``proxy`` (the TCP proxy job), ``lock`` (the consul-lock job),
``drain`` (galera-drain), ``bbs`` (the benchmark-bbs workload), ``lab`` (the local
BOSH-like lab), ``release`` (ERB rendering, release lint, bosh CLI), ``experiments``.
"""

__version__ = "0.1.0"
