"""Ginkgo (v1) output as benchmark-bbs printed it in the seed log, byte for byte.

A passing run prints one ``[MEASUREMENT]`` block (each metric: ``map[MetricName:X]``, its label,
then Fastest/Slowest/Average with 3 decimals and the population standard deviation) and the
suite footer; a seeding failure prints the ``[BeforeSuite]`` failure block with the error.
The source paths and the spec's text (typo included) are the seed's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

SEED_PATH = "/var/vcap/packages/benchmark-bbs/src/github.com/cloudfoundry-incubator/benchmark-bbs"
SPEC_TEXT = "data for benchamrks"
RULE = "-" * 30


@dataclass(frozen=True, slots=True)
class Measured:
    """One metric as the Ginkgo block shows it."""

    metric: str
    label: str
    fastest: float
    slowest: float
    average: float
    stddev: float


def go_duration(seconds: float) -> str:
    """Go's ``time.Duration.String()``: ``10m31.388780701s``, ``1h0m2s``, ``250ms``."""
    ns = round(seconds * 1e9)
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size or unit == "ns":
                return sign + _frac(ns, size) + unit
    hours, rest = divmod(ns, 3600 * 1_000_000_000)
    minutes, rest = divmod(rest, 60 * 1_000_000_000)
    text = _frac(rest, 1_000_000_000) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{text}"
    if minutes:
        return f"{sign}{minutes}m{text}"
    return sign + text


def _frac(value: int, size: int) -> str:
    whole, frac = divmod(value, size)
    if not frac:
        return str(whole)
    digits = len(str(size)) - 1
    return f"{whole}.{str(frac).rjust(digits, '0').rstrip('0')}"


def measurement_block(measured: Iterable[Measured], *, spec_seconds: float, suite_seconds: float,
                      path: str = SEED_PATH) -> str:
    """The passing suite's output: the ``[MEASUREMENT]`` block and the footer."""
    lines = ["• [MEASUREMENT]", "main benchmark test", f"{path}/benchmark_test.go:210",
             f"  {SPEC_TEXT}", f"  {path}/benchmark_test.go:209", "", "  Ran 1 samples:"]
    for m in measured:
        lines += [f"  map[MetricName:{m.metric}]", f"  {m.label}:",
                  f"    Fastest Time: {m.fastest:.3f}s",
                  f"    Slowest Time: {m.slowest:.3f}s",
                  f"    Average Time: {m.average:.3f}s ± {m.stddev:.3f}s"]
    lines += [RULE, "", f"Ran 1 of 1 Specs in {spec_seconds:.3f} seconds",
              "SUCCESS! -- 1 Passed | 0 Failed | 0 Pending | 0 Skipped", "",
              f"Ginkgo ran 1 suite in {go_duration(suite_seconds)}", "Test Suite Passed"]
    return "\n".join(lines) + "\n"


def _pointer(message: str) -> str:
    return "0xc8" + hashlib.sha256(message.encode()).hexdigest()[:8]


def before_suite_failure(message: str, *, seconds: float, suite_seconds: float, path: str = SEED_PATH) -> str:
    """A seeding error-rate failure, as benchmark-bbs's BeforeSuite reported it."""
    lines = [f"Failure [{seconds:.3f} seconds]", "[BeforeSuite] BeforeSuite", f"{path}/benchmark_bbs_suite_test.go:298",
             "", "  Expected error:", f"      <*errors.errorString | {_pointer(message)}>: {{",
             f'          s: "{message}",', "      }", f"      {message}", "  not to have occurred", "",
             f"  {path}/benchmark_bbs_suite_test.go:244", RULE, "",
             f"Ran 0 of 1 Specs in {seconds:.3f} seconds",
             "FAIL! -- A BeforeSuite node failed so all tests were skipped.", "",
             f"Ginkgo ran 1 suite in {go_duration(suite_seconds)}", "Test Suite Failed"]
    return "\n".join(lines) + "\n"


def measurement_failure(messages: list[str], *, spec_seconds: float, suite_seconds: float,
                        path: str = SEED_PATH) -> str:
    """A measurement that exceeded the error tolerance (Ginkgo's failed-spec block)."""
    lines = [f"• Failure [{spec_seconds:.3f} seconds]", "main benchmark test", f"{path}/benchmark_test.go:210",
             f"  {SPEC_TEXT} [Measurement]", f"  {path}/benchmark_test.go:209", ""]
    lines += [f"  {m}" for m in messages]
    lines += ["", f"  {path}/benchmark_test.go:209", RULE, "",
              f"Ran 1 of 1 Specs in {spec_seconds:.3f} seconds",
              "FAIL! -- 0 Passed | 1 Failed | 0 Pending | 0 Skipped", "",
              f"Ginkgo ran 1 suite in {go_duration(suite_seconds)}", "Test Suite Failed"]
    return "\n".join(lines) + "\n"
