"""The drill API: every revision of a project rehearsed on a real database.

>>> from alembic_drill import Drill
>>> with Drill(config="alembic.ini", database="docker:postgres:16-alpine") as drill:
...     report = drill.check()
>>> report.ok, [f.check for f in report.findings]
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from alembic_drill import _core
from alembic_drill.servers import Server
from alembic_drill.settings import DRILL_CHECKS, STATIC_CHECKS, Settings, load_settings

if TYPE_CHECKING:
    from alembic_drill._watchdog import SignalScope

#: progress(index, total, revision, activity)
ProgressCallback = Callable[[int, int, str, str], None]


class Drill:
    """Rehearses a project's migrations. Settings come from ``[tool.alembic-drill]`` in
    the nearest pyproject.toml; keyword arguments override them.

    The server starts on first use (or on ``with``) and stops with :meth:`close`.
    """

    def __init__(
        self,
        config: str | os.PathLike[str] | None = None,
        database: str | None = None,
        *,
        checks: Iterable[str] | None = None,
        skip: Iterable[str] | None = None,
        url_env: str | None = None,
        bootstrap: str | None = None,
        oldest_downgrade: str | None = None,
        server: Server | None = None,
        step_timeout: float | None = None,
    ) -> None:
        self.config = Path(config) if config is not None else Path.cwd()
        self.settings: Settings = load_settings(self.config).override(
            database=database,
            checks=tuple(checks) if checks is not None else None,
            skip=tuple(skip) if skip is not None else None,
            url_env=url_env,
            bootstrap=bootstrap,
            oldest_downgrade=oldest_downgrade,
            step_timeout=step_timeout,
        )
        self._server = server
        self._owns_server = server is None

    @property
    def server(self) -> Server:
        """The server the drills run on (started on first use)."""
        if self._server is None:
            self._server = Server(self.settings.database, config=self.config)
        return self._server

    def check(self, *, progress: ProgressCallback | None = None) -> _core.DrillReport:
        """Runs the static checks and every enabled drill check; returns the report.

        Each step gets ``step_timeout`` seconds; SIGINT and SIGTERM stop the run at any
        moment (see ``alembic_drill._watchdog``)."""
        from alembic_drill._watchdog import signals

        # Started outside the signal scope, so that the server's own SIGTERM cleanup
        # (alembic_drill.servers) is what the scope restores when it ends.
        server = self.server
        # What killed runs of this host left on a server given by URL goes first.
        _core.reap_stale_databases(server._core)
        with signals() as scope:
            return self._check(server, scope, progress)

    def _check(
        self, server: Server, scope: SignalScope, progress: ProgressCallback | None
    ) -> _core.DrillReport:
        from alembic_drill._steps import DrillHost, StepRunner
        from alembic_drill._watchdog import Watchdog, WatchedHost

        history = _core.load_history(self.config)
        runner = StepRunner(self.config, url_env=self.settings.url_env)
        watchdog = Watchdog(
            scope,
            engine=server.engine,
            cancel=_core._Canceller(server._core).cancel,
            step_timeout=self.settings.step_timeout,
        )
        host = WatchedHost(
            DrillHost(runner, bootstrap=self.settings.bootstrap, progress=progress), watchdog
        )
        skip = set(self.settings.skip)
        options: dict[str, Any] = {
            "checks": [c for c in self.settings.checks if c not in skip and c in DRILL_CHECKS],
            "skip_findings": sorted(skip & set(STATIC_CHECKS)),
            "skip_revisions": dict(self.settings.skip_revisions),
            "oldest_downgrade": self.settings.oldest_downgrade,
            "seeds": self.settings.seeds,
            "rows_per_table": 3,
            "bootstrap": bool(self.settings.bootstrap),
        }
        try:
            with watchdog:
                return _core.run_drill(history, server._core, host, options)
        finally:
            with scope.shielded():
                runner.close()

    def close(self) -> None:
        """Stops the server this drill started."""
        if self._server is not None and self._owns_server:
            self._server.stop()
            self._server = None

    def __enter__(self) -> Drill:
        _ = self.server
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
