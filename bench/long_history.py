"""Benchmark (not a test): `alembic-drill check` on long generated histories, for the
peak memory of the checking process and whether the time per revision stays flat.

    python bench/long_history.py [--revisions 250,500,1000,2000] [--database local:postgresql]
                                 [--budget 900] [--out bench/results/long-history.md]

Each history (bench/generate_history.py, the simple mix, a branch and merge every 25
revisions) is checked by `alembic-drill check` in a process of its own, on one server
kept for the whole benchmark (each run reuses it, so server start-up is not counted).
The peak resident memory is the check process's own (``wait4``'s ``ru_maxrss``; the
database server's memory is not in it). A history whose run would not fit in what is
left of ``--budget`` seconds (extrapolated from the last one, at the growth seen so far)
is not started, and the table says so.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from alembic_drill import Server
from alembic_drill.servers import stop_kept_servers
from generate_history import generate

#: The bound the issue sets for the checking process's peak memory.
PEAK_RSS_LIMIT_MB = 300


@dataclass
class Run:
    revisions: int
    seconds: float
    peak_rss_mb: float
    exit_code: int
    summary: str
    #: Seconds by activity of the walk (the report's `phases`).
    phases: dict[str, float]

    @property
    def ms_per_revision(self) -> float:
        return 1000 * self.seconds / self.revisions


def check(project: Path, spec: str) -> Run:
    """One `alembic-drill check` in a child process: wall time, peak RSS, outcome."""
    report_file = project / "report.json"
    command = [sys.executable, "-m", "alembic_drill.cli", "check", "-c", str(project)]
    started = time.perf_counter()
    child = subprocess.Popen(
        [*command, "--database", spec, "--json", str(report_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert child.stdout is not None
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    lines = [line for line in out.splitlines() if line.startswith(("ok:", "failed:"))]
    revisions = len(list((project / "migrations" / "versions").glob("*.py")))
    phases = {}
    if report_file.exists():
        timings = json.loads(report_file.read_text())["phases"]
        phases = {name: float(t["seconds"]) for name, t in timings.items()}
    return Run(
        revisions=revisions,
        seconds=seconds,
        # Linux reports ru_maxrss in KiB.
        peak_rss_mb=usage.ru_maxrss / 1024,
        exit_code=child.returncode,
        phases=phases,
        summary=lines[-1] if lines else out.strip().splitlines()[-1:][0] if out.strip() else "",
    )


def report(runs: list[Run], skipped: list[tuple[int, float]], spec: str, budget: float) -> str:
    base = runs[0] if runs else None
    lines = [
        "# Long histories: peak memory and time per revision (`bench/long_history.py`)",
        "",
        f"`alembic-drill check` (every check) on generated histories (simple mix, a branch "
        f"and merge every 25 revisions), on `{spec}` kept for the whole benchmark. Peak RSS "
        f"is the checking process's own (the database server's memory is not in it); the "
        f"bound is {PEAK_RSS_LIMIT_MB} MB. 2-core machine shared with other jobs; budget "
        f"{budget:.0f} s.",
        "",
        "| revisions | exit | wall s | ms per revision | per revision vs first | "
        "peak RSS MB | summary |",
        "|---:|---:|---:|---:|---:|---:|---|",
    ]
    for run in runs:
        ratio = run.ms_per_revision / base.ms_per_revision if base else 1.0
        lines.append(
            f"| {run.revisions} | {run.exit_code} | {run.seconds:.1f} | "
            f"{run.ms_per_revision:.0f} | {ratio:.2f}x | {run.peak_rss_mb:.0f} | {run.summary} |"
        )
    for revisions, estimate in skipped:
        lines.append(
            f"| {revisions} | not run | ~{estimate:.0f} (estimated) | | | | "
            f"would not fit in the budget |"
        )
    names = sorted(
        {name for run in runs for name in run.phases},
        key=lambda name: -max(run.phases.get(name, 0) / run.revisions for run in runs),
    )
    if names:
        lines += [
            "",
            "Where the time goes: ms per revision by activity of the walk (the report's "
            "`phases`), largest first.",
            "",
            "| activity | " + " | ".join(f"{run.revisions}" for run in runs) + " |",
            "|---|" + "---:|" * len(runs),
        ]
        for name in names:
            cells = " | ".join(
                f"{1000 * run.phases.get(name, 0) / run.revisions:.1f}" for run in runs
            )
            lines.append(f"| {name} | {cells} |")
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--revisions", default="250,500,1000,2000")
    parser.add_argument("--database", default="local:postgresql")
    parser.add_argument("--budget", type=float, default=900.0, help="seconds for all runs")
    parser.add_argument("--out", type=Path, default=None, help="write the table here too")
    args = parser.parse_args()
    sizes = [int(n) for n in args.revisions.split(",")]
    runs: list[Run] = []
    skipped: list[tuple[int, float]] = []
    began = time.monotonic()
    # One kept server for every run; stopped at the end only if this benchmark started it.
    server = Server(args.database, keep=True)
    started_here = not server.reused
    server.stop()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for n in sizes:
                if runs:
                    last = runs[-1]
                    # Per-revision time grows again as it grew between the last two sizes.
                    growth = (
                        last.ms_per_revision / runs[-2].ms_per_revision if len(runs) > 1 else 1.0
                    )
                    estimate = last.seconds * (n / last.revisions) * max(growth, 1.0)
                    if time.monotonic() - began + estimate > args.budget:
                        skipped.append((n, estimate))
                        print(f"{n}: skipped (estimated {estimate:.0f} s)", flush=True)
                        continue
                project = Path(tmp) / f"h{n}"
                generate(project, n, branch_every=25, seed=n)
                run = check(project, args.database)
                runs.append(run)
                print(
                    f"{n}: {run.seconds:.1f} s, {run.ms_per_revision:.0f} ms/revision, "
                    f"peak {run.peak_rss_mb:.0f} MB, exit {run.exit_code}: {run.summary}",
                    flush=True,
                )
    finally:
        if started_here:
            stop_kept_servers(args.database)
    text = report(runs, skipped, args.database, args.budget)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
