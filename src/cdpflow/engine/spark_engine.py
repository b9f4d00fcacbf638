"""The Spark engine: events_incremental, id_stitching_incremental and compression on Apache
Spark, same lake.

What runs on Spark in this release: events_incremental's read, flatten, dedup and writes
(`spark_events`, `spark_sql`), the identity graph's reads, connected components and writes
(`spark_identity`), and compression's sorted rewrite. The few lookups jobs make (`query`) and
derived views run on an embedded DuckDB engine the Spark engine holds; cleanup_temp_tables
needs no engine. Spark writes the lake's layout exactly: Parquet with
timestamps as UTC microseconds, files published through the same snapshots.

One SparkSession serves the whole process (starting a JVM takes seconds), so closing the engine
leaves it running for the next job of the same process.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import shutil
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from cdpflow.errors import ConfigError
from cdpflow.lake.storage import Lake
from cdpflow.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from cdpflow.engine import EventsBatch
    from cdpflow.engine.duckdb_engine import DuckDBEngine
    from cdpflow.engine.spark_identity import SparkIdentityIO
    from cdpflow.lake.raw_reader import RawFile
    from cdpflow.lake.tables import TableStore
    from cdpflow.lake.views import ViewFile

# Settings every session gets: the lake's timestamp convention and a quiet, local footprint.
# CDPFLOW_SPARK_CONF overrides any of them.
BASE_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.parquet.compression.codec": "zstd",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.adaptive.enabled": "true",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
}


def require_spark() -> None:
    """Fail at load, naming what to install, when PySpark or Java is missing."""
    if importlib.util.find_spec("pyspark") is None:
        raise ConfigError(
            "CDPFLOW_ENGINE", "spark", "PySpark installed: pip install 'cdpflow[spark]'"
        )
    java_home = os.environ.get("JAVA_HOME")
    java = shutil.which("java") or (
        java_home and os.access(os.path.join(java_home, "bin", "java"), os.X_OK)
    )
    if not java:
        raise ConfigError(
            "CDPFLOW_ENGINE",
            "spark",
            "Java 17 on PATH or in JAVA_HOME (Debian: apt-get install openjdk-17-jre-headless)",
        )


def spark_session(settings: Settings) -> SparkSession:
    """The process's SparkSession for these settings (created on first use)."""
    require_spark()
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("cdpflow")
    if settings.spark_master:  # empty under spark-submit, which sets the master itself
        builder = builder.master(settings.spark_master)
    local_dir = settings.work_dir / "spark"
    local_dir.mkdir(parents=True, exist_ok=True)
    conf = {**BASE_CONF, "spark.local.dir": str(local_dir), **settings.spark_conf}
    if settings.spark_master.startswith("local") and not os.environ.get("PYSPARK_PYTHON"):
        # the executors' Python workers run cdpflow's code: on this machine, this interpreter
        # (Spark's default, `python3` on PATH, may be one without cdpflow); on a cluster the
        # executors' Python is the deployment's PYSPARK_PYTHON. PySpark reads it from the
        # environment when the context starts (the spark.pyspark.python conf is spark-submit's)
        os.environ["PYSPARK_PYTHON"] = sys.executable
    for key, value in conf.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    # py4j says at INFO each time a connection to the JVM opens or closes, even at interpreter
    # exit from its objects' finalizers: not a job's news
    logging.getLogger("py4j").setLevel(logging.WARNING)
    return session


def written_files(lake: Lake, staged: str) -> list[tuple[str, int]]:
    """(lake path, rows) of the non-empty Parquet files Spark wrote under the lake folder
    `staged` (the empty ones are removed)."""
    files = []
    for rel, _ in lake.walk_files(staged):
        if not rel.endswith(".parquet"):  # Spark's _SUCCESS and checksum files
            continue
        with lake.open(rel) as handle:
            rows = pq.ParquetFile(handle).metadata.num_rows
        if rows:
            files.append((rel, rows))
        else:
            lake.remove(rel)
    return files


class SparkEngine:
    name = "spark"

    def __init__(self, settings: Settings, lake: Lake) -> None:
        self.settings = settings
        self.lake = lake
        self.spark = spark_session(settings)
        self._duckdb: DuckDBEngine | None = None

    @property
    def duckdb(self) -> DuckDBEngine:
        """The embedded engine of the work not yet on Spark (see the module docstring)."""
        if self._duckdb is None:
            from cdpflow.engine.duckdb_engine import DuckDBEngine

            self._duckdb = DuckDBEngine(self.settings, self.lake)
        return self._duckdb

    def close(self) -> None:
        if self._duckdb is not None:
            self._duckdb.close()
            self._duckdb = None

    def identity(self) -> SparkIdentityIO:
        from cdpflow.engine.spark_identity import SparkIdentityIO

        return SparkIdentityIO(self)

    def read(self, uris: Sequence[str]) -> DataFrame:
        return self.spark.read.option("mergeSchema", "true").parquet(*uris)

    def arrow_frame(self, table: pa.Table) -> DataFrame:
        return self.spark.createDataFrame(table)

    def events_batches(self, groups: Sequence[Sequence[RawFile]]) -> Iterator[EventsBatch]:
        from cdpflow.engine.spark_events import events_batches

        return events_batches(self, groups)

    def rewrite_sorted(
        self, uris: Sequence[str], order_by: str, staged: str, target_file_bytes: int
    ) -> list[tuple[str, int]]:
        """Range-partition the rows by `order_by` into about one file per `target_file_bytes`
        of input, each file sorted: the files' order is the rows' order, as DuckDB's. The
        executors write into the lake folder `staged` themselves."""
        self.lake.remove(staged)
        size = sum(self.lake.fs.size(u) for u in uris)
        n_files = max(1, math.ceil(size / max(1, target_file_bytes)))
        frame = self.read(uris)
        frame = frame.repartitionByRange(n_files, order_by) if n_files > 1 else frame.coalesce(1)
        frame.sortWithinPartitions(order_by).write.parquet(self.lake.uri(staged))
        return written_files(self.lake, staged)

    def query(self, sql: str, tables: TableStore) -> pa.Table:
        return self.duckdb.query(sql, tables)

    def check_views(
        self, tables: TableStore, views: Sequence[ViewFile]
    ) -> tuple[list[str], dict[str, str]]:
        return self.duckdb.check_views(tables, views)
