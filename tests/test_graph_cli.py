"""`alembic-drill graph`: the drawn history in every format."""

from __future__ import annotations

import json

from conftest import EXAMPLE, Project

HEAD, MERGE, AUTHORS, PRICES, BASE = (
    "5e6f70819203",
    "4d5e6f708192",
    "2b3c4d5e6f70",
    "3c4d5e6f7081",
    "1a2b3c4d5e6f",
)


def test_text_draws_newest_first_with_marks(run_cli) -> None:
    run = run_cli("graph", "-c", str(EXAMPLE))
    assert run.code == 0
    lines = run.out.splitlines()
    ids = [
        next(r for r in (HEAD, MERGE, AUTHORS, PRICES, BASE) if r in line)
        for line in lines
        if any(r in line for r in (HEAD, MERGE, AUTHORS, PRICES, BASE))
    ]
    assert ids[0] == HEAD and ids[1] == MERGE and ids[-1] == BASE
    assert set(ids[2:4]) == {AUTHORS, PRICES}
    head_line = next(line for line in lines if HEAD in line)
    assert "head" in head_line and "stock levels and a title index" in head_line
    assert "merge" in next(line for line in lines if MERGE in line)
    assert "base" in next(line for line in lines if BASE in line)
    # the branch is drawn in two lanes between the merge and the base
    assert any("\\" in line or "/" in line for line in lines)


def test_mermaid_and_dot_hold_every_edge(run_cli) -> None:
    mermaid = run_cli("graph", "-c", str(EXAMPLE), "--format", "mermaid").out
    assert mermaid.startswith("flowchart")
    dot = run_cli("graph", "-c", str(EXAMPLE), "--format", "dot").out
    assert dot.startswith("digraph")
    for parent, child in [
        (BASE, AUTHORS),
        (BASE, PRICES),
        (AUTHORS, MERGE),
        (PRICES, MERGE),
        (MERGE, HEAD),
    ]:
        assert f"r_{parent} --> r_{child}" in mermaid
        assert f'"{parent}" -> "{child}"' in dot


def test_json_lists_revisions_base_first(run_cli) -> None:
    run = run_cli("graph", "-c", str(EXAMPLE), "--format", "json")
    doc = json.loads(run.out)
    order = [r["id"] for r in doc["revisions"]]
    assert order[0] == BASE and order[-1] == HEAD
    merge = next(r for r in doc["revisions"] if r["id"] == MERGE)
    assert merge["is_merge"] and sorted(merge["parents"]) == sorted([AUTHORS, PRICES])
    base = doc["revisions"][0]
    assert base["is_branch_point"] and sorted(base["children"]) == sorted([AUTHORS, PRICES])
    assert doc["heads"] == [HEAD]


def test_revisions_with_findings_are_flagged_and_exit_1(project: Project, run_cli) -> None:
    project.add("aaa111", None, downgrade="pass")
    project.add("bbb222", "aaa111")
    run = run_cli("graph", "-c", str(project.ini), "--format", "json")
    assert run.code == 1
    flagged = {
        r["id"]: [f["check"] for f in r["findings"]] for r in json.loads(run.out)["revisions"]
    }
    assert flagged == {"aaa111": ["stub-downgrade"], "bbb222": []}
    text = run_cli("graph", "-c", str(project.ini)).out
    flagged_line = next(line for line in text.splitlines() if "aaa111" in line)
    clean_line = next(line for line in text.splitlines() if "bbb222" in line)
    assert "error" in flagged_line and "error" not in clean_line


def test_broken_graph_still_draws_every_revision(project: Project, run_cli) -> None:
    project.add("aaa111", "ccc333")
    project.add("bbb222", "aaa111")
    project.add("ccc333", "bbb222")
    project.add("ddd444", "nosuchparent")
    for fmt in ("text", "mermaid", "dot", "json"):
        run = run_cli("graph", "-c", str(project.ini), "--format", fmt)
        assert run.code == 1
        for rev in ("aaa111", "bbb222", "ccc333", "ddd444"):
            assert rev in run.out, (fmt, rev)
