"""results/findings.md: every finding of the corpus's runs beside its verdict, and every
defect of the baseline walk beside what the check reported.

Verdicts are written by hand in judgements.toml, one ``[[judgement]]`` per finding (or per
group of findings that share a reason):

    [[judgement]]
    project = "optuna"
    engines = ["postgresql", "sqlite"]   # optional: every engine
    check = "roundtrip-failed"
    revision = "v2.4.0.a"
    contains = "no such column"          # optional: a substring of the message
    verdict = "true"                     # true | false | unverifiable
    class = "cascade"                    # false ones: cascade | replay | synthetic-rows |
                                         # wrong-snapshot | other
    reason = "why, from reading the revision script"

A finding no judgement matches is listed as "unjudged": a new run that reports something
new says so instead of inheriting an old verdict. notes.md (hand-written: what could not
run, harness findings) is appended as it is.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

VERDICTS = ("true", "false", "unverifiable")
FALSE_CLASSES = ("cascade", "replay", "synthetic-rows", "wrong-snapshot", "other")
#: the check that should report a failed step of the baseline walk
STEP_CHECK = {
    "upgrade": "upgrade-failed",
    "downgrade": "downgrade-failed",
    "re-upgrade": "roundtrip-failed",
    "rebuild": "upgrade-failed",
}
ENGINE_ORDER = ("postgresql", "sqlite")


@dataclass(frozen=True)
class Judgement:
    project: str
    engines: tuple[str, ...]
    check: str
    revision: str | None
    contains: str | None
    verdict: str
    false_class: str | None
    reason: str
    #: a true finding that also carries a false line: the class of that line
    false_part: str | None = None

    def matches(self, project: str, engine: str, finding: dict[str, Any]) -> bool:
        return (
            self.project == project
            and (not self.engines or engine in self.engines)
            and self.check == finding["check"]
            and self.revision == finding.get("revision")
            and (self.contains is None or self.contains in finding["message"])
        )


@dataclass(frozen=True)
class TraceJudgement:
    """A verdict on a difference the baseline's reflected comparison found: "real" (the
    downgrade does not restore the schema) or "cosmetic" (the reflected text differs, the
    schema means the same, such as SQLite's DEFAULT '-1' and DEFAULT -1)."""

    project: str
    engines: tuple[str, ...]
    revision: str
    verdict: str
    reason: str

    def matches(self, project: str, engine: str, revision: str) -> bool:
        return (
            self.project == project
            and (not self.engines or engine in self.engines)
            and self.revision == revision
        )


def load_trace_judgements(path: Path) -> list[TraceJudgement]:
    if not path.exists():
        return []
    with path.open("rb") as f:
        entries = tomllib.load(f).get("trace", [])
    out = []
    for i, entry in enumerate(entries):
        if entry["verdict"] not in ("real", "cosmetic"):
            raise ValueError(f"{path}: trace {i}: verdict must be real or cosmetic")
        out.append(
            TraceJudgement(
                entry["project"],
                tuple(entry.get("engines", ())),
                entry["revision"],
                entry["verdict"],
                " ".join(entry["reason"].split()),
            )
        )
    return out


def load_judgements(path: Path) -> list[Judgement]:
    if not path.exists():
        return []
    with path.open("rb") as f:
        entries = tomllib.load(f).get("judgement", [])
    judgements = []
    for i, entry in enumerate(entries):
        verdict = entry["verdict"]
        false_class = entry.get("class")
        if verdict not in VERDICTS:
            raise ValueError(f"{path}: judgement {i}: verdict must be one of {VERDICTS}")
        if verdict == "false" and false_class not in FALSE_CLASSES:
            raise ValueError(f"{path}: judgement {i}: a false finding needs a class")
        false_part = entry.get("false_part")
        if false_part is not None and false_part not in FALSE_CLASSES:
            raise ValueError(f"{path}: judgement {i}: false_part must be one of {FALSE_CLASSES}")
        judgements.append(
            Judgement(
                entry["project"],
                tuple(entry.get("engines", ())),
                entry["check"],
                entry.get("revision"),
                entry.get("contains"),
                verdict,
                false_class,
                " ".join(entry["reason"].split()),
                false_part,
            )
        )
    return judgements


def write_report(results: Path, judgements_file: Path, notes_file: Path) -> Path:
    judgements = load_judgements(judgements_file)
    trace_judgements = load_trace_judgements(judgements_file)
    timings = _read(results / "timings.json") or {}
    runs = _runs(results)
    lines = [
        "# Real-world corpus: every finding judged",
        "",
        "Generated by `bench/realworld/run.py` (`make realworld`) from the runs in this",
        "folder and the verdicts in `bench/realworld/judgements.toml`. A finding is **true**",
        "only if it would also be true on the user's real database; **false** findings carry",
        "the class of the tool's mistake; **unverifiable** ones cannot be decided from the",
        "scripts and the schema alone. The baseline is a plain per-revision Alembic walk",
        "(upgrade N, downgrade to its parent, upgrade N again), rebuilt from base after any",
        "failure, plus a reflected schema comparison before N and after its downgrade.",
        "",
        *_versions(timings),
        "## Summary",
        "",
        "| project | engine | revisions | findings (E/W/I) | true | false | unverifiable | "
        "unjudged | false errors | baseline failures reported | baseline traces reported | "
        "check (process) | baseline walk | baseline (process) |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    sections: list[str] = []
    for project, engine, report, baseline in runs:
        judged = [(f, _judge(judgements, project, engine, f)) for f in report["findings"]]
        failures = _failures_reported(report, baseline)
        traces = _traces_reported(report, baseline, trace_judgements, project, engine)
        lines.append(_summary_row(project, engine, report, baseline, judged, failures, traces,
                                  timings.get(project, {}).get(engine, {})))  # fmt: skip
        sections += _section(project, engine, report, baseline, judged, failures, traces)
    lines += ["", *_false_by_class(runs, judgements), *sections]
    if notes_file.exists():
        lines += ["", notes_file.read_text().rstrip(), ""]
    out = results / "findings.md"
    out.write_text("\n".join(lines).rstrip() + "\n")
    return out


def _runs(results: Path) -> list[tuple[str, str, dict[str, Any], dict[str, Any] | None]]:
    runs = []
    for path in sorted(results.glob("*.json")):
        name = path.stem
        project, _, engine = name.rpartition("-")
        # Check reports only: not the baselines, timings.json or speed.json (speed.py).
        if name.endswith("-baseline") or not project:
            continue
        baseline = _read(results / f"{name}-baseline.json")
        runs.append((project, engine, _read(path), baseline))
    runs.sort(key=lambda r: (r[0], ENGINE_ORDER.index(r[1]) if r[1] in ENGINE_ORDER else 9))
    return runs


def _judge(
    judgements: list[Judgement], project: str, engine: str, finding: dict[str, Any]
) -> Judgement | None:
    return next((j for j in judgements if j.matches(project, engine, finding)), None)


def _failures_reported(
    report: dict[str, Any], baseline: dict[str, Any] | None
) -> list[tuple[dict[str, Any], str]]:
    """Each failed baseline step, with how the check reported it."""
    out = []
    for failure in (baseline or {}).get("failures", []):
        wanted = STEP_CHECK[failure["step"]]
        same = [f for f in report["findings"] if f.get("revision") == failure["revision"]]
        hit = next((f for f in same if f["check"] == wanted), None)
        if hit is not None:
            verdict = f"yes: {hit['severity']}[{wanted}]"
        elif same:
            verdict = "no: only " + ", ".join(
                sorted({f"{f['severity']}[{f['check']}]" for f in same})
            )
        else:
            verdict = "no"
        out.append((failure, verdict))
    return out


def _traces_reported(
    report: dict[str, Any],
    baseline: dict[str, Any] | None,
    trace_judgements: list[TraceJudgement],
    project: str,
    engine: str,
) -> list[tuple[dict[str, Any], str, TraceJudgement | None]]:
    """Each difference of the baseline's reflected comparison, with how the check
    reported it and its verdict."""
    out = []
    for trace in (baseline or {}).get("traces", []):
        hit = next(
            (
                f
                for f in report["findings"]
                if f["check"] == "downgrade-leaves-trace" and f.get("revision") == trace["revision"]
            ),
            None,
        )
        judgement = next(
            (j for j in trace_judgements if j.matches(project, engine, trace["revision"])), None
        )
        out.append((trace, f"yes: {hit['severity']}" if hit else "no", judgement))
    return out


def _summary_row(
    project: str,
    engine: str,
    report: dict[str, Any],
    baseline: dict[str, Any] | None,
    judged: list[tuple[dict[str, Any], Judgement | None]],
    failures: list[tuple[dict[str, Any], str]],
    traces: list[tuple[dict[str, Any], str, TraceJudgement | None]],
    timing: dict[str, Any],
) -> str:
    s = report["summary"]
    count = {v: sum(1 for _, j in judged if j and j.verdict == v) for v in VERDICTS}
    unjudged = sum(1 for _, j in judged if j is None)
    false_errors = sum(
        1 for f, j in judged if j and j.verdict == "false" and f["severity"] == "error"
    )
    found = sum(1 for _, v in failures if v.startswith("yes"))
    real = [v for _, v, j in traces if j is None or j.verdict == "real"]
    traced = sum(1 for v in real if v.startswith("yes"))
    cosmetic = len(traces) - len(real)
    base = "-" if baseline is None else f"{found}/{len(failures)}"
    base_traces = "-" if baseline is None else f"{traced}/{len(real)}"
    if cosmetic:
        base_traces += f" (+{cosmetic} cosmetic)"
    check_wall = _seconds(timing.get("check_wall_seconds"))
    walk = _seconds(timing.get("baseline_walk_seconds"))
    base_process = _seconds(timing.get("baseline_wall_seconds"))
    return (
        f"| {project} | {engine} | {report['revisions']} | "
        f"{len(judged)} ({s['errors']}/{s['warnings']}/{s['info']}) | {count['true']} | "
        f"{count['false']} | {count['unverifiable']} | {unjudged} | {false_errors} | {base} | "
        f"{base_traces} | {check_wall} | {walk} | {base_process} |"
    )


def _false_by_class(runs: list[Any], judgements: list[Judgement]) -> list[str]:
    by_class: dict[str, list[str]] = {c: [] for c in FALSE_CLASSES}
    for project, engine, report, _ in runs:
        for finding in report["findings"]:
            j = _judge(judgements, project, engine, finding)
            name = (
                f"{project}/{engine} {finding['severity']}[{finding['check']}] "
                f"{finding.get('revision') or ''}".rstrip()
            )
            if j and j.verdict == "false" and j.false_class:
                by_class[j.false_class].append(name)
            elif j and j.false_part:
                by_class[j.false_part].append(f"{name} (one false line in a true finding)")
    lines = ["## False findings by class", ""]
    for name, items in by_class.items():
        lines.append(f"- **{name}** ({len(items)}): {', '.join(items) if items else 'none'}")
    return [*lines, ""]


def _section(
    project: str,
    engine: str,
    report: dict[str, Any],
    baseline: dict[str, Any] | None,
    judged: list[tuple[dict[str, Any], Judgement | None]],
    failures: list[tuple[dict[str, Any], str]],
    traces: list[tuple[dict[str, Any], str, TraceJudgement | None]],
) -> list[str]:
    skipped = sum(1 for c in report["checks"] if c.get("skipped"))
    lines = [
        f"## {project} on {engine}",
        "",
        f"{report['revisions']} revisions; database: {_server(report['database'])}; "
        f"{skipped} of {len(report['checks'])} revision checks skipped "
        f"(`results/{project}-{engine}.json`).",
        "",
        "| # | finding | verdict | reason |",
        "|---:|---|---|---|",
    ]
    for i, (finding, judgement) in enumerate(judged, 1):
        message = _cell(finding["message"], 400)
        what = (
            f"{finding['severity']}[{finding['check']}] {finding.get('revision') or ''}: {message}"
        )
        if judgement is None:
            verdict, reason = "**unjudged**", ""
        else:
            verdict = judgement.verdict
            if judgement.false_class:
                verdict += f" ({judgement.false_class})"
            if judgement.false_part:
                verdict += f", with a false line ({judgement.false_part})"
            reason = _cell(judgement.reason, 2000)
        lines.append(f"| {i} | {what} | {verdict} | {reason} |")
    lines.append("")
    if baseline is None:
        return [*lines, "No baseline walk for this run.", ""]
    lines += [
        f"Baseline walk: {baseline['steps']} steps, {len(baseline['failures'])} failed, "
        f"{len(baseline['not_reached'])} revisions not reached.",
        "",
    ]
    lines += _drift(report, baseline)
    if failures:
        lines += [
            "| baseline failure | revision | error | reported by check |",
            "|---|---|---|---|",
        ]
        for failure, verdict in failures:
            error = _cell(failure["error"], 300)
            lines.append(
                f"| {failure['step']} ({failure['how']}) | {failure['revision']} | {error} | "
                f"{verdict} |"
            )
        lines.append("")
    if traces:
        lines += [
            "| downgrade leaves a difference (reflected) | verdict | reported as "
            "downgrade-leaves-trace |",
            "|---|---|---|",
        ]
        for trace, verdict, judgement in traces:
            shown = trace["difference"][:8]
            more = len(trace["difference"]) - len(shown)
            text = "<br>".join(_cell(d, 160) for d in shown) + (
                f"<br>(+{more} more)" if more else ""
            )
            which = "real (unjudged)" if judgement is None else judgement.verdict
            if judgement is not None and judgement.reason:
                which += f": {_cell(judgement.reason, 600)}"
            lines.append(f"| **{trace['revision']}**<br>{text} | {which} | {verdict} |")
        lines.append("")
    return lines


def _drift(report: dict[str, Any], baseline: dict[str, Any]) -> list[str]:
    """`alembic check` on a clean database at head, beside the check's model-drift."""
    drift = baseline.get("drift")
    if not drift:
        return []
    finding = next((f for f in report["findings"] if f["check"] == "model-drift"), None)
    reported = "reported model-drift" if finding else "reported no model-drift"
    if "skipped" in drift:
        return [f"`alembic check` at head: not run ({drift['skipped']}); the check {reported}.", ""]
    if "error" in drift:
        return [f"`alembic check` at head could not run: {_cell(drift['error'], 300)}.", ""]
    differences = drift["differences"]
    if not differences:
        return [
            f"`alembic check` at head on a clean database: no difference; the check {reported}.",
            "",
        ]
    shown = "<br>".join(_cell(d, 200) for d in differences[:12])
    more = f"<br>(+{len(differences) - 12} more)" if len(differences) > 12 else ""
    return [
        f"`alembic check` at head on a clean database: {len(differences)} operations; the "
        f"check {reported}.",
        "",
        "| `alembic check` operations |",
        "|---|",
        f"| {shown}{more} |",
        "",
    ]


def _versions(timings: dict[str, Any]) -> list[str]:
    lines = []
    for project, engines in timings.items():
        for data in engines.values():
            if data.get("versions"):
                pins = ", ".join(f"{k} {v}" for k, v in data["versions"].items())
                lines.append(f"- {project}: {pins}")
                break
    return [*lines, ""] if lines else []


def _cell(text: str, limit: int) -> str:
    flat = " ".join(text.split()).replace("|", "\\|")
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _seconds(value: Any) -> str:
    return "-" if value is None else f"{value:.1f} s"


def _read(path: Path) -> Any:
    return json.loads(path.read_text()) if path.exists() else None


def _server(description: str) -> str:
    """The server without what changes from run to run (port, temporary folder)."""
    return description.split(" on ")[0].split(" in /")[0]
