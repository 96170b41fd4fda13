"""No password is ever printed: not by `db start` or `db list`, not on `check`'s stderr,
not in the JSON report's `database` field, not in the JUnit file, on servers that have
one: a container, and an existing server given by URL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from drill_support import drill_project
from servers_support import PG_IMAGE, need_image, private_spec

from conftest import Project


@pytest.fixture
def kept_container(tmp_path: Path, run_cli) -> Iterator[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """(spec, admin URL with its password) of a kept container of this test's own."""
    need_image(PG_IMAGE)
    url_file = tmp_path / "url"
    with private_spec(f"docker:{PG_IMAGE}") as spec:
        try:
            started = run_cli("db", "start", "--database", spec, "--url-file", str(url_file))
            assert started.code == 0, started.err
            url = url_file.read_text().strip()
            password = sa.engine.make_url(url).password
            assert password and len(password) >= 12
            assert password not in started.out + started.err
            assert "***" in started.out
            yield spec, url
        finally:
            run_cli("db", "stop", "--database", spec)


def no_password_in(password: str, **texts: str) -> None:
    for where, text in texts.items():
        assert password not in text, f"the password is in {where}"


def test_db_list(kept_container: tuple[str, str], run_cli) -> None:  # type: ignore[no-untyped-def]
    spec, url = kept_container
    password = sa.engine.make_url(url).password
    assert password is not None
    text = run_cli("db", "list")
    as_json = run_cli("db", "list", "--json")
    assert text.code == 0 and as_json.code == 0
    mine = [row for row in json.loads(as_json.out) if row["spec"] == spec]
    assert len(mine) == 1 and mine[0]["url"].count("***") == 1
    assert any(spec in line and "***" in line for line in text.out.splitlines())
    no_password_in(password, list_text=text.out + text.err, list_json=as_json.out)


@pytest.mark.parametrize("server", ["docker", "url"])
def test_check_outputs(
    kept_container: tuple[str, str],
    project: Project,
    tmp_path: Path,
    run_cli,  # type: ignore[no-untyped-def]
    server: str,
) -> None:
    spec, url = kept_container
    password = sa.engine.make_url(url).password
    assert password is not None
    database = spec if server == "docker" else url  # the kept container, or its URL
    drill_project(project)
    project.add("aaa111", None)
    project.add("bbb222", "aaa111", downgrade='op.drop_table("never_created")')
    junit = tmp_path / "junit.xml"
    run = run_cli(
        "check",
        "-c",
        str(project.ini),
        "--database",
        database,
        "--json",
        "-",
        "--junit",
        str(junit),
    )
    assert run.code == 1, run.err  # the broken downgrade: a failure is reported, too
    report = json.loads(run.out)
    assert "***" in report["database"] or server == "docker"
    no_password_in(
        password,
        stderr=run.err,
        json_database=report["database"],
        json_report=run.out,
        junit=junit.read_text(),
    )
    # The text report (stdout without --json) as well.
    text = run_cli("check", "-c", str(project.ini), "--database", database)
    no_password_in(password, text_stdout=text.out, text_stderr=text.err)
