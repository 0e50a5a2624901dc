"""bench.bulk's pieces that need no lab: the seed's figures it compares with, and its argument checks."""

from __future__ import annotations

from cf_mysql_consul_tools.benchmarks.bulk import READS, seed_averages
from tests.invoke_tasks import run_task


def test_every_read_is_compared_with_the_seeds_published_averages() -> None:
    assert seed_averages("RepBulkFetching") == (0.087, 0.084)
    assert seed_averages("FetchActualLRPsAndSchedulingInfos") == (5.633, 2.627)
    assert all(seed_averages(read.metric) for read in READS)


def test_bad_sizes_exit_2_naming_the_option() -> None:
    code, out, err = run_task("bench.bulk", "--lrps", "5")
    assert code == 2 and "--lrps" in err and "Traceback" not in out + err
