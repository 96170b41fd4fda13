"""Servers end with the process that started them: at normal interpreter exit, on SIGTERM,
and, when the process was killed, at the next start of a server (README: "Every server is
stopped when its `with` block ends, at interpreter exit and on SIGTERM ... what a killed run
leaves behind is removed by the next start")."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
from servers_support import MARIADB_IMAGE, PG_IMAGE, need_binaries, need_image

from alembic_drill import Server
from alembic_drill.servers import list_servers

SPECS = {
    "docker-postgres": f"docker:{PG_IMAGE}",
    "docker-mariadb": f"docker:{MARIADB_IMAGE}",
    "local-postgres": "local:postgresql",
    "local-mariadb": "local:mariadb",
}

#: A child that starts a server, says so, then either waits to be signalled or exits.
CHILD = """
import sys, time
from alembic_drill import Server
server = Server(sys.argv[1])
server.create_database()
print("ready", flush=True)
if sys.argv[2] == "wait":
    time.sleep(600)
"""


def require(spec: str) -> None:
    if spec.startswith("docker:"):
        need_image(spec.removeprefix("docker:"))
    else:
        need_binaries("postgresql" if spec.endswith("postgresql") else "mariadb")


def start_child(spec: str, then: str) -> subprocess.Popen[str]:
    """The child inherits this process's state root (ALEMBIC_DRILL_STATE_DIR)."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, spec, then], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    line = child.stdout.readline()
    child.stdout.close()  # it prints nothing more
    assert line.strip() == "ready", line
    return child


def owned_by(pid: int) -> list[dict[str, object]]:
    return [s for s in list_servers() if s["owner_pid"] == pid]


@pytest.mark.parametrize("name", ["docker-postgres", "local-postgres", "local-mariadb"])
def test_normal_exit_stops_the_server(name: str) -> None:
    spec = SPECS[name]
    require(spec)
    child = start_child(spec, "exit")
    assert child.wait(timeout=120) == 0
    assert owned_by(child.pid) == []


@pytest.mark.parametrize("name", ["docker-postgres", "local-postgres", "local-mariadb"])
def test_sigterm_stops_the_server(name: str) -> None:
    spec = SPECS[name]
    require(spec)
    child = start_child(spec, "wait")
    assert len(owned_by(child.pid)) == 1
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=60) == -signal.SIGTERM
    assert owned_by(child.pid) == []


@pytest.mark.parametrize("name", list(SPECS))
def test_killed_run_is_cleaned_by_the_next_start(name: str) -> None:
    """SIGKILL cannot be caught: the server stays, marked as owned by a dead process, until
    the next `Server(...)` of the same kind starts (no explicit reaping)."""
    spec = SPECS[name]
    require(spec)
    child = start_child(spec, "wait")
    child.kill()
    child.wait(timeout=30)
    leftovers = owned_by(child.pid)
    assert len(leftovers) == 1 and leftovers[0]["owner_alive"] is False
    with Server(spec) as server:
        assert owned_by(child.pid) == []
        assert server.create_database().name.startswith("drill_")
