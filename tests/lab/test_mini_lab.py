"""The lab's mechanism on a small deployment of its own: a Galera node plus the tiny ``hello``
job from tests/lab/fixtures (rendered templates, BPM processes, links, post-start), bad input,
and ``down`` leaving nothing behind."""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from cf_mysql_consul_tools.bosh.render import RenderError
from cf_mysql_consul_tools.lab import Lab, LabError, standins
from tests.conftest import TEST_LAB_ROOT

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parent / "fixtures"
MINI = FIXTURES / "mini.yml"
# The module's mini lab, and the private labs single tests bring up beside it (so a test's own lab
# never meets the module's): overridable, so that two checkouts' runs on one machine never share one.
MINI_PREFIX = os.environ.get("LAB_MINI_PREFIX", "127.0.21.").rstrip(".")
PRIVATE_PREFIX = os.environ.get("LAB_MINI_PRIVATE_PREFIX", "127.0.22.").rstrip(".")


def mini_lab(name: str, manifest: Path = MINI, prefix: str = PRIVATE_PREFIX) -> Lab:
    return Lab.from_manifest(manifest, address_prefix=prefix, root=TEST_LAB_ROOT / name,
                             jobs_dirs=[FIXTURES / "jobs"], log=print)


def edited_manifest(tmp_path: Path, edit: dict[str, object]) -> Path:
    raw = yaml.safe_load(MINI.read_text())
    web = next(g for g in raw["instance_groups"] if g["name"] == "web")
    web["jobs"][0].update(edit)
    path = tmp_path / "mini.yml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture(scope="module")
def mini() -> Iterator[Lab]:
    lab = mini_lab("mini", prefix=MINI_PREFIX)
    lab.down(purge=True)
    lab.up()
    yield lab
    lab.down(purge=True)


def test_release_job_runs_from_its_rendered_templates_and_sees_var_vcap(mini: Lab) -> None:
    web = mini.instance("web/0")
    served = requests.get(f"http://{web.address}:8123/hello.json", timeout=5).json()
    db = mini.instance("db/0")
    assert served == {
        "greeting": "bonjour", "secret_length": 6, "address": web.address, "instance": "web/0",
        "mysql": [f"{db.address}:3306"],
    }
    assert (mini.instance_dir(web) / "sys" / "run" / "hello" / "post-start-ran").exists()
    assert (mini.instance_dir(web) / "sys" / "log" / "hello" / "hello.stderr.log").exists()
    assert os.listdir("/var/vcap") == []  # the host's /var/vcap stays empty


def test_bpm_env_reaches_the_process(mini: Lab) -> None:
    record = mini.table(mini.instance("web/0")).get("hello.hello")
    assert record is not None
    environ = Path(f"/proc/{record.pid}/environ").read_bytes().split(b"\0")
    assert b"HELLO_GREETING=bonjour" in environ


def test_stop_and_start_one_process(mini: Lab) -> None:
    mini.stop("web/0", "hello")
    assert not mini.is_running("web/0", "hello.hello")
    mini.start("web/0")
    assert mini.is_running("web/0", "hello.hello")
    assert requests.get(f"http://{mini.instance('web/0').address}:8123/hello.json", timeout=5).ok


def test_unknown_instance_is_named(mini: Lab) -> None:
    with pytest.raises(Exception, match=r"unknown instance 'web/7'.*known: db/0, arbitrator/0, web/0"):
        mini.kill("web/7")


def test_down_leaves_no_process_behind(tmp_path: Path) -> None:
    lab = mini_lab("down-check")
    lab.down(purge=True)
    try:
        lab.up()
        pids = lab.alive_pids()
        assert len(pids) == 4  # mariadbd, galera-healthcheck, garbd, hello
    finally:
        lab.down(purge=True)
    assert [pid for pid in pids if Path(f"/proc/{pid}").exists() and _not_zombie(pid)] == []


def _not_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_unknown_job_fails_before_anything_starts(tmp_path: Path) -> None:
    lab = mini_lab("bad-job", edited_manifest(tmp_path, {"name": "no-such-job"}))
    with pytest.raises(LabError, match="web/0: unknown job 'no-such-job' \\(release cf-mysql-consul\\)"):
        lab.up()
    assert lab.alive_pids() == []


def test_missing_required_property_fails_at_render_naming_it(tmp_path: Path) -> None:
    lab = mini_lab("bad-prop", edited_manifest(tmp_path, {"properties": {"hello": {"greeting": "hi"}}}))
    lab.down(purge=True)
    with pytest.raises(RenderError, match=r"hello.json.erb.*web/0.*Can't find property '\[\"hello.secret\"\]'"):
        lab.up()
    assert lab.alive_pids() == []  # the db node it had started was stopped again
    lab.down(purge=True)


def test_port_in_use_is_named_and_nothing_is_left_running(tmp_path: Path) -> None:
    lab = mini_lab("busy-port")
    lab.down(purge=True)
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # garbd's old links may be in TIME_WAIT
        squatter.bind((f"{PRIVATE_PREFIX}.1", 4567))
        squatter.listen()
        with pytest.raises(LabError, match=rf"db/0: port {re.escape(PRIVATE_PREFIX)}\.1:4567 is already in use"):
            lab.up()
    assert lab.alive_pids() == []
    lab.down(purge=True)


def test_missing_debian_package_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # A fake: an installed binary cannot be made to vanish for one test, so the path is redirected.
    monkeypatch.setitem(standins.REQUIRED_BINARIES, "mysql", ("/nonexistent/mariadbd", "mariadb-server"))
    with pytest.raises(RuntimeError, match=r"Debian package mariadb-server.*Run \./inv once"):
        mini_lab("no-pkg").up()


def test_galera_provider_options_reach_mariadbd_and_garbd(mini: Lab) -> None:
    mini.wait_cluster_size(2)  # garbd joined with the same evs settings as the node
    with mini.mysql("db/0") as conn, conn.cursor() as cur:
        cur.execute("SHOW GLOBAL VARIABLES LIKE 'wsrep_provider_options'")
        options = str(cur.fetchone()[1])
    assert "evs.suspect_timeout = PT4S" in options and "evs.keepalive_period = PT0.5S" in options
    garbd = next(r for r in mini.records(mini.instance("arbitrator/0")) if r.key.endswith("garbd"))
    argv = Path(f"/proc/{garbd.pid}/cmdline").read_bytes().decode().split("\0")
    assert "evs.suspect_timeout=PT4S; evs.keepalive_period=PT0.5S" in argv[argv.index("--options") + 1]


def test_a_malformed_galera_option_is_named(tmp_path: Path) -> None:
    raw = yaml.safe_load(MINI.read_text())
    db = next(g for g in raw["instance_groups"] if g["name"] == "db")
    db["jobs"][0]["properties"]["cf_mysql"]["mysql"]["galera_provider_options"] = {"evs.suspect_timeout": "PT1S;x"}
    path = tmp_path / "bad.yml"
    path.write_text(yaml.safe_dump(raw))
    lab = mini_lab("bad-galera", path)
    with pytest.raises((LabError, ValueError), match="galera_provider_options"):
        lab.up()
    assert lab.alive_pids() == []
    lab.down(purge=True)
