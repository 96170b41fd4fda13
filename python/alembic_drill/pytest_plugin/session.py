"""What the plugin shares across a test session: one server, migrated templates, the
drill report. Nothing starts until a fixture or a generated check needs it."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from alembic_drill.pytest_plugin.options import PluginOptions

if TYPE_CHECKING:
    from alembic_drill._checks import CheckPlan
    from alembic_drill._core import DrillReport, History
    from alembic_drill._steps import StepRunner
    from alembic_drill.servers import Database, Server
    from alembic_drill.settings import Settings

#: The session's server, templates, settings and report.
DRILL_SESSION: pytest.StashKey[DrillSession] = pytest.StashKey()
#: The checks the generated items run: the settings' selection as the
#: ``pytest_alembic_drill_modify_checks`` hooks left it, computed once.
CHECK_PLAN: pytest.StashKey[CheckPlan] = pytest.StashKey()


class DrillSession:
    def __init__(self, config: pytest.Config, options: PluginOptions) -> None:
        self.config = config
        self.options = options
        self._server: Server | None = None
        self._runner: StepRunner | None = None
        self._history: History | None = None
        self._settings: Settings | None = None
        self._report: DrillReport | None = None
        self._templates: dict[str, Database] = {}
        self._prepared: contextlib.ExitStack | None = None
        self._spec_value: str | None = None

    @property
    def settings(self) -> Settings:
        """``[tool.alembic-drill]`` of the project, read once per session."""
        if self._settings is None:
            from alembic_drill.settings import load_settings

            self._settings = load_settings(self.options.config)
        return self._settings

    def prepare(self) -> None:
        """Loads what the generated checks need and checks it (the history, the settings
        and the revisions and bootstrap they name, the check plan) before any item runs:
        a mistake there is one usage error, not an internal error or a failure per item."""
        from alembic_drill._core import AlembicDrillError

        try:
            self._settings = self.settings.checked_against(self.history)
        except AlembicDrillError as exc:
            raise pytest.UsageError(f"alembic-drill: {exc}") from None
        self.check_plan()

    def check_plan(self) -> CheckPlan:
        """The drill checks the generated items run: the settings' selection, then the
        ``pytest_alembic_drill_modify_checks`` hooks. Computed once, kept on the stash."""
        plan = self.config.stash.get(CHECK_PLAN, None)
        if plan is None:
            from alembic_drill._checks import CheckPlan
            from alembic_drill._core import ConfigError

            checks = list(self.settings.check_plan.drill)
            self.config.hook.pytest_alembic_drill_modify_checks(config=self.config, checks=checks)
            try:
                # Static checks are not part of it: every one has its lint item, which
                # reads the history's findings, whatever `skip` says.
                plan = CheckPlan(()).with_drill(checks, "pytest_alembic_drill_modify_checks")
            except ConfigError as exc:
                raise pytest.UsageError(f"alembic-drill: {exc}") from None
            self.config.stash[CHECK_PLAN] = plan
        return plan

    @property
    def history(self) -> History:
        if self._history is None:
            from alembic_drill import _loader
            from alembic_drill._core import load_history

            self._prepare()
            with _loader.for_engine(self._stand_in_url()):
                self._history = load_history(self.options.config)
        return self._history

    def _stand_in_url(self) -> str | None:
        """The stand-in URL of the session's engine (alembic_drill._stand_in)."""
        from alembic_drill import _stand_in

        engine = self._server.engine if self._server is not None else None
        return _stand_in.for_project(
            self.options.config, self._spec(), self.settings.url_env, engine=engine
        )

    def _spec(self) -> str:
        """The database spec: the hook, the option, the setting (asked once)."""
        if self._spec_value is None:
            spec = self.config.hook.pytest_alembic_drill_database(config=self.config)
            self._spec_value = str(spec or self.options.database or self.settings.database)
        return self._spec_value

    def _prepare(self) -> None:
        """The ``prepare`` setting, then the ``pytest_alembic_drill_prepare`` hooks, once,
        before the scripts load; what they open stays open until :meth:`close`."""
        if self._prepared is not None:
            return
        from alembic_drill import _prepare
        from alembic_drill._core import AlembicDrillError

        self._prepared = contextlib.ExitStack()
        stand_in = self._stand_in_url()
        if self.settings.url_env and stand_in:
            # Before anything of the project is imported (see alembic_drill._stand_in).
            from alembic_drill._stand_in import in_environment

            self._prepared.enter_context(in_environment(self.settings.url_env, stand_in))
        try:
            if self.settings.prepare:
                _prepare.enter(self.settings.prepare, Path(self.options.config), self._prepared)
        except AlembicDrillError as exc:
            raise pytest.UsageError(f"alembic-drill: {exc}") from None
        for opened in self.config.hook.pytest_alembic_drill_prepare(config=self.config):
            if hasattr(opened, "__enter__") and hasattr(opened, "__exit__"):
                self._prepared.enter_context(opened)

    @property
    def runner(self) -> StepRunner:
        if self._runner is None:
            from alembic_drill._steps import StepRunner

            self._prepare()
            self._runner = StepRunner(
                self.options.config,
                url_env=self.settings.url_env,
                env_runner=self.settings.env_runner,
                version_locations=self.history.version_locations,
            )
        return self._runner

    @property
    def server(self) -> Server:
        if self._server is None:
            from alembic_drill._core import SpecError
            from alembic_drill.servers import Server

            spec = self._spec()
            # pytest-xdist workers share one kept server (no duplicate containers); each
            # makes its own databases in it. The controller stops it at the end if this
            # run started it.
            shared = self.worker_id is not None
            try:
                server = Server(
                    spec, keep=shared or self.options.keep_server, config=self.options.config
                )
            except SpecError as exc:
                # Found only when the server starts (the spec is parsed there): end the
                # session with one usage error instead of failing every test that follows.
                pytest.exit(f"alembic-drill: {exc}", returncode=pytest.ExitCode.USAGE_ERROR)
            if shared and not server.reused and not self.options.keep_server:
                xdist_started(os.getppid(), spec)
            self._server = server
        return self._server

    @property
    def worker_id(self) -> str | None:
        """The pytest-xdist worker this process is (None outside xdist)."""
        workerinput = getattr(self.config, "workerinput", None)
        return workerinput.get("workerid") if workerinput else None

    def template(self, revision: str = "heads") -> Database:
        """A database migrated to ``revision`` once per session, to clone from. Its name
        carries a hash of the revision files, so a kept server's template is reused only
        while the history is unchanged."""
        if revision not in self._templates:
            # Per worker: xdist workers migrate their own templates instead of racing.
            worker = f"_{self.worker_id}" if self.worker_id else ""
            name = f"tpl_{self._history_key()}_{_slug(revision)}{worker}"
            server = self.server
            if f"drill_{name}" in server.databases():
                template = server.database(f"drill_{name}")
            else:
                template = server.create_database(name)
                self.runner.migrate(template.url, "upgrade", revision)
                # Clones need the template without sessions.
                self.runner.release(template.url)
            if self.options.keep_server:
                # Left for the next run (its name changes with the history); otherwise
                # dropped with the session's other databases, so that a kept server
                # this run only borrowed (`db start`, or the xdist workers' shared one)
                # is left as it was found.
                server.keep_database(template)
            self._templates[revision] = template
        return self._templates[revision]

    def report(self) -> DrillReport:
        """The drill report, run once for all generated check items."""
        if self._report is None:
            from dataclasses import replace

            from alembic_drill.drill import Drill

            seeds = dict(self.settings.seeds)
            for revision in self.history.order:
                for rows in self.config.hook.pytest_alembic_drill_seed_rows(
                    config=self.config, revision=revision
                ):
                    if rows:
                        merged = dict(seeds.get(revision, {}))
                        for table, table_rows in rows.items():
                            merged[table] = [*merged.get(table, []), *table_rows]
                        seeds[revision] = merged
            self._prepare()
            drill = Drill.from_settings(
                # Prepared once for the session already (before the items' history).
                replace(
                    self.settings,
                    seeds=seeds,
                    prepare=None,
                    step_timeout=(
                        self.options.step_timeout
                        if self.options.step_timeout is not None
                        else self.settings.step_timeout
                    ),
                ),
                self.options.config,
                plan=self.check_plan(),
                server=self.server,
            )
            self._report = drill.check()
            self.config.hook.pytest_alembic_drill_report(config=self.config, report=self._report)
        return self._report

    def close(self) -> None:
        if self._runner is not None:
            self._runner.close()
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._prepared is not None:
            self._prepared.close()
            self._prepared = None

    def _history_key(self) -> str:
        digest = hashlib.sha256()
        for revision in sorted(self.history.revisions, key=lambda r: r.path):
            digest.update(Path(revision.path).read_bytes())
        return digest.hexdigest()[:12]


def _marker(controller_pid: int) -> Path:
    return Path(tempfile.gettempdir()) / f"alembic-drill-xdist-{controller_pid}.specs"


def xdist_started(controller_pid: int, spec: str) -> None:
    """Records, for the xdist controller, a kept server this run started."""
    with _marker(controller_pid).open("a", encoding="utf-8") as f:
        f.write(spec + "\n")


def stop_xdist_servers() -> None:
    """On the xdist controller: stops the kept servers its workers started."""
    marker = _marker(os.getpid())
    if not marker.exists():
        return
    from alembic_drill.servers import stop_kept_servers

    for spec in sorted(set(marker.read_text(encoding="utf-8").split())):
        stop_kept_servers(spec)
    marker.unlink()


def _slug(revision: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in revision.lower())[:20]
