"""The version folders env.py chooses at run time.

Some projects keep one tree of revision scripts per dialect (or per tenant, per
database) and let env.py pick it, before Alembic reads any script::

    context.script.version_locations = [f"versions_{dialect}"]
    context.script.__dict__.pop("_version_locations", None)

alembic.ini then names a folder Alembic never reads for them. To load the scripts Alembic
will run, env.py is run once here, in Alembic's offline mode, with the URL of the engine
the run rehearses on, and the folders it leaves on its ``ScriptDirectory`` are read. Only
env.py files that mention ``version_locations`` are run. No connection can open: the
foreign-database guard refuses every one (and env.py's offline branch needs none), and
Alembic is stopped before it would emit any SQL.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from alembic_drill import _env_runner
from alembic_drill._guard import ConnectionGuard
from alembic_drill._project import Project
from alembic_drill._stand_in import MARKER


class _Stop(Exception):
    """Raised where Alembic would start migrating: env.py has chosen by then."""


def chosen(project: Project, script: Any, url: str | None) -> list[Path] | None:
    """The folders env.py sets on ``script``'s twin when run with ``url`` as
    ``sqlalchemy.url`` (None: the project's own), or None when it sets none."""
    from alembic.runtime.environment import EnvironmentContext
    from alembic.script import ScriptDirectory

    env_py = Path(script.env_py_location)
    try:
        if "version_locations" not in env_py.read_text(encoding="utf-8", errors="replace"):
            return None
    except OSError:
        return None
    config = project.alembic_config()
    if url:
        # ConfigParser interpolation: a literal % must be doubled.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    probe = ScriptDirectory.from_config(config)
    before = list(probe.version_locations)

    def stop(_rev: Any, _context: Any) -> list[Any]:
        raise _Stop

    nowhere = make_url(f"sqlite:////{MARKER}/no-database.db")
    with (
        ConnectionGuard(nowhere, hint="alembic-drill only reads which folders env.py chooses."),
        contextlib.redirect_stdout(io.StringIO()),
    ):
        try:
            with EnvironmentContext(
                config, probe, fn=stop, as_sql=True, output_buffer=io.StringIO()
            ):
                _env_runner.run(probe.run_env, _env_runner.detect(env_py))
        except (KeyboardInterrupt, MemoryError):
            raise
        except BaseException:
            pass  # what env.py chose before it failed still counts
    if list(probe.version_locations) == before:
        return None
    probe.__dict__.pop("_version_locations", None)
    return [Path(p) for p in probe._version_locations]
