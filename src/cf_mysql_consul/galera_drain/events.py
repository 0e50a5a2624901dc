"""What galera-drain's hooks did, kept for its metrics process: one JSON line per finished step.

The hooks (``bin/drain``, ``bin/post-start``) exit when they are done, so nothing of theirs can be
scraped. Each appends an event to the job's event log (``events_path``, on the persistent disk:
the drain that allowed a VM's recreation is still there afterwards), and
:mod:`cf_mysql_consul.galera_drain.metrics` turns the whole log into metrics at every scrape.
Recording never fails a hook: a log that cannot be written is only reported.

Events (every line also has ``ts``, ``instance`` and ``message``):

- ``drain``: a drain ended; ``outcome`` (:class:`~cf_mysql_consul.galera_drain.decide.Outcome`) and
  ``seconds`` from BOSH's first drain call.
- ``switchover``: bin/drain asked the active proxy to move its clients; ``result`` is ``requested``
  or ``request_failed``.
- ``post_start``: post-start ended; ``outcome`` is ``rejoined`` or ``timed_out``, ``seconds`` how long
  it waited for the node to be Synced.
"""

from __future__ import annotations

from typing import Any

from cf_mysql_consul.galera_drain.config import JobConfig
from cf_mysql_consul.proxy.events import EventLog

DRAIN, SWITCHOVER, POST_START = "drain", "switchover", "post_start"
SWITCHOVER_RESULTS = ("requested", "request_failed")
POST_START_OUTCOMES = ("rejoined", "timed_out")


def record(config: JobConfig, event: str, message: str, **fields: Any) -> None:
    """Append one event to the job's event log."""
    log = EventLog(config.events_path, config.node_name)
    try:
        log.emit(event, message, **fields)
    finally:
        log.close()

