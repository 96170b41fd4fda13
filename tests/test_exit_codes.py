"""Exit code 2 with a one-line reason when a command cannot run: every command, on a path
that is not an Alembic project (README, "Exit codes (every command)")."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from alembic_drill.servers import list_servers


def owned_here() -> list[str]:
    """Servers this process owns (others on the machine come and go)."""
    return sorted(s["id"] for s in list_servers() if s["owner_pid"] == os.getpid())


COMMANDS = {
    "lint": ["lint"],
    "graph": ["graph"],
    "graph-json": ["graph", "--format", "json"],
    "check": ["check"],
    "check-sqlite": ["check", "--database", "sqlite"],
    # `auto` reads the project's sqlalchemy.url to choose a server.
    "db-start": ["db", "start", "--database", "auto"],
}


@pytest.mark.parametrize("where", ["empty-folder", "missing-path", "other-ini"])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_not_an_alembic_project_exits_2(tmp_path: Path, run_cli, command: str, where: str) -> None:  # type: ignore[no-untyped-def]
    if where == "empty-folder":
        path = tmp_path
    elif where == "missing-path":
        path = tmp_path / "nowhere"
    else:
        path = tmp_path / "setup.ini"
        path.write_text("[metadata]\nname = not-alembic\n")
    mine_before = owned_here()
    run = run_cli(*COMMANDS[command], "-c", str(path))
    assert run.code == 2, run.out + run.err
    assert run.out == ""
    # The reason: one line, the last, naming the path (progress notes may come before it).
    errors = [line for line in run.err.splitlines() if line.startswith("alembic-drill: error: ")]
    assert len(errors) == 1 and run.err.endswith(errors[0] + "\n"), run.err
    assert str(path) in errors[0], run.err
    assert owned_here() == mine_before  # nothing was left running


def test_a_script_location_package_that_fails_to_import_exits_2(  # type: ignore[no-untyped-def]
    tmp_path: Path, run_cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`script_location = app:migrations` imports the application: its start-up failing
    (a driver it needs is missing) is the environment's failure, told in one line."""
    package = tmp_path / "brokenapp"
    (package / "migrations" / "versions").mkdir(parents=True)
    (package / "__init__.py").write_text("import no_such_driver_module\n")
    (package / "migrations" / "env.py").write_text("")
    ini = tmp_path / "alembic.ini"
    ini.write_text("[alembic]\nscript_location = brokenapp:migrations\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    run = run_cli("lint", "-c", str(ini))
    assert run.code == 2, run.out + run.err
    errors = [line for line in run.err.splitlines() if line.startswith("alembic-drill: error: ")]
    assert len(errors) == 1 and run.err.endswith(errors[0] + "\n"), run.err
    assert "importing the package of script_location failed" in errors[0], run.err
    assert "No module named 'no_such_driver_module'" in errors[0], run.err
    assert "Traceback" not in run.err
