"""What the jobs' BOSH lifecycle hooks (``bin/drain``, ``bin/pre-start``, ``bin/post-start``) share.

A hook is run as ``python -m <module> --config PATH`` followed by whatever BOSH passes (a drain
gets ``job_shutdown hash_unchanged ...``). :func:`run_hook` parses that, loads the config and
runs the hook's body; a config that does not load is reported on stderr, and a drain hook still
prints the one integer the drain protocol needs on stdout (0: stop now).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

C = TypeVar("C")


def say(hook: str, text: str) -> None:
    """One line on stderr, prefixed with the hook's name (stdout is the drain protocol's)."""
    print(f"{hook}: {text}", file=sys.stderr, flush=True)


def run_hook(hook: str, argv: list[str] | None, load: Callable[[str], C],
             body: Callable[[C, argparse.Namespace, list[str]], int], *,
             options: Sequence[tuple[str, dict[str, Any]]] = (), drain: bool = False, bad_config_exit: int = 1) -> int:
    """Parse ``--config`` (and ``options``), load the config, return ``body(config, args, bosh_args)``.

    A config that ``load`` refuses (a ValueError naming the field) is said on stderr; the hook
    then exits with ``bad_config_exit``, after printing ``0`` when it is a ``drain`` hook.
    """
    parser = argparse.ArgumentParser(prog=hook)
    parser.add_argument("--config", required=True)
    for flag, settings in options:
        parser.add_argument(flag, **settings)
    args, bosh_args = parser.parse_known_args(argv)
    try:
        config = load(args.config)
    except ValueError as exc:
        say(hook, f"invalid config{', not draining' if drain else ''}: {exc}")
        if drain:
            print(0, flush=True)
        return bad_config_exit
    return body(config, args, bosh_args)


def pid_alive(pid: int) -> bool:
    """True while process ``pid`` exists and is not a zombie (a signal 0 alone counts zombies)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def pid_file_alive(pid_file: str) -> bool:
    """True when ``pid_file`` names a live process (see :func:`pid_alive`)."""
    try:
        pid = int(Path(pid_file).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return False
    return pid_alive(pid)
