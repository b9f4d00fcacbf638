"""Which idle backends delete_idle_db_connections may terminate (the pure part of the job), and
what its summary says."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cdpflow.jobs.delete_idle_db_connections import IdleConnectionsResult, skip_reason
from cdpflow.postgres.client import Backend

OTHER_USERS_OFF = "user `other`, not `app`; CDPFLOW_IDLE_INCLUDE_OTHER_USERS is off"
REPLICATION_OFF = "replication connection; CDPFLOW_IDLE_INCLUDE_REPLICATION is off"


def backend(user: str = "app", backend_type: str = "client backend") -> Backend:
    at = datetime(2026, 11, 24, tzinfo=UTC)
    return Backend(1, user, "x", "idle", backend_type, "db", None, at, 3600.0)


@pytest.mark.parametrize(
    ("candidate", "others", "replication", "reason"),
    [
        (backend(), False, False, None),
        (backend("other"), False, False, OTHER_USERS_OFF),
        (backend("other"), True, False, None),
        (backend(backend_type="walsender"), False, False, REPLICATION_OFF),
        (backend(backend_type="walsender"), False, True, None),
        (backend("other", "walsender"), False, True, OTHER_USERS_OFF),
        (
            backend(backend_type="autovacuum worker"),
            True,
            True,
            "a `autovacuum worker` process, not a client connection",
        ),
        (
            backend(backend_type="background worker"),
            True,
            True,
            "a `background worker` process, not a client connection",
        ),
    ],
)
def test_skip_reason(candidate: Backend, others: bool, replication: bool, reason: str | None):
    why = skip_reason(candidate, "app", include_other_users=others, include_replication=replication)
    assert why == reason


def test_the_summary_lists_what_was_or_would_be_terminated_and_why_others_were_not() -> None:
    result = IdleConnectionsResult(
        dry_run=True,
        database="postgresql://app:********@db:5432/shop",
        threshold_seconds=1800.0,
        terminated=[backend()],
        skipped=[(backend("other"), OTHER_USERS_OFF)],
    )
    assert result.summary() == (
        "delete_idle_db_connections: would terminate 1 connection(s) idle over 1,800s on "
        "postgresql://app:********@db:5432/shop; skipped 1.\n"
        "  would terminate pid 1 user `app` app `x` db `db`: idle for 3,600s\n"
        f"  skipped pid 1 user `other` app `x` db `db`: idle for 3,600s ({OTHER_USERS_OFF})"
    )
    not_run = IdleConnectionsResult(not_run="CDPFLOW_IDLE_DB_URL is not set")
    assert not_run.summary() == (
        "delete_idle_db_connections: nothing done: CDPFLOW_IDLE_DB_URL is not set"
    )
