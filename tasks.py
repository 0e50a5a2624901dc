"""The invoke namespace, for running plain ``invoke`` here; ``./inv`` runs the same tasks through
``cf_mysql_consul_tools.tasks.program`` (usage errors exit 2). ``./inv --list`` shows every task."""

from cf_mysql_consul_tools.tasks.program import build_namespace

ns = build_namespace()
