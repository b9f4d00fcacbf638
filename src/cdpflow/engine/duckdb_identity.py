"""The identity graph's heavy reads and writes in DuckDB: edge extraction and table rewrites.

The graph itself is computed in `cdpflow.identity.graph`; this module only moves rows: it reduces
core_events files to the distinct combinations of identifiers seen together, loads the part of
the stored graph a run touches, and writes the identities table's changed rows: as a new delta
(`lake.merge_on_read`), or folded with everything else into a new base.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from cdpflow.engine.duckdb_common import LakeOut, literal
from cdpflow.identity.graph import scipy_components
from cdpflow.identity.prepare import OBSERVATIONS
from cdpflow.identity.schema import IDENTITIES, LINK_ENDS
from cdpflow.lake.merge_on_read import delta_files

if TYPE_CHECKING:
    from cdpflow.engine.duckdb_engine import DuckDBEngine
    from cdpflow.lake.tables import TableStore

CLICK_ID_COLUMNS = ("gclid", "fbclid", "msclkid", "ttclid")
MAP_TYPE_PREFIX = "@map:"  # the job turns `@map:<provider>` into the provider's identifier type


class DuckDBIdentityIO:
    """Identity reads and writes on one DuckDB connection."""

    def __init__(self, engine: DuckDBEngine) -> None:
        self.engine = engine
        self.con = engine.con

    def event_observations(self, files: Sequence[str], click_ids: Sequence[str]) -> pa.Table:
        """Identifiers seen together on events of `files`, one record per distinct combination.

        Events repeat the same few identifiers (a visitor's anonymous_id on every page), so
        grouping first leaves about one record per identifier combination instead of per event.
        """
        if not files:
            return OBSERVATIONS.empty_table()
        clicks = [c for c in click_ids if c in CLICK_ID_COLUMNS]
        ids = [
            ("'anonymous_id'", "anonymous_id"),
            ("'user_id'", "user_id"),
            ("'anonymous_id'", "previous_id"),  # alias: previous_id is the earlier visitor id
            ("'email'", "email"),
            ("'phone'", "phone"),
            (
                f"'{MAP_TYPE_PREFIX}' || coalesce(lower(trim(map_provider)), '')",
                "map_id",
            ),
            *((f"'{c}'", c) for c in clicks),
        ]
        columns = ["anonymous_id", "user_id", "previous_id", "email", "phone", "map_provider"]
        columns += ["map_id", *clicks]
        structs = ", ".join(f"{{'t': {t}, 'v': {v}}}" for t, v in ids)
        sql = f"""
            WITH combos AS (
              SELECT {", ".join(columns)}, 'events:' || coalesce(source, '') AS source,
                     min(event_time) AS first_seen_at, max(event_time) AS last_seen_at
              FROM read_parquet($files, union_by_name = true)
              GROUP BY ALL
            ), numbered AS (
              SELECT row_number() OVER () AS record, unnest([{structs}]) AS id,
                     first_seen_at, last_seen_at, source
              FROM combos
            )
            SELECT record, id.t AS identifier_type, id.v AS identifier_value,
                   first_seen_at, last_seen_at, source
            FROM numbered WHERE id.v IS NOT NULL
        """
        table = self.con.sql(sql, params={"files": list(files)}).to_arrow_table()
        return table.cast(OBSERVATIONS)

    def components(self, left: np.ndarray, right: np.ndarray, n: int) -> tuple[int, np.ndarray]:
        """In process, with scipy: the graph's arrays are already in this process's memory."""
        return scipy_components(left, right, n)

    def load_people(self, tables: TableStore, touched: pa.Table) -> pa.Table:
        """Stored identities of every member of the people `touched` identifiers belong to."""
        if "identities" not in self.engine.register_tables(tables):
            return IDENTITIES.empty_table()
        self.con.register("_touched", touched.select(["identifier_type", "identifier_value"]))
        try:
            members = self.con.sql(
                """
                WITH hit AS (
                  SELECT DISTINCT i.global_user_id
                  FROM identities i JOIN _touched t
                    ON i.identifier_type = t.identifier_type
                   AND i.identifier_value = t.identifier_value
                )
                SELECT i.* FROM identities i SEMI JOIN hit ON i.global_user_id = hit.global_user_id
                """
            ).to_arrow_table()
        finally:
            self.con.unregister("_touched")
        return members.select(IDENTITIES.names).cast(IDENTITIES)

    def load_links(self, tables: TableStore, ends: pa.Table) -> pa.Table:
        """The two ends (LINK_ENDS) of every stored link with an end among the `ends`
        identifiers; a link with both ends there comes twice.

        One scan of identity_edges picks the links with a matching value at either end, then
        the few candidates are matched on type and value.
        """
        if "identity_edges" not in self.engine.register_tables(tables):
            return LINK_ENDS.empty_table()
        self.con.register("_ends", ends.select(["identifier_type", "identifier_value"]))
        try:
            links = self.con.sql(
                """
                WITH scope AS MATERIALIZED (
                  SELECT DISTINCT identifier_type AS t, identifier_value AS v FROM _ends
                ), candidates AS MATERIALIZED (
                  SELECT left_type, left_value, right_type, right_value FROM identity_edges
                  WHERE left_value IN (SELECT v FROM scope) OR right_value IN (SELECT v FROM scope)
                )
                SELECT c.* FROM candidates c
                  SEMI JOIN scope s ON c.left_type = s.t AND c.left_value = s.v
                UNION ALL
                SELECT c.* FROM candidates c
                  SEMI JOIN scope s ON c.right_type = s.t AND c.right_value = s.v
                """
            ).to_arrow_table()
        finally:
            self.con.unregister("_ends")
        return links.cast(LINK_ENDS)

    def write_identities(
        self, tables: TableStore, changed: pa.Table, staged: str, *, keep_old: bool
    ) -> list[tuple[str, int]]:
        """Write the identities table anew as one base under the lake folder `staged`: every
        row readers see now that is not in `changed` (when `keep_old`), plus `changed`. Returns
        (lake path, rows) per file."""
        names = self.engine.register_tables(tables) if keep_old else []
        old = "SELECT * FROM identities" if "identities" in names else None
        return self._write(old, changed, staged)

    def write_identities_delta(
        self, tables: TableStore, changed: pa.Table, staged: str
    ) -> list[tuple[str, int]]:
        """Write the identities table's new delta (see `lake.merge_on_read`) under the lake
        folder `staged`: the stored delta's rows not in `changed`, plus `changed`. Returns
        (lake path, rows) per file."""
        snapshot = tables.current("identities")
        stored = (
            [tables.lake.uri(f"identities/{f.path}") for f in delta_files(snapshot)]
            if snapshot
            else []
        )
        old = None
        if stored:
            listed = ", ".join(literal(u) for u in stored)
            old = f"SELECT * FROM read_parquet([{listed}], union_by_name = true)"
        return self._write(old, changed, staged)

    def _write(self, old: str | None, changed: pa.Table, staged: str) -> list[tuple[str, int]]:
        """Write the rows of the `old` query whose identifier is not in `changed`, and `changed`."""
        out = LakeOut(self.engine.lake, staged, self.engine.settings.work_dir)
        out_dir = out.fresh()
        self.con.register("_changed", changed.select(IDENTITIES.names))
        try:
            select = "SELECT * FROM _changed"
            if old is not None:
                cols = ", ".join(IDENTITIES.names)
                select = f"""
                    SELECT {cols} FROM ({old}) i ANTI JOIN _changed c
                      ON i.identifier_type = c.identifier_type
                     AND i.identifier_value = c.identifier_value
                    UNION ALL {select}"""
            self.con.execute(
                f"COPY ({select}) TO $out (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1, "
                "FILE_SIZE_BYTES '256MB', FILENAME_PATTERN 'part-{uuid}', ROW_GROUP_SIZE 122880)",
                {"out": str(out_dir)},
            )
        finally:
            self.con.unregister("_changed")
        return out.publish_counted(self.con, sorted(out_dir.rglob("*.parquet")))
