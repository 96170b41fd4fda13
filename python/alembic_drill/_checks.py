"""Which checks a run performs, decided in one place from the check ids the native core
knows: the ``checks`` and ``skip`` settings, the flags that override them, and the pytest
plugin's ``pytest_alembic_drill_modify_checks`` hook. An id the core does not know is an
error that names it and the valid ones: a typo must never silently turn a check off."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from alembic_drill import _core
from alembic_drill._core import ConfigError


@dataclass(frozen=True)
class KnownChecks:
    #: Checks that need a database, in the order a walk performs them.
    drill: tuple[str, ...]
    #: Checks of the revision graph and scripts (``lint``).
    static: tuple[str, ...]


@functools.cache
def known_checks() -> KnownChecks:
    """The check ids of the native core. The only place that reads them."""
    return KnownChecks(
        drill=tuple(c.id for c in _core.CHECKS if c.kind == "drill"),
        static=tuple(c.id for c in _core.CHECKS if c.kind == "static"),
    )


@dataclass(frozen=True)
class CheckPlan:
    """The checks one run performs."""

    #: Drill checks to run, in the order they were asked for.
    drill: tuple[str, ...]
    #: Static checks whose findings the report leaves out.
    skip_static: tuple[str, ...] = ()

    def with_drill(self, checks: Iterable[str], where: str) -> CheckPlan:
        """This plan running ``checks`` instead (what a hook made of :attr:`drill`)."""
        return CheckPlan(parse_check_ids(list(checks), "checks", where), self.skip_static)

    def core_options(self) -> _core.DrillOptions:
        """The plan as the native drill reads it."""
        return {"checks": list(self.drill), "skip_findings": sorted(self.skip_static)}


def select_checks(checks: Iterable[str], skip: Iterable[str]) -> CheckPlan:
    """The plan that runs ``checks`` but not ``skip`` (ids :func:`parse_check_ids` read)."""
    known = known_checks()
    skipped = set(skip)
    return CheckPlan(
        drill=tuple(dict.fromkeys(c for c in checks if c not in skipped and c in known.drill)),
        skip_static=tuple(c for c in known.static if c in skipped),
    )


def parse_check_ids(value: Any, key: str, where: str) -> tuple[str, ...]:
    """Check ids from a setting, a flag or a hook: a list, or one comma-separated string.
    ``checks`` names drill checks; ``skip`` may also name static ones."""
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: {key} must be a list of check ids")
    known = known_checks()
    allowed = known.drill if key == "checks" else known.drill + known.static
    unknown = [v for v in value if v not in allowed]
    if unknown:
        raise ConfigError(
            f"{where}: unknown check(s) {', '.join(unknown)}; known: {', '.join(allowed)}"
        )
    return tuple(value)
