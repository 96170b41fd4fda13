"""Generated test items: one per drill check and revision (``roundtrip[c3d4e5f6a7b8]``),
one per static check (``lint[multiple-heads]``). The drill runs once, when the first of
them runs; each item then reads its own verdict from the report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from alembic_drill.pytest_plugin.session import DrillSession


class DrillCheckFailed(AssertionError):
    """A check failed: the message is the finding, as the CLI prints it."""


class DrillCollector(pytest.Collector):
    def __init__(self, *, drill: DrillSession, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.drill = drill

    def collect(self) -> list[pytest.Item]:
        from alembic_drill._checks import known_checks

        history = self.drill.history
        items: list[pytest.Item] = []
        for check in known_checks().static:
            items.append(
                DrillItem.from_parent(
                    self, name=f"lint[{check}]", check=check, revision=None, static=True
                )
            )
        for check in self.drill.check_plan().drill:
            if check == "model-drift":
                items.append(
                    DrillItem.from_parent(
                        self, name="model-drift", check=check, revision=None, static=False
                    )
                )
                continue
            for revision in history.order:
                items.append(
                    DrillItem.from_parent(
                        self,
                        name=f"{check.removesuffix('-failed')}[{revision}]",
                        check=check,
                        revision=revision,
                        static=False,
                    )
                )
        return items


class DrillItem(pytest.Item):
    def __init__(self, *, check: str, revision: str | None, static: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.check = check
        self.revision = revision
        self.static = static
        self.add_marker("alembic_drill")

    @property
    def drill(self) -> DrillSession:
        assert isinstance(self.parent, DrillCollector)
        return self.parent.drill

    def runtest(self) -> None:
        if self.static:
            findings = [f for f in self.drill.history.findings if f.check == self.check]
            errors = [f for f in findings if f.severity == "error"]
        else:
            report = self.drill.report()
            data = report.to_dict()
            run = next(
                (
                    r
                    for r in data["checks"]
                    if r["check"] == self.check and r["revision"] == self.revision
                ),
                None,
            )
            if run is not None and run["skipped"]:
                pytest.skip(run["skipped"])
            errors = [
                f
                for f in report.findings
                if f.check == self.check and f.revision == self.revision and f.severity == "error"
            ]
        if errors:
            from alembic_drill._format import format_finding

            raise DrillCheckFailed("\n".join(format_finding(f) for f in errors))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, DrillCheckFailed):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        path = Path(self.drill.options.config)
        if self.revision:
            try:
                path = Path(self.drill.history.get(self.revision).path)
            except Exception:
                pass
        return path, None, f"alembic-drill {self.name}"
