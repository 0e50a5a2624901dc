"""Invoke tasks: thin wrappers over ``src/cf_mysql_consul``. Run ``./inv --list``."""

from invoke import Collection

from cf_mysql_consul.tasks import lab, test

ns = Collection()
ns.add_collection(Collection.from_module(lab, name="lab"))
ns.add_task(test.test, name="test", default=False)
ns.configure({"run": {"echo": True, "pty": False}})
