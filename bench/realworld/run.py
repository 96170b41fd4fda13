"""The real-world regression corpus (issue 12): alembic-drill on Alembic histories that
ship inside PyPI packages, judged finding by finding.

For each project (a pinned PyPI release, in its own venv, see corpus_venvs.py) and engine
(PostgreSQL from the installed binaries, SQLite):

  1. `alembic-drill check --json` on projects/<name>/ (an alembic.ini and
     [tool.alembic-drill] settings, nothing else), as a user would run it;
  2. the baseline: a plain per-revision Alembic walk (upgrade, downgrade to the parent,
     upgrade again) in the same venv, on a fresh database of the same kind of server
     (baseline_walk.py).

Writes results/<project>-<engine>.json (the check's report, paths relative to the
package), results/<project>-<engine>-baseline.json, results/timings.json, and
results/findings.md: every finding with the verdict recorded in judgements.toml, every
baseline defect with whether the check reported it. Full logs go to logs/ (not
committed). Never run in CI: it downloads large packages.

    python3 bench/realworld/run.py [--projects optuna,airflow] [--engines postgresql,sqlite]
        [--no-install] [--report-only]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from corpus_report import write_report
from corpus_venvs import HERE, REPO, VenvError, venv_python

RESULTS = HERE / "results"
LOGS = HERE / "logs"
SPECS = {"postgresql": "local:postgresql", "sqlite": "sqlite"}
#: project -> environment variables its app needs (formatted with {tmp}, a fresh folder).
PROJECT_ENV = {
    "optuna": {},
    # Airflow reads (and may write) its configuration under AIRFLOW_HOME at import.
    "airflow": {"AIRFLOW_HOME": "{tmp}/airflow-home"},
}


def main() -> None:
    parser = argparse.ArgumentParser(description="alembic-drill on real histories")
    parser.add_argument("--projects", default=",".join(PROJECT_ENV))
    parser.add_argument("--engines", default=",".join(SPECS))
    parser.add_argument("--no-install", action="store_true", help="use the venvs as they are")
    parser.add_argument("--report-only", action="store_true", help="only rewrite findings.md")
    parser.add_argument(
        "--only", choices=["check", "baseline"], help="run only the check or the baseline"
    )
    args = parser.parse_args()
    projects = [p.strip() for p in args.projects.split(",") if p.strip()]
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if any(p not in PROJECT_ENV for p in projects) or any(e not in SPECS for e in engines):
        parser.error(f"projects are {', '.join(PROJECT_ENV)}; engines are {', '.join(SPECS)}")
    if not args.report_only:
        RESULTS.mkdir(exist_ok=True)
        LOGS.mkdir(exist_ok=True)
        timings = _read_json(RESULTS / "timings.json") or {}
        for project in projects:
            try:
                python = venv_python(project, install=not args.no_install)
            except VenvError as exc:
                sys.exit(f"run.py: {exc}")
            for engine in engines:
                entry = timings.setdefault(project, {}).setdefault(engine, {})
                if args.only != "baseline":
                    entry.update(run_check(python, project, engine))
                if args.only != "check":
                    entry.update(run_baseline(python, project, engine))
                entry["versions"] = _versions(python, project)
                (RESULTS / "timings.json").write_text(json.dumps(timings, indent=2) + "\n")
    out = write_report(RESULTS, HERE / "judgements.toml", HERE / "notes.md")
    print(f"wrote {out.relative_to(REPO)}")


def run_check(python: Path, project: str, engine: str) -> dict[str, Any]:
    """`alembic-drill check --json` as a user runs it; the report saved with its paths
    relative to the installed package."""
    with tempfile.TemporaryDirectory(prefix=f"corpus-{project}-") as tmp:
        report_file = Path(tmp) / "report.json"
        command = [
            str(python), "-m", "alembic_drill.cli", "check",
            "-c", str(HERE / "projects" / project),
            "--database", SPECS[engine],
            "--json", str(report_file),
        ]  # fmt: skip
        print(f"check    {project} on {engine} ...", flush=True)
        seconds, code = _run(command, _env(project, tmp), Path(tmp), f"{project}-{engine}-check")
        if code not in (0, 1) or not report_file.exists():
            print(f"  alembic-drill check could not run (exit {code}); see logs/", flush=True)
            (RESULTS / f"{project}-{engine}.json").unlink(missing_ok=True)
            return {"check_exit": code, "check_wall_seconds": round(seconds, 2)}
        report = json.loads(report_file.read_text())
    report = _relative_paths(report, python)
    (RESULTS / f"{project}-{engine}.json").write_text(compact_json(report))
    summary = report["summary"]
    print(
        f"  exit {code} in {seconds:.1f}s: {summary['errors']} errors, "
        f"{summary['warnings']} warnings, {summary['info']} info",
        flush=True,
    )
    return {
        "check_exit": code,
        "check_wall_seconds": round(seconds, 2),
        "check_report_seconds": round(report.get("seconds", 0.0), 2),
    }


def run_baseline(python: Path, project: str, engine: str) -> dict[str, Any]:
    out = RESULTS / f"{project}-{engine}-baseline.json"
    with tempfile.TemporaryDirectory(prefix=f"corpus-{project}-") as tmp:
        command = [
            str(python), str(HERE / "baseline_walk.py"),
            "--config", str(HERE / "projects" / project),
            "--engine", engine, "--out", str(out),
        ]  # fmt: skip
        print(f"baseline {project} on {engine} ...", flush=True)
        seconds, code = _run(command, _env(project, tmp), Path(tmp), f"{project}-{engine}-baseline")
    if code != 0 or not out.exists():
        print(f"  the baseline walk could not run (exit {code}); see logs/", flush=True)
        return {"baseline_exit": code, "baseline_wall_seconds": round(seconds, 2)}
    result = json.loads(out.read_text())
    print(
        f"  {len(result['failures'])} failed steps, {len(result['traces'])} traces, "
        f"walk {result['walk_seconds']:.1f}s (process {seconds:.1f}s)",
        flush=True,
    )
    return {
        "baseline_exit": code,
        "baseline_wall_seconds": round(seconds, 2),
        "baseline_walk_seconds": result["walk_seconds"],
        "baseline_snapshot_seconds": result["snapshot_seconds"],
    }


def compact_json(data: dict[str, Any]) -> str:
    """The report as JSON with one line per list entry (a finding, a check, a step): small,
    and a new run's differences still show line by line."""
    lines = []
    for key, value in data.items():
        if isinstance(value, list) and value:
            items = ",\n".join(f"  {json.dumps(v, separators=(',', ':'))}" for v in value)
            lines.append(f"{json.dumps(key)}: [\n{items}\n ]")
        else:
            lines.append(f"{json.dumps(key)}: {json.dumps(value)}")
    return "{\n " + ",\n ".join(lines) + "\n}\n"


def _run(command: list[str], env: dict[str, str], cwd: Path, log_name: str) -> tuple[float, int]:
    log = LOGS / f"{log_name}.log"
    with log.open("wb") as out:
        started = time.perf_counter()
        code = subprocess.run(command, env=env, cwd=cwd, stdout=out, stderr=out).returncode
        return time.perf_counter() - started, code


def _env(project: str, tmp: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    for key, value in PROJECT_ENV[project].items():
        env[key] = value.format(tmp=tmp)
        if key.endswith("_HOME"):
            Path(env[key]).mkdir(parents=True, exist_ok=True)
    return env


def _relative_paths(report: dict[str, Any], python: Path) -> dict[str, Any]:
    """Paths inside the venv as the package's own (airflow/migrations/...), the rest
    relative to the repository: the saved report does not depend on the machine."""
    venv = str(python.parent.parent)
    text = json.dumps(report)
    text = re.sub(re.escape(venv) + r"/lib/python[0-9.]+/site-packages/", "", text)
    text = text.replace(str(REPO) + "/", "")
    data: dict[str, Any] = json.loads(text)
    return data


def _versions(python: Path, project: str) -> dict[str, str]:
    names = {"optuna": "optuna", "airflow": "apache-airflow-core"}
    code = (
        "import importlib.metadata as m, json, sys; "
        "print(json.dumps({n: m.version(n) for n in sys.argv[1:]}))"
    )
    packages = [names[project], "alembic", "SQLAlchemy", "psycopg2-binary"]
    out = subprocess.run(
        [str(python), "-c", code, *packages], capture_output=True, text=True, check=True
    )
    versions: dict[str, str] = json.loads(out.stdout)
    return versions


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.exists() else None


if __name__ == "__main__":
    if shutil.which("initdb") is None and not Path("/usr/lib/postgresql").exists():
        print("run.py: no PostgreSQL binaries found; the postgresql runs will fail")
    main()
