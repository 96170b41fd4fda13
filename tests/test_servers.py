"""Servers of every kind, started for real: create, clone, drop, run SQL, clean up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from servers_support import (
    MARIADB_IMAGE,
    PG_IMAGE,
    docker_containers,
    need_binaries,
    need_image,
)

from alembic_drill import NotOurDatabaseError, Server, ServerStartError, SpecError
from alembic_drill.servers import list_servers, reap_stale_servers, stop_kept_servers

SPECS = {
    "sqlite": "sqlite",
    "docker-postgres": f"docker:{PG_IMAGE}",
    "docker-mariadb": f"docker:{MARIADB_IMAGE}",
    "local-postgres": "local:postgresql",
    "local-mariadb": "local:mariadb",
}


def require(spec: str) -> None:
    if spec.startswith("docker:"):
        need_image(spec.removeprefix("docker:"))
    elif spec.startswith("local:"):
        need_binaries("postgresql" if spec.endswith("postgresql") else "mariadb")


@pytest.fixture(params=list(SPECS), ids=list(SPECS))
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    spec = SPECS[request.param]
    require(spec)
    with Server(spec) as started:
        yield started


def query(url: str, sql: str) -> list[tuple[object, ...]]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            result = conn.execute(sa.text(sql))
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()


def test_create_clone_and_drop(server: Server) -> None:
    template = server.create_database()
    assert template.name.startswith("drill_")
    query(template.url, "CREATE TABLE books (id INTEGER PRIMARY KEY, title VARCHAR(50) NOT NULL)")
    query(template.url, "CREATE TABLE stock (book_id INTEGER REFERENCES books (id), n INTEGER)")
    query(template.url, "INSERT INTO books VALUES (1, 'Dune'), (2, 'Emma')")
    query(template.url, "INSERT INTO stock VALUES (2, 5)")

    clone = server.clone_database(template)
    assert query(clone.url, "SELECT id, title FROM books ORDER BY id") == [(1, "Dune"), (2, "Emma")]
    assert query(clone.url, "SELECT book_id, n FROM stock") == [(2, 5)]
    # The clone is independent of its template.
    query(clone.url, "DELETE FROM stock")
    assert query(template.url, "SELECT count(*) FROM stock") == [(1,)]

    empty = server.create_database("empty_one")
    assert empty.name == "drill_empty_one"
    assert set(server.databases()) >= {template.name, clone.name, empty.name}
    server.drop_database(clone)
    assert clone.name not in server.databases()
    assert "password" not in repr(template) and template.name in repr(template)


def test_only_its_own_databases_can_be_dropped(server: Server) -> None:
    for name in ("postgres", "mysql", "information_schema", "main"):
        with pytest.raises(NotOurDatabaseError, match="only drops databases it created"):
            server.drop_database(name)


def test_nothing_is_left_after_stop(tmp_path: Path) -> None:
    for spec in SPECS.values():
        require(spec)
    before = set(docker_containers())
    for spec in SPECS.values():
        server = Server(spec)
        server.create_database()
        server.stop()
        assert server.stopped
    assert set(docker_containers()) == before
    assert not [s for s in list_servers() if not s["kept"] and s["owner_pid"] == os.getpid()]


def test_clone_cost_does_not_depend_on_template_history(server: Server) -> None:
    """A clone copies the result, never replays how it was built: a template made in 200
    steps clones to the same contents as one made in a single step."""
    template = server.create_database()
    for i in range(200):
        statement = (
            "CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)"
            if i == 0
            else f"UPDATE t SET v = {i}"
            if i % 2
            else f"INSERT INTO t VALUES ({i}, {i})"
        )
        query(template.url, statement)
    clone = server.clone_database(template)
    assert query(clone.url, "SELECT count(*), min(v), max(v) FROM t") == query(
        template.url, "SELECT count(*), min(v), max(v) FROM t"
    )


CHILD = """
import sys, time
from alembic_drill import Server
server = Server(sys.argv[1])
db = server.create_database()
print("ready", flush=True)
time.sleep(600)
"""


def start_child(spec: str) -> subprocess.Popen[str]:
    child = subprocess.Popen([sys.executable, "-c", CHILD, spec], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    line = child.stdout.readline()
    child.stdout.close()  # it prints nothing more
    assert line.strip() == "ready", line
    return child


def owned_by(pid: int) -> list[dict[str, object]]:
    return [s for s in list_servers() if s["owner_pid"] == pid]


@pytest.mark.parametrize("name", ["docker-postgres", "local-postgres", "local-mariadb"])
def test_sigterm_stops_the_server(name: str) -> None:
    spec = SPECS[name]
    require(spec)
    child = start_child(spec)
    assert len(owned_by(child.pid)) == 1
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=60) == -signal.SIGTERM
    assert owned_by(child.pid) == []


@pytest.mark.parametrize("name", ["docker-postgres", "docker-mariadb", "local-postgres"])
def test_sigkilled_run_is_reaped_by_the_next(name: str) -> None:
    spec = SPECS[name]
    require(spec)
    child = start_child(spec)
    child.kill()
    child.wait(timeout=30)
    leftovers = owned_by(child.pid)
    assert len(leftovers) == 1 and leftovers[0]["owner_alive"] is False
    reaped = reap_stale_servers()
    assert reaped
    assert owned_by(child.pid) == []


@pytest.mark.parametrize("name", ["docker-postgres", "local-postgres"])
def test_kept_server_is_reused_quickly(name: str) -> None:
    spec = SPECS[name]
    require(spec)
    first = Server(spec, keep=True)
    try:
        db = first.create_database()
        first.stop()  # drops its databases, leaves the server running
        started = time.perf_counter()
        second = Server(spec, keep=True)
        elapsed = time.perf_counter() - started
        assert second.reused
        assert db.name not in second.databases()
        second.stop()
        print(f"{name}: reattached to the kept server in {elapsed:.3f}s")
    finally:
        stopped = stop_kept_servers(spec)
    assert stopped
    assert not [s for s in list_servers() if s["kept"] and s["spec"] == spec]


def test_bad_specs_say_what_to_use() -> None:
    with pytest.raises(SpecError, match="docker:postgres:16-alpine"):
        Server("postgress")
    with pytest.raises(SpecError, match="cannot tell"):
        Server("docker:redis:7")


def test_missing_image_names_the_fix() -> None:
    need_image(PG_IMAGE)  # Docker must work for this message to be the one we get
    with pytest.raises(ServerStartError, match=r"docker pull postgres:99-nonexistent"):
        Server("docker:postgres:99-nonexistent")


def test_unreachable_docker_suggests_a_local_server() -> None:
    code = textwrap.dedent(
        """
        from alembic_drill import Server, ServerStartError
        try:
            Server("docker:postgres:16-alpine")
        except ServerStartError as e:
            print(e)
        """
    )
    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert "cannot reach the Docker engine" in out.stdout
    assert "local:postgresql" in out.stdout


def test_auto_uses_sqlite_for_a_sqlite_project(tmp_path: Path) -> None:
    (tmp_path / "alembic.ini").write_text(
        "[alembic]\nscript_location = migrations\nsqlalchemy.url = sqlite:///app.db\n"
    )
    with Server("auto", config=tmp_path) as server:
        assert server.engine == "sqlite"
        assert server.reason is not None and "SQLite" in server.reason
        db = server.create_database()
        assert query(db.url, "SELECT 1") == [(1,)]
