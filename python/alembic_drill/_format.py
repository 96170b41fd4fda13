"""How findings read on a terminal and in a test failure: one place, so that the command
line, its progress output and the pytest plugin print a finding the same way."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic_drill._core import Finding


def format_finding(finding: Finding) -> str:
    """``path:line: severity[check] revision: message``, like a compiler's diagnostics;
    continuation lines of a message (a schema diff) are indented under it."""
    where = display_path(finding.path) if finding.path else "<history>"
    if finding.line:
        where += f":{finding.line}"
    revision = f" {finding.revision}:" if finding.revision else ""
    message = finding.message.replace("\n", "\n    ")
    return f"{where}: {finding.severity}[{finding.check}]{revision} {message}"


def display_path(path: str) -> str:
    """Relative to the current folder when inside it: shorter, and clickable in terminals."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return path
    return path if relative.startswith(os.pardir) else relative


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"
