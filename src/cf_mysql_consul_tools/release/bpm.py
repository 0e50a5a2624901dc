"""BPM's shapes, for the release lint: the 4-line monit shim per process, and a rendered
``config/bpm.yml``'s process list."""

from __future__ import annotations

import re

import yaml

BPM_DEST = "config/bpm.yml"


def monit_processes(text: str, job: str) -> tuple[list[str], list[str]]:
    """Parse a BPM monit shim: (process names, problems). Every process is exactly four lines."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    names: list[str] = []
    problems: list[str] = []
    if len(lines) % 4:
        problems.append(f"has {len(lines)} lines; the BPM shim is 4 lines per process")
    for i in range(0, len(lines) - len(lines) % 4, 4):
        head = re.fullmatch(r"check process (\S+)", lines[i])
        if not head:
            problems.append(f"line {lines[i]!r}: expected 'check process NAME' (BPM shim)")
            continue
        name = head.group(1)
        names.append(name)
        flag = r"" if name == job else r" -p " + re.escape(name)
        if name == job:
            flag = r"(?: -p " + re.escape(name) + r")?"
        expected = [
            (rf"with pidfile /var/vcap/sys/run/bpm/{re.escape(job)}/{re.escape(name)}\.pid",
             f"with pidfile /var/vcap/sys/run/bpm/{job}/{name}.pid"),
            (rf'start program "/var/vcap/jobs/bpm/bin/bpm start {re.escape(job)}{flag}"',
             f'start program "/var/vcap/jobs/bpm/bin/bpm start {job}' + ("" if name == job else f" -p {name}") + '"'),
            (rf'stop program "/var/vcap/jobs/bpm/bin/bpm stop {re.escape(job)}{flag}"',
             f'stop program "/var/vcap/jobs/bpm/bin/bpm stop {job}' + ("" if name == job else f" -p {name}") + '"'),
        ]
        for offset, (pattern, wanted) in enumerate(expected, start=1):
            if not re.fullmatch(pattern, lines[i + offset]):
                problems.append(f"process {name}: line {lines[i + offset]!r} is not the BPM shim's {wanted!r}")
    return names, problems


def bpm_process_names(text: str) -> list[str]:
    """Process names of a rendered bpm.yml (empty when it does not parse)."""
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        return []
    return [str(p.get("name")) for p in doc.get("processes") or [] if isinstance(p, dict)]
