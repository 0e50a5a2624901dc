"""The benchmarks' pure parts: sysbench report parsing, medians with timeouts, HAProxy configs
(checked by the real ``haproxy -c``)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from cf_mysql_consul_tools.benchmarks import sysbench
from cf_mysql_consul_tools.benchmarks.failover import RunResult, median, summary
from cf_mysql_consul_tools.benchmarks.haproxy import Server, tcp_config
from cf_mysql_consul_tools.benchmarks.labproxy import parse_metrics

REPORT = """\
sysbench 1.0.20 (using system LuaJIT 2.1.0-beta3)

Running the test with following options:
Number of threads: 8

SQL statistics:
    queries performed:
        read:                            112581
        write:                           0
        other:                           0
        total:                           112581
    transactions:                        112581 (11253.23 per sec.)
    queries:                             112581 (11253.23 per sec.)
    ignored errors:                      3      (0.00 per sec.)
    reconnects:                          0      (0.00 per sec.)

General statistics:
    total time:                          10.0029s
    total number of events:              112581

Latency (ms):
         min:                                    0.15
         avg:                                    0.71
         max:                                   21.48
         95th percentile:                        1.76
         sum:                                79832.06
"""


def test_a_sysbench_report_gives_tps_p95_and_error_counts() -> None:
    result = sysbench.parse_report(REPORT)
    assert result == sysbench.SysbenchResult(
        tps=11253.23, qps=11253.23, p95_ms=1.76, errors=3, reconnects=0, seconds=10.0029
    )


def test_a_report_without_figures_is_an_error_that_quotes_it() -> None:
    with pytest.raises(sysbench.SysbenchError, match="FATAL: unable to connect"):
        sysbench.parse_report("FATAL: unable to connect to MySQL server")


def test_the_median_counts_a_timeout_as_worse_than_any_figure() -> None:
    assert median([1.0, 3.0, 2.0]) == 2.0
    assert median([1.0, None, 2.0]) == 2.0
    assert median([1.0, None, None]) is None
    assert median([]) is None


def test_the_summary_judges_our_first_write_against_the_target() -> None:
    runs = [
        RunResult("kill", {"ours": 0.1, "haproxy": 5.0}, {"ours": 1.2, "haproxy": 6.0}),
        RunResult("kill", {"ours": 0.2, "haproxy": 6.0}, {"ours": 1.4, "haproxy": 6.5}),
        RunResult("pause", {"ours": 1.2, "haproxy": 9.0}, {"ours": 6.0, "haproxy": None}),
    ]
    figures = summary(runs)
    assert figures["kill"]["first_write_ours_median_s"] == pytest.approx(1.3)
    assert figures["kill"]["target_met"] is True
    assert figures["pause"]["target_met"] is False
    assert figures["pause"]["first_write_haproxy_median_s"] is None


def test_prometheus_text_is_parsed_per_labelled_sample() -> None:
    text = '# HELP x y\n# TYPE x gauge\ncf_mysql_proxy_backend_sessions{backend="mysql/0",host="a",port="1"} 3\nz 1.5\n'
    assert parse_metrics(text) == {
        'cf_mysql_proxy_backend_sessions{backend="mysql/0",host="a",port="1"}': 3.0,
        "z": 1.5,
    }


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is not installed")
def test_haproxy_accepts_the_generated_configs(tmp_path: Path) -> None:
    checks = "option httpchk GET /api/v1/status\nhttp-check expect status 200"
    opts = "check port 9200 inter 2s fall 3 rise 2 on-marked-down shutdown-sessions"
    configs = [
        tcp_config("127.0.40.20", 3306, [Server("mysql0", "127.0.40.1", 3306)]),
        tcp_config(
            "127.0.40.21",
            3306,
            [Server("mysql0", "127.0.40.1", 3306, opts), Server("mysql1", "127.0.40.2", 3306, f"{opts} backup")],
            defaults=checks,
            nbthread=1,
        ),
    ]
    for i, config in enumerate(configs):
        path = tmp_path / f"haproxy{i}.cfg"
        path.write_text(config)
        check = subprocess.run(["haproxy", "-c", "-f", str(path)], capture_output=True, text=True, check=False)
        assert check.returncode == 0, check.stdout + check.stderr


def test_galera_options_reach_every_galera_member_of_the_bench_lab(tmp_path: Path) -> None:
    import yaml

    from cf_mysql_consul_tools.benchmarks.labrun import parse_galera_options, with_galera_options

    options = parse_galera_options("evs.suspect_timeout=PT1S, evs.keepalive_period=PT0.3S")
    assert options == {"evs.suspect_timeout": "PT1S", "evs.keepalive_period": "PT0.3S"}
    with pytest.raises(ValueError, match=r"'evs\.x' is not NAME=VALUE"):
        parse_galera_options("evs.x")
    raw = yaml.safe_load(with_galera_options(tmp_path / "m" / "lab.yml", options).read_text())
    members = [j for g in raw["instance_groups"] for j in g["jobs"] if j["name"] in ("mysql", "arbitrator")]
    assert len(members) == 2
    for job in members:
        assert job["properties"]["cf_mysql"]["mysql"]["galera_provider_options"]["evs.suspect_timeout"] == "PT1S"
