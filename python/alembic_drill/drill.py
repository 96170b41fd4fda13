"""The drill API: every revision of a project rehearsed on a real database.

>>> from alembic_drill import Drill
>>> with Drill(config="alembic.ini", database="docker:postgres:16-alpine") as drill:
...     report = drill.check()
>>> report.ok, [f.check for f in report.findings]
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from alembic_drill import _core
from alembic_drill._checks import CheckPlan
from alembic_drill.servers import Server
from alembic_drill.settings import Settings, load_settings

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
        accept: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        path = _project_path(config)
        settings = load_settings(path).override(
            database=database,
            checks=tuple(checks) if checks is not None else None,
            skip=tuple(skip) if skip is not None else None,
            url_env=url_env,
            bootstrap=bootstrap,
            oldest_downgrade=oldest_downgrade,
            step_timeout=step_timeout,
            accept=accept,
        )
        self._adopt(path, settings, settings.check_plan, server)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        config: str | os.PathLike[str] | None = None,
        *,
        plan: CheckPlan | None = None,
        server: Server | None = None,
    ) -> Drill:
        """A drill on settings the caller has loaded already (the pytest plugin loads them
        once per session); ``plan`` replaces the checks the settings select."""
        drill = cls.__new__(cls)
        drill._adopt(
            _project_path(config),
            settings,
            plan if plan is not None else settings.check_plan,
            server,
        )
        return drill

    def _adopt(
        self, config: Path, settings: Settings, plan: CheckPlan, server: Server | None
    ) -> None:
        self.config = config
        self.settings = settings
        #: The checks :meth:`check` runs.
        self.plan = plan
        self._server = server
        self._owns_server = server is None
        self._history: _core.History | None = None
        self._prepared: contextlib.ExitStack | None = None
        self._pinned: contextlib.ExitStack | None = None

    @property
    def server(self) -> Server:
        """The server the drills run on (started on first use)."""
        if self._server is None:
            self._server = Server(self.settings.database, config=self.config)
        return self._server

    def preflight(self) -> _core.History:
        """Loads the history and checks the settings against it (the revisions and the
        bootstrap they name), without starting a database; raises ``ConfigError``.
        :meth:`check` calls it first; call it yourself to fail before the server starts."""
        stand_in = self._stand_in_url()
        self._pin_url_env(stand_in)
        if self._history is None:
            from alembic_drill import _loader

            self._prepare()
            with _loader.for_engine(stand_in):
                history = _core.load_history(self.config)
            self.settings = self.settings.checked_against(history)
            self._history = history
        return self._history

    def check(self, *, progress: ProgressCallback | None = None) -> _core.DrillReport:
        """Runs the static checks and every enabled drill check; returns the report.

        Each step gets ``step_timeout`` seconds; SIGINT and SIGTERM stop the run at any
        moment (see ``alembic_drill._watchdog``)."""
        from alembic_drill._watchdog import signals

        try:
            self.preflight()  # bad input is found before any database starts
            # Started outside the signal scope, so that the server's own SIGTERM cleanup
            # (alembic_drill.servers) is what the scope restores when it ends.
            server = self.server
            # What killed runs of this host left on a server given by URL goes first.
            _core.reap_stale_databases(server._core)
            with signals() as scope:
                return self._check(server, scope, progress)
        finally:
            self._unpin_url_env()

    def _check(
        self, server: Server, scope: SignalScope, progress: ProgressCallback | None
    ) -> _core.DrillReport:
        from alembic_drill._steps import DrillHost, StepRunner
        from alembic_drill._watchdog import Watchdog, WatchedHost

        history = self.preflight()
        runner = StepRunner(
            self.config,
            url_env=self.settings.url_env,
            env_runner=self.settings.env_runner,
            version_locations=history.version_locations,
        )
        watchdog = Watchdog(
            scope,
            engine=server.engine,
            cancel=_core._Canceller(server._core).cancel,
            step_timeout=self.settings.step_timeout,
        )
        host = WatchedHost(
            DrillHost(runner, bootstrap=self.settings.bootstrap, progress=progress), watchdog
        )
        options = self.plan.core_options()
        options["skip_revisions"] = dict(self.settings.skip_revisions)
        options["oldest_downgrade"] = self.settings.oldest_downgrade
        options["seeds"] = self.settings.seeds
        options["accept"] = self.settings.accept
        options["bootstrap"] = bool(self.settings.bootstrap)
        options["severity"] = dict(self.settings.severity)
        options["hazard_rows"] = self.settings.hazard_rows
        options["hazard_lock_ms"] = self.settings.hazard_lock_ms
        try:
            with watchdog:
                return _core.run_drill(history, server._core, host, options)
        finally:
            with scope.shielded():
                runner.close()

    def _stand_in_url(self) -> str | None:
        """The stand-in URL of the engine this drill rehearses on (alembic_drill._stand_in),
        known before its server starts."""
        from alembic_drill import _stand_in

        return _stand_in.for_project(
            self.config,
            self.settings.database,
            self.settings.url_env,
            engine=self._server.engine if self._server is not None else None,
        )

    def _pin_url_env(self, stand_in: str | None) -> None:
        """``url_env`` holds the stand-in URL from before anything of the project is
        imported until the run ends: an application that reads it once, at import, keeps
        a URL whose engines connect to each step's database."""
        if self._pinned is None and self.settings.url_env and stand_in:
            from alembic_drill import _stand_in

            self._pinned = contextlib.ExitStack()
            self._pinned.enter_context(_stand_in.in_environment(self.settings.url_env, stand_in))

    def _unpin_url_env(self) -> None:
        if self._pinned is not None:
            self._pinned.close()
            self._pinned = None

    def _prepare(self) -> None:
        """Runs the ``prepare`` setting once, before the scripts load."""
        if self._prepared is None:
            self._prepared = contextlib.ExitStack()
            if self.settings.prepare:
                from alembic_drill import _prepare

                _prepare.enter(self.settings.prepare, self.config, self._prepared)

    def close(self) -> None:
        """Stops the server this drill started and closes what ``prepare`` opened."""
        if self._server is not None and self._owns_server:
            self._server.stop()
            self._server = None
        if self._prepared is not None:
            self._prepared.close()
            self._prepared = None
        self._unpin_url_env()

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


def _project_path(config: str | os.PathLike[str] | None) -> Path:
    return Path(config) if config is not None else Path.cwd()
