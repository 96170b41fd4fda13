"""pytest-mrt, configured the documented way (an ``MRTConfig`` in conftest.py); its six
default tests are collected automatically: single head, upgrade, downgrade base (then
upgrade again), up/down consistency (per revision: seed rows, upgrade, downgrade one step,
compare schema and rows), static analysis without errors, schema matches the models.

pytest-mrt treats a history as a line: it downgrades each revision with ``-1`` and
reports any fork as an error. On a history with merged branches this config therefore
uses its documented escape hatches: ``skip`` (with the reason) for each merge and for
the second side of each fork, where ``-1`` is ambiguous (two heads), and
``severity_overrides`` turning "Multiple heads" (a fork, even merged) and "No-op
downgrade" (a merge's ``pass``) into warnings.
"""

from __future__ import annotations

import os

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from pytest_mrt import MRTConfig


def ambiguous_revisions(ini: str) -> dict[str, str]:
    """The revisions whose ``downgrade -1`` Alembic cannot resolve, walking oldest first
    as pytest-mrt does: merges, and those upgraded while another head is present."""
    script = ScriptDirectory.from_config(Config(ini))
    heads: set[str] = set()
    skip = {}
    for rev in reversed(list(script.walk_revisions("base", "heads"))):
        heads = (heads - set(rev._all_down_revisions)) | {rev.revision}
        if rev.is_merge_point:
            skip[rev.revision] = "merge: downgrade -1 is ambiguous"
        elif len(heads) > 1:
            skip[rev.revision] = "second side of a fork: downgrade -1 with two heads"
    return skip


def pytest_configure(config: pytest.Config) -> None:
    ini = os.environ["BENCH_ALEMBIC_INI"]
    config._mrt_config = MRTConfig(  # type: ignore[attr-defined]
        alembic_ini=ini,
        db_url=os.environ["BENCH_DATABASE_URL"],
        target_metadata="models:metadata",
        skip=ambiguous_revisions(ini),
        severity_overrides={"Multiple heads": "warning", "No-op downgrade": "warning"},
    )
