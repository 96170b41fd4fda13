"""What a failed step's exception says: one readable line, and what raised it.

Where the error came from decides how sure a finding can be when the step ran on
alembic-drill's synthetic rows: a constraint the revision's DDL put over existing rows
(NOT NULL, UNIQUE, a foreign key, a CHECK) fails on production's rows too, but a value the
database refused (a cast, a length, a JSON document) or an exception of the script's own
Python code (parsing, a lookup) may only be the synthetic rows' doing.
"""

from __future__ import annotations

import re
from typing import Literal

ErrorKind = Literal["constraint", "value", "code", "database"]

#: Top-level modules of DB-API drivers: their exceptions are the database's.
_DRIVERS = {
    "psycopg", "psycopg2", "pg8000", "asyncpg", "pymysql", "MySQLdb", "mysql",
    "aiomysql", "asyncmy", "sqlite3", "aiosqlite", "_sqlite3",
}  # fmt: skip


def describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    # SQLAlchemy appends a link to its error docs: noise in a finding.
    text = re.sub(r"\s*\(Background on this error at: [^)]*\)", "", text)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def kind(exc: BaseException) -> ErrorKind:
    """``constraint``, ``value``, ``database`` or ``code`` (see the module docstring)."""
    statement = ""
    for error in _chain(exc):
        statement = statement or str(getattr(error, "statement", "") or "")
        names = {cls.__name__ for cls in type(error).__mro__}
        from_driver = type(error).__module__.split(".")[0] in _DRIVERS
        from_sqlalchemy = "DBAPIError" in names and type(error).__module__.startswith("sqlalchemy")
        if not (from_driver or from_sqlalchemy):
            continue
        if "IntegrityError" in names or _null_into_not_null(error, statement):
            return "constraint"
        if "DataError" in names or _sqlite_refused_value(error):
            return "value"
        return "database"
    return "code"


#: What SQLite says (as an OperationalError, having no DataError) when a function refuses
#: a value: the same failures PostgreSQL and MySQL raise as data errors.
_SQLITE_VALUE_ERRORS = ("malformed json", "json cannot hold blob", "datatype mismatch")


def _sqlite_refused_value(error: BaseException) -> bool:
    orig = getattr(error, "orig", error)
    if type(orig).__module__.split(".")[0] not in ("sqlite3", "_sqlite3"):
        return False
    text = str(orig).lower()
    return any(pattern in text for pattern in _SQLITE_VALUE_ERRORS)


#: MySQL/MariaDB errors that PyMySQL and mysqlclient raise as DataError but that mean a
#: NOT NULL constraint over rows: column cannot be null, invalid use of NULL, NULL into
#: NOT NULL, no default, primary key cannot hold NULL.
_MYSQL_NULL_ERRORS = {1048, 1138, 1171, 1263, 1364}


def _null_into_not_null(error: BaseException, statement: str) -> bool:
    """Whether a MySQL error reports rows that hold NULL where a NOT NULL constraint now
    stands (MariaDB says "Data truncated" (1265) when ALTER TABLE makes such a column
    NOT NULL)."""
    orig = getattr(error, "orig", error)
    code = orig.args[0] if getattr(orig, "args", None) else None
    if not isinstance(code, int):
        return False
    if code in _MYSQL_NULL_ERRORS:
        return True
    return code == 1265 and bool(
        re.search(r"\bALTER\s+TABLE\b.*\bNOT\s+NULL\b", statement, re.I | re.S)
    )


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and its causes, outermost first."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen
