"""`alembic-drill db start|list|stop`: a server kept alive between runs."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from servers_support import need_binaries


def test_start_list_reuse_and_stop(tmp_path: Path, run_cli) -> None:
    need_binaries("postgresql")
    url_file = tmp_path / "url"
    try:
        started = run_cli(
            "db", "start", "--database", "local:postgresql", "--url-file", str(url_file)
        )
        assert started.code == 0, started.err
        assert started.out.startswith("started: local PostgreSQL")
        url = url_file.read_text().strip()
        password = url.split(":")[2].split("@")[0]
        assert password and password not in started.out and password not in started.err
        assert "***" in started.out
        assert stat.S_IMODE(os.stat(url_file).st_mode) == 0o600

        listed = run_cli("db", "list", "--json")
        kept = [s for s in json.loads(listed.out) if s["kept"] and s["spec"] == "local:postgresql"]
        assert len(kept) == 1 and password not in listed.out

        again = run_cli("db", "start", "--database", "local:postgresql")
        assert again.out.startswith("reused: ")
    finally:
        stopped = run_cli("db", "stop", "--database", "local:postgresql")
    assert stopped.code == 0 and stopped.out.startswith("stopped: ")
    listed = run_cli("db", "list", "--json")
    assert not [s for s in json.loads(listed.out) if s["kept"] and s["spec"] == "local:postgresql"]
    assert run_cli("db", "stop", "--database", "local:postgresql").out == "no kept server to stop\n"


def test_db_without_subcommand_shows_usage(run_cli) -> None:
    run = run_cli("db")
    assert run.code == 2 and "start" in run.err and "stop" in run.err
