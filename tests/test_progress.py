"""`check`'s live progress on stderr: one line rewritten in place on a terminal (a pty
here), one plain line per revision anywhere else (a pipe, a CI log)."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys

from drill_support import drill_project

from conftest import Project

REVISIONS = ("aaa111", "bbb222", "ccc333")


def run_check(project: Project, stderr_on_terminal: bool) -> str:
    """stderr of `alembic-drill check` in a child process, as bytes decoded."""
    command = [sys.executable, "-m", "alembic_drill.cli", "check", "-c", str(project.ini)]
    command += ["--database", "sqlite"]
    if not stderr_on_terminal:
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stderr
    controller, terminal = pty.openpty()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=terminal)
    os.close(terminal)
    chunks = []
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # EIO: the child closed its end
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(controller)
    assert child.wait(timeout=300) == 0
    # The terminal turns "\n" into "\r\n": back to what the program wrote.
    return b"".join(chunks).decode().replace("\r\n", "\n")


def project_of_three(project: Project) -> Project:
    drill_project(project)
    project.linear(*REVISIONS)
    return project


def test_plain_lines_when_not_on_a_terminal(project: Project) -> None:
    err = run_check(project_of_three(project), stderr_on_terminal=False)
    assert "\r" not in err
    progress = [line for line in err.splitlines() if line.startswith("[")]
    assert [re.sub(r" \(\d+\.\ds\)$", "", line) for line in progress] == [
        "[1/3] aaa111",
        "[2/3] bbb222",
        "[3/3] ccc333",
    ]


def test_one_rewritten_line_on_a_terminal(project: Project) -> None:
    err = run_check(project_of_three(project), stderr_on_terminal=True)
    # Every progress update starts with a carriage return and never ends a line: the
    # terminal shows one line, rewritten in place.
    updates = re.findall(r"(.?)(\[\d/3\] \w+)", err)
    assert updates, err
    assert all(before == "\r" for before, _ in updates), updates
    assert not [line for line in err.split("\n") if line.startswith("[")]
    # Each revision shows up, in order, and the line is wiped at the end.
    seen = list(dict.fromkeys(position for _, position in updates))
    assert seen == ["[1/3] aaa111", "[2/3] bbb222", "[3/3] ccc333"]
    assert err.endswith("\r")
    assert "database: SQLite files" in err
