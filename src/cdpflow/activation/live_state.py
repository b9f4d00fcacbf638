"""Each person's latest activation_state row, read by DuckDB from the destination's Parquet files.

Why not whole, in Arrow: a member's `channel_id` can be wide (Meta keeps the row of eight hashes
it added, 530 bytes), and a day-to-day run needs it only for the few people it removes, updates
or retries. Decoding that column for a million members and copying it into Python cost more than
the rest of the diff. So the state is read narrow (global_user_id, fingerprint, status and where
the row is: file and row number), and the other columns only of the rows a run asks for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cdpflow.activation.channel import Member
from cdpflow.activation.records import STATE_TABLE, ActivationTables

NARROW = pa.schema(
    [
        ("global_user_id", pa.string()),
        ("fingerprint", pa.string()),
        ("status", pa.string()),
        ("file", pa.int32()),
        ("row", pa.int64()),
    ]
)
WIDE = ("global_user_id", "identity_hash", "channel_id", "fingerprint", "status")


@dataclass
class LiveState:
    """The destination's live members (latest row not `removed`): `narrow` has one row each."""

    narrow: pa.Table  # NARROW, in commit order
    uris: list[str]  # the state files, in commit order (`file` indexes this)
    tables: ActivationTables

    @classmethod
    def read(cls, tables: ActivationTables) -> LiveState:
        uris = tables.uris(STATE_TABLE)
        if not uris:
            return cls(NARROW.empty_table(), [], tables)
        from cdpflow.engine.duckdb_activation import latest_live_rows  # not at DAG parse

        narrow = latest_live_rows(tables.lake, uris).cast(NARROW)
        return cls(narrow, uris, tables)

    @property
    def acknowledged(self) -> int:
        """How many of them the channel holds (status `member`)."""
        return int(pc.sum(pc.equal(self.narrow["status"], "member")).as_py() or 0)

    def members_except(self, unchanged: np.ndarray) -> dict[str, Member]:
        """The live members, as Members, but for the `unchanged` (a mask over `narrow`): only
        their rows' other columns are read."""
        wanted = self.narrow.select(["file", "row"]).filter(pa.array(~unchanged))
        if not wanted.num_rows:
            return {}
        from cdpflow.engine.duckdb_activation import rows_at

        found = rows_at(self.tables.lake, self.uris, wanted, WIDE)
        return members_of(found)


def members_of(rows: pa.Table) -> dict[str, Member]:
    return {
        gid: Member(gid, identity, channel_id or "", fingerprint, status)
        for gid, identity, channel_id, fingerprint, status in zip(
            *(rows[name].to_pylist() for name in WIDE), strict=True
        )
    }
