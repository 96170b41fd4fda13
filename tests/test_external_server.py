"""An external server, started here by hand (not by alembic-drill): alembic-drill creates
and drops only its own `drill_` databases in it and leaves everything else alone."""

from __future__ import annotations

import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from servers_support import MARIADB_IMAGE, PG_IMAGE, need_image

from alembic_drill import NotOurDatabaseError, Server, ServerError


@dataclass
class External:
    engine: str
    host: str
    port: int
    password: str

    def url(self, user: str, password: str, database: str = "") -> str:
        scheme = "postgresql" if self.engine == "postgresql" else "mysql"
        return f"{scheme}://{user}:{password}@{self.host}:{self.port}/{database}"

    def admin_sqlalchemy(self, database: str) -> str:
        if self.engine == "postgresql":
            return (
                f"postgresql+psycopg://postgres:{self.password}@{self.host}:{self.port}/{database}"
            )
        return f"mysql+pymysql://root:{self.password}@{self.host}:{self.port}/{database}"


def run_container(image: str, env: dict[str, str], port: int) -> tuple[str, int]:
    args = ["docker", "run", "-d", "--rm", "-p", f"127.0.0.1::{port}"]
    for key, value in env.items():
        args += ["-e", f"{key}={value}"]
    container = subprocess.run(
        [*args, image], capture_output=True, text=True, check=True
    ).stdout.strip()
    mapping = subprocess.run(
        ["docker", "port", container, str(port)], capture_output=True, text=True, check=True
    ).stdout.split()[0]
    return container, int(mapping.rsplit(":", 1)[1])


def wait_for(url: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            return
        except sa.exc.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


@pytest.fixture(scope="module", params=["postgresql", "mariadb"])
def external(request: pytest.FixtureRequest) -> Iterator[External]:
    password = secrets.token_hex(12)
    if request.param == "postgresql":
        need_image(PG_IMAGE)
        container, port = run_container(PG_IMAGE, {"POSTGRES_PASSWORD": password}, 5432)
        server = External("postgresql", "127.0.0.1", port, password)
    else:
        need_image(MARIADB_IMAGE)
        container, port = run_container(MARIADB_IMAGE, {"MARIADB_ROOT_PASSWORD": password}, 3306)
        server = External("mysql", "127.0.0.1", port, password)
    try:
        wait_for(server.admin_sqlalchemy(""))
        # Someone's real data, which alembic-drill must never touch.
        admin = sa.create_engine(server.admin_sqlalchemy(""), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text("CREATE DATABASE precious"))
            if server.engine == "postgresql":
                conn.execute(sa.text("CREATE ROLE limited LOGIN PASSWORD 'limited'"))
            else:
                conn.execute(sa.text("CREATE USER 'limited'@'%' IDENTIFIED BY 'limited'"))
        admin.dispose()
        yield server
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True, check=False)


def databases(server: External) -> set[str]:
    engine = sa.create_engine(server.admin_sqlalchemy(""), poolclass=sa.pool.NullPool)
    sql = (
        "SELECT datname FROM pg_database"
        if server.engine == "postgresql"
        else "SELECT schema_name FROM information_schema.schemata"
    )
    with engine.connect() as conn:
        return {row[0] for row in conn.execute(sa.text(sql))}


def test_only_throwaway_databases_are_made_and_dropped(external: External) -> None:
    before = databases(external)
    with Server(
        external.url("postgres" if external.engine == "postgresql" else "root", external.password)
    ) as server:
        assert "***" in server.description and external.password not in server.description
        db = server.create_database()
        clone = server.clone_database(db)
        assert {db.name, clone.name} <= databases(external)
        with pytest.raises(NotOurDatabaseError):
            server.drop_database("precious")
    assert databases(external) == before  # its own dropped, the rest untouched
    assert "precious" in before


def test_wrong_password_is_clear_and_never_printed(external: External) -> None:
    user = "postgres" if external.engine == "postgresql" else "root"
    with pytest.raises(ServerError, match="cannot log in") as raised:
        Server(external.url(user, "Wr0ngSecret"))
    assert "Wr0ngSecret" not in str(raised.value)


def test_role_that_cannot_create_databases(external: External) -> None:
    with Server(external.url("limited", "limited")) as server:
        with pytest.raises(ServerError, match="may not create databases"):
            server.create_database()
