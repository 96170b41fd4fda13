"""The peers' own virtual environment, bench/.venv-peers: pytest-alembic, pytest-mrt,
pytest<9 and matplotlib must not be installed into alembic-drill's .venv (pytest-alembic
pins pytest below alembic-drill's test requirements). Made on first use, and brought up to
date whenever bench/peers-requirements.txt changes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent
VENV = BENCH / ".venv-peers"
REQUIREMENTS = BENCH / "peers-requirements.txt"


def peers_python() -> Path:
    """The venv's interpreter, the venv made or updated first if needed."""
    python = VENV / "bin" / "python"
    stamp = VENV / "installed-requirements.txt"
    wanted = REQUIREMENTS.read_text()
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    if not python.exists():
        print(f"creating {VENV}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    print(f"installing {REQUIREMENTS.name} into {VENV}", flush=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)], check=True)
    stamp.write_text(wanted)
    return python
