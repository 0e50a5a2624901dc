"""Every bad input the operator can give a task gets one line naming the option (or file) and what
it accepts, and exit code 2; never a traceback. The tasks run in-process through the program
``./inv`` runs. The lab tasks get a lab root of their own and this suite's address prefix, and
none of these cases starts a process."""

from __future__ import annotations

from pathlib import Path

import pytest

from cf_mysql_consul_tools.tasks.cli import SHORT_FLAGS, ProjectTask
from cf_mysql_consul_tools.tasks.program import build_namespace
from tests.invoke_tasks import run_task


@pytest.fixture(autouse=True)
def own_lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_ROOT", str(tmp_path / "lab"))
    monkeypatch.setenv("LAB_ADDRESS_PREFIX", "127.0.52")


def refused(*args: str) -> str:
    """Run ``./inv ARGS``; assert exit 2 with one message and no traceback; return the message."""
    code, _, err = run_task(*args)
    assert code == 2, (args, code, err)
    assert "Traceback" not in err
    assert err.startswith("error: "), err
    return err


def definition(tmp_path: Path, text: str) -> str:
    path = tmp_path / "definition.yml"
    path.write_text(text)
    return str(path)


VALID = """name: mine
workload: {desired_lrps: 100}
faults: [{id: k, at: {inserted: 10}, action: kill, target: active_proxy}]
"""


@pytest.mark.parametrize(("args", "says"), [
    (["experiment.run", "exp2", "--scale", "abc"], "--scale takes a number, got 'abc'"),
    (["experiment.run", "exp2", "--probe-lrps", "abc"], "--probe-lrps takes a whole number, got 'abc'"),
    (["experiment.run", "exp2", "--probe-lrps", "-5"], "--probe-lrps must be at least 0"),
    (["experiment.run", "exp2", "--clients", "bogus"], "--clients takes auto, fixed or dns, got 'bogus'"),
    (["experiment.run", "exp2", "--scale", "1e9"], "--scale must be above 0 and at most 5"),
    (["experiment.run", "exp2", "--scale", "0"], "--scale must be above 0"),
    (["experiment.run", "exp2", "--target", "vbox"], "--target takes lab or bosh, got 'vbox'"),
    (["experiment.run", "exp2", "--dry-run"], "--dry-run prints the bosh commands of a run"),
    (["experiment.run", "no-such-experiment"], "no experiment 'no-such-experiment'; known: exp1"),
    (["experiment.run"], "did not receive required positional arguments: 'name'"),
    (["experiment.run", "exp2", "--bogus"], "No idea what '--bogus' is!; see ./inv --help experiment.run"),
    (["experiment.compare", "--run", "/nonexistent"], "/nonexistent: no such run directory"),
    (["no.such-task"], "No idea what 'no.such-task' is!; see ./inv --list"),
    (["bosh.deploy", "--dry-run", "-o", "no-such-ops"], "--ops: no ops file 'no-such-ops'"),
    (["bosh.deploy", "--dry-run", "--var", "novalue"], "--var takes NAME=VALUE, got 'novalue'"),
    (["bench.lock", "--faults", "meteor"], "--faults: unknown fault 'meteor'"),
    (["bench.partition", "--scenarios", "meteor"], "--scenarios: unknown scenario 'meteor' (known: holder-cut"),
    (["bench.partition", "--runs", "0", "--stock-runs", "0"], "--runs and --stock-runs are both 0"),
    (["bench.partition", "--runs", "-1"], "--runs must be at least 0, got -1"),
    (["chaos.run", "--minutes", "0"], "--minutes must be above 0, got 0"),
    (["chaos.run", "--faults", "kill,meteor"], "--faults: meteor; choose from kill, pause, partition"),
    (["lab.partition", "mysql/0", "nosuch"], "unknown instance 'nosuch'"),
    (["lab.partition", "proxy/0", "proxy"], "proxy/0 cannot be on both sides of a partition"),
    (["bench.failover", "--galera-options", "evs.suspect_timeout"], "is not NAME=VALUE"),
    (["lab.logs", "mysql/0", "--lines", "0"], "--lines must be at least 1, got 0"),
    (["lab.deploy"], "--rolling is required"),
    # The old dry-run letters (-y, -r, -d) no longer mean dry-run, nor fall through to invoke's own
    # flags (-d was --debug there: release.upload -d would have uploaded).
    (["release.create", "-d"], "No idea what '-d' is!; see ./inv --help release.create"),
    (["release.upload", "-d"], "No idea what '-d' is!"),
    (["bosh.errand", "-r"], "No idea what '-r' is!"),
    (["bosh.deploy", "-y"], "No idea what '-y' is!"),
])
def test_bad_option_values(args: list[str], says: str) -> None:
    assert says in refused(*args)


@pytest.mark.parametrize(("text", "says"), [
    ("name: [unclosed", "is not valid YAML"),
    (VALID + "expect: {max_op_secnds: 5}\n", "unknown key expect.max_op_secnds; expect takes max_op_seconds"),
    (VALID.replace("at: {inserted: 10}", "at: {inserted: ten}"), "faults[0].at takes a number"),
    (VALID.replace("action: kill", "action: explode"), "faults[0].action must be one of kill"),
    ("name: mine\nfaults: {kill: now}\n", "faults is a list"),
    ("- just a list\n", "a definition is a mapping"),
])
def test_bad_definitions(tmp_path: Path, text: str, says: str) -> None:
    assert says in refused("experiment.run", definition(tmp_path, text), "--target", "bosh", "--dry-run")


def test_a_directory_that_holds_no_run(tmp_path: Path) -> None:
    assert "not a run directory" in refused("experiment.compare", "--run", str(tmp_path))


def test_lab_errors(tmp_path: Path) -> None:
    """Each kind of LabError / manifest error the lab.* tasks raise on input, before starting anything."""
    assert "unknown instance 'mysql/9'" in refused("lab.kill", "mysql/9")
    assert "mysql/0 has no process 'nosuch' (known: none started)" in refused("lab.kill", "mysql/0", "--process",
                                                                              "nosuch")
    assert "manifest /nonexistent does not exist" in refused("lab.status", "--manifest", "/nonexistent")
    broken = tmp_path / "broken.yml"
    broken.write_text("name: [unclosed")
    assert "is not valid YAML" in refused("lab.up", "--manifest", str(broken))
    unknown_job = tmp_path / "unknown-job.yml"
    unknown_job.write_text("""name: odd
instance_groups:
- name: thing
  instances: 1
  networks: [{name: default, static_ips: [127.0.52.200]}]
  jobs: [{name: no-such-job, release: nowhere}]
""")
    assert "unknown job 'no-such-job'" in refused("lab.up", "--manifest", str(unknown_job))


def test_short_flags_mean_the_same_on_every_task() -> None:
    """A letter is only ever the flag SHORT_FLAGS gives it; dry-run is --dry-run wherever it exists."""
    namespace = build_namespace()
    seen: dict[str, set[str]] = {}
    for name in namespace.task_names:
        task = namespace[name]
        assert isinstance(task, ProjectTask), name
        for arg in task.get_arguments():
            long, *short = arg.names
            if short:
                assert SHORT_FLAGS.get(long) == short[0], (name, arg.names)
                seen.setdefault(short[0], set()).add(long)
            assert "dry" not in long or long == "dry-run", (name, long)
    assert all(len(longs) == 1 for longs in seen.values()), seen
    assert seen["d"] == {"deployment"} and seen["n"] == {"non-interactive"}
