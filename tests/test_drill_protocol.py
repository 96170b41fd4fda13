"""The seam between the walk (Rust) and the Python side that runs the steps: the check
vocabulary the native core exposes, the options it accepts, and what it makes of an
exception the host raises. A scripted host stands in for Alembic: no env.py runs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from alembic_drill import Server, _core
from conftest import Project

if TYPE_CHECKING:
    from alembic_drill._core import DrillOptions, StepOutcome


class ScriptedHost:
    """Every step succeeds, or fails with ``error``, or raises ``raises``."""

    def __init__(self, *, error: str | None = None, raises: BaseException | None = None) -> None:
        self.error = error
        self.raises = raises
        self.steps: list[tuple[str, str]] = []

    def step(self, url: str, direction: str, revision: str, capture: bool) -> StepOutcome:
        self.steps.append((direction, revision))
        if self.raises is not None:
            raise self.raises
        return {
            "ok": self.error is None,
            "seconds": 0.00001,
            "error": self.error,
            "version_table": "alembic_version",
            "capture": None,
            "connections": 1,
            "error_kind": None if self.error is None else "database",
        }

    def rerun(self, url: str, capture: int) -> tuple[str | None, str | None]:
        raise AssertionError("nothing was captured")

    def compare_models(self, url: str) -> tuple[list[str] | None, str | None]:
        return None, "no models here"

    def release(self, url: str) -> None:
        pass

    def bootstrap(self, url: str) -> None:
        pass

    def progress(self, index: int, total: int, revision: str, activity: str) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with Server("sqlite") as server:
        yield server


@pytest.fixture
def history(project: Project) -> _core.History:
    project.linear("aaa111", "bbb222")
    return _core.load_history(project.ini)


def drill(
    history: _core.History, server: Server, host: ScriptedHost, options: DrillOptions
) -> _core.DrillReport:
    return _core.run_drill(history, server._core, host, options)


def test_checks_name_every_check_once_with_its_scope() -> None:
    by_id = {check.id: check for check in _core.CHECKS}
    assert len(by_id) == len(_core.CHECKS)
    drill_ids = [c.id for c in _core.CHECKS if c.kind == "drill"]
    static_ids = [c.id for c in _core.CHECKS if c.kind == "static"]
    assert drill_ids == _core.DRILL_CHECKS and static_ids == _core.STATIC_CHECKS
    assert [c.id for c in _core.CHECKS if c.scope == "head"] == ["model-drift"]
    assert all(by_id[c].scope == "revision" for c in drill_ids if c != "model-drift")
    assert all(by_id[c].scope is None for c in static_ids)
    assert by_id["multiple-bases"].severity == "warning"
    assert by_id["irreversible"].severity == "info"
    assert by_id["upgrade-failed"].severity == "error"


@pytest.mark.parametrize(
    "options",
    [{"checks": ["not-idempotant"]}, {"checks": ["multiple-heads"]}, {"rows_per_tabel": 2}],
)
def test_a_typo_in_the_options_is_refused(
    history: _core.History, server: Server, options: DrillOptions
) -> None:
    host = ScriptedHost()
    with pytest.raises(_core.DrillOptionsError, match="invalid drill options"):
        drill(history, server, host, options)
    assert host.steps == []  # refused before anything ran


def test_the_default_rows_per_table_comes_from_the_core() -> None:
    assert _core.DEFAULT_ROWS_PER_TABLE == 3


def test_an_exception_from_project_code_is_the_cause(
    history: _core.History, server: Server
) -> None:
    boom = RuntimeError("env.py exploded")
    with pytest.raises(_core.DrillHostError, match=r"env\.py exploded") as raised:
        drill(history, server, ScriptedHost(raises=boom), {})
    assert raised.value.__cause__ is boom
    assert isinstance(raised.value, _core.DrillError)
    assert isinstance(raised.value, _core.AlembicDrillError)


@pytest.mark.parametrize(
    "exception",
    [_core.ForeignDatabaseError("not ours"), KeyboardInterrupt()],
    ids=["ours", "interrupt"],
)
def test_our_errors_and_interruptions_pass_through(
    history: _core.History, server: Server, exception: BaseException
) -> None:
    with pytest.raises(type(exception)) as raised:
        drill(history, server, ScriptedHost(raises=exception), {})
    assert raised.value is exception


def test_foreign_database_error_is_in_the_native_hierarchy() -> None:
    assert issubclass(_core.ForeignDatabaseError, _core.AlembicDrillError)


def test_to_json_writes_what_json_dumps_writes(history: _core.History, server: Server) -> None:
    host = ScriptedHost(error='échec: “books” \x7f 😀 \\ "quoted"\n second line')
    report = drill(history, server, host, {"checks": ["upgrade-failed", "model-drift"]})
    assert not report.ok and report.to_dict()["ok"] is False
    assert [f.check for f in report.findings] == ["upgrade-failed"]
    for indent in (None, 2):
        assert report.to_json(indent) == json.dumps(report.to_dict(), indent=indent)
    assert json.loads(report.to_json())["ok"] is False
