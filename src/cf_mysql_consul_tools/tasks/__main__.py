"""``python -m cf_mysql_consul_tools.tasks ARGS``: what ``./inv`` runs once the bootstrap is done."""

from cf_mysql_consul_tools.tasks.program import main

main()
