"""Builders for throwaway Alembic projects: each test writes exactly the history it needs."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from alembic_drill import cli

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "bookshop"

INI = """\
[alembic]
script_location = %(here)s/migrations
path_separator = os
sqlalchemy.url = sqlite:///%(here)s/test.db
"""

REAL_UPGRADE = 'op.create_table("t_{rev}", sa.Column("id", sa.Integer, primary_key=True))'
REAL_DOWNGRADE = 'op.drop_table("t_{rev}")'


def script(
    rev: str,
    down: str | Sequence[str] | None,
    *,
    upgrade: str = REAL_UPGRADE,
    downgrade: str = REAL_DOWNGRADE,
    branch_labels: str | Sequence[str] | None = None,
    depends_on: str | Sequence[str] | None = None,
    doc: str | None = None,
) -> str:
    """The source of a revision script shaped like Alembic's template writes them."""
    down_value = tuple(down) if isinstance(down, (list, tuple)) else down
    labels = tuple(branch_labels) if isinstance(branch_labels, (list, tuple)) else branch_labels
    deps = tuple(depends_on) if isinstance(depends_on, (list, tuple)) else depends_on
    return f'''\
"""{doc or f"revision {rev}"}

Revision ID: {rev}
"""
from alembic import op
import sqlalchemy as sa

revision = {rev!r}
down_revision = {down_value!r}
branch_labels = {labels!r}
depends_on = {deps!r}


def upgrade() -> None:
{textwrap.indent(upgrade.format(rev=rev), "    ")}


def downgrade() -> None:
{textwrap.indent(downgrade.format(rev=rev), "    ")}
'''


@dataclass
class Project:
    """An Alembic project in a temporary folder."""

    root: Path
    scripts: dict[str, Path] = field(default_factory=dict)

    @property
    def ini(self) -> Path:
        return self.root / "alembic.ini"

    @property
    def versions(self) -> Path:
        return self.root / "migrations" / "versions"

    def add(self, rev: str, down: str | Sequence[str] | None, **kwargs: object) -> Path:
        return self.write(f"{rev}_rev.py", script(rev, down, **kwargs))  # type: ignore[arg-type]

    def write(self, name: str, source: str | bytes) -> Path:
        path = self.versions / name
        if isinstance(source, bytes):
            path.write_bytes(source)
        else:
            path.write_text(textwrap.dedent(source) if source.startswith("\n") else source)
        self.scripts[name] = path
        return path

    def linear(self, *revs: str) -> None:
        down = None
        for rev in revs:
            self.add(rev, down)
            down = rev


@pytest.fixture
def project(tmp_path: Path) -> Project:
    root = tmp_path / "proj"
    (root / "migrations" / "versions").mkdir(parents=True)
    (root / "alembic.ini").write_text(INI)
    (root / "migrations" / "env.py").write_text("raise RuntimeError('lint never runs env.py')\n")
    return Project(root)


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> dict:  # type: ignore[type-arg]
        return json.loads(self.out)  # type: ignore[no-any-return]


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Runs ``alembic-drill ARGS`` in this process and captures what it printed."""

    def run(*args: str) -> Run:
        code = cli.main(list(args))
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


def checks_of(run: Run) -> list[tuple[str, str | None]]:
    """(check, revision) pairs from a ``lint --json`` run, sorted."""
    return sorted((f["check"], f["revision"]) for f in run.json()["findings"])
