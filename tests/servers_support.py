"""Which servers the tests can start here, and the switches CI uses to demand them.

Without Docker or installed server binaries the matching tests skip, so the suite still
runs on a laptop; CI sets ALEMBIC_DRILL_REQUIRE_DOCKER=1 and ALEMBIC_DRILL_REQUIRE_LOCAL=1
so that a missing image or package fails instead of silently skipping.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from alembic_drill import Server

PG_IMAGE = os.environ.get("ALEMBIC_DRILL_PG_IMAGE", "local/postgres:15")
MARIADB_IMAGE = os.environ.get("ALEMBIC_DRILL_MARIADB_IMAGE", "local/mariadb:10.11")


def _required(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


def _docker_has(image: str) -> bool:
    if not shutil.which("docker"):
        return False
    probe = subprocess.run(
        ["docker", "image", "inspect", image], capture_output=True, text=True, check=False
    )
    return probe.returncode == 0


def need_image(image: str) -> None:
    if _docker_has(image):
        return
    reason = f"Docker image {image} is not available (build it: scripts/build-local-db-images.sh)"
    if _required("ALEMBIC_DRILL_REQUIRE_DOCKER"):
        pytest.fail(reason)
    pytest.skip(reason)


def need_binaries(flavour: str) -> None:
    if flavour == "postgresql":
        found = bool(glob.glob("/usr/lib/postgresql/*/bin/initdb") or shutil.which("initdb"))
    else:
        found = any(
            shutil.which(b) or os.path.exists(f"/usr/sbin/{b}") for b in ("mariadbd", "mysqld")
        )
    if found:
        return
    reason = f"no local {flavour} server binaries (apt-get install postgresql mariadb-server)"
    if _required("ALEMBIC_DRILL_REQUIRE_LOCAL"):
        pytest.fail(reason)
    pytest.skip(reason)


def docker_containers(label: str = "dev.alembic-drill.managed=true") -> list[str]:
    """Ids of containers (any state) carrying the label."""
    if not shutil.which("docker"):
        return []
    out = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label={label}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split()


#: The engines every drill check is proven on: embedded, and local servers of each kind.
DRILL_ENGINES = ["sqlite", "local:postgresql", "local:mariadb"]


@contextlib.contextmanager
def engine_server(spec: str) -> Iterator[Server]:
    """A server for one of DRILL_ENGINES (skipped, or failed under
    ALEMBIC_DRILL_REQUIRE_LOCAL, when its binaries are missing), stopped afterwards."""
    if spec.startswith("local:"):
        need_binaries("postgresql" if spec.endswith("postgresql") else "mariadb")
    with Server(spec) as started:
        yield started
