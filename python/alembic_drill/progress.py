"""What `check` shows while it runs and when it ends."""

from __future__ import annotations

import time
from collections import Counter
from typing import TYPE_CHECKING, TextIO

from alembic_drill._format import format_finding

if TYPE_CHECKING:
    from alembic_drill._core import DrillReport


class Progress:
    """Live progress on a terminal (one line, rewritten); on anything else, one plain line
    per revision, so CI logs stay readable."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.live = out.isatty()
        self.started = time.monotonic()
        self.last_revision: str | None = None
        self.width = 0

    def note(self, text: str) -> None:
        self._clear()
        self.out.write(text + "\n")
        self.out.flush()

    def update(self, index: int, total: int, revision: str, activity: str) -> None:
        elapsed = time.monotonic() - self.started
        position = f"[{index:>{len(str(total))}}/{total}] {revision}"
        if self.live:
            line = f"{position} {activity} ({elapsed:.1f}s)"
            self.out.write("\r" + line.ljust(self.width))
            self.width = len(line)
            self.out.flush()
        elif revision != self.last_revision:
            self.out.write(f"{position} ({elapsed:.1f}s)\n")
            self.out.flush()
        self.last_revision = revision

    def done(self) -> None:
        self._clear()

    def _clear(self) -> None:
        if self.live and self.width:
            self.out.write("\r" + " " * self.width + "\r")
            self.width = 0


def print_report(report: DrillReport, out: TextIO) -> None:
    """A summary table per check, the findings, and a verdict line."""
    data = report.to_dict()
    passed: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    failing = {(f["check"], f["revision"]) for f in data["findings"] if f["severity"] == "error"}
    for run in data["checks"]:
        key = (run["check"], run["revision"])
        if run["skipped"]:
            skipped[run["check"]] += 1
        elif key in failing:
            failed[run["check"]] += 1
        else:
            passed[run["check"]] += 1
    checks = sorted(set(passed) | set(failed) | set(skipped))
    if checks:
        width = max(len(c) for c in checks)
        out.write(f"{'check':<{width}}  passed  failed  skipped\n")
        for check in checks:
            out.write(
                f"{check:<{width}}  {passed[check]:>6}  {failed[check]:>6}  {skipped[check]:>7}\n"
            )
        out.write("\n")
    for finding in report.findings:
        out.write(format_finding(finding) + "\n")
    summary = data["summary"]
    steps = len(data["steps"])
    verdict = "ok" if report.ok else "failed"
    out.write(
        f"{verdict}: {data['revisions']} revisions, {steps} steps on {data['database']} in "
        f"{data['seconds']:.1f}s; {summary['errors']} errors, {summary['warnings']} warnings, "
        f"{summary['info']} info\n"
    )
