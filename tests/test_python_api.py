"""The Python API as the README shows it: revisions by id, unique prefix or branch label,
RevisionError, render, to_json and to_junit on reports; the plugin's drill_runner.down()
and .current (with prefixes, labels, heads and base), and drill_migrated_db.session()."""

from __future__ import annotations

import json
import textwrap
import xml.etree.ElementTree as ET

import pytest
from drill_support import ENV_CONNECTION, INI, drill_project

from alembic_drill import AlembicDrillError, Drill, RevisionError, load_history
from conftest import Project, script

pytest_plugins = ["pytester"]


@pytest.fixture
def labelled(project: Project) -> Project:
    """aaa111 (base) <- bbb222 (label "core") <- ccc333, and abc999 on aaa111: two heads."""
    project.add("aaa111", None)
    project.add("bbb222", "aaa111", branch_labels="core")
    project.add("ccc333", "bbb222")
    project.add("abc999", "aaa111", branch_labels="extras")
    return project


def test_revisions_by_id_prefix_and_branch_label(labelled: Project) -> None:
    history = load_history(labelled.ini)
    assert history["aaa111"].id == "aaa111"
    assert history["bb"].id == "bbb222"  # a unique prefix
    assert history.get("cc").id == "ccc333"
    # A branch label names the revision that carries it, as in Alembic.
    assert history["core"].id == "bbb222"
    assert history["extras"].id == "abc999"
    assert "bbb222" in history and "zzz" not in history


@pytest.mark.parametrize(
    ("target", "message"),
    [("zzz", "zzz"), ("a", "ambiguous|more than one|aaa111")],
    ids=["unknown", "ambiguous-prefix"],
)
def test_unknown_or_ambiguous_revisions_raise_revision_error(
    labelled: Project, target: str, message: str
) -> None:
    history = load_history(labelled.ini)
    with pytest.raises(RevisionError, match=message) as raised:
        history[target]
    assert isinstance(raised.value, AlembicDrillError)
    with pytest.raises(RevisionError):
        history.upgrade_path(target)


def test_render_formats(labelled: Project) -> None:
    history = load_history(labelled.ini)
    text = history.render()
    assert text == history.render("text")
    assert all(rev in text for rev in ("aaa111", "bbb222", "ccc333", "abc999"))
    mermaid = history.render("mermaid")
    assert mermaid.lstrip().startswith(("graph", "flowchart"))
    assert "aaa111" in mermaid and "-->" in mermaid
    dot = history.render("dot")
    assert dot.lstrip().startswith("digraph") and dot.rstrip().endswith("}")
    with pytest.raises((ValueError, AlembicDrillError)):
        history.render("svg")  # type: ignore[arg-type]


def test_report_to_dict_json_and_junit(project: Project) -> None:
    drill_project(project)
    project.add("aaa111", None)
    project.add("bbb222", "aaa111", downgrade='op.drop_table("never_created")')
    with Drill(project.ini, "sqlite", checks=["upgrade-failed", "downgrade-failed"]) as drill:
        report = drill.check()
    assert report.ok is False
    as_dict = report.to_dict()
    assert json.loads(report.to_json()) == as_dict
    assert json.loads(report.to_json(indent=2)) == as_dict
    assert report.to_json(indent=2).startswith("{\n  ")
    assert [(f.check, f.revision) for f in report.findings] == [("downgrade-failed", "bbb222")]
    assert report.summary == {"errors": 1, "warnings": 0, "info": 0}
    assert report.database.startswith("SQLite files")
    suites = ET.fromstring(report.to_junit()).findall("testsuite")
    assert sorted(s.get("name") for s in suites) == ["downgrade-failed", "upgrade-failed"]


def make_plugin_project(pytester: pytest.Pytester) -> None:
    root = pytester.path
    versions = root / "migrations" / "versions"
    versions.mkdir(parents=True)
    (root / "alembic.ini").write_text(INI.format(url="sqlite:///app.db"))
    (root / "migrations" / "env.py").write_text(
        textwrap.dedent(ENV_CONNECTION).replace("{models_import}", "target_metadata = None")
    )
    table = 'op.create_table("{name}", sa.Column("id", sa.Integer, primary_key=True))'
    (versions / "a1.py").write_text(
        script(
            "a1a1a1a1a1a1",
            None,
            upgrade=table.format(name="users"),
            downgrade='op.drop_table("users")',
        )
    )
    (versions / "b2.py").write_text(
        script(
            "b2b2b2b2b2b2",
            "a1a1a1a1a1a1",
            upgrade=table.format(name="orders"),
            downgrade='op.drop_table("orders")',
            branch_labels="shop",
        )
    )


def test_drill_runner_down_and_current(pytester: pytest.Pytester) -> None:
    make_plugin_project(pytester)
    pytester.makepyfile(
        """
        import sqlalchemy as sa

        def tables(runner):
            return sorted(sa.inspect(runner.engine).get_table_names())

        def test_walk(drill_runner):
            assert drill_runner.current == ()
            drill_runner.to("heads")
            assert drill_runner.current == ("b2b2b2b2b2b2",)
            assert tables(drill_runner) == ["alembic_version", "orders", "users"]
            drill_runner.down()
            assert drill_runner.current == ("a1a1a1a1a1a1",)
            assert tables(drill_runner) == ["alembic_version", "users"]
            drill_runner.to("shop")  # a branch label
            assert drill_runner.current == ("b2b2b2b2b2b2",)
            drill_runner.to("a1a1")  # a prefix
            assert drill_runner.current == ("a1a1a1a1a1a1",)
            drill_runner.to("base")
            assert drill_runner.current == ()
            drill_runner.up()
            assert drill_runner.current == ("a1a1a1a1a1a1",)
            drill_runner.up()
            drill_runner.down(2)
            assert drill_runner.current == ()
        """
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_drill_migrated_db_session(pytester: pytest.Pytester) -> None:
    make_plugin_project(pytester)
    pytester.makepyfile(
        """
        import sqlalchemy as sa
        from sqlalchemy.orm import Session

        def test_session(drill_migrated_db):
            with drill_migrated_db.session() as session:
                assert isinstance(session, Session)
                session.execute(sa.text("INSERT INTO users (id) VALUES (1), (2)"))
                session.commit()
            with drill_migrated_db.session() as session:
                count = session.execute(sa.text("SELECT count(*) FROM users")).scalar()
                version = session.execute(sa.text("SELECT version_num FROM alembic_version"))
                assert (count, version.scalar()) == (2, "b2b2b2b2b2b2")
        """
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
