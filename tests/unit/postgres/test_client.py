"""How a backend the idle-connection job lists is described in its summary and logs."""

from __future__ import annotations

from datetime import UTC, datetime

from cdpflow.postgres.client import Backend

AT = datetime(2026, 11, 24, 3, tzinfo=UTC)


def test_a_backend_is_described_with_what_is_known_of_it() -> None:
    full = Backend(
        4242, "app", "psql", "idle in transaction", "client backend", "shop", "10.0.0.7", AT, 5432.6
    )
    assert full.describe() == (
        "pid 4242 user `app` app `psql` db `shop` from 10.0.0.7: idle in transaction for 5,433s"
    )
    bare = Backend(7, "replicator", "", "idle", "walsender", None, None, AT, 61.0)
    assert bare.describe() == "pid 7 user `replicator` db ``: idle for 61s"
