"""Invoke tasks, one namespace per area: thin wrappers over ``src/cf_mysql_consul``.

Run ``./inv --list`` for the list, ``./inv --help TASK`` for a task's options.
"""

from invoke.collection import Collection

from cf_mysql_consul_tools.tasks import bench, bosh, experiment, lab, release, test

ns = Collection()
for module, name in ((lab, "lab"), (bench, "bench"), (experiment, "experiment"), (release, "release"), (bosh, "bosh")):
    ns.add_collection(Collection.from_module(module, name=name))
ns.add_task(test.test, name="test")
ns.configure({"run": {"echo": True, "pty": False}})
