"""What the plugin shares across a test session: one server, migrated templates, the
drill report. Nothing starts until a fixture or a generated check needs it."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from alembic_drill.pytest_plugin.options import PluginOptions

if TYPE_CHECKING:
    from alembic_drill._core import DrillReport, History
    from alembic_drill._steps import StepRunner
    from alembic_drill.servers import Database, Server


class DrillSession:
    def __init__(self, config: pytest.Config, options: PluginOptions) -> None:
        self.config = config
        self.options = options
        self._server: Server | None = None
        self._runner: StepRunner | None = None
        self._history: History | None = None
        self._report: DrillReport | None = None
        self._templates: dict[str, Database] = {}

    @property
    def history(self) -> History:
        if self._history is None:
            from alembic_drill._core import load_history

            self._history = load_history(self.options.config)
        return self._history

    @property
    def runner(self) -> StepRunner:
        if self._runner is None:
            from alembic_drill._steps import StepRunner
            from alembic_drill.settings import load_settings

            settings = load_settings(self.options.config)
            self._runner = StepRunner(self.options.config, url_env=settings.url_env)
        return self._runner

    @property
    def server(self) -> Server:
        if self._server is None:
            from alembic_drill.servers import Server
            from alembic_drill.settings import load_settings

            spec = self.config.hook.pytest_alembic_drill_database(config=self.config)
            spec = spec or self.options.database or load_settings(self.options.config).database
            # pytest-xdist workers share one kept server (no duplicate containers); each
            # makes its own databases in it. The controller stops it at the end if this
            # run started it.
            shared = self.worker_id is not None
            server = Server(
                spec, keep=shared or self.options.keep_server, config=self.options.config
            )
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
            server.keep_database(template)
            self._templates[revision] = template
        return self._templates[revision]

    def report(self) -> DrillReport:
        """The drill report, run once for all generated check items."""
        if self._report is None:
            from alembic_drill.drill import Drill

            drill = Drill(
                self.options.config, server=self.server, step_timeout=self.options.step_timeout
            )
            checks = [c for c in drill.settings.enabled_checks]
            self.config.hook.pytest_alembic_drill_modify_checks(config=self.config, checks=checks)
            seeds = dict(drill.settings.seeds)
            for revision in self.history.order:
                for rows in self.config.hook.pytest_alembic_drill_seed_rows(
                    config=self.config, revision=revision
                ):
                    if rows:
                        merged = dict(seeds.get(revision, {}))
                        for table, table_rows in rows.items():
                            merged[table] = [*merged.get(table, []), *table_rows]
                        seeds[revision] = merged
            drill.settings = drill.settings.override(checks=tuple(checks), skip=())
            drill.settings = _with_seeds(drill.settings, seeds)
            self._report = drill.check()
            self.config.hook.pytest_alembic_drill_report(config=self.config, report=self._report)
        return self._report

    def close(self) -> None:
        if self._runner is not None:
            self._runner.close()
        if self._server is not None:
            self._server.stop()
            self._server = None

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


def _with_seeds(settings: Any, seeds: dict[str, Any]) -> Any:
    from dataclasses import replace

    return replace(settings, seeds=seeds)
