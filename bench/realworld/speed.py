"""How fast alembic-drill checks real histories (issue #14): the corpus projects (optuna,
Airflow, each in its own venv, see corpus_venvs.py) against the floor and pytest-alembic.

For each project and engine, on one server started here (PostgreSQL from the installed
binaries, or SQLite files), ``--repeat`` times, the tools in alternation (the order rotates),
each a subprocess of the project's venv, the database a fresh one:

  floor                   plain Alembic in one process: ``upgrade heads`` then
                          ``downgrade base`` (the app's import included, as in every tool).
                          Both histories have a downgrade that fails (findings.md): the
                          floor's downgrade stops there (Airflow: at its base revision;
                          optuna: at v3.0.0.c, on PostgreSQL with the whole downgrade's
                          transaction rolled back), so it is a low floor.
  pytest-alembic          its four built-in tests (``pytest --test-alembic``); real histories
                          fail some of them (their findings): the time is what a run costs
  alembic-drill           ``alembic-drill check`` (every check), given the same server
  alembic-drill-per-step  the same, env.py run once per step (as before issue #14)

alembic-drill exits 1 on these histories (they have findings; see findings.md): a run
counts when its report is complete. Writes results/speed.json and results/speed.md.

    python bench/realworld/speed.py [--projects optuna,airflow] [--engines postgresql,sqlite]
        [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from corpus_venvs import HERE, VenvError, venv_python

from alembic_drill import Server

RESULTS = HERE / "results"
SPECS = {"postgresql": "local:postgresql", "sqlite": "sqlite"}
#: What each project's app needs: a home folder.
HOME_ENV = {"optuna": None, "airflow": "AIRFLOW_HOME"}
TOOLS = ("floor", "pytest-alembic", "alembic-drill", "alembic-drill-per-step")

# The URL as sqlalchemy.url (optuna's env.py builds its engine from it) and a Connection in
# config.attributes (Airflow's env.py takes it, else the engine airflow.settings built at
# import), as pytest-alembic hands them over.
FLOOR = """
import sys
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
config = Config(sys.argv[1])
config.set_main_option("sqlalchemy.url", sys.argv[2].replace("%", "%%"))
engine = sa.create_engine(sys.argv[2], poolclass=sa.pool.NullPool)
with engine.connect() as connection:
    config.attributes["connection"] = connection
    command.upgrade(config, "heads")
    try:
        command.downgrade(config, "base")
    except Exception as exc:  # both histories have a downgrade that fails (findings.md)
        print(f"FLOOR: downgrade base stopped: {type(exc).__name__}: {exc}"[:300])
    connection.commit()
engine.dispose()
"""

CONFTEST = """
import os
import pytest
import sqlalchemy as sa


@pytest.fixture
def alembic_config():
    return {"file": os.environ["BENCH_ALEMBIC_INI"], "sqlalchemy.url": os.environ["BENCH_URL"]}


@pytest.fixture
def alembic_engine():
    engine = sa.create_engine(os.environ["BENCH_URL"], poolclass=sa.pool.NullPool)
    yield engine
    engine.dispose()
"""


def main() -> None:
    parser = argparse.ArgumentParser(description="alembic-drill on real histories: speed")
    parser.add_argument("--projects", default="optuna,airflow")
    parser.add_argument("--engines", default="postgresql,sqlite")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tools", default=",".join(TOOLS))
    args = parser.parse_args()
    tools = args.tools.split(",")
    samples: list[dict[str, object]] = []
    started = time.perf_counter()
    for project in args.projects.split(","):
        try:
            python = venv_python(project, install=False)
        except VenvError as exc:
            sys.exit(f"speed.py: {exc} (bench/realworld/run.py makes the venvs)")
        for engine in args.engines.split(","):
            with Server(SPECS[engine]) as server, tempfile.TemporaryDirectory() as tmp:
                for rep in range(args.repeat):
                    order = tools[rep % len(tools) :] + tools[: rep % len(tools)]
                    for tool in order:
                        seconds, code = run(tool, python, project, server, Path(tmp), rep)
                        print(f"{project:8} {engine:10} {tool:24} {seconds:7.2f} s  exit {code}")
                        samples.append(
                            {"project": project, "engine": engine, "tool": tool,
                             "seconds": round(seconds, 3), "exit": code}
                        )  # fmt: skip
    elapsed = time.perf_counter() - started
    preamble = (
        f"Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by `bench/realworld/"
        f"speed.py --projects {args.projects} --engines {args.engines} --repeat "
        f"{args.repeat}` in {elapsed / 60:.1f} min on {os.cpu_count()} CPUs (shared)."
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "speed.json").write_text(
        json.dumps({"preamble": preamble, "samples": samples}, indent=1) + "\n"
    )
    (RESULTS / "speed.md").write_text(render(preamble, samples))
    print((RESULTS / "speed.md").read_text())


def run(
    tool: str, python: Path, project: str, server: Server, tmp: Path, rep: int
) -> tuple[float, int]:
    ini = HERE / "projects" / project / "alembic.ini"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    home = tmp / f"{tool}-{rep}-home"
    home.mkdir()
    if HOME_ENV[project]:
        env[HOME_ENV[project]] = str(home)
    database = None
    if tool in ("floor", "pytest-alembic"):
        database = server.create_database()
        url = database.url
        if url.startswith("postgresql"):  # the corpus venvs have psycopg2
            url = "postgresql+psycopg2://" + url.split("://", 1)[1]
        env["BENCH_URL"] = url
        env["BENCH_ALEMBIC_INI"] = str(ini)
    if tool == "floor":
        command = [str(python), "-c", FLOOR, str(ini), env["BENCH_URL"]]
    elif tool == "pytest-alembic":
        suite = tmp / f"pytest-alembic-{rep}"
        (suite / "tests").mkdir(parents=True)
        (suite / "tests" / "conftest.py").write_text(CONFTEST)
        (suite / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider -q\n")
        command = [str(python), "-m", "pytest", "--test-alembic", str(suite / "tests")]
    else:
        spec = server.admin_url() or server.spec
        report = tmp / f"{tool}-{rep}.json"
        command = [str(python), "-m", "alembic_drill.cli", "check", "-c", str(ini.parent)]
        command += ["--database", spec, "--json", str(report)]
        if tool == "alembic-drill-per-step":
            env["ALEMBIC_DRILL_ENV_SESSIONS"] = "0"
    log = tmp / f"{tool}-{rep}.log"
    try:
        with log.open("wb") as out:
            started = time.perf_counter()
            code = subprocess.run(command, env=env, cwd=home, stdout=out, stderr=out).returncode
            seconds = time.perf_counter() - started
    finally:
        if database is not None:
            server.drop_database(database)
    complete = tool not in ("alembic-drill", "alembic-drill-per-step") or (
        code in (0, 1) and (tmp / f"{tool}-{rep}.json").exists()
    )
    if (tool == "floor" and code != 0) or not complete:
        sys.exit(f"{tool} on {project} failed (exit {code}):\n{log.read_text()[-3000:]}")
    return seconds, code


def render(preamble: str, samples: list[dict[str, object]]) -> str:
    lines = [
        "# alembic-drill on real histories: how fast",
        "",
        preamble,
        "",
        "Median seconds of the runs (each a process of the project's venv: interpreter, the "
        "app's import, the tool). *x floor*: the median over the floor's (plain Alembic, "
        "`upgrade heads` then `downgrade base`). *pytest-alembic / drill*: how many times "
        "faster alembic-drill is. pytest-alembic's exit 1: some of its tests fail on the "
        "history (its findings); alembic-drill's exit 1: it reports findings.",
        "",
        "| project | engine | tool | median s | runs s | x floor | pytest-alembic / tool | exit |",
        "|---|---|---|---:|---|---:|---:|---|",
    ]
    keys = sorted({(str(s["project"]), str(s["engine"])) for s in samples})
    for project, engine in keys:

        def of(tool: str, p: str = project, e: str = engine) -> list[float]:
            return [
                float(s["seconds"])  # type: ignore[arg-type]
                for s in samples
                if (s["project"], s["engine"], s["tool"]) == (p, e, tool)
            ]

        floor = statistics.median(of("floor")) if of("floor") else None
        peer = statistics.median(of("pytest-alembic")) if of("pytest-alembic") else None
        for tool in TOOLS:
            runs = of(tool)
            if not runs:
                continue
            median = statistics.median(runs)
            exits = sorted(
                {
                    int(s["exit"])  # type: ignore[call-overload]
                    for s in samples
                    if (s["project"], s["engine"], s["tool"]) == (project, engine, tool)
                }
            )
            lines.append(
                f"| {project} | {engine} | {tool} | {median:.2f} | "
                f"{', '.join(f'{r:.2f}' for r in runs)} | "
                f"{f'{median / floor:.1f}x' if floor else '-'} | "
                f"{f'{peer / median:.1f}' if peer else '-'} | {', '.join(map(str, exits))} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
