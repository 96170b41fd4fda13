"""Loading revision scripts through the interpreter: configuration, metadata, bad scripts."""

from __future__ import annotations

from pathlib import Path

import pytest

from alembic_drill import ConfigError, load_history
from conftest import Project


def test_reads_every_field_of_a_script(project: Project) -> None:
    project.add("aaa111", None, branch_labels="core", doc="create things")
    path = project.add("bbb222", "aaa111", depends_on=["core"])
    history = load_history(project.ini)

    assert history.order == ["aaa111", "bbb222"]
    base = history["aaa111"]
    assert base.branch_labels == ["core"]
    assert base.doc is not None and base.doc.startswith("create things")
    assert base.is_base and not base.is_head
    child = history["bbb222"]
    assert child.parents == ["aaa111"]
    assert child.depends_on == ["core"]
    assert Path(child.path) == path.resolve()
    assert child.upgrade_kind == "implemented" and child.downgrade_kind == "implemented"
    assert history.heads == ["bbb222"] and history.bases == ["aaa111"]


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ("pass", "stub"),
        ("...", "stub"),
        ('"""Nothing to undo."""', "stub"),
        ('"""Doc."""\npass', "stub"),
        ('raise NotImplementedError("data is gone")', "irreversible"),
        ("raise NotImplementedError", "irreversible"),
        ('"""Irreversible."""\nraise NotImplementedError()', "irreversible"),
        ('op.drop_table("t")', "implemented"),
        ("if False:\n    pass", "implemented"),
        ('raise RuntimeError("no")', "implemented"),
    ],
)
def test_judges_function_bodies_by_syntax_tree(project: Project, body: str, kind: str) -> None:
    project.add("aaa111", None, downgrade=body)
    assert load_history(project.ini)["aaa111"].downgrade_kind == kind


def test_function_built_at_run_time_counts_as_implemented(project: Project) -> None:
    project.write(
        "aaa111_factory.py",
        """
        revision = "aaa111"
        down_revision = None

        def _make():
            def step():
                pass
            return step

        upgrade = _make()
        downgrade = _make()
        """,
    )
    rev = load_history(project.ini)["aaa111"]
    assert (rev.upgrade_kind, rev.downgrade_kind) == ("implemented", "implemented")


def test_folder_and_pyproject_are_found(project: Project, tmp_path: Path) -> None:
    project.linear("aaa111", "bbb222")
    assert load_history(project.root).heads == ["bbb222"]

    # pyproject.toml only, relative script_location resolved against it
    project.ini.unlink()
    (project.root / "pyproject.toml").write_text(
        '[tool.alembic]\nscript_location = "%(here)s/migrations"\n'
    )
    assert load_history(project.root).heads == ["bbb222"]
    assert load_history(project.root / "pyproject.toml").heads == ["bbb222"]


def test_version_locations_and_prepend_sys_path(tmp_path: Path) -> None:
    root = tmp_path / "app"
    (root / "migrations").mkdir(parents=True)
    (root / "extra_versions").mkdir()
    (root / "main_versions").mkdir()
    (root / "helpers_for_drill_test.py").write_text("PARENT = 'aaa111'\n")
    (root / "alembic.ini").write_text(
        "[alembic]\n"
        "script_location = %(here)s/migrations\n"
        "version_locations = %(here)s/main_versions %(here)s/extra_versions\n"
        "prepend_sys_path = %(here)s\n"
        "path_separator = space\n"
    )
    from conftest import script

    (root / "main_versions" / "a.py").write_text(script("aaa111", None))
    # This script imports a module found only through prepend_sys_path.
    source = script("bbb222", "aaa111").replace(
        "down_revision = 'aaa111'",
        "from helpers_for_drill_test import PARENT\ndown_revision = PARENT",
    )
    (root / "extra_versions" / "b.py").write_text(source)
    history = load_history(root / "alembic.ini")
    assert history.order == ["aaa111", "bbb222"]
    assert history.ok
    assert sorted(Path(p).name for p in history.version_locations) == [
        "extra_versions",
        "main_versions",
    ]


def test_broken_scripts_become_findings_and_the_rest_still_loads(project: Project) -> None:
    project.linear("aaa111", "bbb222")
    syntax = project.write("ccc333_syntax.py", "revision = 'ccc333'\ndef upgrade(:\n    pass\n")
    imports = project.write(
        "ddd444_import.py",
        "revision = 'ddd444'\ndown_revision = 'bbb222'\n\n"
        "import module_that_does_not_exist_anywhere\n",
    )
    norev = project.write("eee555_norev.py", "down_revision = 'bbb222'\n")
    undecodable = project.write("fff666_latin1.py", b"revision = 'fff666'\ntitle = 'caf\xe9'\n")
    badtype = project.write("ggg777_badtype.py", "\n\nrevision = 42\n")
    raises = project.write("hhh888_exit.py", "import sys\nrevision = 'hhh888'\nsys.exit(3)\n")

    history = load_history(project.ini)
    assert history.order == ["aaa111", "bbb222"]
    errors = {Path(f.path or "").name: f for f in history.findings if f.check == "script-error"}
    assert set(errors) == {p.name for p in (syntax, imports, norev, undecodable, badtype, raises)}
    assert errors[syntax.name].line == 2 and "SyntaxError" in errors[syntax.name].message
    assert errors[imports.name].line == 4
    assert "module_that_does_not_exist_anywhere" in errors[imports.name].message
    assert "revision" in errors[norev.name].message
    assert errors[undecodable.name].line == 2
    assert "UTF-8" in errors[undecodable.name].message
    assert errors[badtype.name].line == 3 and "42" in errors[badtype.name].message
    assert errors[raises.name].line == 3 and "SystemExit" in errors[raises.name].message
    assert all(f.severity == "error" for f in errors.values())
    assert not history.ok


def test_files_alembic_ignores_are_ignored(project: Project) -> None:
    project.linear("aaa111")
    project.write("__init__.py", "raise RuntimeError('never imported')\n")
    project.write(".#aaa111_rev.py", "raise RuntimeError('an editor lock file')\n")
    project.write("notes.txt", "not python")
    history = load_history(project.ini)
    assert history.order == ["aaa111"] and history.ok


def test_missing_path_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file or folder"):
        load_history(tmp_path / "nowhere" / "alembic.ini")


def test_folder_without_project_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"not an Alembic project.*alembic init"):
        load_history(tmp_path)


def test_ini_without_script_location(tmp_path: Path) -> None:
    ini = tmp_path / "alembic.ini"
    ini.write_text("[alembic]\nsqlalchemy.url = sqlite://\n")
    with pytest.raises(ConfigError, match=r"alembic\.ini.*script_location"):
        load_history(ini)


def test_unparsable_ini_names_the_file(tmp_path: Path) -> None:
    ini = tmp_path / "alembic.ini"
    ini.write_text("this is not [an ini\n")
    with pytest.raises(ConfigError, match=r"alembic\.ini: cannot be read as an ini file"):
        load_history(ini)


def test_pyproject_without_tool_alembic(tmp_path: Path) -> None:
    toml = tmp_path / "pyproject.toml"
    toml.write_text("[project]\nname = 'x'\n")
    with pytest.raises(ConfigError, match=r"no \[tool\.alembic\] table"):
        load_history(toml)
    with pytest.raises(ConfigError, match="not an Alembic project"):
        load_history(tmp_path)
