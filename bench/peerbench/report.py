"""From the timed runs to the report: medians, ratios, growth with history length, and
the markdown table (bench/results/peers.md) plus the raw samples (peers.json) the plot
is drawn from."""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

DRILL = "alembic-drill"
FLOOR = "floor"


@dataclass(frozen=True)
class Sample:
    engine: str
    tool: str
    revisions: int
    repetition: int
    seconds: float
    peak_rss_mb: float
    #: tests (pytest), checks (alembic-drill) or commands (the floor) the run was made of
    count: int
    unit: str


@dataclass(frozen=True)
class Cell:
    """The repetitions of one tool on one history and engine."""

    seconds: list[float]
    peak_rss_mb: list[float]
    count: int
    unit: str

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def rss(self) -> float:
        return statistics.median(self.peak_rss_mb)


def cells(samples: list[Sample]) -> dict[tuple[str, int, str], Cell]:
    grouped: dict[tuple[str, int, str], list[Sample]] = defaultdict(list)
    for s in samples:
        grouped[(s.engine, s.revisions, s.tool)].append(s)
    return {
        key: Cell(
            [s.seconds for s in group],
            [s.peak_rss_mb for s in group],
            group[0].count,
            group[0].unit,
        )
        for key, group in grouped.items()
    }


EXPLAINED = (
    "Median of the repetitions; the tools alternate within each repetition (the order "
    "rotates), each a subprocess on a fresh database of the same server. *tool / floor*: "
    "the tool's median over plain Alembic's `upgrade head` + `downgrade base` in one "
    "process; *drill / tool*: alembic-drill's median over the tool's (below 1: "
    "alembic-drill is faster). Peak RSS: the largest process of the tool's tree (the "
    "database server excluded). alembic-drill's time includes making its own databases "
    "on the shared server; the others are handed a fresh empty one."
)

NOTES = """\
## What each tool runs, and its limits

- **floor**: no checks at all; what any tool must at least spend migrating the history
  both ways in one process.
- **pytest-alembic** (`pytest --test-alembic`, an `alembic_engine` fixture in
  tests/conftest.py): 4 tests: one head; upgrade base to head; the models match the DDL
  at head (autogenerate); up/down consistency: every revision upgraded one at a time,
  then downgraded one at a time, then up again. No schema comparison after a downgrade,
  no data in the tables. Any engine SQLAlchemy has.
- **pytest-mrt** (an `MRTConfig` in conftest.py): 6 default tests: one head; upgrade;
  downgrade base then upgrade; per revision, seed rows into every table, upgrade,
  `downgrade -1`, compare schema and rows; 44 static patterns; the models match at head.
  It treats a history as a line: `downgrade -1` is ambiguous at a merge and with two
  heads, and its static analysis reports any fork as an error (and a merge's `pass`
  downgrade as a no-op). On these histories (merged branches) it runs with its documented
  escape hatches: `skip` for each merge and for the second side of each fork (2
  revisions per fork: 2 of 10, 2 of 50, 6 of 100, 22 of 300 are not round-tripped), and
  `severity_overrides` for "Multiple heads" and "No-op downgrade". Its per-revision check
  snapshots and seeds every table, so its cost per revision grows with the schema.
- **handwritten**: a pytest suite written the way teams do without a plugin: one head,
  upgrade head, downgrade base, and a stairway test per revision (upgrade it, downgrade
  to its parent, upgrade it again). Alembic commands only: nothing compares schemas or
  touches data.
- **alembic-drill check**: per revision upgrade, downgrade, round trip, schema left
  behind (full snapshot compared), data-dependent failure (synthetic rows in every
  table), idempotent data statements, plus model drift at head and the static checks;
  one forward walk; the data checks run on a second database walking beside the first,
  seeded once per table, so its rows age with the history.
  The checks column counts (check, revision) pairs that ran.
"""


def markdown(samples: list[Sample], tools: dict[str, str], preamble: list[str]) -> str:
    """``tools``: name -> label, in the order the tables list them."""
    table = cells(samples)
    engines = sorted({s.engine for s in samples}, key=["postgresql", "mysql", "sqlite"].index)
    lines = ["# alembic-drill check side by side with the peers", "", *preamble, "", EXPLAINED]
    lines += ["", "Tools:", ""] + [f"- `{name}`: {label}" for name, label in tools.items()]
    for engine in engines:
        sizes = sorted({n for (e, n, _) in table if e == engine})
        lines += ["", f"## {engine}", ""]
        lines += [
            "| revisions | tool | median s | runs s | tool / floor | drill / tool "
            "| peak RSS MB | tests or checks |",
            "|---:|---|---:|---|---:|---:|---:|---|",
        ]
        for n in sizes:
            floor = table.get((engine, n, FLOOR))
            drill = table.get((engine, n, DRILL))
            for tool in tools:
                cell = table.get((engine, n, tool))
                if cell is None:
                    continue
                over_floor = f"{cell.median / floor.median:.1f}x" if floor else "-"
                drill_over = f"{drill.median / cell.median:.2f}" if drill else "-"
                runs = ", ".join(f"{s:.2f}" for s in cell.seconds)
                lines.append(
                    f"| {n} | {tool} | {cell.median:.2f} | {runs} | {over_floor} | "
                    f"{drill_over} | {cell.rss:.0f} | {cell.count} {cell.unit} |"
                )
        lines += growth(table, engine, sizes, tools)
    lines += ["", NOTES]
    return "\n".join(lines)


def growth(
    table: dict[tuple[str, int, str], Cell], engine: str, sizes: list[int], tools: dict[str, str]
) -> list[str]:
    """Per-revision cost between consecutive history lengths: the slope of the median
    time; a constant slope means the tool grows linearly with the history."""
    if len(sizes) < 2:
        return []
    steps = list(zip(sizes, sizes[1:]))
    lines = [
        "",
        f"Growth on {engine}: milliseconds per added revision between history lengths "
        "(slope of the medians), and time per revision at the longest history.",
        "",
        "| tool | "
        + " | ".join(f"{a}→{b} ms/rev" for a, b in steps)
        + f" | ms/rev at {sizes[-1]} |",
        "|---|" + "---:|" * (len(steps) + 1),
    ]
    for tool in tools:
        row = []
        for a, b in steps:
            ca, cb = table.get((engine, a, tool)), table.get((engine, b, tool))
            row.append(f"{1000 * (cb.median - ca.median) / (b - a):.0f}" if ca and cb else "-")
        last = table.get((engine, sizes[-1], tool))
        row.append(f"{1000 * last.median / sizes[-1]:.0f}" if last else "-")
        lines.append(f"| {tool} | " + " | ".join(row) + " |")
    return lines


def write(out: Path, samples: list[Sample], tools: dict[str, str], preamble: list[str]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / "peers.json").write_text(
        json.dumps(
            {"tools": tools, "preamble": preamble, "samples": [asdict(s) for s in samples]},
            indent=1,
        )
    )
    path = out / "peers.md"
    path.write_text(markdown(samples, tools, preamble))
    return path
