"""What each job of the release checks when it starts, run on a config the lint rendered.

Every job loads its rendered config through one function of the runtime (the one its process or
hook calls first), and that function is where the job's property values are checked: types,
ranges, and rules across properties such as consul-lock's lock timing. The lint feeds it the
file it just rendered, so a value the job would refuse on the VM is refused before a deploy,
with the same message. :data:`START_CHECKS` says which file and which function, per job.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cf_mysql_consul.benchmark_bbs import config as benchmark_bbs
from cf_mysql_consul.consul_lock import config as consul_lock
from cf_mysql_consul.galera_drain import config as galera_drain
from cf_mysql_consul.proxy import config as proxy


@dataclass(frozen=True, slots=True)
class StartCheck:
    """A job's rendered config (destination under the job's directory) and the loader that checks it."""

    config: str
    load: Callable[[Path], object]
    error: type[Exception]


START_CHECKS: dict[str, StartCheck] = {
    "consul-lock": StartCheck("config/consul-lock.yml", consul_lock.load_config, consul_lock.ConfigError),
    "proxy": StartCheck("config/proxy.yml", proxy.load_config, proxy.ConfigError),
    "galera-drain": StartCheck("config/galera-drain.json", galera_drain.load_config, galera_drain.ConfigError),
    "benchmark-bbs": StartCheck("config/benchmark-bbs.json", benchmark_bbs.load_config, benchmark_bbs.ConfigError),
}


def start_refusal(job: str, files: Mapping[str, str]) -> str | None:
    """Why ``job`` would refuse to start with the rendered ``files`` (destination -> content); None
    when it would start, or when its config did not render (the render error is reported instead)."""
    check = START_CHECKS.get(job)
    if check is None or check.config not in files:
        return None
    with tempfile.TemporaryDirectory(prefix=f"lint-{job}-") as tmp:
        path = Path(tmp) / Path(check.config).name
        path.write_text(files[check.config])
        try:
            check.load(path)
        except check.error as exc:
            return str(exc)
    return None
