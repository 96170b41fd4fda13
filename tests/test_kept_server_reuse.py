"""A server `alembic-drill db start` keeps is the one every later run of the same spec
uses: `check`, the Python API and the pytest plugin (pytest-xdist workers included) make
their own `drill_` databases in it, never drop one another's, leave none behind, and
never stop it. What a killed run left there is reclaimed by the next run, and only that:
a live run's databases are never touched."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from drill_support import drill_project
from servers_support import PG_IMAGE, docker_containers, need_binaries, need_image, private_spec
from test_hangs_and_signals import (
    blocking_project,
    drill_databases,
    server_processes,
    start_check,
    wait_for_file,
)

from alembic_drill import Drill, Server, _core
from alembic_drill.servers import list_servers, stop_kept_servers
from conftest import Project

pytest_plugins = ["pytester"]

REVISIONS = ("aaa111", "bbb222", "ccc333", "ddd444")
TABLE = 'op.create_table("t_{rev}", sa.Column("id", sa.Integer, primary_key=True))'
DROP = 'op.drop_table("t_{rev}")'
GENERATED = re.compile(r"^drill_([0-9a-f]{8})_\d+$")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alembic_drill.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )


def healthy_project(root: Path) -> Project:
    """A short history that passes every check, in a folder of its own."""
    (root / "migrations" / "versions").mkdir(parents=True)
    project = drill_project(Project(root))
    down = None
    for rev in REVISIONS:
        project.add(rev, down, upgrade=TABLE.format(rev=rev), downgrade=DROP.format(rev=rev))
        down = rev
    return project


def kept_folder(spec: str) -> str:
    (row,) = [s for s in list_servers() if s["kept"] and s["spec"] == spec]
    return str(row["id"])


@pytest.fixture(params=["local:postgresql", "local:mariadb"])
def kept(request: pytest.FixtureRequest) -> Iterator[tuple[str, list[int]]]:
    """A server kept by `alembic-drill db start` (in this test process's own state root),
    and its processes; stopped by `db stop` at the end."""
    spec: str = request.param
    need_binaries(spec.removeprefix("local:"))
    try:
        started = cli("db", "start", "--database", spec)
        assert started.returncode == 0, started.stderr
        assert started.stdout.startswith("started: "), started.stdout
        processes = server_processes(kept_folder(spec))
        assert processes, "the kept server runs"
        yield spec, processes
    finally:
        stopped = cli("db", "stop", "--database", spec)
        assert stopped.returncode == 0, stopped.stderr
    assert not [s for s in list_servers() if s["spec"] == spec]


def test_concurrent_checks_share_the_kept_server(
    kept: tuple[str, list[int]], tmp_path: Path
) -> None:
    spec, processes = kept
    project = healthy_project(tmp_path / "proj")
    folder = kept_folder(spec)
    children = [start_check(project.root, spec) for _ in range(4)]
    seen: set[str] = set()
    with Server(spec) as observer:
        assert observer.reused, "the Python API uses the kept server too"
        while any(child.poll() is None for child in children):
            seen.update(drill_databases(observer))
            time.sleep(0.05)
        results = [child.communicate(timeout=300) for child in children]
        for child, (out, err) in zip(children, results, strict=True):
            assert child.returncode == 0, err + out
            assert f"ok: {len(REVISIONS)} revisions" in out, out
            assert "reused" in err, err  # the `database:` line names the kept server
        # Each run made databases of its own (named by its run id), side by side.
        runs = {m.group(1) for name in seen if (m := GENERATED.match(name))}
        assert len(runs) >= 2, seen
        assert drill_databases(observer) == [], "no database is left behind"
    assert server_processes(folder) == processes, "the same server: reused, not restarted"


def test_a_killed_runs_databases_are_reclaimed_but_a_live_runs_never(
    tmp_path: Path, project: Project
) -> None:
    """On a shared kept server, the next run drops what a SIGKILLed run left (its owner is
    gone) and leaves alone the databases of a run that is still going."""
    spec = "local:postgresql"
    need_binaries("postgresql")
    marker = tmp_path / "blocked"
    blocking = blocking_project(project, "postgresql", marker)
    healthy = healthy_project(tmp_path / "healthy")
    started = cli("db", "start", "--database", spec)
    assert started.returncode == 0, started.stderr
    live: subprocess.Popen[str] | None = None
    try:
        with Server(spec) as server:

            def owned_by(pid: int) -> list[str]:
                marked = _core.list_marked_databases(server._core)
                return [str(d["name"]) for d in marked if d["owner_pid"] == pid]

            killed = start_check(blocking, spec, "--step-timeout", "0")
            wait_for_file(marker, killed)
            killed.kill()
            killed.communicate(timeout=60)
            assert owned_by(killed.pid), "SIGKILL leaves the run's databases, marked"
            marker.unlink()
            live = start_check(blocking, spec, "--step-timeout", "0")
            wait_for_file(marker, live)
            assert owned_by(live.pid)

            again = start_check(healthy.root, spec)
            out, err = again.communicate(timeout=300)
            assert again.returncode == 0, err + out
            assert owned_by(killed.pid) == [], "the dead run's databases are reclaimed"
            assert owned_by(live.pid), "a live run's databases are never reclaimed"

            live.send_signal(signal.SIGTERM)
            _, err = live.communicate(timeout=60)
            assert live.returncode == 128 + signal.SIGTERM, err
            assert drill_databases(server) == []
    finally:
        if live is not None and live.poll() is None:
            live.kill()
        stop_kept_servers(spec)


def test_the_api_without_keep_leaves_a_kept_server_running(tmp_path: Path) -> None:
    spec = "local:postgresql"
    need_binaries("postgresql")
    project = healthy_project(tmp_path / "proj")
    try:
        first = Server(spec, keep=True)
        folder = kept_folder(spec)
        processes = server_processes(folder)
        first.stop()
        with Server(spec) as borrowed:
            assert borrowed.reused and "reused" in borrowed.description
            borrowed.create_database()
        with Drill(project.root, spec) as drill:
            assert drill.server.reused
            assert drill.check().ok
        assert server_processes(folder) == processes, "never stopped by a run that borrows it"
        with Server(spec) as again:
            assert drill_databases(again) == []
    finally:
        stop_kept_servers(spec)


def test_a_kept_container_is_used_without_keep_and_left_running() -> None:
    need_image(PG_IMAGE)
    with private_spec(f"docker:{PG_IMAGE}") as spec:
        try:
            started = cli("db", "start", "--database", spec)
            assert started.returncode == 0, started.stderr
            (container,) = docker_containers(f"dev.alembic-drill.spec={spec}")
            with Server(spec) as borrowed:
                assert borrowed.reused and "reused" in borrowed.description
                borrowed.create_database()
            assert docker_containers(f"dev.alembic-drill.spec={spec}") == [container]
            with Server(spec) as again:
                assert again.reused and drill_databases(again) == []
        finally:
            stop_kept_servers(spec)
        assert docker_containers(f"dev.alembic-drill.spec={spec}") == []


PLUGIN_TESTS = """
import pytest
import sqlalchemy as sa

@pytest.mark.parametrize("n", range(8))
def test_clone(drill_migrated_db, n):
    with drill_migrated_db.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM t_ddd444")).scalar() == 0
"""


@pytest.mark.parametrize("with_kept_server", [True, False], ids=["kept", "default"])
def test_pytest_xdist_on_one_server(pytester: pytest.Pytester, with_kept_server: bool) -> None:
    """`pytest -n 4` with the plugin (generated checks and fixtures): on the kept server of
    `db start` (used, left running, nothing left in it) and by default (one server the
    workers share, stopped at the end)."""
    spec = "local:postgresql"
    need_binaries("postgresql")
    healthy_project(pytester.path)
    pytester.makepyfile(PLUGIN_TESTS)
    processes: list[int] = []
    try:
        if with_kept_server:
            started = cli("db", "start", "--database", spec)
            assert started.returncode == 0, started.stderr
            processes = server_processes(kept_folder(spec))
        result = pytester.runpytest_subprocess(
            "-n",
            "4",
            "--alembic-drill",
            f"--alembic-drill-database={spec}",
            "-p",
            "no:cacheprovider",
        )
        outcomes = result.parseoutcomes()
        assert outcomes.get("failed", 0) == 0 and outcomes.get("error", 0) == 0, outcomes
        assert outcomes["passed"] >= 8 + 2 * len(REVISIONS), outcomes
        if with_kept_server:
            assert server_processes(kept_folder(spec)) == processes
            with Server(spec) as server:
                assert server.reused and drill_databases(server) == []
        else:
            assert [s for s in list_servers() if s["spec"] == spec] == []
    finally:
        stop_kept_servers(spec)
