"""Hangs and signals: a step that blocks on the server is cancelled there after its
timeout and reported as that step's failure; SIGINT and SIGTERM stop `alembic-drill
check` while a statement blocks, with status 130 / 143 and nothing left behind; and
signals at random points of runs leave nothing once the next run has reaped."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from drill_support import checks_found, drill_project
from servers_support import DRILL_ENGINES, engine_server, need_binaries

from alembic_drill import Drill, Server, _core
from alembic_drill.servers import list_servers
from conftest import Project, script

pytest_plugins = ["pytester"]

TABLE = 'op.create_table("{rev}", sa.Column("id", sa.Integer, primary_key=True))'
DROP = 'op.drop_table("{rev}")'

#: A statement that never ends by itself, per engine.
ENDLESS = {
    "postgresql": "SELECT pg_sleep(3600)",
    "mysql": "SELECT SLEEP(3600)",
    "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
    "SELECT count(*) FROM c",
}

#: A step that waits for a lock that a second connection of its own holds: a wait no
#: server can see as a deadlock. (SQLite is left out: its busy handler, which does the
#: waiting, does not look at interrupt(), so the wait ends only at the busy timeout.)
LOCKED = {
    "postgresql": """\
holder = op.get_bind().engine.connect()
holder.exec_driver_sql('LOCK TABLE aaa111 IN ACCESS EXCLUSIVE MODE')
try:
    op.execute('SELECT * FROM aaa111')
finally:
    holder.close()""",
    "mysql": """\
holder = op.get_bind().engine.connect()
holder.exec_driver_sql('LOCK TABLES aaa111 WRITE')
try:
    op.execute('SELECT * FROM aaa111')
finally:
    holder.exec_driver_sql('UNLOCK TABLES')
    holder.close()""",
}


@pytest.fixture(scope="module", params=DRILL_ENGINES)
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    with engine_server(request.param) as started:
        yield started


def test_a_hung_downgrade_is_timed_out_and_the_walk_goes_on(
    project: Project, server: Server
) -> None:
    drill_project(project)
    project.add("aaa111", None, upgrade=TABLE, downgrade=DROP)
    endless = ENDLESS[server.engine]
    project.add("bbb222", "aaa111", upgrade=TABLE, downgrade=f"op.execute({endless!r})\n{DROP}")
    project.add("ccc333", "bbb222", upgrade=TABLE, downgrade=DROP)
    report = Drill(project.ini, server=server, step_timeout=1).check()
    assert checks_found(report) == [("downgrade-failed", "bbb222")]
    (finding,) = report.findings
    assert "timed out after 1 s" in finding.message, finding.message
    ran = {(r["check"], r["revision"]) for r in report.to_dict()["checks"] if not r["skipped"]}
    # The walk went on: the next revision was checked in full.
    assert {("upgrade-failed", "ccc333"), ("roundtrip-failed", "ccc333")} <= ran
    # The database was left usable: nothing else failed, and the cancelled step's
    # database is gone like every other.
    assert server.databases() == []


# SQLite is not here: interrupt() does not end a wait for another connection's lock,
# which lasts until the driver's busy timeout (5 s by default; see the README).
@pytest.mark.parametrize("spec", ["local:postgresql", "local:mariadb"])
def test_a_step_waiting_for_a_lock_is_timed_out(project: Project, spec: str) -> None:
    with engine_server(spec) as server:
        drill_project(project)
        project.add("aaa111", None, upgrade=TABLE, downgrade=DROP)
        irreversible = 'raise NotImplementedError("a lock test")'
        project.add("bbb222", "aaa111", upgrade=LOCKED[server.engine], downgrade=irreversible)
        project.add("ccc333", "bbb222", upgrade=TABLE, downgrade=DROP)
        report = Drill(project.ini, server=server, step_timeout=1).check()
        assert checks_found(report) == [("upgrade-failed", "bbb222")]
        assert "timed out after 1 s" in report.findings[0].message
        skipped = {
            r["check"]: r["skipped"]
            for r in report.to_dict()["checks"]
            if r["revision"] == "ccc333"
        }
        assert "bbb222" in skipped["upgrade-failed"], "the walk went on past the failure"
        assert server.databases() == []


def test_a_slow_step_within_its_time_is_not_cancelled(project: Project, server: Server) -> None:
    """The watchdog cancels nothing before the deadline."""
    drill_project(project)
    sleep = {
        "postgresql": "SELECT pg_sleep(1.5)",
        "mysql": "SELECT SLEEP(1.5)",
        # ~ a second of work: a bounded recursive CTE
        "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
        "WHERE x < 3000000) SELECT count(*) FROM c",
    }[server.engine]
    project.add("aaa111", None, upgrade=f"op.execute({sleep!r})\n{TABLE}", downgrade=DROP)
    report = Drill(project.ini, server=server, step_timeout=30).check()
    assert report.ok, [f.message for f in report.findings]


def test_step_timeout_setting_and_flag(project: Project, tmp_path: Path) -> None:
    from alembic_drill import cli
    from alembic_drill._core import ConfigError

    drill_project(project)
    (project.root / "pyproject.toml").write_text("[tool.alembic-drill]\nstep_timeout = 7.5\n")
    assert Drill(project.ini).settings.step_timeout == 7.5
    assert Drill(project.ini, step_timeout=0).settings.step_timeout == 0
    (project.root / "pyproject.toml").write_text('[tool.alembic-drill]\nstep_timeout = "x"\n')
    with pytest.raises(ConfigError, match="step_timeout must be a number"):
        Drill(project.ini)
    with pytest.raises(SystemExit):
        cli.main(["check", "-c", str(project.root), "--step-timeout", "-1"])


@pytest.mark.parametrize("swallowed", [False, True])
def test_a_signal_is_never_lost(project: Project, swallowed: bool) -> None:
    """A signal whose KeyboardInterrupt surfaces in the progress callback (where the walk
    used to discard errors), or is swallowed by code on the way, still stops the run."""
    from alembic_drill._watchdog import Interrupted

    drill_project(project)
    project.linear("aaa111", "bbb222", "ccc333")
    seen: list[str] = []

    def progress(index: int, total: int, revision: str, activity: str) -> None:
        seen.append(revision)
        if revision == "bbb222" and activity == "upgrade":
            try:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(1)  # the handler runs here and raises
            except KeyboardInterrupt:
                if not swallowed:
                    raise

    with Drill(project.ini, database="sqlite") as drill, pytest.raises(Interrupted):
        drill.check(progress=progress)
    assert "ccc333" not in seen, "the walk stopped at the next call"


# -- signals sent to `alembic-drill check` -----------------------------------------------

ENV_WITH_MARKER = """
import os
from pathlib import Path
from alembic import context

def run(connection):
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()

run(context.config.attributes["connection"])
"""


def blocking_project(project: Project, engine: str, marker: Path, *, revisions: int = 2) -> Path:
    """A history whose last revision writes ``marker`` and then blocks on the server."""
    drill_project(project, env=ENV_WITH_MARKER)
    down = None
    for i in range(revisions - 1):
        rev = f"r{i:05d}"
        project.add(rev, down, upgrade=TABLE, downgrade=DROP)
        down = rev
    block = (
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('blocked')\n"
        f"op.execute({ENDLESS[engine]!r})"
    )
    project.add("zzz999", down, upgrade=block, downgrade="pass")
    return project.root


def start_check(root: Path, spec: str, *extra: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "alembic_drill.cli", "check", "-c", str(root)]
    return subprocess.Popen(
        [*command, "--database", spec, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )


def wait_for_file(path: Path, child: subprocess.Popen[str], limit: float = 180) -> None:
    deadline = time.monotonic() + limit
    while not path.exists():
        if child.poll() is not None:
            out, err = child.communicate()
            pytest.fail(f"the run ended before it blocked ({child.returncode}): {err}{out}")
        assert time.monotonic() < deadline, "the run never reached the blocking statement"
        time.sleep(0.1)


def sqlite_folder(stderr: str) -> Path | None:
    found = re.search(r"SQLite files in (\S+)", stderr)
    return Path(found.group(1)) if found else None


def server_processes(folder: str) -> list[int]:
    """Processes whose command line names a folder (a local server's data folder)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if folder in cmdline:
                pids.append(int(entry.name))
    return pids


def engine_of(spec: str) -> str:
    if spec == "sqlite":
        return "sqlite"
    return "postgresql" if "postgres" in spec else "mysql"


@pytest.fixture(scope="module")
def url_servers() -> Iterator[dict[str, Server]]:
    """Servers the runs below are given by URL (as a user gives an existing server)."""
    need_binaries("postgresql")
    need_binaries("mariadb")
    with Server("local:postgresql") as pg, Server("local:mariadb") as maria:
        yield {"url:postgresql": pg, "url:mariadb": maria}


def drill_databases(server: Server) -> list[str]:
    return [d for d in server.databases() if d.startswith("drill_")]


@pytest.mark.parametrize(
    ("spec", "signum"),
    [
        ("sqlite", signal.SIGINT),
        ("sqlite", signal.SIGTERM),
        ("local:postgresql", signal.SIGTERM),
        ("local:mariadb", signal.SIGINT),
        ("url:postgresql", signal.SIGINT),
        ("url:mariadb", signal.SIGTERM),
    ],
)
def test_a_signal_stops_a_blocked_statement_and_removes_everything(
    project: Project,
    tmp_path: Path,
    spec: str,
    signum: signal.Signals,
    url_servers: dict[str, Server],
) -> None:
    marker = tmp_path / "blocked"
    root = blocking_project(project, engine_of(spec), marker)
    given = url_servers.get(spec)
    before = drill_databases(given) if given else []
    database = (given.admin_url() or "") if given else spec
    child = start_check(root, database, "--step-timeout", "0")
    wait_for_file(marker, child)
    folders = [str(s["id"]) for s in list_servers() if s["owner_pid"] == child.pid]
    if spec.startswith("local:"):
        assert len(folders) == 1, "the run's server is listed while it runs"
    signalled = time.monotonic()
    child.send_signal(signum)
    _, err = child.communicate(timeout=60)
    took = time.monotonic() - signalled
    assert child.returncode == 128 + signum, err
    assert ("interrupted" if signum == signal.SIGINT else "terminated") in err
    # Nothing left: no server listed or running, no SQLite folder, no drill_ database.
    assert [s for s in list_servers() if s["owner_pid"] == child.pid] == []
    for folder in folders:
        assert not Path(folder).exists() and server_processes(folder) == []
    folder = sqlite_folder(err)
    assert spec != "sqlite" or (folder is not None and not folder.exists())
    if given:
        assert drill_databases(given) == before
    # Ended by the cancel, not by the statement (which runs for an hour).
    assert took < 60


def orphan_server_processes() -> list[int]:
    """Processes of local servers whose folder is gone (a server nobody can list)."""
    orphans = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        for arg in cmdline:
            found = re.search(rb"(/\S*alembic-drill-\d+/local-[^/]+)", arg)
            if found and not Path(found.group(1).decode()).exists():
                orphans.append(int(entry.name))
    return orphans


def test_signals_at_random_points_leave_nothing_after_the_next_run(
    project: Project, url_servers: dict[str, Server]
) -> None:
    """SIGINT, SIGTERM and SIGKILL at random moments of short runs (server start, walk,
    cleanup) on a local server, SQLite and a server given by URL; once the next run of
    each kind has reaped what the killed ones left, nothing is left."""
    rng = random.Random(os.environ.get("ALEMBIC_DRILL_SIGNAL_SEED", "10"))
    pg = url_servers["url:postgresql"]
    before = set(drill_databases(pg))
    specs = ["sqlite", "local:postgresql", pg.admin_url() or ""]
    drill_project(project)
    project.linear(*(f"r{i:05d}" for i in range(12)))
    # How long a whole run of each kind takes here: the signals fall within it.
    lasts = {}
    for spec in specs:
        started = time.monotonic()
        warmup = start_check(project.root, spec)
        _, err = warmup.communicate(timeout=300)
        assert warmup.returncode == 0, err
        lasts[spec] = time.monotonic() - started
    pids: set[int] = set()
    outcomes: list[tuple[str, str, int | None]] = []
    for i in range(24):
        spec = specs[i % len(specs)]
        signum = rng.choice([signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
        child = start_check(project.root, spec)
        pids.add(child.pid)
        # Within the first 70% of a whole run: a warmed-up run is shorter than the first
        # (env.py sessions made runs short enough for a later signal to miss it).
        time.sleep(rng.uniform(0.1, 0.7 * lasts[spec]))
        child.send_signal(signum)
        out, err = child.communicate(timeout=120)
        kind = "url" if "://" in spec else spec
        outcomes.append((kind, signum.name, child.returncode))
        if signum == signal.SIGKILL:
            continue
        # Also allowed: 0 when the run had ended before the signal came; -signum before
        # Python reached alembic-drill (nothing made yet), or after the run, in the
        # interpreter's teardown, where CPython has put the default handlers back (the
        # report is out and everything removed by then).
        started = "database:" in err
        finished = re.search(r"^(ok|failed): ", out, re.MULTILINE) is not None
        allowed = {128 + signum}
        allowed |= {0, -signum} if finished else set() if started else {-signum}
        assert child.returncode in allowed, (outcomes, err)
    print(outcomes)  # shown by pytest -rP: which kinds were stopped how
    assert sum(code in (130, 143) for *_, code in outcomes) >= 8, outcomes
    # The next run of each kind reaps what the killed ones left.
    for spec in specs:
        final = start_check(project.root, spec)
        _, err = final.communicate(timeout=300)
        assert final.returncode == 0, err
    assert [s for s in list_servers() if s["owner_pid"] in pids] == []
    assert orphan_server_processes() == []
    assert set(drill_databases(pg)) <= before, outcomes


@pytest.mark.parametrize("spec", ["sqlite", "url:postgresql", "url:mariadb"])
def test_what_a_killed_run_left_is_listed_and_reclaimed_by_the_next_run(
    project: Project, tmp_path: Path, spec: str, url_servers: dict[str, Server]
) -> None:
    """SIGKILL cannot be caught: the SQLite folder (private, with its owner mark) or the
    drill_ databases (marked with their owner) stay, `db list` shows them as stale, and
    the next run reclaims them."""
    marker = tmp_path / "blocked"
    root = blocking_project(project, engine_of(spec), marker)
    given = url_servers.get(spec)
    database = (given.admin_url() or "") if given else spec
    child = start_check(root, database, "--step-timeout", "0")
    wait_for_file(marker, child)
    child.kill()
    _, err = child.communicate(timeout=60)

    db_list = [sys.executable, "-m", "alembic_drill.cli", "db", "list", "--json"]
    if given:
        db_list += ["--database", database]
    shown = subprocess.run(
        db_list,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    listed = json.loads(shown.stdout)
    if given:
        left = [d for d in listed["databases"] if d["owner_pid"] == child.pid]
        assert left and all(d["stale"] and d["owner_alive"] is False for d in left), listed
    else:
        folder = sqlite_folder(err)
        assert folder is not None and folder.is_dir()
        assert folder.stat().st_mode & 0o777 == 0o700
        mark = json.loads((folder / "owner.json").read_text())
        assert mark["pid"] == child.pid and mark["host"] and mark["run_id"]
        rows = [s for s in listed if s["id"] == str(folder)]
        assert rows and rows[0]["kind"] == "sqlite" and rows[0]["owner_alive"] is False

    # The next run (a healthy history) reclaims it.
    drill_project(project)
    for old in project.versions.glob("*.py"):
        old.unlink()
    project.linear("aaa111")
    again = start_check(project.root, database)
    _, err_again = again.communicate(timeout=300)
    assert again.returncode == 0, err_again
    if given:
        marked = _core.list_marked_databases(given._core)
        assert [d for d in marked if d["owner_pid"] == child.pid] == [], marked
    else:
        assert folder is not None and not folder.exists()


def test_the_plugin_takes_the_step_timeout(pytester: pytest.Pytester) -> None:
    """`alembic_drill_step_timeout` in the pytest ini (the option spells the same): the
    hung downgrade fails its generated item with the timeout, the others pass."""
    root = pytester.path
    versions = root / "migrations" / "versions"
    versions.mkdir(parents=True)
    (root / "alembic.ini").write_text(
        "[alembic]\nscript_location = %(here)s/migrations\npath_separator = os\n"
        "sqlalchemy.url = sqlite:///app.db\n"
    )
    (root / "migrations" / "env.py").write_text(ENV_WITH_MARKER)
    (versions / "a1.py").write_text(script("aaa111", None, upgrade=TABLE, downgrade=DROP))
    endless = f"op.execute({ENDLESS['sqlite']!r})\n{DROP}"
    (versions / "b2.py").write_text(script("bbb222", "aaa111", upgrade=TABLE, downgrade=endless))
    pytester.makeini("[pytest]\nalembic_drill_step_timeout = 1\n")
    result = pytester.runpytest_subprocess(
        "--alembic-drill", "--alembic-drill-database=sqlite", "-v", "-p", "no:cacheprovider"
    )
    result.stdout.fnmatch_lines(
        [
            "*downgrade[[]aaa111[]] PASSED*",
            "*downgrade[[]bbb222[]] FAILED*",
            "*error[[]downgrade-failed[]] bbb222: *timed out after 1 s*",
        ]
    )
