"""`alembic-drill check` from the command line: reports, formats, exit codes."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

from drill_support import drill_project

from conftest import EXAMPLE, Project


def test_bundled_example_is_clean_on_sqlite(tmp_path: Path, run_cli) -> None:
    copy = tmp_path / "bookshop"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns("*.db", "__pycache__"))
    run = run_cli("check", "-c", str(copy), "--database", "sqlite")
    assert run.code == 0, run.out + run.err
    lines = run.out.splitlines()
    assert lines[0].split() == ["check", "passed", "failed", "skipped"]
    assert any(line.startswith("roundtrip-failed") and line.split()[1] == "5" for line in lines)
    assert lines[-1].startswith("ok: 5 revisions")
    assert "database: SQLite files" in run.err


def test_json_to_stdout_and_junit(project: Project, tmp_path: Path, run_cli) -> None:
    drill_project(project)
    project.add("aaa111", None)
    project.add("bbb222", "aaa111", downgrade='op.drop_table("never_created")')
    junit = tmp_path / "report.xml"
    run = run_cli(
        "check",
        "-c",
        str(project.ini),
        "--database",
        "sqlite",
        "--json",
        "-",
        "--junit",
        str(junit),
        "--skip",
        "model-drift",
    )
    assert run.code == 1
    doc = json.loads(run.out)  # stdout holds the JSON document and nothing else
    assert doc["ok"] is False
    assert [(f["check"], f["revision"]) for f in doc["findings"]] == [
        ("downgrade-failed", "bbb222")
    ]
    assert {"check", "severity", "revision", "path", "line", "message"} <= set(doc["findings"][0])
    assert doc["steps"] and all(
        {"direction", "revision", "seconds"} <= set(s) for s in doc["steps"]
    )
    assert doc["database"].startswith("SQLite files")
    suites = {s.get("name"): s for s in ET.parse(junit).getroot()}
    assert suites["downgrade-failed"].get("failures") == "1"
    case = suites["downgrade-failed"].find("testcase[@name='bbb222']")
    assert case is not None and case.find("failure") is not None


def test_static_findings_are_part_of_check(project: Project, run_cli) -> None:
    drill_project(project)
    project.add("aaa111", None)
    project.add("bbb222", "aaa111")
    project.add("ccc333", "aaa111")  # two heads
    run = run_cli("check", "-c", str(project.ini), "--database", "sqlite", "--json", "-")
    assert run.code == 1
    checks = {f["check"] for f in json.loads(run.out)["findings"]}
    assert "multiple-heads" in checks


def test_broken_history_skips_the_drills_with_the_reason(project: Project, run_cli) -> None:
    drill_project(project)
    project.add("aaa111", "nosuchparent")
    run = run_cli("check", "-c", str(project.ini), "--database", "sqlite", "--json", "-")
    assert run.code == 1
    doc = json.loads(run.out)
    assert {f["check"] for f in doc["findings"]} == {"missing-parent"}
    assert doc["steps"] == []
    assert all("missing-parent" in c["skipped"] for c in doc["checks"])


def test_bad_database_spec_exits_2(project: Project, run_cli) -> None:
    drill_project(project)
    project.add("aaa111", None)
    run = run_cli("check", "-c", str(project.ini), "--database", "oracle://x")
    assert run.code == 2 and "unsupported URL scheme" in run.err
