"""The benchmarks' realistic histories (bench/generate_history.py): correct migrations
with tables, columns, indexes, foreign keys, enums, backfills, branches and merges, so
`check` must find nothing in them, on every engine. A false finding here would also be
one in a user's healthy history."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from drill_support import HAZARD_CHECKS
from servers_support import DRILL_ENGINES, engine_server

from alembic_drill import Drill, Server

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from generate_history import generate


@pytest.fixture(scope="module", params=DRILL_ENGINES)
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    with engine_server(request.param) as started:
        yield started


def test_realistic_history_is_clean(tmp_path: Path, server: Server) -> None:
    ids = generate(tmp_path, 40, branch_every=12, seed=7, mix="realistic")
    report = Drill(tmp_path / "alembic.ini", server=server).check()
    # Production hazards are true of these histories (indexes built without CONCURRENTLY,
    # foreign keys validated at once, on tables that hold rows): warnings, not false
    # findings, and so is the static advice on those indexes. Anything else would be one.
    true_here = {*HAZARD_CHECKS, "index-without-concurrently"}
    wrong = [f.message for f in report.findings if f.check not in true_here]
    assert wrong == [] and report.ok
    ran = {(r["check"], r["revision"]) for r in report.to_dict()["checks"] if not r["skipped"]}
    assert {rev for check, rev in ran if check == "roundtrip-failed"} == set(ids)
    assert ("model-drift", None) in ran
    # Backfills ran on rows, and their replay was compared.
    phases = report.to_dict()["phases"]
    assert phases["replay"]["count"] >= 1 and phases["fingerprint"]["count"] >= 2
