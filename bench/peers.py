"""Benchmark: alembic-drill check side by side with its peers (issue #6).

On generated histories of a realistic mix of operations (bench/generate_history.py
``mix="realistic"``: tables, columns, indexes, foreign keys, enums, idempotent backfills,
branches and merges, a models.py), against one server per engine started with
alembic-drill's own ``Server``, times in alternation (the order of the tools rotates
from one repetition to the next), each run a subprocess on a fresh database:

  floor           plain Alembic: upgrade head then downgrade base, one process
  pytest-alembic  its four built-in tests (pytest --test-alembic)
  pytest-mrt      its six default tests
  handwritten     a hand-written pytest suite: head, base, a per-revision stairway
  alembic-drill   alembic-drill check, every check

Every run must pass (exit code 0, the expected number of tests passed, an ok report
with no finding) or the benchmark stops. Reports medians, tool / floor and drill / tool
ratios, peak RSS of each tool's process tree, the tests or checks each ran, and the
per-revision growth; writes OUT/peers.md, OUT/peers.json and OUT/peers.png. The peers are
installed into bench/.venv-peers (bench/peers-requirements.txt), made on first use.

    .venv/bin/python bench/peers.py [--revisions 10,50,100,300] [--repeat 3]
        [--engines postgresql,mysql,sqlite] [--tools floor,...] [--out bench/results]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from peerbench import report
from peerbench.measure import measure
from peerbench.tools import TOOLS, History, Tool, ToolFailed
from peerbench.venv import peers_python

from alembic_drill import Server
from generate_history import generate

BENCH = Path(__file__).resolve().parent
SPECS = {"postgresql": "local:postgresql", "mysql": "local:mariadb", "sqlite": "sqlite"}
MARIADB = Path("/usr/sbin/mariadbd")


def branch_every(revisions: int) -> int:
    """A fork and its merge every 25 revisions; one in the shortest histories too."""
    return min(25, max(5, revisions // 2))


def make_history(root: Path, revisions: int, seed: int, mix: str = "realistic") -> History:
    project, work = root / f"h{revisions}" / "project", root / f"h{revisions}" / "runs"
    generate(project, revisions, branch_every(revisions), seed + revisions, mix=mix)
    work.mkdir(parents=True)
    return History(revisions, project, work)


def run_once(tool: Tool, history: History, server: Server, python: Path, tag: str) -> report.Sample:
    database = None if tool.own_database else server.create_database()
    spec = server.admin_url() or server.spec
    try:
        url = database.url if database else None
        invocation = tool.invocation(history, python, url, spec, tag)
        log = history.work / f"{tool.name}-{tag}.log"
        run = measure(invocation.command, cwd=invocation.cwd, env=invocation.env, log=log)
    finally:
        if database is not None:
            server.drop_database(database)
    count = tool.verify(history, run, invocation)
    engine, n, rep = tag.split("-")[0], history.revisions, int(tag.rsplit("r", 1)[1])
    return report.Sample(engine, tool.name, n, rep, run.seconds, run.peak_rss_mb, count, tool.unit)


def main() -> None:
    parser = argparse.ArgumentParser(description="alembic-drill check vs its peers")
    parser.add_argument("--revisions", default="10,50,100,300")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--engines", default="postgresql,mysql,sqlite")
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--mix",
        default="realistic",
        choices=["realistic", "realistic-reimport"],
        help="realistic-reimport: env.py imports its models module again on every run",
    )
    parser.add_argument(
        "--limit",
        default="pytest-mrt=100",
        help="TOOL=N,...: leave TOOL out of histories longer than N revisions (pytest-mrt's "
        "cost grows with the square of the history: 300 revisions take over 25 min a run)",
    )
    parser.add_argument("--keep", type=Path, help="generate and log into this folder, kept")
    parser.add_argument(
        "--from-json", type=Path, help="only redraw the report from a peers.json, no runs"
    )
    args = parser.parse_args()
    python = peers_python()
    if args.from_json:
        data = json.loads(args.from_json.read_text())
        samples = [report.Sample(**s) for s in data["samples"]]
        publish(args.out, samples, data["tools"], data.get("preamble", []), python)
        return
    engines = [e.strip() for e in args.engines.split(",")]
    unknown = [t for t in args.tools.split(",") if t not in TOOLS]
    if unknown or any(e not in SPECS for e in engines):
        parser.error(f"tools are {', '.join(TOOLS)}; engines are {', '.join(SPECS)}")
    tools = [TOOLS[name] for name in args.tools.split(",")]
    sizes = [int(x) for x in args.revisions.split(",")]
    limits = {name: int(n) for name, _, n in (x.partition("=") for x in args.limit.split(",") if x)}

    started = time.perf_counter()
    root = args.keep or Path(tempfile.mkdtemp(prefix="drill-peers-"))
    try:
        samples, skipped = run(
            root, sizes, engines, tools, args.repeat, args.seed, python, limits, args.mix
        )
    except ToolFailed as failure:
        sys.exit(f"FAILED: {failure}")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    elapsed = time.perf_counter() - started
    preamble = [
        f"Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by `bench/peers.py "
        f"--revisions {args.revisions} --repeat {args.repeat} --engines {args.engines} "
        f"--mix {args.mix}` "
        f"in {elapsed / 60:.1f} min on {platform.machine()} with {os.cpu_count()} CPUs "
        f"({platform.python_implementation()} {platform.python_version()}).",
        *skipped,
    ]
    publish(args.out, samples, {tool.name: tool.label for tool in tools}, preamble, python)


def run(
    root: Path,
    sizes: list[int],
    engines: list[str],
    tools: list[Tool],
    repeat: int,
    seed: int,
    python: Path,
    limits: dict[str, int],
    mix: str = "realistic",
) -> tuple[list[report.Sample], list[str]]:
    """Every tool, ``repeat`` times, on every history and engine (within ``limits``); and
    what was skipped."""
    samples: list[report.Sample] = []
    skipped: list[str] = [
        f"{name}: left out of histories longer than {n} revisions (--limit)."
        for name, n in limits.items()
        if any(size > n for size in sizes) and name in {tool.name for tool in tools}
    ]
    histories = [make_history(root, n, seed, mix) for n in sizes]
    for engine in engines:
        if engine == "mysql" and not MARIADB.exists():
            message = f"mysql: skipped, {MARIADB} is not installed (MariaDB binaries)."
            print(message, flush=True)
            skipped.append(message)
            continue
        with Server(SPECS[engine]) as server:
            print(f"{engine}: {server.description}", flush=True)
            for history in histories:
                for rep in range(repeat):
                    # Rotate the order so no tool always runs first (cold) or last.
                    shift = rep % len(tools)
                    for tool in tools[shift:] + tools[:shift]:
                        if engine not in tool.engines or history.revisions > limits.get(
                            tool.name, history.revisions
                        ):
                            continue
                        tag = f"{engine}-{history.revisions}-r{rep}"
                        sample = run_once(tool, history, server, python, tag)
                        samples.append(sample)
                        print(
                            f"  {history.revisions:>4} revisions  {tool.name:<15} "
                            f"{sample.seconds:7.2f} s  {sample.peak_rss_mb:5.0f} MB  "
                            f"{sample.count} {sample.unit}",
                            flush=True,
                        )
    return samples, skipped


def publish(
    out: Path,
    samples: list[report.Sample],
    labels: dict[str, str],
    preamble: list[str],
    python: Path,
) -> None:
    """OUT/peers.md, OUT/peers.json and OUT/peers.png (drawn with the peers' matplotlib)."""
    path = report.write(out, samples, labels, preamble)
    png = out / "peers.png"
    plot = BENCH / "peerbench" / "plot.py"
    subprocess.run([str(python), str(plot), str(out / "peers.json"), str(png)], check=True)
    print(path.read_text())
    print(f"wrote {path} and {png}")


if __name__ == "__main__":
    main()
