"""Builders for throwaway Alembic projects: each test writes exactly the history it needs."""

from __future__ import annotations

import atexit
import json
import logging
import os
import shutil
import sys
import tempfile
import textwrap
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from servers_support import REQUIRE_DOCKER, REQUIRE_LOCAL, switch_is_on

from alembic_drill import AlembicDrillError, cli
from alembic_drill.servers import reap_stale_servers, stop_kept_servers

ROOT = Path(__file__).resolve().parent.parent

# -- One state root per test process --------------------------------------------------
# Local servers live in a state root, by default one per user and machine: a test that
# lists, keeps, reaps or stops local servers there would see (and could stop) those of
# another run beside it, or of the other pytest-xdist worker. Each test process gets its
# own root instead (ALEMBIC_DRILL_STATE_DIR, inherited by the subprocesses tests start),
# and removes it at exit, after alembic-drill's own exit handler stopped its servers.
# Roots of test processes that were killed are cleaned by the next run.
STATE_PREFIX = "alembic-drill-pytest-"


def _state_base() -> Path:
    shm = Path("/dev/shm")
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _clean_state_root(root: Path) -> None:
    previous = os.environ.get("ALEMBIC_DRILL_STATE_DIR")
    os.environ["ALEMBIC_DRILL_STATE_DIR"] = str(root)
    try:
        reap_stale_servers()
        for spec in ("local:postgresql", "local:mariadb"):
            stop_kept_servers(spec)
    except AlembicDrillError as error:  # e.g. Docker unreachable: still remove the folder
        print(f"conftest: cleaning {root}: {error}", file=sys.stderr)
    finally:
        if previous is None:
            del os.environ["ALEMBIC_DRILL_STATE_DIR"]
        else:
            os.environ["ALEMBIC_DRILL_STATE_DIR"] = previous
    shutil.rmtree(root, ignore_errors=True)


def _own_state_root() -> Path:
    base = _state_base()
    for old in base.glob(f"{STATE_PREFIX}*"):
        pid = old.name.removeprefix(STATE_PREFIX)
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            _clean_state_root(old)
    root = base / f"{STATE_PREFIX}{os.getpid()}"
    os.environ["ALEMBIC_DRILL_STATE_DIR"] = str(root)
    atexit.register(_clean_state_root, root)
    return root


STATE_ROOT = _own_state_root()


# -- What an in-process run of a project leaves in the interpreter ----------------------
# env.py files import their project's `models` (cached in sys.modules for the next test's
# project of the same name), Alembic's prepend_sys_path adds folders to sys.path, and
# env.py's fileConfig replaces the root logger's handlers and levels. Each test starts
# and ends without them.


def _pytest_handler(handler: logging.Handler) -> bool:
    """pytest's own capture handlers, which it adds and removes around each phase."""
    return type(handler).__module__.startswith("_pytest")


def _loggers() -> dict[str, logging.Logger]:
    return {
        name: logger
        for name, logger in logging.Logger.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }


@pytest.fixture(autouse=True)
def isolated_interpreter_state() -> Iterator[None]:
    sys.modules.pop("models", None)
    path = sys.path[:]
    root = logging.getLogger()
    root_state = (root.level, [h for h in root.handlers if not _pytest_handler(h)])
    named = {
        name: (logger.level, logger.disabled, logger.propagate, logger.handlers[:])
        for name, logger in _loggers().items()
    }
    yield
    sys.modules.pop("models", None)
    sys.path[:] = path
    root.setLevel(root_state[0])
    for handler in root.handlers[:]:
        if not _pytest_handler(handler) and handler not in root_state[1]:
            root.removeHandler(handler)
    for handler in root_state[1]:
        if handler not in root.handlers:
            root.addHandler(handler)
    for name, logger in _loggers().items():
        level, disabled, propagate, handlers = named.get(name, (logging.NOTSET, False, True, []))
        logger.setLevel(level)
        logger.disabled, logger.propagate = disabled, propagate
        logger.handlers[:] = handlers


# -- CI: a skipped test is a failed run ----------------------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fail-on-skip",
        action="store_true",
        help="fail the run when any test was skipped (CI: every test must really run)",
    )


_SKIPPED: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # With pytest-xdist the controller sees every worker's reports here too.
    if report.skipped and not hasattr(report, "wasxfail"):
        _SKIPPED.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if session.config.getoption("--fail-on-skip") and _SKIPPED and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if terminalreporter.config.getoption("--fail-on-skip") and _SKIPPED:
        terminalreporter.write_line(
            f"--fail-on-skip: {len(_SKIPPED)} test(s) skipped, so the run fails: "
            + ", ".join(_SKIPPED),
            red=True,
        )


def pytest_configure(config: pytest.Config) -> None:
    # A misspelt CI switch must stop the run, not turn every server test into a skip.
    for switch in (REQUIRE_DOCKER, REQUIRE_LOCAL):
        try:
            switch_is_on(switch)
        except ValueError as error:
            raise pytest.UsageError(str(error)) from None


EXAMPLE = ROOT / "examples" / "bookshop"

INI = """\
[alembic]
script_location = %(here)s/migrations
path_separator = os
sqlalchemy.url = sqlite:///%(here)s/test.db
"""

REAL_UPGRADE = 'op.create_table("t_{rev}", sa.Column("id", sa.Integer, primary_key=True))'
REAL_DOWNGRADE = 'op.drop_table("t_{rev}")'


def script(
    rev: str,
    down: str | Sequence[str] | None,
    *,
    upgrade: str = REAL_UPGRADE,
    downgrade: str = REAL_DOWNGRADE,
    branch_labels: str | Sequence[str] | None = None,
    depends_on: str | Sequence[str] | None = None,
    doc: str | None = None,
) -> str:
    """The source of a revision script shaped like Alembic's template writes them."""
    down_value = tuple(down) if isinstance(down, (list, tuple)) else down
    labels = tuple(branch_labels) if isinstance(branch_labels, (list, tuple)) else branch_labels
    deps = tuple(depends_on) if isinstance(depends_on, (list, tuple)) else depends_on
    return f'''\
"""{doc or f"revision {rev}"}

Revision ID: {rev}
"""
from alembic import op
import sqlalchemy as sa

revision = {rev!r}
down_revision = {down_value!r}
branch_labels = {labels!r}
depends_on = {deps!r}


def upgrade() -> None:
{textwrap.indent(upgrade.format(rev=rev), "    ")}


def downgrade() -> None:
{textwrap.indent(downgrade.format(rev=rev), "    ")}
'''


@dataclass
class Project:
    """An Alembic project in a temporary folder."""

    root: Path
    scripts: dict[str, Path] = field(default_factory=dict)

    @property
    def ini(self) -> Path:
        return self.root / "alembic.ini"

    @property
    def versions(self) -> Path:
        return self.root / "migrations" / "versions"

    def add(self, rev: str, down: str | Sequence[str] | None, **kwargs: object) -> Path:
        return self.write(f"{rev}_rev.py", script(rev, down, **kwargs))  # type: ignore[arg-type]

    def write(self, name: str, source: str | bytes) -> Path:
        path = self.versions / name
        if isinstance(source, bytes):
            path.write_bytes(source)
        else:
            path.write_text(textwrap.dedent(source) if source.startswith("\n") else source)
        self.scripts[name] = path
        return path

    def linear(self, *revs: str) -> None:
        down = None
        for rev in revs:
            self.add(rev, down)
            down = rev


@pytest.fixture
def project(tmp_path: Path) -> Project:
    root = tmp_path / "proj"
    (root / "migrations" / "versions").mkdir(parents=True)
    (root / "alembic.ini").write_text(INI)
    (root / "migrations" / "env.py").write_text("raise RuntimeError('lint never runs env.py')\n")
    return Project(root)


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> dict:  # type: ignore[type-arg]
        return json.loads(self.out)  # type: ignore[no-any-return]


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Runs ``alembic-drill ARGS`` in this process and captures what it printed."""

    def run(*args: str) -> Run:
        code = cli.main(list(args))
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


def checks_of(run: Run) -> list[tuple[str, str | None]]:
    """(check, revision) pairs from a ``lint --json`` run, sorted."""
    return sorted((f["check"], f["revision"]) for f in run.json()["findings"])
