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

from alembic_drill import _core
from alembic_drill.servers import Server
from alembic_drill.settings import DRILL_CHECKS, STATIC_CHECKS, Settings, load_settings

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
    ) -> None:
        self.config = Path(config) if config is not None else Path.cwd()
        self.settings: Settings = load_settings(self.config).override(
            database=database,
            checks=tuple(checks) if checks is not None else None,
            skip=tuple(skip) if skip is not None else None,
            url_env=url_env,
            bootstrap=bootstrap,
            oldest_downgrade=oldest_downgrade,
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
        """Runs the static checks and every enabled drill check; returns the report."""
        from alembic_drill._steps import DrillHost, StepRunner

        history = _core.load_history(self.config)
        runner = StepRunner(self.config, url_env=self.settings.url_env)
        host = DrillHost(runner, bootstrap=self.settings.bootstrap, progress=progress)
        skip = set(self.settings.skip)
        options: _core.DrillOptions = {
            "checks": [c for c in self.settings.checks if c not in skip and c in DRILL_CHECKS],
            "skip_findings": sorted(skip & set(STATIC_CHECKS)),
            "skip_revisions": dict(self.settings.skip_revisions),
            "oldest_downgrade": self.settings.oldest_downgrade,
            "seeds": self.settings.seeds,
            "bootstrap": bool(self.settings.bootstrap),
        }
        try:
            # DrillHost.step returns a plain dict until _steps.py annotates it -> StepOutcome.
            return _core.run_drill(history, self.server._core, host, options)  # type: ignore[arg-type]
        finally:
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
