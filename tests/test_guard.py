"""The foreign-database guard against env.py files that try to reach another database:
each attempt is refused before it opens, the run stops with exit 2, and the other
database is untouched (no table, no file, no session, not one accepted connection)."""

from __future__ import annotations

import importlib
import importlib.util
import socket
import sqlite3
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pymysql
import pytest
from drill_support import drill_project
from servers_support import need_binaries, switch_is_on
from sqlalchemy.engine import make_url

from alembic_drill import Drill, Server
from alembic_drill._guard import ForeignDatabaseError
from conftest import Project

TABLE = (
    'op.create_table("{rev}", sa.Column("id", sa.Integer, primary_key=True), '
    'sa.Column("name", sa.String(50)))'
)
DROP = 'op.drop_table("{rev}")'

#: env.py: first the attack (a statement or block of the test's), then the migrations on
#: the handed-over connection, as a well-behaved env.py would.
ENV = """
from alembic import context
import sqlalchemy as sa

config = context.config
target_metadata = None

{attack}

connection = config.attributes["connection"]
context.configure(connection=connection, target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
"""


def guarded_project(project: Project, attack: str, url: str = "sqlite:///app.db") -> Project:
    drill_project(project, url=url)
    env = textwrap.dedent(ENV).replace("{attack}", textwrap.dedent(attack).strip())
    (project.root / "migrations" / "env.py").write_text(env)
    project.add("aaa111", None, upgrade=TABLE, downgrade=DROP)
    project.add("bbb222", "aaa111", upgrade=TABLE, downgrade=DROP)
    return project


class Sentinel:
    """A TCP listener standing where another database server would be: it counts the
    connections that reach it and closes each at once."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture
def sentinel() -> Iterator[Sentinel]:
    listener = Sentinel()
    yield listener
    listener.close()


@pytest.fixture(scope="module")
def sqlite_server() -> Iterator[Server]:
    with Server("sqlite") as server:
        yield server


# -- every installed driver, aimed at another server --------------------------------------

#: A direct connection through each driver to the sentinel, with the port as {port}.
DRIVER_ATTACKS = {
    "psycopg2": "import psycopg2\npsycopg2.connect(host='127.0.0.1', port={port}, "
    "dbname='production', user='app', password='s3cret', connect_timeout=2)",
    "psycopg2-from-import": "from psycopg2 import connect\nconnect('host=127.0.0.1 "
    "port={port} dbname=production user=app password=s3cret connect_timeout=2')",
    "psycopg": "import psycopg\npsycopg.connect('postgresql://app:s3cret@127.0.0.1:{port}/"
    "production?connect_timeout=2')",
    "pg8000": "import pg8000.dbapi\npg8000.dbapi.connect(user='app', password='s3cret', "
    "host='127.0.0.1', port={port}, database='production', timeout=2)",
    "asyncpg": "import asyncio, asyncpg\nasyncio.run(asyncpg.connect(host='127.0.0.1', "
    "port={port}, database='production', user='app', password='s3cret', timeout=2))",
    "pymysql": "import pymysql\npymysql.connect(host='127.0.0.1', port={port}, user='app', "
    "password='s3cret', database='production', connect_timeout=2)",
    "mysql.connector": "import mysql.connector\nmysql.connector.connect(host='127.0.0.1', "
    "port={port}, user='app', password='s3cret', database='production', "
    "connection_timeout=2, use_pure=True)",
    "aiomysql": "import asyncio, aiomysql\nasyncio.run(aiomysql.connect(host='127.0.0.1', "
    "port={port}, user='app', password='s3cret', db='production', connect_timeout=2))",
    "asyncmy": "import asyncio, asyncmy\nasyncio.run(asyncmy.connect(host='127.0.0.1', "
    "port={port}, user='app', password='s3cret', database='production', "
    "connect_timeout=2))",
    "sqlalchemy-engine": "sa.create_engine('postgresql+psycopg://app:s3cret@127.0.0.1:{port}"
    "/production').connect()",
}


@pytest.mark.parametrize("driver", sorted(DRIVER_ATTACKS))
def test_a_direct_driver_connection_elsewhere_is_refused_before_it_opens(
    project: Project, sqlite_server: Server, sentinel: Sentinel, driver: str
) -> None:
    guarded_project(project, DRIVER_ATTACKS[driver].replace("{port}", str(sentinel.port)))
    with pytest.raises(ForeignDatabaseError, match=rf"127\.0\.0\.1:{sentinel.port}"):
        Drill(project.ini, server=sqlite_server).check()
    assert sentinel.accepted == 0  # not one connection reached the other server


def test_mysqldb_connection_elsewhere_is_refused(
    project: Project, sqlite_server: Server, sentinel: Sentinel
) -> None:
    # mysqlclient compiles against libmariadb-dev, so it is not in the test extras;
    # .ci/run installs it and demands it.
    if importlib.util.find_spec("MySQLdb") is None:
        if switch_is_on("ALEMBIC_DRILL_REQUIRE_DRIVERS"):
            pytest.fail("mysqlclient is not installed (pip install mysqlclient)")
        pytest.skip("mysqlclient is not installed")
    attack = (
        "import MySQLdb\nMySQLdb.connect(host='127.0.0.1', port={port}, user='app', "
        "password='s3cret', database='production', connect_timeout=2)"
    )
    guarded_project(project, attack.replace("{port}", str(sentinel.port)))
    with pytest.raises(ForeignDatabaseError, match="through MySQLdb"):
        Drill(project.ini, server=sqlite_server).check()
    assert sentinel.accepted == 0


def test_a_retry_loop_gets_nowhere(
    project: Project, sqlite_server: Server, sentinel: Sentinel
) -> None:
    """The wait-for-the-database loop: every attempt is refused, and the run stops even
    though env.py swallowed each refusal and went on."""
    attack = f"""
    import time
    engine = sa.create_engine("postgresql+psycopg://app:s3cret@127.0.0.1:{sentinel.port}/prod")
    for attempt in range(5):
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("CREATE TABLE stolen (id int)"))
            break
        except Exception:
            time.sleep(0.01)
    """
    guarded_project(project, attack)
    with pytest.raises(ForeignDatabaseError, match="refused before it opened"):
        Drill(project.ini, server=sqlite_server).check()
    assert sentinel.accepted == 0


def test_a_bare_except_around_the_refused_connection_still_stops_the_run(
    project: Project, sqlite_server: Server, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "production.db"
    attack = f"""
    import sqlite3
    try:
        sqlite3.connect({str(elsewhere)!r}).execute("CREATE TABLE stolen (id int)")
    except:  # noqa: E722
        pass
    """
    guarded_project(project, attack)
    with pytest.raises(ForeignDatabaseError, match=r"production\.db"):
        Drill(project.ini, server=sqlite_server).check()
    assert not elsewhere.exists()  # not even created


@pytest.mark.parametrize("how", ["sqlite3", "aiosqlite", "sqlalchemy"])
def test_a_hardcoded_sqlite_path_is_never_created(
    project: Project, sqlite_server: Server, tmp_path: Path, how: str
) -> None:
    elsewhere = tmp_path / "production.db"
    attack = {
        "sqlite3": f"import sqlite3\nsqlite3.connect({str(elsewhere)!r})",
        # The sleep lets aiosqlite's worker thread hand its error back before the loop
        # closes (else aiosqlite itself warns of an exception in that thread).
        "aiosqlite": "import asyncio, aiosqlite\n"
        "async def go():\n    try:\n"
        f"        async with aiosqlite.connect({str(elsewhere)!r}) as db:\n"
        "            await db.execute('CREATE TABLE stolen (id int)')\n"
        "    finally:\n        await asyncio.sleep(0.2)\nasyncio.run(go())",
        "sqlalchemy": f"sa.create_engine('sqlite:///{elsewhere}').connect()",
    }[how]
    guarded_project(project, attack)
    with pytest.raises(ForeignDatabaseError, match=r"production\.db"):
        Drill(project.ini, server=sqlite_server).check()
    assert not elsewhere.exists()


def test_an_existing_sqlite_database_elsewhere_is_untouched(
    project: Project, sqlite_server: Server, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "production.db"
    with sqlite3.connect(elsewhere) as db:
        db.execute("CREATE TABLE canary (id INTEGER)")
        db.execute("INSERT INTO canary VALUES (1)")
    before = elsewhere.read_bytes()
    attack = f"""
    from sqlalchemy import event
    engine = sa.create_engine("sqlite:///{elsewhere}")

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, record):
        dbapi_connection.execute("DELETE FROM canary")
        dbapi_connection.commit()

    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE canary"))
    """
    guarded_project(project, attack)
    with pytest.raises(ForeignDatabaseError):
        Drill(project.ini, server=sqlite_server).check()
    assert elsewhere.read_bytes() == before


def test_the_cli_stops_with_exit_2_and_one_line_without_the_password(
    project: Project,
    sentinel: Sentinel,
    run_cli,  # type: ignore[no-untyped-def]
) -> None:
    attack = (
        "import psycopg\npsycopg.connect('postgresql://app:Sup3rS3cret@127.0.0.1:"
        f"{sentinel.port}/production')"
    )
    guarded_project(project, attack)
    run = run_cli("check", "-c", str(project.root), "--database", "sqlite")
    assert run.code == 2
    lines = [line for line in run.err.splitlines() if line.startswith("alembic-drill: error")]
    assert len(lines) == 1, run.err
    assert f"127.0.0.1:{sentinel.port}/production" in lines[0]
    assert "url_env" in lines[0]  # the setting that fixes it
    assert "Sup3rS3cret" not in run.err + run.out
    assert sentinel.accepted == 0


def test_well_behaved_env_py_connects_as_often_as_it_likes(
    project: Project, sqlite_server: Server
) -> None:
    """The guard lets through what reaches the rehearsal database: env.py's own engine
    on sqlalchemy.url, a second connection, a private in-memory database."""
    attack = """
    import sqlite3
    sqlite3.connect(":memory:").close()
    url = config.get_main_option("sqlalchemy.url")
    for _ in range(3):
        with sa.create_engine(url).connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    """
    guarded_project(project, attack)
    report = Drill(project.ini, server=sqlite_server).check()
    assert report.ok and report.findings == [], [f.message for f in report.findings]


# -- another database on the same server, checked with the server's own counters ---------


@pytest.fixture(scope="module")
def postgres() -> Iterator[Server]:
    need_binaries("postgresql")
    with Server("local:postgresql") as server:
        yield server


@pytest.fixture(scope="module")
def mariadb() -> Iterator[Server]:
    need_binaries("mariadb")
    with Server("local:mariadb") as server:
        yield server


def _pg_counters(server: Server, database: str) -> tuple[int, int]:
    """Sessions and transactions the server counted on ``database``, read from another
    database (reading from it would count)."""
    maintenance = server.create_database()
    time.sleep(1.0)  # a closed backend's statistics reach the shared counters on exit
    url = maintenance.url.replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(url) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT sessions, xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s",
            (database,),
        ).fetchone()
    server.drop_database(maintenance)
    assert row is not None
    return int(row[0]), int(row[1])


def _attacks(url: str) -> dict[str, str]:
    """env.py attacks on the database at ``url``."""
    return {
        "retry-loop": f"""
            import time
            engine = sa.create_engine({url!r})
            for attempt in range(3):
                try:
                    with engine.begin() as conn:
                        conn.execute(sa.text("CREATE TABLE stolen (id int)"))
                    break
                except Exception:
                    time.sleep(0.01)
            """,
        "connect-hook": f"""
            from sqlalchemy import event
            engine = sa.create_engine({url!r})

            @event.listens_for(engine, "connect")
            def on_connect(dbapi_connection, record):
                cursor = dbapi_connection.cursor()
                cursor.execute("CREATE TABLE stolen (id int)")
                dbapi_connection.commit()

            engine.connect()
            """,
    }


@pytest.mark.parametrize("attack", ["retry-loop", "connect-hook"])
def test_another_postgresql_database_on_the_same_server_is_untouched(
    project: Project, postgres: Server, attack: str
) -> None:
    other = postgres.create_database()
    before = _pg_counters(postgres, other.name)
    guarded_project(project, _attacks(other.url)[attack], url=other.url)
    with pytest.raises(ForeignDatabaseError, match=other.name):
        Drill(project.ini, server=postgres).check()
    assert _pg_counters(postgres, other.name) == before  # no session, no transaction
    with psycopg.connect(other.url.replace("postgresql+psycopg", "postgresql")) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
    assert tables == []
    postgres.drop_database(other)


def _mariadb_connect(url: str) -> pymysql.connections.Connection:  # type: ignore[type-arg]
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return pymysql.connect(
        host=parsed.host,
        port=parsed.port or 3306,
        user=parsed.username,
        password=parsed.password or "",
        database=parsed.database,
    )


@pytest.mark.parametrize("attack", ["retry-loop", "connect-hook"])
def test_another_mariadb_database_on_the_same_server_is_untouched(
    project: Project, mariadb: Server, attack: str
) -> None:
    other = mariadb.create_database()
    with _mariadb_connect(other.url) as conn, conn.cursor() as cursor:
        cursor.execute("CREATE TABLE canary (id INT)")
        cursor.execute("INSERT INTO canary VALUES (1)")
        conn.commit()
    guarded_project(project, _attacks(other.url)[attack], url=other.url)
    with pytest.raises(ForeignDatabaseError, match=other.name):
        Drill(project.ini, server=mariadb).check()
    with _mariadb_connect(other.url) as conn, conn.cursor() as cursor:
        cursor.execute("SHOW TABLES")
        assert cursor.fetchall() == (("canary",),)
        cursor.execute("SELECT id FROM canary")
        assert cursor.fetchall() == ((1,),)
        cursor.execute(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = %s", (other.name,)
        )
        assert cursor.fetchone() == (1,)  # this connection only
    mariadb.drop_database(other)


def test_every_installed_driver_is_patched() -> None:
    """A driver release that moved its connect funnel must fail here, not leave a gap."""
    from alembic_drill import _guard

    modules = (
        "psycopg2", "psycopg", "asyncpg", "pg8000.dbapi", "pymysql", "MySQLdb.connections",
        "mysql.connector", "aiomysql", "asyncmy",
    )  # fmt: skip
    installed = [m for m in modules if importlib.util.find_spec(m.split(".")[0]) is not None]
    if switch_is_on("ALEMBIC_DRILL_REQUIRE_DRIVERS"):
        assert installed == list(modules)
    with _guard.ConnectionGuard(make_url("sqlite:///:memory:"), hint=""):
        for module in installed:
            importlib.import_module(module)
    assert _guard.UNGUARDED == []
