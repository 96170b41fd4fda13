#!/usr/bin/env bash
# Benchmark: what the Rust core's own steps cost, on real servers. The unit tests check what
# these steps do and never how long they take; the figures come from here:
#
#   - a schema snapshot of 100 tables (keys, a foreign key, a check and an index each), on
#     SQLite, PostgreSQL and MariaDB (src/schema/tests: measure_hundred_tables_snapshot);
#   - seeding 50 chained tables with 3 rows each (src/seed/tests: measure_fifty_tables);
#   - a local server's time to ready, with and without the data folder template, and its
#     stop (src/servers/local/tests.rs: measure_time_to_ready);
#   - reattaching to a kept local server, which the README says takes well under a second
#     (measure_kept_reuse).
#
# Each prints min / median / max (or one line per run) on stderr. PostgreSQL and MariaDB
# come from the installed binaries (or ALEMBIC_DRILL_TEST_PG_URL / _MYSQL_URL).
#
#   bash bench/core.sh [FILTER]     # FILTER: a test name part, default every measure_
set -euo pipefail
cd "$(dirname "$0")/.."
filter="${1:-measure_}"
# Release: the figures are for the code users run. One test at a time: they time servers.
# A figure may follow the harness's "test name ... " on the same line: keep only the figure.
cargo test --release --lib "$filter" -- --ignored --nocapture --test-threads=1 2>&1 |
    grep -oE '(sqlite|mysql|postgres|postgresql|mariadb): .*' || {
    echo "bench/core.sh: no measure ran (filter: $filter)" >&2
    exit 1
}
