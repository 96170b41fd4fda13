"""Draws bench/results/peers.png from peers.json: median time against history length,
log-log, one line per tool, one panel per engine. Run with the peers' interpreter (it has
matplotlib; alembic-drill's .venv need not).

    bench/.venv-peers/bin/python bench/peerbench/plot.py bench/results/peers.json OUT.png
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import NullLocator

ENGINES = ("postgresql", "mysql", "sqlite")


def main(source: str, target: str) -> None:
    data = json.loads(open(source).read())
    times: dict[tuple[str, str, int], list[float]] = defaultdict(list)
    for s in data["samples"]:
        times[(s["engine"], s["tool"], s["revisions"])].append(s["seconds"])
    engines = [e for e in ENGINES if any(k[0] == e for k in times)]
    fig, axes = plt.subplots(
        1, len(engines), figsize=(6 * len(engines), 4.5), squeeze=False, sharey=True
    )
    for ax, engine in zip(axes[0], engines):
        for tool in data["tools"]:
            points = sorted(
                (n, statistics.median(v))
                for (e, t, n), v in times.items()
                if e == engine and t == tool
            )
            if points:
                xs, ys = zip(*points)
                ax.plot(
                    xs,
                    ys,
                    marker="o",
                    label=tool,
                    linewidth=2.5 if tool == "alembic-drill" else 1.5,
                )
        ax.set_xscale("log")
        ax.set_yscale("log")
        sizes = sorted({n for (e, _, n) in times if e == engine})
        ax.set_xticks(sizes, [str(n) for n in sizes])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_title(engine)
        ax.set_xlabel("revisions in the history")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel("median wall time, s")
    axes[0][-1].legend(fontsize=8)
    fig.suptitle("Testing an Alembic history: alembic-drill check and its peers")
    fig.tight_layout()
    fig.savefig(target, dpi=120)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
