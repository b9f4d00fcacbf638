"""Each person's latest activation_state row, read by DuckDB from the destination's Parquet files.

Why not whole, in Arrow: a member's `channel_id` can be wide (Meta keeps the row of eight hashes
it added, 530 bytes), and a day-to-day run needs it only for the few people it removes, updates
or retries. Decoding that column for a million members and copying it into Python cost more than
the rest of the diff. So the state is read narrow (global_user_id, fingerprint, status and where
the row is: file and row number), and the other columns only of the rows a run asks for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cdpflow.activation.channel import Member
from cdpflow.activation.records import STATE_TABLE, ActivationTables

if TYPE_CHECKING:
    import duckdb

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
        rows = " UNION ALL ".join(
            f"SELECT {i}::INTEGER AS file, file_row_number AS row, global_user_id, fingerprint, "
            f"status FROM read_parquet({_literal(uri)}, file_row_number = true)"
            for i, uri in enumerate(uris)
        )
        sql = f"""
            SELECT global_user_id, fingerprint, status, file, row FROM (
                SELECT * FROM ({rows})
                QUALIFY row_number() OVER (PARTITION BY global_user_id ORDER BY file DESC,
                                                                          row DESC) = 1
            ) WHERE status <> 'removed' ORDER BY file, row
        """
        with _connect(tables) as con:
            narrow = con.sql(sql).to_arrow_table().cast(NARROW)
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
        files = np.unique(wanted["file"].to_numpy())
        rows = " UNION ALL ".join(
            f"SELECT {', '.join(WIDE)} FROM read_parquet({_literal(self.uris[i])}, "
            f"file_row_number = true) WHERE file_row_number IN "
            f"(SELECT row FROM wanted WHERE file = {int(i)})"
            for i in files
        )
        with _connect(self.tables) as con:
            con.register("wanted", wanted)
            found = con.sql(rows).to_arrow_table()
        return members_of(found)


def members_of(rows: pa.Table) -> dict[str, Member]:
    return {
        gid: Member(gid, identity, channel_id or "", fingerprint, status)
        for gid, identity, channel_id, fingerprint, status in zip(
            *(rows[name].to_pylist() for name in WIDE), strict=True
        )
    }


def _connect(tables: ActivationTables) -> duckdb.DuckDBPyConnection:
    import duckdb  # here, not at import: DAG files import this package while Airflow parses

    con = duckdb.connect()
    if not tables.lake.is_local:
        con.register_filesystem(tables.lake.fs)
    return con


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
