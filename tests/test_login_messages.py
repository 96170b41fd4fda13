"""A server given by URL that refuses the login, or is not there: exit 2 and one line
that says why in the server's own words, with no password and no stray detail (the
driver's framing, the server's source line, error codes, Debug output)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from servers_support import need_binaries
from sqlalchemy.engine import make_url

from alembic_drill import Server
from conftest import EXAMPLE

WRONG = "Wr0ngSecret"
STRAY = (
    "at line",
    "error returned from database",
    "error communicating",
    "(28000)",
    "1045 (",
    "DETAIL",
    "os error",
    "Error {",
    "Database(",
    "Io(",
    "\\n",
)


@pytest.fixture(scope="module", params=["postgresql", "mariadb"])
def local_server(request: pytest.FixtureRequest) -> Iterator[Server]:
    need_binaries(request.param)
    with Server(f"local:{request.param}") as server:
        yield server


def _one_clean_line(run, *expected: str) -> str:  # type: ignore[no-untyped-def]
    assert run.code == 2, run.out + run.err
    lines = run.err.splitlines()
    assert len(lines) == 1, run.err
    (line,) = lines
    assert WRONG not in line
    for stray in STRAY:
        assert stray not in line, line
    for text in expected:
        assert text in line, line
    return line


def test_a_wrong_password_is_one_line_in_the_servers_words(local_server: Server, run_cli) -> None:  # type: ignore[no-untyped-def]
    admin = local_server.admin_url()
    assert admin is not None
    url = make_url(admin).set(password=WRONG).render_as_string(hide_password=False)
    run = run_cli("check", "-c", str(EXAMPLE), "--database", url)
    why = (
        "password authentication failed" if local_server.engine == "postgresql" else "access denied"
    )
    line = _one_clean_line(run, "alembic-drill: error: cannot log in to ", "***", why)
    assert line.endswith("; check the user name and password in the URL")


def test_a_server_that_is_not_there_is_one_line(local_server: Server, run_cli) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    admin = local_server.admin_url()
    assert admin is not None
    url = make_url(admin).set(port=port).render_as_string(hide_password=False)
    run = run_cli("check", "-c", str(EXAMPLE), "--database", url)
    _one_clean_line(run, "alembic-drill: error: cannot connect to ", "connection refused")
