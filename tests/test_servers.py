"""Servers of every kind, started for real: create, clone, drop, run SQL, clean up."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
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
    private_spec,
)

from alembic_drill import NotOurDatabaseError, Server, ServerStartError, SpecError
from alembic_drill.servers import list_servers, stop_kept_servers

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
    assert template.name in repr(template)


def test_the_password_is_never_shown(server: Server) -> None:
    """The real password (random, per server) appears in the URLs meant for connecting and
    nowhere meant for reading: reprs, descriptions, the masked URL, the server list."""
    admin = server.admin_url()
    if server.engine == "sqlite":
        assert admin is None
        return
    assert admin is not None
    password = sa.engine.make_url(admin).password
    assert password and len(password) >= 12, "a server of ours has a real password"
    db = server.create_database()
    assert sa.engine.make_url(db.url).password == password  # for connecting: present
    shown = [repr(db), str(db), repr(server), server.description, server.masked_url or ""]
    shown += [str(row) for row in list_servers()]
    for text in shown:
        assert password not in text, text


def test_only_its_own_databases_can_be_dropped(server: Server) -> None:
    for name in ("postgres", "mysql", "information_schema", "main"):
        with pytest.raises(NotOurDatabaseError, match="only drops databases it created"):
            server.drop_database(name)


def test_nothing_is_left_after_stop(tmp_path: Path) -> None:
    for spec in SPECS.values():
        require(spec)
    mine = f"dev.alembic-drill.owner-pid={os.getpid()}"
    for spec in SPECS.values():
        server = Server(spec)
        server.create_database()
        if spec.startswith("docker:"):
            assert docker_containers(mine), "the label names this process"
        server.stop()
        assert server.stopped
    # Only this process's containers: other runs on the machine may start and stop theirs.
    assert docker_containers(mine) == []
    assert not [s for s in list_servers() if not s["kept"] and s["owner_pid"] == os.getpid()]


def test_clone_of_a_template_built_in_many_steps_has_its_contents(server: Server) -> None:
    """A clone copies the result of 200 statements (what it costs, whatever the history,
    is measured by bench/servers.py)."""
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
    # Rows 2, 4, ..., 198, each last set by the final UPDATE (v = 199).
    expected = [(i, 199) for i in range(2, 200, 2)]
    assert query(template.url, "SELECT id, v FROM t ORDER BY id") == expected
    assert query(clone.url, "SELECT id, v FROM t ORDER BY id") == expected


@pytest.mark.parametrize("name", ["docker-postgres", "local-postgres"])
def test_kept_server_is_reused_until_stopped(name: str) -> None:
    spec = SPECS[name]
    require(spec)
    # A spec of this test's own (a private tag of the image; for local servers this
    # process's state root) so that no other run's kept server is reused or stopped.
    with private_spec(spec) as spec:
        first = Server(spec, keep=True)
        try:
            db = first.create_database()
            first.stop()  # drops its databases, leaves the server running
            assert len([s for s in list_servers() if s["kept"] and s["spec"] == spec]) == 1
            second = Server(spec, keep=True)
            assert second.reused
            assert second.masked_url == first.masked_url
            assert db.name not in second.databases()
            second.stop()
        finally:
            stopped = stop_kept_servers(spec)
        assert len(stopped) == 1
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
