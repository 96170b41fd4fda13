"""`alembic-drill lint`: every static check, through the command line, with exit codes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from conftest import EXAMPLE, Project, checks_of


def test_healthy_linear_history_is_clean(project: Project, run_cli) -> None:
    project.linear("aaa111", "bbb222", "ccc333")
    run = run_cli("lint", "-c", str(project.ini), "--json")
    assert run.code == 0, run.out
    doc = run.json()
    assert doc["findings"] == []
    assert doc["revisions"] == 3 and doc["heads"] == ["ccc333"] and doc["bases"] == ["aaa111"]
    assert doc["summary"] == {"errors": 0, "warnings": 0, "info": 0}
    assert doc["ok"] is True


def test_branched_and_merged_history_is_clean(project: Project, run_cli) -> None:
    project.add("aaa111", None)
    project.add("bbb222", "aaa111")
    project.add("ccc333", "aaa111")
    project.add("ddd444", "aaa111")
    project.add("eee555", ["bbb222", "ccc333", "ddd444"], upgrade="pass", downgrade="pass")
    project.add("fff666", "eee555", depends_on="ccc333")
    run = run_cli("lint", "-c", str(project.ini), "--json")
    assert run.code == 0, run.out
    assert run.json()["findings"] == []


def test_independent_labelled_branches_are_clean(project: Project, run_cli) -> None:
    project.linear("aaa111", "bbb222")
    project.add("ccc333", None, branch_labels="reporting")
    project.add("ddd444", "ccc333")
    run = run_cli("lint", "-c", str(project.ini), "--json")
    assert run.code == 0, run.out
    assert run.json()["findings"] == []


def test_multiple_heads(project: Project, run_cli) -> None:
    project.linear("aaa111", "bbb222")
    project.add("ccc333", "aaa111")
    run = run_cli("lint", "-c", str(project.ini), "--json")
    assert run.code == 1
    assert checks_of(run) == [("multiple-heads", "bbb222"), ("multiple-heads", "ccc333")]
    assert run.json()["ok"] is False
    finding = run.json()["findings"][0]
    assert finding["severity"] == "error"
    assert "alembic merge" in finding["message"]
    assert "bbb222" in finding["message"] and "ccc333" in finding["message"]
    assert finding["path"].endswith("_rev.py") and finding["line"] == 8  # the `revision = ` line


def test_multiple_unlabelled_bases(project: Project, run_cli) -> None:
    project.linear("aaa111", "bbb222")
    project.add("ccc333", None)
    project.add("ddd444", ["bbb222", "ccc333"], upgrade="pass", downgrade="pass")
    run = run_cli("lint", "-c", str(project.ini), "--json")
    assert run.code == 0  # a warning does not fail the run
    assert {c for c, _ in checks_of(run)} == {"multiple-bases"}
    assert run.json()["ok"] is True
    assert all(f["severity"] == "warning" for f in run.json()["findings"])


def test_missing_parent_lists_what_it_cuts_off(project: Project, run_cli) -> None:
    project.linear("aaa111", "bbb222")
    project.add("ccc333", "deadbeef")
    project.add("ddd444", "ccc333")
    project.add("eee555", "bbb222", depends_on="nosuchrev")
    run = run_cli("lint", "-c", str(project.ini), "--json")
    assert run.code == 1
    findings = [f for f in run.json()["findings"] if f["check"] == "missing-parent"]
    by_rev = {f["revision"]: f for f in findings}
    assert set(by_rev) == {"ccc333", "eee555"}
    assert "deadbeef" in by_rev["ccc333"]["message"]
    assert "ddd444" in by_rev["ccc333"]["message"]  # cut off with it
    assert by_rev["ccc333"]["line"] == 9  # the down_revision line
    assert "nosuchrev" in by_rev["eee555"]["message"]


def test_cycle_is_reported_in_order_without_crashing(project: Project, run_cli) -> None:
    project.linear("aaa111")
    project.add("bbb222", "ddd444")
    project.add("ccc333", "bbb222")
    project.add("ddd444", "ccc333")
    run = run_cli("lint", "-c", str(project.ini), "--json")
    assert run.code == 1
    cycles = [f for f in run.json()["findings"] if f["check"] == "cycle"]
    assert len(cycles) == 1
    message = cycles[0]["message"]
    # The loop in down_revision order (each revision followed by the one it names), closed
    # on its first revision, whichever revision it starts from.
    loop = re.search(r"\b(\w+(?: -> \w+)+)\b", message)
    assert loop is not None, message
    chain = loop.group(1).split(" -> ")
    assert chain[0] == chain[-1] and len(chain) == 4, chain
    parent = {"bbb222": "ddd444", "ccc333": "bbb222", "ddd444": "ccc333"}
    assert all(parent[a] == b for a, b in zip(chain, chain[1:])), chain
    assert cycles[0]["revision"] == chain[0]


def test_duplicate_revision_names_both_files(project: Project, run_cli) -> None:
    project.linear("aaa111", "bbb222")
    project.write("zzz_copy.py", (project.versions / "bbb222_rev.py").read_text())
    run = run_cli("lint", "-c", str(project.ini), "--json")
    assert run.code == 1
    dupes = [f for f in run.json()["findings"] if f["check"] == "duplicate-revision"]
    assert dupes and all(f["revision"] == "bbb222" for f in dupes)
    assert "zzz_copy.py" in dupes[0]["message"] and "bbb222_rev.py" in dupes[0]["message"]


def test_stub_downgrade_and_upgrade(project: Project, run_cli) -> None:
    project.add("aaa111", None, downgrade="pass")
    project.add("bbb222", "aaa111", upgrade='"""Later."""', downgrade="...")
    project.add("ccc333", "bbb222", downgrade='raise NotImplementedError("rows are gone")')
    run = run_cli("lint", "-c", str(project.ini), "--json")
    assert run.code == 1
    assert checks_of(run) == [
        ("irreversible", "ccc333"),
        ("stub-downgrade", "aaa111"),
        ("stub-upgrade", "bbb222"),  # nothing to undo: no stub-downgrade for bbb222
    ]
    findings = {f["check"]: f for f in run.json()["findings"]}
    assert findings["stub-downgrade"]["severity"] == "error"
    assert findings["stub-downgrade"]["line"] == 18  # the `def downgrade` line
    assert findings["stub-upgrade"]["severity"] == "warning"
    assert findings["irreversible"]["severity"] == "info"


def test_merge_revisions_may_be_stubs(project: Project, run_cli) -> None:
    project.add("aaa111", None)
    project.add("bbb222", "aaa111")
    project.add("ccc333", "aaa111")
    project.add("ddd444", ("bbb222", "ccc333"), upgrade="pass", downgrade="pass")
    assert run_cli("lint", "-c", str(project.ini)).code == 0


def test_script_error_in_lint_output(project: Project, run_cli) -> None:
    project.linear("aaa111")
    project.write("bbb222_broken.py", "revision = 'bbb222'\ndown_revision = 'aaa111'\n1/0\n")
    run = run_cli("lint", "-c", str(project.ini))
    assert run.code == 1
    assert "bbb222_broken.py:3: error[script-error]" in run.out
    assert "ZeroDivisionError" in run.out
    assert run.out.rstrip().splitlines()[-1].startswith("failed: 1 revisions")


def test_text_report_of_a_clean_history(run_cli) -> None:
    run = run_cli("lint", "-c", str(EXAMPLE))
    assert run.code == 0
    assert run.out == "ok: 5 revisions, heads: 5e6f70819203; 0 errors, 0 warnings, 0 info\n"


def test_cannot_run_exits_2_with_one_line_reason(tmp_path: Path, run_cli) -> None:
    run = run_cli("lint", "-c", str(tmp_path))
    assert run.code == 2
    assert run.out == ""
    assert run.err.count("\n") == 1
    assert run.err.startswith("alembic-drill: error: ") and "not an Alembic project" in run.err


def test_installed_console_script(tmp_path: Path) -> None:
    """The entry point pip installs: exit codes cross the process boundary."""
    exe = Path(sys.executable).parent / "alembic-drill"
    ok = subprocess.run([exe, "lint", "-c", EXAMPLE], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run([exe, "lint", "-c", tmp_path], capture_output=True, text=True)
    assert bad.returncode == 2 and "not an Alembic project" in bad.stderr
    usage = subprocess.run([exe], capture_output=True, text=True)
    assert usage.returncode == 2 and "lint" in usage.stderr
