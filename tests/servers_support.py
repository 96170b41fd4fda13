"""Which servers the tests can start here, and the switches CI uses to demand them.

Without Docker or installed server binaries the matching tests skip, so the suite still
runs on a laptop; CI turns ALEMBIC_DRILL_REQUIRE_DOCKER and ALEMBIC_DRILL_REQUIRE_LOCAL on
(1, true, yes or on) so that a missing image or package fails instead of silently skipping.
"""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from alembic_drill import Server

PG_IMAGE = os.environ.get("ALEMBIC_DRILL_PG_IMAGE", "local/postgres:15")
MARIADB_IMAGE = os.environ.get("ALEMBIC_DRILL_MARIADB_IMAGE", "local/mariadb:10.11")


REQUIRE_DOCKER = "ALEMBIC_DRILL_REQUIRE_DOCKER"
REQUIRE_LOCAL = "ALEMBIC_DRILL_REQUIRE_LOCAL"

_ON = ("1", "true", "yes", "on")
_OFF = ("", "0", "false", "no", "off")


def parse_switch(name: str, value: str | None) -> bool:
    """What a REQUIRE switch's value means. The same rule as the Rust tests'
    (`src/test_switches.rs`): 1/true/yes/on are on, unset/empty/0/false/no/off are off (any
    case, spaces ignored), and anything else is an error, never a silent skip."""
    if value is None:
        return False
    word = value.strip().lower()
    if word in _ON:
        return True
    if word in _OFF:
        return False
    raise ValueError(
        f"{name}={value!r} is neither on (1, true, yes, on) nor off (0, false, no, off, empty)"
    )


def switch_is_on(name: str) -> bool:
    return parse_switch(name, os.environ.get(name))


def _required(name: str) -> bool:
    return switch_is_on(name)


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
    if _required(REQUIRE_DOCKER):
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
    if _required(REQUIRE_LOCAL):
        pytest.fail(reason)
    pytest.skip(reason)


@contextlib.contextmanager
def private_spec(spec: str) -> Iterator[str]:
    """A spec naming the same server as ``spec`` that no other run uses. Kept containers are
    found by their image: a tag of this process's own (metadata only, removed afterwards)
    gives a kept container nobody else reuses or stops. Local servers need nothing: each
    test process has its own state root (conftest.py)."""
    if not spec.startswith("docker:"):
        yield spec
        return
    image = spec.removeprefix("docker:")
    name = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    private = f"{name}:drill-test-{os.getpid()}-{secrets.token_hex(3)}"
    subprocess.run(["docker", "tag", image, private], check=True, capture_output=True)
    try:
        yield f"docker:{private}"
    finally:
        subprocess.run(["docker", "rmi", private], check=False, capture_output=True)


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
