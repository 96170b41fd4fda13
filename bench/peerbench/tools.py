"""The tools compared, what each one runs, and how a run is proven to have passed.

A benchmark of a failing or empty run is worthless, so every run is verified: exit code 0,
and for pytest the exact number of tests expected passed (none failed, errored or
skipped); for alembic-drill, a JSON report that is ok, covers every revision and has no
finding. ``verify`` returns how many tests or checks the run was made of.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from peerbench.measure import Run

SUITES = Path(__file__).resolve().parent / "suites"
DRILL = Path(sys.executable).parent / "alembic-drill"

# Plain Alembic in one process: `upgrade head` then `downgrade base` (bench/check_vs_floor.py).
FLOOR = """
import sys
from alembic import command
from alembic.config import Config
config = Config(sys.argv[1])
config.set_main_option("sqlalchemy.url", sys.argv[2].replace("%", "%%"))
command.upgrade(config, "head")
command.downgrade(config, "base")
"""


class ToolFailed(RuntimeError):
    """A run that did not pass, or passed without running what it should have."""


@dataclass(frozen=True)
class History:
    """A generated project, with the folder its tool suites and logs live in."""

    revisions: int
    project: Path
    work: Path

    @property
    def ini(self) -> Path:
        return self.project / "alembic.ini"


@dataclass(frozen=True)
class Invocation:
    command: list[str]
    cwd: Path
    env: dict[str, str]
    #: The report the run writes (JUnit XML for pytest, JSON for alembic-drill).
    report: Path | None = None


class Tool:
    name = ""
    label = ""
    #: The tool makes its own databases on the server (else it is given a fresh one).
    own_database = False
    engines = frozenset({"postgresql", "mysql", "sqlite"})
    unit = "tests"

    def invocation(
        self, history: History, python: Path, url: str | None, server_spec: str, tag: str
    ) -> Invocation:
        raise NotImplementedError

    def verify(self, history: History, run: Run, invocation: Invocation) -> int:
        raise NotImplementedError

    def env(self, history: History, url: str | None) -> dict[str, str]:
        env = dict(os.environ, BENCH_ALEMBIC_INI=str(history.ini))
        if url is not None:
            env["BENCH_DATABASE_URL"] = url
        return env


class Floor(Tool):
    name = "floor"
    label = "plain Alembic: upgrade head then downgrade base, one process"
    unit = "commands"

    def invocation(
        self, history: History, python: Path, url: str | None, server_spec: str, tag: str
    ) -> Invocation:
        assert url is not None
        command = [str(python), "-c", FLOOR, str(history.ini), url]
        return Invocation(command, history.work, self.env(history, url))

    def verify(self, history: History, run: Run, invocation: Invocation) -> int:
        _exit_code(self, run)
        return 2


class PytestTool(Tool):
    """A pytest suite from suites/<name>, copied next to the history once."""

    suite = ""
    extra_args: tuple[str, ...] = ()

    def expected(self, history: History) -> int:
        raise NotImplementedError

    def folder(self, history: History) -> Path:
        folder = history.work / self.name
        if not folder.exists():
            shutil.copytree(SUITES / self.suite, folder)
            (folder / "pytest.ini").write_text(
                f"[pytest]\npythonpath = {history.project}\naddopts = -p no:cacheprovider\n"
            )
        return folder

    def invocation(
        self, history: History, python: Path, url: str | None, server_spec: str, tag: str
    ) -> Invocation:
        folder = self.folder(history)
        junit = history.work / f"{self.name}-{tag}.xml"
        command = [str(python), "-m", "pytest", "-q", f"--junitxml={junit}", *self.extra_args]
        return Invocation(command, folder, self.env(history, url), junit)

    def verify(self, history: History, run: Run, invocation: Invocation) -> int:
        _exit_code(self, run)
        assert invocation.report is not None
        suite = ET.parse(invocation.report).getroot()
        if suite.tag == "testsuites":
            suite = suite[0]
        counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
        passed = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
        expected = self.expected(history)
        if passed != expected or counts["tests"] != expected:
            raise ToolFailed(
                f"{self.name}: {passed} of {expected} expected tests passed ({counts}); "
                f"log: {run.log}\n{_tail(run.log)}"
            )
        return passed


class PytestAlembic(PytestTool):
    name = "pytest-alembic"
    label = "pytest-alembic 0.13.1 (4 built-in tests)"
    suite = "pytest_alembic"
    extra_args = ("--test-alembic",)

    def expected(self, history: History) -> int:
        return 4


class PytestMrt(PytestTool):
    name = "pytest-mrt"
    label = "pytest-mrt 1.9.1 (6 default tests)"
    suite = "pytest_mrt"

    def expected(self, history: History) -> int:
        return 6


class Handwritten(PytestTool):
    name = "handwritten"
    label = "hand-written pytest (head, base, stairway per revision)"
    suite = "handwritten"

    def expected(self, history: History) -> int:
        return 3 + history.revisions


class Drill(Tool):
    name = "alembic-drill"
    label = "alembic-drill check (every check)"
    own_database = True
    unit = "checks"

    def invocation(
        self, history: History, python: Path, url: str | None, server_spec: str, tag: str
    ) -> Invocation:
        report = history.work / f"{self.name}-{tag}.json"
        command = [str(DRILL), "check", "-c", str(history.ini), "--database", server_spec]
        command += ["--json", str(report)]
        return Invocation(command, history.work, self.env(history, None), report)

    def verify(self, history: History, run: Run, invocation: Invocation) -> int:
        _exit_code(self, run)
        assert invocation.report is not None
        report = json.loads(invocation.report.read_text())
        ran = [c for c in report["checks"] if c["skipped"] is None]
        if not report["ok"] or report["findings"] or report["revisions"] != history.revisions:
            raise ToolFailed(
                f"{self.name}: ok={report['ok']}, {len(report['findings'])} findings, "
                f"{report['revisions']} of {history.revisions} revisions; log: {run.log}"
            )
        if len(ran) < history.revisions:
            raise ToolFailed(f"{self.name}: only {len(ran)} checks ran; log: {run.log}")
        return len(ran)


class DrillPerStep(Drill):
    """alembic-drill as it was before issue #14: env.py run once per step."""

    name = "alembic-drill-per-step"
    label = "alembic-drill check (every check), env.py run once per step"

    def env(self, history: History, url: str | None) -> dict[str, str]:
        return {**super().env(history, url), "ALEMBIC_DRILL_ENV_SESSIONS": "0"}


TOOLS: dict[str, Tool] = {
    tool.name: tool
    for tool in (Floor(), PytestAlembic(), PytestMrt(), Handwritten(), Drill(), DrillPerStep())
}


def _exit_code(tool: Tool, run: Run) -> None:
    if run.returncode != 0:
        raise ToolFailed(
            f"{tool.name}: exit code {run.returncode}; log: {run.log}\n{_tail(run.log)}"
        )


def _tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
