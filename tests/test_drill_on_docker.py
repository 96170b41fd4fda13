"""Every drill check, once more on a container per engine (`docker:` PostgreSQL and
MariaDB): the same tests as test_drill_checks.py, whose `server` fixture this module
replaces. Containers differ from local servers in what matters here: the image's
configuration, the port mapping, and a password on every connection."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from servers_support import MARIADB_IMAGE, PG_IMAGE, need_image

# Collected again in this module, with the `server` fixture below.
from test_drill_checks import (  # noqa: F401
    test_data_dependent_failure,
    test_downgrade_failed,
    test_downgrade_leaves_a_column_behind,
    test_healthy_branched_and_merged_history_is_clean,
    test_healthy_linear_history_is_clean,
    test_irreversible_and_oldest_downgrade_are_info,
    test_model_drift,
    test_not_idempotent,
    test_roundtrip_failed_and_trace,
    test_rows_age_with_the_history,
    test_skips_are_reported_with_reasons,
    test_upgrade_failed_stops_the_branch,
)

from alembic_drill import Server

DOCKER_ENGINES = [f"docker:{PG_IMAGE}", f"docker:{MARIADB_IMAGE}"]


@pytest.fixture(scope="module", params=DOCKER_ENGINES)
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    need_image(request.param.removeprefix("docker:"))
    with Server(request.param) as started:
        assert started.spec == request.param
        yield started
