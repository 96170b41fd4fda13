"""The ``alembic-drill`` command line.

Exit codes for every command: 0 no error findings, 1 error findings, 2 the command could
not run (bad path, not an Alembic project, ...), with a one-line reason on stderr; 130
stopped by SIGINT (Ctrl-C), 143 stopped by SIGTERM, after removing what the run made.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from alembic_drill._format import format_finding, plural

if TYPE_CHECKING:
    from alembic_drill._core import History
    from alembic_drill._watchdog import SignalScope

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_CANNOT_RUN = 2


def main(argv: Sequence[str] | None = None) -> int:
    from alembic_drill._watchdog import Terminated, program_signals

    # Run as the program (not called with arguments, as tests do): signals are ours
    # from the first moment to the last.
    program = argv is None
    if program:
        program_signals(finished=False)
    try:
        return _main(argv)
    except (KeyboardInterrupt, Terminated) as stop:
        if program:  # everything is removed: a second signal ends it at once
            program_signals(finished=True)
        terminated = isinstance(stop, Terminated)
        print(f"alembic-drill: {'terminated' if terminated else 'interrupted'}", file=sys.stderr)
        return Terminated.exit_code if terminated else 130
    finally:
        if program:
            program_signals(finished=True)


def _main(argv: Sequence[str] | None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help(sys.stderr)
        return EXIT_CANNOT_RUN
    from alembic_drill._core import AlembicDrillError

    try:
        code: int = args.run(args)
    except AlembicDrillError as exc:
        print(f"alembic-drill: error: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    except BrokenPipeError:  # `alembic-drill graph | head`
        sys.stderr.close()
        return EXIT_OK
    return code


def _parser() -> argparse.ArgumentParser:
    from alembic_drill._core import __version__

    parser = argparse.ArgumentParser(
        prog="alembic-drill",
        description="Rehearse Alembic migrations before they reach production.",
    )
    parser.add_argument("--version", action="version", version=f"alembic-drill {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    lint = commands.add_parser(
        "lint",
        help="check the revision graph and scripts without a database",
        description="Static checks of the revision history: heads, bases, missing parents, "
        "cycles, duplicate ids, stub upgrade()/downgrade(), scripts that fail to import.",
    )
    _add_config(lint)
    lint.add_argument("--json", action="store_true", help="print the findings as JSON")
    lint.set_defaults(run=_run_lint)

    graph = commands.add_parser(
        "graph",
        help="draw the revision history",
        description="Draw the revision history, heads, bases, merges and revisions with "
        "findings marked.",
    )
    _add_config(graph)
    graph.add_argument(
        "--format",
        choices=["text", "mermaid", "dot", "json"],
        default="text",
        help="output format (default: text)",
    )
    graph.set_defaults(run=_run_graph)

    check = commands.add_parser(
        "check",
        help="rehearse every revision on a real database (and run the static checks)",
        description="Upgrade, downgrade, round trip, schema traces, seeded rows, "
        "idempotent data statements and model drift, revision by revision, on a database "
        "alembic-drill owns. Settings: [tool.alembic-drill] in pyproject.toml; flags win.",
    )
    _add_config(check)
    check.add_argument(
        "--database",
        metavar="SPEC",
        default=None,
        help="auto, sqlite, docker:IMAGE, local:postgresql, local:mysql, or a server URL "
        "(default: the setting, else auto)",
    )
    check.add_argument(
        "--checks", metavar="IDS", default=None, help="comma-separated drill checks to run"
    )
    check.add_argument(
        "--skip", metavar="IDS", default=None, help="comma-separated checks to leave out"
    )
    check.add_argument(
        "--json", metavar="FILE", default=None, help="write the report as JSON ('-': stdout)"
    )
    check.add_argument("--junit", metavar="FILE", default=None, help="write JUnit XML")
    check.add_argument(
        "--step-timeout",
        metavar="SECONDS",
        type=_seconds,
        default=None,
        help="cancel a step (on the server) that runs longer, and report it as that "
        "step's failure (default: the setting, else 300; 0: no limit)",
    )
    check.set_defaults(run=_run_check)

    db = commands.add_parser(
        "db",
        help="start, stop and list database servers kept alive between runs",
        description="Database servers alembic-drill owns. A server started with `db start` "
        "stays up until `db stop`, and runs with the same --database spec reuse it.",
    )
    db_commands = db.add_subparsers(title="db commands", metavar="COMMAND")
    db.set_defaults(run=lambda args: _usage(db))
    start = db_commands.add_parser("start", help="start a server and keep it running")
    _add_database(start)
    _add_config(start)
    start.add_argument(
        "--url-file",
        metavar="FILE",
        help="write the server's admin URL, password included, to FILE (mode 0600); "
        "the URL printed on the terminal never shows the password",
    )
    start.set_defaults(run=_run_db_start)
    stop = db_commands.add_parser("stop", help="stop kept servers (all, or one spec's)")
    stop.add_argument("--database", metavar="SPEC", default=None, help="only this spec's")
    stop.set_defaults(run=_run_db_stop)
    listing = db_commands.add_parser("list", help="list the servers alembic-drill owns")
    listing.add_argument("--json", action="store_true", help="print the list as JSON")
    listing.add_argument(
        "--database",
        metavar="URL",
        default=None,
        help="also list alembic-drill's drill_ databases on this server and their owners",
    )
    listing.set_defaults(run=_run_db_list)
    return parser


def _add_database(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database",
        metavar="SPEC",
        default="auto",
        help="auto, sqlite, docker:IMAGE, local:postgresql, local:mysql, or a server URL "
        "(default: auto, from the project's sqlalchemy.url)",
    )


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_CANNOT_RUN


def _add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c",
        "--config",
        metavar="PATH",
        default=None,
        help="alembic.ini, pyproject.toml with [tool.alembic], or a folder holding one "
        "(default: the current folder)",
    )


def _load(args: argparse.Namespace) -> History:
    """The history, loaded after the project's ``prepare`` (if it names one)."""
    from alembic_drill import _prepare
    from alembic_drill._core import load_history
    from alembic_drill.settings import load_settings

    config = Path(args.config) if args.config else Path.cwd()
    settings = load_settings(config)
    with contextlib.ExitStack() as prepared:
        if settings.prepare:
            _prepare.enter(settings.prepare, config, prepared)
        return load_history(args.config)


def _run_lint(args: argparse.Namespace) -> int:
    history = _load(args)
    if args.json:
        sys.stdout.write(history.to_json(indent=2) + "\n")
    else:
        _print_findings(history, sys.stdout)
    return EXIT_OK if history.ok else EXIT_FINDINGS


def _run_graph(args: argparse.Namespace) -> int:
    history = _load(args)
    if args.format == "json":
        sys.stdout.write(history.graph_json(indent=2) + "\n")
    else:
        sys.stdout.write(history.render(args.format))
    return EXIT_OK if history.ok else EXIT_FINDINGS


def _seconds(text: str) -> float:
    from alembic_drill.settings import step_timeout

    try:
        return step_timeout(text, "--step-timeout")
    except Exception as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--step-timeout: ")) from None


def _run_check(args: argparse.Namespace) -> int:
    from alembic_drill._watchdog import signals

    # SIGINT and SIGTERM stop the run from its first moment, and never its cleanup.
    with signals() as scope:
        return _check(args, scope)


def _check(args: argparse.Namespace, scope: SignalScope) -> int:
    from alembic_drill._core import ConfigError
    from alembic_drill.drill import Drill
    from alembic_drill.progress import Progress

    if args.checks is not None and not args.checks.strip(", "):
        raise ConfigError("--checks names no check; leave it out to run them all")
    drill = Drill(
        args.config,
        args.database,
        checks=args.checks.split(",") if args.checks else None,
        skip=args.skip.split(",") if args.skip else None,
        step_timeout=args.step_timeout,
    )
    json_to_stdout = args.json == "-"
    for flag, path in (("--json", None if json_to_stdout else args.json), ("--junit", args.junit)):
        if path is not None:
            _check_writable(flag, Path(path))
    drill.preflight()
    progress = Progress(sys.stderr)
    try:
        progress.note(f"database: {drill.server.description}")
        if drill.server.reason:
            progress.note(drill.server.reason)
        report = drill.check(progress=progress.update)
    finally:
        with scope.shielded():
            progress.done()
            drill.close()
    if args.json and not json_to_stdout:
        _write_atomically(Path(args.json), report.to_json(indent=2) + "\n")
    if args.junit:
        _write_atomically(Path(args.junit), report.to_junit())
    if json_to_stdout:
        sys.stdout.write(report.to_json(indent=2) + "\n")
    else:
        from alembic_drill.progress import print_report

        print_report(report, sys.stdout)
    return EXIT_OK if report.ok else EXIT_FINDINGS


def _run_db_start(args: argparse.Namespace) -> int:
    from alembic_drill.servers import Server

    config = args.config if args.config or args.database.strip() != "auto" else "."
    server = Server(args.database, keep=True, config=config)
    if server.reason:
        print(server.reason, file=sys.stderr)
    state = "reused" if server.reused else "started"
    print(f"{state}: {server.description}")
    if server.masked_url:
        print(f"url: {server.masked_url}")
    if args.url_file:
        _write_private(args.url_file, server.admin_url() or "")
        print(f"full URL written to {args.url_file}")
    # Detach without stopping: the server is kept for the next run.
    return EXIT_OK


def _run_db_stop(args: argparse.Namespace) -> int:
    from alembic_drill.servers import stop_kept_servers

    stopped = stop_kept_servers(args.database)
    for name in stopped:
        print(f"stopped: {name}")
    if not stopped:
        print("no kept server to stop")
    return EXIT_OK


def _run_db_list(args: argparse.Namespace) -> int:
    import json

    from alembic_drill.servers import list_servers

    servers = list_servers()
    databases = _marked_databases(args.database) if args.database else None
    if args.json:
        listing = servers if databases is None else {"servers": servers, "databases": databases}
        print(json.dumps(listing, indent=2))
        return EXIT_OK
    if not servers:
        print("alembic-drill owns no server on this machine")
    for row in servers:
        kept = "kept" if row["kept"] else ("running" if row["owner_alive"] else "stale")
        print(f"{row['kind']:6} {kept:7} {row['spec']:32} {row['url'] or '-'}  {row['id']}")
    for db in databases or ():
        if db["owner_pid"] is None:
            owner = "owner unknown"
        else:
            state = "running" if db["owner_alive"] else "stale"
            owner = f"{state:7} pid {db['owner_pid']} on {db['owner_host']}"
        print(f"database {db['name']}  {owner}")
    return EXIT_OK


def _marked_databases(spec: str) -> list[dict[str, object]]:
    """The drill_ databases of a server given by URL, with their owner marks."""
    from alembic_drill import _core
    from alembic_drill.servers import Server

    server = Server(spec)
    try:
        return _core.list_marked_databases(server._core)
    finally:
        server.stop()


def _write_private(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")


def _check_writable(flag: str, path: Path) -> None:
    """Fails before the run, not after it, when its report could not be written: a
    temporary file is made (and removed) where the report will go."""
    from alembic_drill._core import ConfigError

    if path.is_dir():
        raise ConfigError(f"{flag} {path}: is a folder")
    try:
        _temporary_beside(path).unlink()
    except OSError as exc:
        raise ConfigError(f"{flag} {path}: cannot be written ({exc.strerror})") from None


def _write_atomically(path: Path, text: str) -> None:
    """Writes a temporary file beside ``path``, then renames it: a crash or a full disk
    never leaves half a report where a complete one is expected."""
    temporary = _temporary_beside(path)
    try:
        with temporary.open("w", encoding="utf-8") as f:
            f.write(text)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _temporary_beside(path: Path) -> Path:
    """A new empty file in ``path``'s folder, its mode that of a file open() creates."""
    import secrets

    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    # O_EXCL: a new file, never one through a link placed there.
    os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    return temporary


def _print_findings(history: History, out: TextIO) -> None:
    findings = history.findings
    for finding in findings:
        out.write(format_finding(finding) + "\n")
    counts = {s: sum(1 for f in findings if f.severity == s) for s in ("error", "warning", "info")}
    heads = ", ".join(history.heads) or "none"
    verdict = "ok" if history.ok else "failed"
    out.write(
        f"{verdict}: {len(history)} revisions, heads: {heads}; "
        f"{plural(counts['error'], 'error')}, {plural(counts['warning'], 'warning')}, "
        f"{counts['info']} info\n"
    )


if __name__ == "__main__":
    sys.exit(main())
