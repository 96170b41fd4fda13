"""Projects for the drill tests: a real env.py in the styles users write, and the
servers the drills run on (one per engine for the whole session)."""

from __future__ import annotations

import secrets
import textwrap
from pathlib import Path

from conftest import Project

#: The common env.py: a Connection from config.attributes, else an engine from the URL.
ENV_CONNECTION = """
from alembic import context
from sqlalchemy import engine_from_config, pool

{models_import}

config = context.config


def run(connection):
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    engine = engine_from_config(
        config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with engine.connect() as conn:
        run(conn)
"""

INI = """\
[alembic]
script_location = %(here)s/migrations
prepend_sys_path = %(here)s
path_separator = os
sqlalchemy.url = {url}
"""


def drill_project(
    project: Project,
    env: str = ENV_CONNECTION,
    url: str = "sqlite:///app.db",
    models: str | None = None,
) -> Project:
    """Turns the lint-only test project into one whose env.py runs. The models module gets
    a name of its own: the tests share one interpreter, whose module cache would otherwise
    hand one test's models to the next."""
    project.ini.write_text(INI.format(url=url))
    if models is None:
        models_import = "target_metadata = None"
    else:
        module = f"models_{secrets.token_hex(6)}"
        (project.root / f"{module}.py").write_text(textwrap.dedent(models))
        models_import = f"from {module} import metadata as target_metadata"
    env_py = textwrap.dedent(env).replace("{models_import}", models_import)
    (project.root / "migrations" / "env.py").write_text(env_py)
    return project


#: The production hazards (tests/test_hazards.py): measured on PostgreSQL, skipped with the
#: reason elsewhere; warnings that the other tests' histories may rightly raise.
HAZARD_CHECKS = (
    "table-rewrite",
    "blocking-index",
    "validating-constraint",
    "not-null-scan",
    "exclusive-lock",
)


def checks_found(report, severity: str = "error") -> list[tuple[str, str | None]]:  # type: ignore[no-untyped-def]
    return sorted((f.check, f.revision) for f in report.findings if f.severity == severity)


def write(path: Path, text: str) -> None:
    path.write_text(textwrap.dedent(text))
