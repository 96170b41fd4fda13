"""The pytest plugin end to end, with pytester: generated checks, fixtures, hooks."""

from __future__ import annotations

import shutil
import textwrap

import pytest
import sqlalchemy as sa
from drill_support import ENV_CONNECTION, INI
from servers_support import (
    DRILL_ENGINES,
    PG_IMAGE,
    docker_containers,
    need_binaries,
    need_image,
    private_spec,
)

from alembic_drill import Server
from alembic_drill.servers import list_servers, stop_kept_servers
from conftest import EXAMPLE, script

pytest_plugins = ["pytester"]

TABLE = (
    'op.create_table("users", sa.Column("id", sa.Integer, primary_key=True), '
    'sa.Column("name", sa.String(50)))'
)


def require(spec: str) -> None:
    if spec.startswith("local:"):
        need_binaries("postgresql" if spec.endswith("postgresql") else "mariadb")


def make_project(pytester: pytest.Pytester, broken_downgrade: bool = False) -> None:
    root = pytester.path
    (root / "migrations" / "versions").mkdir(parents=True)
    (root / "alembic.ini").write_text(INI.format(url="sqlite:///app.db"))
    (root / "migrations" / "env.py").write_text(
        textwrap.dedent(ENV_CONNECTION).replace("{models_import}", "target_metadata = None")
    )
    versions = root / "migrations" / "versions"
    (versions / "a1_users.py").write_text(
        script("a1a1a1a1a1a1", None, upgrade=TABLE, downgrade='op.drop_table("users")')
    )
    # SQLAlchemy renders the concatenation for each dialect (|| is OR in MySQL).
    backfill_up = (
        'op.add_column("users", sa.Column("display_name", sa.String(60)))\n'
        'users = sa.table("users", sa.column("name"), sa.column("display_name"))\n'
        'op.execute(users.update().values(display_name=sa.literal("Dr. ") + users.c.name))'
    )
    downgrade = (
        'op.drop_table("never_created")'
        if broken_downgrade
        else 'op.drop_column("users", "display_name")'
    )
    (versions / "b2_backfill.py").write_text(
        script("b2b2b2b2b2b2", "a1a1a1a1a1a1", upgrade=backfill_up, downgrade=downgrade)
    )


def test_no_items_unless_asked(pytester: pytest.Pytester) -> None:
    make_project(pytester)
    pytester.makepyfile("def test_one():\n    pass\n")
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize("spec", DRILL_ENGINES)
def test_generated_checks_name_the_failing_revision(pytester: pytest.Pytester, spec: str) -> None:
    require(spec)
    make_project(pytester, broken_downgrade=True)
    result = pytester.runpytest_subprocess(
        "--alembic-drill", f"--alembic-drill-database={spec}", "-v", "-p", "no:cacheprovider"
    )
    result.stdout.fnmatch_lines(
        [
            "*downgrade[[]b2b2b2b2b2b2[]] FAILED*",
            "*roundtrip[[]a1a1a1a1a1a1[]] PASSED*",
            "*b2_backfill.py:*error[[]downgrade-failed[]] b2b2b2b2b2b2: downgrading b2b2b2b2b2b2*",
        ]
    )
    assert "alembic_drill/pytest_plugin" not in result.stdout.str()  # no plugin frames
    outcomes = result.parseoutcomes()
    assert outcomes["failed"] == 1 and outcomes["passed"] > 10


def test_k_and_m_select_generated_checks(pytester: pytest.Pytester) -> None:
    make_project(pytester)
    pytester.makepyfile("def test_unrelated():\n    pass\n")
    result = pytester.runpytest_subprocess("--alembic-drill", "-k", "roundtrip", "-v")
    result.stdout.fnmatch_lines(["*roundtrip[[]a1a1a1a1a1a1[]] PASSED*"])
    result.assert_outcomes(passed=2)
    marked = pytester.runpytest_subprocess("--alembic-drill", "-m", "not alembic_drill")
    marked.assert_outcomes(passed=1)


@pytest.mark.parametrize("spec", DRILL_ENGINES)
def test_fixtures_and_the_backfill_test(pytester: pytest.Pytester, spec: str) -> None:
    require(spec)
    make_project(pytester)
    pytester.makeini(f"[pytest]\nalembic_drill_database = {spec}\n")
    pytester.makepyfile(
        """
        import sqlalchemy as sa
        import pytest

        def test_backfill(drill_runner):
            drill_runner.to_before("b2b2b2b2b2b2")
            drill_runner.insert("users", [{"id": 1, "name": "Ada"}])
            drill_runner.up()
            assert drill_runner.current == ("b2b2b2b2b2b2",)
            assert drill_runner.rows("users")[0]["display_name"] == "Dr. Ada"

        def test_migrated_db_is_at_head(drill_migrated_db):
            with drill_migrated_db.engine.connect() as conn:
                version = conn.execute(sa.text("SELECT version_num FROM alembic_version"))
                assert version.scalar() == "b2b2b2b2b2b2"
                conn.execute(sa.text("INSERT INTO users (id, name) VALUES (1, 'x')"))

        def test_each_test_gets_its_own_copy(drill_migrated_db):
            with drill_migrated_db.engine.connect() as conn:
                count = conn.execute(sa.text("SELECT count(*) FROM users")).scalar()
            assert count == 0

        @pytest.mark.drill_revision("a1a1a1a1a1a1")
        def test_marker_picks_the_revision(drill_migrated_db):
            columns = sa.inspect(drill_migrated_db.engine).get_columns("users")
            assert [c["name"] for c in columns] == ["id", "name"]

        def test_empty_db(drill_db):
            assert sa.inspect(sa.create_engine(drill_db.url)).get_table_names() == []
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=5)


def test_hooks_choose_database_and_receive_the_report(pytester: pytest.Pytester) -> None:
    make_project(pytester)
    pytester.makeconftest(
        """
        def pytest_alembic_drill_database(config):
            return "sqlite"

        def pytest_alembic_drill_modify_checks(config, checks):
            checks[:] = [c for c in checks if c == "upgrade-failed"]

        def pytest_alembic_drill_report(config, report):
            print("REPORT ok=%s steps=%d" % (report.ok, len(report.to_dict()["steps"])))
        """
    )
    result = pytester.runpytest_subprocess("--alembic-drill", "-s", "-v")
    result.stdout.fnmatch_lines(["*upgrade[[]b2b2b2b2b2b2[]] PASSED*"])
    assert "REPORT ok=True steps=2" in result.stdout.str()
    assert "roundtrip[" not in result.stdout.str()


def test_bundled_example_passes_its_generated_checks(pytester: pytest.Pytester) -> None:
    shutil.copytree(
        EXAMPLE, pytester.path / "bookshop", ignore=shutil.ignore_patterns("*.db", "__pycache__")
    )
    result = pytester.runpytest_subprocess(
        "--alembic-drill", "--alembic-drill-config=bookshop", "--alembic-drill-database=sqlite"
    )
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0 and outcomes["passed"] > 30


@pytest.mark.parametrize("spec", ["docker", "local:postgresql"])
def test_xdist_workers_share_one_server(pytester: pytest.Pytester, spec: str) -> None:
    # pytest-xdist is a test dependency: no skip when it is missing.
    if spec == "docker":
        need_image(PG_IMAGE)
    else:
        require(spec)
    with private_spec(f"docker:{PG_IMAGE}" if spec == "docker" else spec) as private:
        xdist_workers_share_one_server(pytester, private)


def xdist_workers_share_one_server(pytester: pytest.Pytester, spec: str) -> None:
    make_project(pytester)
    pytester.makepyfile(
        """
        import os
        import pytest

        @pytest.mark.parametrize("n", range(6))
        def test_clone(drill_migrated_db, drill_server, n):
            with open("servers.txt", "a") as f:
                f.write(os.environ["PYTEST_XDIST_WORKER"] + " " + drill_server.description
                        + " " + drill_migrated_db.database.name + "\\n")
        """
    )
    result = pytester.runpytest_subprocess("-n", "2", f"--alembic-drill-database={spec}")
    result.assert_outcomes(passed=6)
    rows = [line.split(" ", 1) for line in (pytester.path / "servers.txt").read_text().splitlines()]
    workers = {worker for worker, _ in rows}
    servers = {rest.rsplit(" ", 1)[0].split(", kept")[0] for _, rest in rows}
    databases = {rest.rsplit(" ", 1)[1] for _, rest in rows}
    assert workers == {"gw0", "gw1"}
    assert len(servers) == 1, servers  # one server for both workers
    assert len(databases) == 6  # a database of its own for every test
    # Nothing left behind (the spec is this test's own: other runs' containers differ).
    assert docker_containers(f"dev.alembic-drill.spec={spec}") == []
    kept = [s for s in list_servers() if s["kept"] and s["spec"] == spec]
    assert kept == []


def test_kept_server_carries_the_template_to_the_next_run(pytester: pytest.Pytester) -> None:
    require("local:postgresql")
    make_project(pytester)
    pytester.makepyfile(
        """
        import sqlalchemy as sa

        def test_read(drill_migrated_db):
            with drill_migrated_db.engine.connect() as conn:
                names = conn.execute(sa.text("SELECT name FROM users")).scalars().all()
            open("names.txt", "w").write(",".join(names))
        """
    )
    args = ("--alembic-drill-database=local:postgresql", "--alembic-drill-keep-server")
    try:
        pytester.runpytest_subprocess(*args).assert_outcomes(passed=1)
        # Mark the template the first run left on the kept server.
        server = Server("local:postgresql", keep=True)
        assert server.reused
        (template,) = [d for d in server.databases() if d.startswith("drill_tpl_")]
        engine = sa.create_engine(server.database(template).url, poolclass=sa.pool.NullPool)
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO users (id, name) VALUES (1, 'from-run-1')"))
        engine.dispose()

        # Unchanged revision files: the template is reused, not migrated again.
        pytester.runpytest_subprocess(*args).assert_outcomes(passed=1)
        assert (pytester.path / "names.txt").read_text() == "from-run-1"

        # A changed revision file: a new template, migrated from scratch.
        path = pytester.path / "migrations" / "versions" / "a1_users.py"
        path.write_text(path.read_text() + "\n# edited\n")
        pytester.runpytest_subprocess(*args).assert_outcomes(passed=1)
        assert (pytester.path / "names.txt").read_text() == ""
        server.stop()
    finally:
        stop_kept_servers("local:postgresql")
