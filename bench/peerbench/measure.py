"""Wall time and peak memory of one tool run.

The tool runs as a child process; ``os.wait4`` returns its resource usage once it ends,
and on Linux its ``ru_maxrss`` is the largest resident set of the child and of every
descendant it waited for: the peak RSS of the tool's process tree (database servers are
the benchmark's, not the tool's, so they are not counted).
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_rss_mb: float
    returncode: int
    log: Path


def measure(command: list[str], *, cwd: Path, env: dict[str, str], log: Path) -> Run:
    """Runs ``command``, its output into ``log``; returns how long and how big it was."""
    with log.open("wb") as out:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=out)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return Run(seconds, usage.ru_maxrss / 1024, process.returncode, log)
