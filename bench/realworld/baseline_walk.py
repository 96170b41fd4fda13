"""The baseline of the real-world corpus: a plain per-revision Alembic walk.

Runs inside a project's venv (bench/realworld/.venv-<name>), with Alembic's own command
API and the project's own env.py, on a fresh database of a server alembic-drill starts
(the same kind of server `alembic-drill check --database SPEC` uses). For each revision
N, base to head:

  1. upgrade N (from its parent);
  2. downgrade to N's parent (`downgrade -1` on a linear history);
  3. upgrade N again.

A failed step is recorded with its error. The walk never goes on on a damaged database:
after a failed downgrade or re-upgrade, a fresh database is upgraded straight to N and
the walk continues from there; a failed first upgrade blocks N's descendants (the
revisions after it are "not reached").

Beside the step failures, the schema reflected by SQLAlchemy before step 1 and after
step 2 is compared (tables, columns with type, nullability and default, primary keys,
foreign keys, indexes, unique and check constraints, PostgreSQL enums): a difference is
a downgrade that does not restore its parent's schema. That comparison is evidence for
judging `downgrade-leaves-trace`; it is timed apart from the walk.

    python baseline_walk.py --config projects/optuna --engine postgresql --out FILE

The database is handed to env.py as Alembic documents it for programmatic use: as
``sqlalchemy.url``, as ``config.attributes["connection"]``, and through the environment
variable named by ``url_env`` in the project's ``[tool.alembic-drill]`` (set before
env.py first runs). The output holds no password.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

SPECS = {"postgresql": "local:postgresql", "sqlite": "sqlite"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True, help="the project folder")
    parser.add_argument("--engine", choices=sorted(SPECS), required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--no-traces", action="store_true", help="skip the schema comparison")
    args = parser.parse_args()

    started = time.perf_counter()
    from alembic_drill import Server
    from alembic_drill.settings import load_settings

    settings = load_settings(args.config)
    with Server(SPECS[args.engine]) as server:
        server_ready = time.perf_counter() - started
        walk = Walk(args.config, server, settings.url_env, traces=not args.no_traces)
        result = walk.run()
    result.update(
        {
            "project": args.config.name,
            "engine": args.engine,
            "database": SPECS[args.engine],
            "server_start_seconds": round(server_ready, 3),
            "process_seconds": round(time.perf_counter() - started, 3),
        }
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    failures = result["failures"]
    print(
        f"baseline {args.config.name} on {args.engine}: {result['revisions']} revisions, "
        f"{len(failures)} failed steps, {len(result['traces'])} downgrades leaving a "
        f"difference; walk {result['walk_seconds']:.1f}s"
    )


class Walk:
    def __init__(self, project: Path, server: Any, url_env: str | None, traces: bool) -> None:
        from alembic.config import Config
        from alembic.script import ScriptDirectory
        from sqlalchemy.engine import make_url

        self.server = server
        self.url_env = url_env
        self.traces = traces
        self.ini = project / "alembic.ini"
        self.config = Config(str(self.ini))
        script = ScriptDirectory.from_config(self.config)
        self.order = [r for r in reversed(list(script.walk_revisions()))]
        self.parents = {r.revision: list(r._normalized_down_revisions) for r in self.order}
        self.database: Any = None
        configured = self.config.get_main_option("sqlalchemy.url")
        self.project_url = make_url(configured) if configured else None
        self.steps = 0
        self.step_seconds = 0.0
        self.rebuild_seconds = 0.0
        self.snapshot_seconds = 0.0

    def run(self) -> dict[str, Any]:
        failures: list[dict[str, Any]] = []
        traces: list[dict[str, Any]] = []
        not_reached: list[str] = []
        self.fresh()
        walk_started = time.perf_counter()
        blocked = False
        for script in self.order:
            revision = script.revision
            if blocked:
                not_reached.append(revision)
                continue
            parents = self.parents[revision]
            parent_target = "+".join(parents) if len(parents) > 1 else (parents or ["base"])[0]
            before = self.snapshot()
            error = self.step("upgrade", revision)
            if error:
                failures.append(self.failure("upgrade", revision, error, "from its parent"))
                # From a clean path (the walk rebuilt after every failure): the history
                # cannot go on past N.
                blocked = True
                continue
            error = self.step("downgrade", parent_target)
            if error:
                failures.append(self.failure("downgrade", revision, error, "to its parent"))
                self.rebuild(revision, failures)
                continue
            difference = diff(before, self.snapshot())
            if difference:
                traces.append({"revision": revision, "difference": difference})
            error = self.step("upgrade", revision)
            if error:
                failures.append(self.failure("re-upgrade", revision, error, "after its downgrade"))
                self.rebuild(revision, failures)
        walk_seconds = time.perf_counter() - walk_started
        drift = self.drift() if not blocked else {"skipped": "the walk did not reach the head"}
        self.drop()
        return {
            "revisions": len(self.order),
            "order": [s.revision for s in self.order],
            "steps": self.steps,
            "failures": failures,
            "not_reached": not_reached,
            "traces": traces if self.traces else [],
            "traces_compared": self.traces,
            "drift": drift,
            "walk_seconds": round(walk_seconds - self.snapshot_seconds, 3),
            "step_seconds": round(self.step_seconds, 3),
            "rebuild_seconds": round(self.rebuild_seconds, 3),
            "snapshot_seconds": round(self.snapshot_seconds, 3),
        }

    def drift(self) -> dict[str, Any]:
        """`alembic check` (autogenerate's comparison, with env.py's own options) on a
        fresh database upgraded straight to the heads."""
        from alembic import command as commands
        from alembic.util import AutogenerateDiffsDetected

        started = time.perf_counter()
        self.fresh()
        error = self.step("upgrade", "heads", count=False)
        if error:
            return {"error": f"upgrade heads from base failed: {error}"}
        try:
            with self.engine().begin() as connection:
                self.config.attributes["connection"] = connection
                commands.check(self.config)
            found: dict[str, Any] = {"differences": []}
        except AutogenerateDiffsDetected as exc:
            found = {"differences": [_render_diff(d) for d in exc.diffs]}
        except Exception as exc:
            found = {"error": describe(exc)}
        finally:
            self.config.attributes.pop("connection", None)
        found["seconds"] = round(time.perf_counter() - started, 3)
        return found

    # -- databases ---------------------------------------------------------------------

    def fresh(self) -> None:
        """A new empty database; env.py is pointed at it."""
        self.drop()
        self.database = self.server.create_database()
        url = self.url()
        self.config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
        if self.url_env and self.url_env not in os.environ:
            # Set once, before env.py first runs: an app that reads its settings at import
            # keeps the first value; the handed-over connection names the database after.
            os.environ[self.url_env] = url

    def url(self) -> str:
        """The database's URL with the project's own driver (its sqlalchemy.url's, when it
        names the same backend): a plain Alembic run uses the driver the project names."""
        from sqlalchemy.engine import make_url

        url = make_url(str(self.database.url))
        own = self.project_url
        if own is not None and own.get_backend_name() == url.get_backend_name():
            url = url.set(drivername=own.drivername)
        return url.render_as_string(hide_password=False)

    def drop(self) -> None:
        if self.database is not None:
            self.engine().dispose()
            self.server.drop_database(self.database)
            self.database = None
            self._engine = None

    _engine: Any = None

    def engine(self) -> Any:
        import sqlalchemy

        if self._engine is None:
            self._engine = sqlalchemy.create_engine(self.url(), poolclass=sqlalchemy.pool.NullPool)
        return self._engine

    def rebuild(self, revision: str, failures: list[dict[str, Any]]) -> None:
        """A fresh database upgraded straight to ``revision``: the walk goes on from a
        clean state, never from the one a failed step left."""
        started = time.perf_counter()
        self.fresh()
        error = self.step("upgrade", revision, count=False)
        self.rebuild_seconds += time.perf_counter() - started
        if error:
            failures.append(self.failure("rebuild", revision, error, "straight from base"))

    # -- steps -------------------------------------------------------------------------

    def step(self, command: str, target: str, count: bool = True) -> str | None:
        """One Alembic command on the current database; the error, or None."""
        from alembic import command as commands

        started = time.perf_counter()
        try:
            with self.engine().begin() as connection:
                self.config.attributes["connection"] = connection
                getattr(commands, command)(self.config, target)
        except Exception as exc:
            return describe(exc)
        finally:
            self.config.attributes.pop("connection", None)
            if count:
                self.steps += 1
                self.step_seconds += time.perf_counter() - started
        return None

    @staticmethod
    def failure(step: str, revision: str, error: str, how: str) -> dict[str, Any]:
        return {"step": step, "revision": revision, "how": how, "error": error}

    # -- schema ------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        if not self.traces:
            return {}
        started = time.perf_counter()
        try:
            return reflect(self.engine())
        finally:
            self.snapshot_seconds += time.perf_counter() - started


def describe(exc: BaseException) -> str:
    """The error in a few lines: the exception's own first lines, and where in a revision
    script it was raised (the last frame under a versions folder)."""
    text = f"{type(exc).__name__}: {exc}".strip()
    lines = [line for line in text.splitlines() if line.strip()][:4]
    where = [
        f"{Path(f.filename).name}:{f.lineno}"
        for f in traceback.extract_tb(exc.__traceback__)
        if "versions" in Path(f.filename).parts
    ]
    if where:
        lines.append(f"(raised in {where[-1]})")
    return "\n".join(line[:400] for line in lines)


def _render_diff(diff: Any) -> str:
    """One autogenerate difference as a line: `add_table trial_heartbeats`,
    `modify_nullable trial_values.trial_id True False`."""
    if isinstance(diff, list):
        return "; ".join(_render_diff(d) for d in diff)
    words = [str(diff[0])]
    for item in diff[1:]:
        table = getattr(item, "table", None)
        name = getattr(item, "name", None)
        if name is not None and table is not None and hasattr(table, "name"):
            kind = type(item).__name__.lower().replace("constraint", "")
            words.append(f"{kind} {name} on {table.name}")
        elif name is not None and hasattr(item, "columns"):
            words.append(f"table {name}")
        elif isinstance(item, dict):
            continue
        elif item is not None:
            words.append(repr(item)[:80])
    return " ".join(words)


def reflect(engine: Any) -> dict[str, Any]:
    """The schema as SQLAlchemy reflects it, in a comparable form."""
    import sqlalchemy

    out: dict[str, Any] = {}
    with engine.connect() as connection:
        inspector = sqlalchemy.inspect(connection)
        tables = [t for t in inspector.get_table_names() if t != "alembic_version"]
        kinds = {
            "columns": inspector.get_multi_columns,
            "pk": inspector.get_multi_pk_constraint,
            "fks": inspector.get_multi_foreign_keys,
            "indexes": inspector.get_multi_indexes,
            "uniques": inspector.get_multi_unique_constraints,
            "checks": inspector.get_multi_check_constraints,
        }
        multi: dict[str, dict[Any, Any]] = {}
        for kind, getter in kinds.items():
            try:
                multi[kind] = getter(filter_names=tables)
            except NotImplementedError:
                multi[kind] = {}
        for table in tables:
            key = (None, table)
            entry: dict[str, Any] = {}
            for column in multi["columns"].get(key, []):
                default = column.get("default")
                entry[f"column {column['name']}"] = (
                    f"{_type(column['type'])} {'NULL' if column['nullable'] else 'NOT NULL'}"
                    + (f" DEFAULT {default}" if default is not None else "")
                )
            pk = multi["pk"].get(key) or {}
            if pk.get("constrained_columns"):
                entry["primary key"] = (
                    f"({','.join(pk['constrained_columns'])}) name={pk.get('name')}"
                )
            for fk in multi["fks"].get(key, []):
                options = fk.get("options") or {}
                target = f"{fk['referred_table']}({','.join(fk['referred_columns'])})"
                extra = " ".join(f"{k}={v}" for k, v in sorted(options.items()))
                columns = ",".join(fk["constrained_columns"])
                entry[f"foreign key {fk.get('name') or ''}({columns})"] = (
                    f"-> {target} {extra}".strip()
                )
            for index in multi["indexes"].get(key, []):
                columns = ",".join(str(c) for c in index.get("column_names") or [])
                expressions = index.get("expressions")
                if expressions:
                    columns = ",".join(str(e) for e in expressions)
                entry[f"index {index['name']}"] = (
                    f"{'UNIQUE ' if index.get('unique') else ''}({columns})"
                )
            for unique in multi["uniques"].get(key, []):
                columns = ",".join(unique["column_names"])
                entry[f"unique {unique.get('name') or ''}({columns})"] = ""
            for check in multi["checks"].get(key, []):
                entry[f"check {check.get('name') or check['sqltext']}"] = check["sqltext"]
            out[f"table {table}"] = entry
        if engine.dialect.name == "postgresql":
            for enum in inspector.get_enums():
                out[f"enum {enum['name']}"] = {"labels": ",".join(enum["labels"])}
    return out


def _type(type_: Any) -> str:
    """A column type with its arguments (TIMESTAMP(timezone=True), VARCHAR(length=36)):
    str() drops some of them, such as a timestamp's time zone."""
    text = repr(type_)
    return text.replace("()", "")


def diff(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """`+ x` for what the downgrade left, `- x` for what it did not restore, `~ x` for
    what it changed."""
    lines: list[str] = []
    for name in sorted(set(before) | set(after)):
        if name not in before:
            lines.append(f"+ {name}")
            continue
        if name not in after:
            lines.append(f"- {name}")
            continue
        old, new = before[name], after[name]
        for item in sorted(set(old) | set(new)):
            if item not in old:
                lines.append(f"+ {name}: {item} {new[item]}".rstrip())
            elif item not in new:
                lines.append(f"- {name}: {item} {old[item]}".rstrip())
            elif old[item] != new[item]:
                lines.append(f"~ {name}: {item}: {old[item]} -> {new[item]}")
    return lines


if __name__ == "__main__":
    sys.exit(main())
