"""Start mariadbd the way cf-mysql's and pxc's start scripts do: after a crash, recover the
node's Galera position first, so that it rejoins by IST (a catch-up) instead of SST (a full copy).

A SIGKILLed node leaves ``seqno: -1`` in grastate.dat. Started as is, mariadbd does not know
its position and asks for a full state transfer; with rsync the only other data node then
turns Donor (blocked, unhealthy for the proxy) for the whole copy. ``mariadbd --wsrep-recover``
reads the position from InnoDB, and ``--wsrep_start_position`` hands it to Galera.

Run as ``python -m cf_mysql_consul_tools.lab.mysql_start --defaults-file=CNF [MARIADBD ARGS...]``;
it replaces itself with mariadbd (same PID), so supervisors see mariadbd.
"""

from __future__ import annotations

import configparser
import os
import re
import subprocess
import sys
from pathlib import Path

MARIADBD = "/usr/sbin/mariadbd"
RECOVERED = re.compile(r"WSREP: Recovered position: (\S+:-?\d+)")


def datadir_of(defaults_file: str) -> Path:
    """The ``datadir`` of the ``[mysqld]`` section of ``defaults_file``."""
    parser = configparser.ConfigParser(allow_no_value=True, strict=False, interpolation=None)
    parser.read(defaults_file)
    return Path(parser.get("mysqld", "datadir"))


def needs_recovery(datadir: Path) -> bool:
    """True when grastate.dat says the position is unknown (a crash, not a clean stop)."""
    grastate = datadir / "grastate.dat"
    if not grastate.exists():
        return False
    return re.search(r"^seqno:\s*-1\s*$", grastate.read_text(), re.MULTILINE) is not None


def recover_position(defaults_file: str, log_path: Path) -> str | None:
    """Run ``mariadbd --wsrep-recover`` and return the recovered ``uuid:seqno`` (None if none)."""
    log_path.unlink(missing_ok=True)
    subprocess.run(
        [MARIADBD, f"--defaults-file={defaults_file}", "--wsrep-recover", f"--log-error={log_path}"],
        check=False, stdin=subprocess.DEVNULL, timeout=600,
    )
    text = log_path.read_text(errors="replace") if log_path.exists() else ""
    found = RECOVERED.findall(text)
    if not found or found[-1].endswith(":-1"):
        return None
    return str(found[-1])


def start_argv(argv: list[str]) -> list[str]:
    """The mariadbd command line: ``argv`` plus ``--wsrep_start_position`` after a crash."""
    defaults = next((a.split("=", 1)[1] for a in argv if a.startswith("--defaults-file=")), None)
    if defaults is None:
        raise SystemExit("mysql_start: --defaults-file=CNF is required")
    datadir = datadir_of(defaults)
    extra: list[str] = []
    if "--wsrep-new-cluster" not in argv and needs_recovery(datadir):
        position = recover_position(defaults, datadir.parent.parent / "sys" / "log" / "mysql" / "wsrep-recover.log")
        if position:
            print(f"mysql_start: recovered Galera position {position}", file=sys.stderr, flush=True)
            extra.append(f"--wsrep_start_position={position}")
    # --defaults-file must stay the first option.
    return [MARIADBD, *argv, *extra]


def main(argv: list[str]) -> None:
    """Recover if needed, then exec mariadbd."""
    command = start_argv(argv)
    os.execv(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
