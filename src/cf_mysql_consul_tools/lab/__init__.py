"""The local lab: a stand-in for bosh-lite built from real MariaDB Galera, garbd and Consul.

Use :class:`cf_mysql_consul_tools.lab.lab.Lab` (also exported here).
"""

from cf_mysql_consul_tools.lab.lab import Lab, LabError

__all__ = ["Lab", "LabError"]
