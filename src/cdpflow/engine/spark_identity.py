"""The identity graph's heavy reads and writes on Spark, and its connected components.

The same contract as `duckdb_identity`: core_events files reduced to one record per distinct
combination of identifiers, the touched part of the stored graph loaded, identities written as
a new delta or a new base. Components are found with the large-star / small-star algorithm
(Kiveris et al., "Connected Components in MapReduce and Beyond", 2014) on DataFrames: it needs
O(log n) rounds of joins and aggregations and never holds a component on one machine.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from cdpflow.engine.spark_engine import written_files
from cdpflow.identity.prepare import OBSERVATIONS
from cdpflow.identity.schema import IDENTITIES, LINK_ENDS
from cdpflow.identity.store import EDGES_TABLE, IDENTITIES_TABLE, IDENTITY_KEY
from cdpflow.lake.merge_on_read import base_files, delta_files

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from cdpflow.engine.spark_engine import SparkEngine
    from cdpflow.lake.tables import TableStore

CLICK_ID_COLUMNS = ("gclid", "fbclid", "msclkid", "ttclid")
MAP_TYPE_PREFIX = "@map:"  # the job turns `@map:<provider>` into the provider's identifier type


def large_star_small_star(edges: DataFrame) -> DataFrame:
    """(node, label) of every node on `edges` (columns a, b: bigint), the label being the
    smallest node of its component.

    Large-star links every node to the smallest of its neighbourhood, for its larger
    neighbours; small-star does the same for its smaller ones. Alternated until an edge set
    repeats, every component is a star around its smallest node.
    """
    from pyspark.sql import functions as F

    def least_of_neighbourhood(e: DataFrame) -> DataFrame:
        return e.groupBy("a").agg(F.least(F.min("b"), F.col("a")).alias("m"))

    def large_star(e: DataFrame) -> DataFrame:
        both = e.union(e.select(F.col("b").alias("a"), F.col("a").alias("b")))
        m = least_of_neighbourhood(both)
        return (
            both.join(m, "a").where(F.col("b") > F.col("a"))
            .select(F.col("b").alias("a"), F.col("m").alias("b")).distinct()
        )  # fmt: skip

    def small_star(e: DataFrame) -> DataFrame:
        down = e.select(F.greatest("a", "b").alias("a"), F.least("a", "b").alias("b"))
        m = least_of_neighbourhood(down)
        joined = down.join(m, "a")
        emitted = joined.select(F.col("b").alias("a"), F.col("m").alias("b")).union(
            joined.select(F.col("a"), F.col("m").alias("b"))
        )
        return emitted.where(F.col("a") != F.col("b")).distinct()

    current = edges.where(F.col("a") != F.col("b")).distinct().localCheckpoint()
    while True:
        following = small_star(large_star(current)).localCheckpoint()
        if following.exceptAll(current).isEmpty() and current.exceptAll(following).isEmpty():
            break
        current = following
    # A star around its smallest node: every edge is (member, smallest) with member > smallest.
    oriented = current.select(F.greatest("a", "b").alias("node"), F.least("a", "b").alias("l"))
    members = oriented.groupBy("node").agg(F.min("l").alias("label"))
    centres = members.select(F.col("label").alias("node"), F.col("label")).distinct()
    return members.unionByName(centres).groupBy("node").agg(F.min("label").alias("label"))


class SparkIdentityIO:
    """Identity reads and writes on the engine's SparkSession."""

    def __init__(self, engine: SparkEngine) -> None:
        self.engine = engine
        self.spark = engine.spark

    def components(self, left: np.ndarray, right: np.ndarray, n: int) -> tuple[int, np.ndarray]:
        """Components of the links by large-star / small-star; nodes on no link are alone."""
        labels = np.arange(n, dtype=np.int64)
        if len(left):
            links = pa.table({"a": pa.array(left, pa.int64()), "b": pa.array(right, pa.int64())})
            found = large_star_small_star(self.engine.arrow_frame(links)).toArrow()
            nodes = found["node"].to_numpy()
            labels[nodes] = found["label"].to_numpy()
        unique, compact = np.unique(labels, return_inverse=True)
        return len(unique), compact.astype(np.int64)

    def event_observations(self, files: Sequence[str], click_ids: Sequence[str]) -> pa.Table:
        """Identifiers seen together on events of `files`, one record per distinct combination."""
        from pyspark.sql import functions as F

        if not files:
            return OBSERVATIONS.empty_table()
        clicks = [c for c in click_ids if c in CLICK_ID_COLUMNS]
        columns = ["anonymous_id", "user_id", "previous_id", "email", "phone", "map_provider"]
        columns += ["map_id", *clicks]
        events = self.engine.read(files)
        combos = events.groupBy(
            *columns, F.concat(F.lit("events:"), F.coalesce("source", F.lit(""))).alias("source")
        ).agg(F.min("event_time").alias("first_seen_at"), F.max("event_time").alias("last_seen_at"))
        map_type = F.concat(
            F.lit(MAP_TYPE_PREFIX), F.coalesce(F.lower(F.trim("map_provider")), F.lit(""))
        )
        ids = [
            (F.lit("anonymous_id"), "anonymous_id"),
            (F.lit("user_id"), "user_id"),
            (F.lit("anonymous_id"), "previous_id"),  # alias: previous_id is the earlier visitor id
            (F.lit("email"), "email"),
            (F.lit("phone"), "phone"),
            (map_type, "map_id"),
            *((F.lit(c), c) for c in clicks),
        ]
        structs = F.array(*(F.struct(t.alias("t"), F.col(v).alias("v")) for t, v in ids))
        # Numbered before the explode: in the explode's own projection every exploded row
        # would get its own number, and no identifiers would be seen together.
        numbered = combos.withColumn("record", F.monotonically_increasing_id()).select(
            "record",
            F.explode(structs).alias("id"),
            "first_seen_at",
            "last_seen_at",
            "source",
        )
        table = (
            numbered.where(F.col("id.v").isNotNull())
            .select(
                "record",
                F.col("id.t").alias("identifier_type"),
                F.col("id.v").alias("identifier_value"),
                "first_seen_at",
                "last_seen_at",
                "source",
            )
            .toArrow()
        )
        return table.cast(OBSERVATIONS)

    def _table(self, tables: TableStore, name: str) -> DataFrame | None:
        """The rows readers see of lake table `name` (a delta supersedes the base by key)."""
        snapshot = tables.current(name)
        if snapshot is None or not snapshot.files:
            return None

        def read(files: Sequence[object]) -> DataFrame:
            uris = [tables.lake.uri(f"{name}/{f.path}") for f in files]  # type: ignore[attr-defined]
            return self.engine.read(uris)

        delta = delta_files(snapshot)
        if not delta:
            return read(snapshot.files)
        merged = read(delta)
        base = base_files(snapshot)
        if base:
            key = list(snapshot.properties.get("merge_key", IDENTITY_KEY))
            kept = read(base).join(merged.select(*key), key, "left_anti")
            merged = merged.unionByName(kept.select(*merged.columns))
        return merged

    def load_people(self, tables: TableStore, touched: pa.Table) -> pa.Table:
        """Stored identities of every member of the people `touched` identifiers belong to."""
        identities = self._table(tables, IDENTITIES_TABLE)
        if identities is None:
            return IDENTITIES.empty_table()
        hit = self.engine.arrow_frame(touched.select(list(IDENTITY_KEY)))
        people = identities.join(hit, list(IDENTITY_KEY), "left_semi").select("global_user_id")
        members = identities.join(people.distinct(), "global_user_id", "left_semi")
        return members.select(*IDENTITIES.names).toArrow().cast(IDENTITIES)

    def load_links(self, tables: TableStore, ends: pa.Table) -> pa.Table:
        """The two ends (LINK_ENDS) of every stored link with an end among the `ends`
        identifiers; a link with both ends there comes twice."""
        from pyspark.sql import functions as F

        edges = self._table(tables, EDGES_TABLE)
        if edges is None:
            return LINK_ENDS.empty_table()
        scope = self.engine.arrow_frame(ends.select(list(IDENTITY_KEY))).distinct()
        links = edges.select(*LINK_ENDS.names)
        sides = []
        for side in ("left", "right"):
            named = scope.select(
                F.col("identifier_type").alias(f"{side}_type"),
                F.col("identifier_value").alias(f"{side}_value"),
            )
            sides.append(links.join(named, [f"{side}_type", f"{side}_value"], "left_semi"))
        return sides[0].unionAll(sides[1]).select(*LINK_ENDS.names).toArrow().cast(LINK_ENDS)

    def write_identities(
        self, tables: TableStore, changed: pa.Table, staged: str, *, keep_old: bool
    ) -> list[tuple[str, int]]:
        """Write the identities table anew as one base: every row readers see now not in
        `changed` (when `keep_old`), plus `changed`."""
        old = self._table(tables, IDENTITIES_TABLE) if keep_old else None
        return self._write(old, changed, staged)

    def write_identities_delta(
        self, tables: TableStore, changed: pa.Table, staged: str
    ) -> list[tuple[str, int]]:
        """Write identities' new delta: the stored delta's rows not in `changed`, plus
        `changed`."""
        snapshot = tables.current(IDENTITIES_TABLE)
        stored = [
            tables.lake.uri(f"{IDENTITIES_TABLE}/{f.path}")
            for f in (delta_files(snapshot) if snapshot else ())
        ]
        return self._write(self.engine.read(stored) if stored else None, changed, staged)

    def _write(
        self, old: DataFrame | None, changed: pa.Table, staged: str
    ) -> list[tuple[str, int]]:
        """Write into the lake folder `staged` (the executors themselves)."""
        lake = self.engine.lake
        lake.remove(staged)
        new = self.engine.arrow_frame(changed.select(IDENTITIES.names).cast(IDENTITIES))
        rows = new
        if old is not None:
            kept = old.join(new.select(*IDENTITY_KEY), list(IDENTITY_KEY), "left_anti")
            rows = kept.select(*IDENTITIES.names).unionByName(new)
        rows.write.parquet(lake.uri(staged))
        return written_files(lake, staged)
