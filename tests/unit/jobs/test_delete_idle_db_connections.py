"""Which idle backends delete_idle_db_connections may terminate (the pure part of the job)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cdpflow.jobs.delete_idle_db_connections import skip_reason
from cdpflow.postgres.client import Backend


def backend(user: str = "app", backend_type: str = "client backend") -> Backend:
    at = datetime(2026, 11, 24, tzinfo=UTC)
    return Backend(1, user, "x", "idle", backend_type, "db", None, at, 3600.0)


@pytest.mark.parametrize(
    ("candidate", "others", "replication", "reason"),
    [
        (backend(), False, False, None),
        (backend("other"), False, False, "CDPFLOW_IDLE_INCLUDE_OTHER_USERS is off"),
        (backend("other"), True, False, None),
        (backend(backend_type="walsender"), False, False, "CDPFLOW_IDLE_INCLUDE_REPLICATION"),
        (backend(backend_type="walsender"), False, True, None),
        (backend("other", "walsender"), False, True, "CDPFLOW_IDLE_INCLUDE_OTHER_USERS"),
        (backend(backend_type="autovacuum worker"), True, True, "not a client connection"),
        (backend(backend_type="background worker"), True, True, "not a client connection"),
    ],
)
def test_skip_reason(candidate: Backend, others: bool, replication: bool, reason: str | None):
    why = skip_reason(candidate, "app", include_other_users=others, include_replication=replication)
    if reason is None:
        assert why is None
    else:
        assert why is not None and reason in why
