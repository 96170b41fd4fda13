"""The corpus's virtual environments: one per project, bench/realworld/.venv-<name>, with
the pinned packages of requirements-<name>.txt.

alembic-drill itself is not installed into them (that would be a second Rust build): a
``.pth`` file puts the repository's ``python/`` folder on the path, where ``make dev``
leaves the built ``_core.abi3.so``; its own dependency (alembic) is pinned in the
requirements. A venv is made on first use and brought up to date whenever its
requirements file changes.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
PYTHON_SOURCE = REPO / "python"
PTH_NAME = "alembic_drill_repo.pth"


class VenvError(RuntimeError):
    pass


def venv_python(name: str, *, install: bool = True) -> Path:
    """The interpreter of ``.venv-<name>``, made or updated first when ``install``."""
    venv = HERE / f".venv-{name}"
    python = venv / "bin" / "python"
    requirements = HERE / f"requirements-{name}.txt"
    stamp = venv / "installed-requirements.txt"
    wanted = requirements.read_text()
    if install and not (python.exists() and stamp.exists() and stamp.read_text() == wanted):
        if not python.exists():
            print(f"creating {venv.relative_to(REPO)}", flush=True)
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        print(f"installing {requirements.name} into {venv.relative_to(REPO)}", flush=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "-r", str(requirements)], check=True
        )
        stamp.write_text(wanted)
    if not python.exists():
        raise VenvError(f"{venv} does not exist; run without --no-install")
    _link_alembic_drill(python)
    return python


def _link_alembic_drill(python: Path) -> None:
    """The .pth file, then a check that alembic_drill imports from this repository."""
    if not any(PYTHON_SOURCE.glob("alembic_drill/_core*.so")):
        raise VenvError(
            f"{PYTHON_SOURCE}/alembic_drill has no built _core module; run `make dev` first"
        )
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    pth = Path(site) / PTH_NAME
    if not pth.exists() or pth.read_text().strip() != str(PYTHON_SOURCE):
        pth.write_text(f"{PYTHON_SOURCE}\n")
    probe = subprocess.run(
        [
            str(python),
            "-c",
            "import alembic_drill, alembic_drill._core; print(alembic_drill.__file__)",
        ],
        capture_output=True,
        text=True,
    )
    where = probe.stdout.strip()
    if probe.returncode != 0 or not where.startswith(str(PYTHON_SOURCE)):
        raise VenvError(
            f"alembic_drill does not import from {PYTHON_SOURCE} in {python}: "
            f"{(probe.stderr.strip().splitlines() or [where])[-1]}"
        )
