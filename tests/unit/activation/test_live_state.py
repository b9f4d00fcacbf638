"""The live state a sync diffs against: each person's latest row across the destination's files,
the removed left out, and the wide columns read back only for the rows asked for."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pytest

from cdpflow.activation.channel import Member
from cdpflow.activation.live_state import LiveState
from cdpflow.activation.records import STATE, STATE_TABLE, ActivationTables
from cdpflow.lake.storage import Lake


@pytest.fixture
def tables(tmp_path) -> ActivationTables:
    (tmp_path / "lake").mkdir()
    return ActivationTables(Lake(str(tmp_path / "lake")), "d")


def commit(tables: ActivationTables, *rows: tuple[str, str, str]) -> None:
    """One state file of (global_user_id, fingerprint, status) rows; channel_id says which."""
    at = datetime(2026, 12, 1, tzinfo=UTC)
    tables.append(
        STATE_TABLE,
        pa.Table.from_pylist(
            [{"destination": tables.destination, "global_user_id": gid, "identity_hash": f"i-{gid}",
              "channel_id": f"{gid}@{fingerprint}", "fingerprint": fingerprint, "status": status,
              "acknowledged_at": at, "run_id": "r"}
             for gid, fingerprint, status in rows],
            schema=STATE,
        ),
        "add",
    )  # fmt: skip


def test_each_person_is_their_latest_row_and_the_removed_are_left_out(tables):
    commit(tables, ("a", "f1", "member"), ("b", "f1", "member"), ("c", "f1", "failed"))
    commit(tables, ("a", "f2", "member"), ("b", "f1", "removed"), ("d", "f1", "rejected"))
    commit(tables, ("b", "f3", "member"), ("a", "f2", "removed"), ("e", "f1", "member"))
    other = ActivationTables(tables.lake, "other")  # shares the table
    commit(other, ("z", "f1", "member"))

    live = LiveState.read(tables)
    got = {r["global_user_id"]: (r["fingerprint"], r["status"]) for r in live.narrow.to_pylist()}
    assert got == {"b": ("f3", "member"), "c": ("f1", "failed"), "d": ("f1", "rejected"),
                   "e": ("f1", "member")}  # fmt: skip
    assert live.acknowledged == 2

    unchanged = np.array([gid == "e" for gid in live.narrow["global_user_id"].to_pylist()])
    members = live.members_except(unchanged)
    assert members == {
        "b": Member("b", "i-b", "b@f3", "f3", "member"),
        "c": Member("c", "i-c", "c@f1", "f1", "failed"),
        "d": Member("d", "i-d", "d@f1", "f1", "rejected"),
    }
    assert live.members_except(np.ones(live.narrow.num_rows, dtype=bool)) == {}


def test_a_destination_without_state_has_no_members(tables):
    live = LiveState.read(tables)
    assert live.narrow.num_rows == 0 and live.acknowledged == 0
    assert live.members_except(np.zeros(0, dtype=bool)) == {}
