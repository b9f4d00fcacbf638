"""events_incremental's heavy work on Spark: raw hours read, flattened (`spark_sql`),
deduplicated and written per (partition, run of raw hours), as `duckdb_events_batches` does on
DuckDB.

The executors read the raw files themselves with the project's reader (`read_line_chunks`: the
same line numbers and gzip handling as DuckDB's workers), so the lines never pass through the
driver; a lake only this process can see (an in-memory one) is read in the driver instead. A
group's flattened rows are written once to scratch Parquet in the lake's `_staging/` (which a
cluster's executors can write, as they cannot the driver's disk), which the counts, the dedup and
the final files all read.

A line whose content makes the flatten fail (an overflow, a Python function that cannot take
it) is found as DuckDB finds it: the group's lines are flattened again in halves, down to that
line, which is quarantined as `unprocessable` with the error quoted; every other line is kept.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from cdpflow.engine import EventsOutput, FlattenCounts, StagedFile
from cdpflow.engine.spark_engine import written_files
from cdpflow.engine.spark_python import scrub_write_keys
from cdpflow.engine.spark_sql import flatten_frame, unprocessable_frame
from cdpflow.events import schema as events_schema
from cdpflow.events.schema import CORE_EVENTS_COLUMNS, QUARANTINE_COLUMNS
from cdpflow.lake.raw_reader import LINES_SCHEMA, RawFile, read_line_chunks
from cdpflow.lake.storage import staging_dir

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame

    from cdpflow.engine.spark_engine import SparkEngine

_SPARK_LINES = "raw_hour string, raw_file string, line_no bigint, line string"
_RECEIVED_DATE = "coalesce(to_date(received_at), to_date(left(raw_hour, 10)))"
_QUARANTINE_ROW = [
    {"quarantined_at": "current_timestamp()", "received_date": _RECEIVED_DATE}.get(name, name)
    + f" AS {name}"
    for name, _ in QUARANTINE_COLUMNS
]
_CORE_ROW = [name for name, _ in CORE_EVENTS_COLUMNS]


def content_errors() -> tuple[type[Exception], ...]:
    """Errors a flatten raises because of a line's content (ANSI arithmetic, a value no cast
    or date function takes, a Python function of the flatten that cannot take a value), not
    because of the cluster or the statement: the line is quarantined as unprocessable."""
    from pyspark import errors

    return (
        errors.ArithmeticException,
        errors.ArrayIndexOutOfBoundsException,
        errors.DateTimeException,
        errors.NumberFormatException,
        errors.PythonException,
    )


def error_detail(err: Exception) -> str:
    """What quarantine quotes of `err`: its message's first line, or for an error raised in a
    Python function, the exception its traceback ends with."""
    text = str(err)
    params = getattr(err, "getMessageParameters", lambda: None)() or {}
    if params.get("traceback"):
        text = params["traceback"].strip().splitlines()[-1]
    return text.strip().splitlines()[0][:300] if text.strip() else type(err).__name__


def _read_files(
    lake_url: str, chunk_bytes: int, batches: Iterator[pa.RecordBatch]
) -> Iterator[pa.RecordBatch]:
    """An executor's share of raw files (path, hour, size rows) as line batches."""
    from cdpflow.lake.storage import Lake

    lake = Lake(lake_url)
    for batch in batches:
        rows = batch.to_pylist()
        files = [RawFile(r["path"], r["hour"], r["size"]) for r in rows]
        for table, _ in read_line_chunks(lake, files, chunk_bytes):
            yield from table.to_batches()


class SparkEventsBatch:
    """One group of raw hours, flattened by Spark into scratch Parquet, then written. The
    scratch is a folder of the lake's `_staging/` (lake-relative), which the executors of a
    cluster can write, as they cannot the driver's disk."""

    def __init__(self, engine: SparkEngine, files: Sequence[RawFile], scratch: str) -> None:
        self.engine = engine
        self.spark = engine.spark
        self.files = list(files)
        self.scratch = scratch
        self._flat: DataFrame | None = None
        self._counts: FlattenCounts | None = None

    def _lines(self) -> DataFrame:
        settings, lake = self.engine.settings, self.engine.lake
        if lake.fs.protocol in ("memory", ("memory",)):  # only this process sees the lake
            tables = [t for t, _ in read_line_chunks(lake, self.files, settings.chunk_bytes)]
            import pyarrow as pa

            table = pa.concat_tables(tables) if tables else LINES_SCHEMA.empty_table()
            return self.spark.createDataFrame(table.to_pandas(), _SPARK_LINES)
        listed = [(f.path, f.hour, f.size) for f in self.files]
        # the largest files first, so the partitions are even
        listed.sort(key=lambda f: -f[2])
        tasks = max(1, min(len(listed), self.spark.sparkContext.defaultParallelism))
        frame = self.spark.createDataFrame(listed, "path string, hour string, size bigint")
        url, chunk = lake.url, settings.chunk_bytes
        return frame.repartition(tasks).mapInArrow(
            lambda batches: _read_files(url, chunk, batches), _SPARK_LINES
        )

    def _flattened_frame(self) -> DataFrame:
        if self._flat is None:
            path = f"{self.scratch}/flat"
            try:
                self._flatten_into(self._lines(), f"{path}/all")
                parts = [f"{path}/all"]
            except content_errors():
                parts = self._flatten_isolating(path)
            self._flat = self.spark.read.parquet(*(self.engine.lake.uri(p) for p in parts))
        return self._flat

    def _flatten_into(self, lines: DataFrame, path: str) -> None:
        """The flattened rows of `lines` as Parquet in the lake folder `path` (a failed write
        leaves none)."""
        flat, parsed = flatten_frame(lines, self.engine.settings.max_event_bytes)
        try:
            scrub_write_keys(flat).write.mode("overwrite").parquet(self.engine.lake.uri(path))
        finally:
            parsed.unpersist()

    def _flatten_isolating(self, path: str) -> list[str]:
        """The group flattened again in halves (as duckdb_events' workers do), each half that
        fails split again, down to single lines, which are quarantined; the parts written."""
        from pyspark.sql import functions as F

        numbered = self.engine.lake.uri(f"{self.scratch}/lines")
        self._lines().withColumn("_seq", F.monotonically_increasing_id()).write.mode(
            "overwrite"
        ).parquet(numbered)
        lines = self.spark.read.parquet(numbered)
        seqs = [r._seq for r in lines.select("_seq").orderBy("_seq").collect()]
        parts: list[str] = []
        # the whole group failed already: start from its halves
        pending = [(0, len(seqs) // 2), (len(seqs) // 2, len(seqs))]
        while pending:
            low, high = pending.pop(0)
            if low >= high:
                continue
            chosen = lines.where(f"_seq BETWEEN {seqs[low]} AND {seqs[high - 1]}").drop("_seq")
            part = f"{path}/part-{len(parts)}"
            try:
                self._flatten_into(chosen, part)
                parts.append(part)
            except content_errors() as err:
                if high - low > 1:
                    middle = (low + high) // 2
                    pending[:0] = [(low, middle), (middle, high)]
                    continue
                reason = f"the line could not be flattened: {error_detail(err)}"
                unprocessable_frame(chosen, reason).write.mode("overwrite").parquet(
                    self.engine.lake.uri(part)
                )
                parts.append(part)
        return parts

    def flattened(self) -> FlattenCounts:
        if self._counts is None:
            flat = self._flattened_frame()
            (row,) = flat.selectExpr(
                "count(*) - count(reason_code) AS events", "count(reason_code) AS quarantined"
            ).collect()
            self._counts = FlattenCounts(events=int(row.events), quarantined=int(row.quarantined))
        return self._counts

    def event_date_range(self) -> tuple[str, str] | None:
        (row,) = (
            self._flattened_frame()
            .where("reason_code IS NULL")
            .selectExpr(
                "CAST(min(event_date) AS STRING) AS low", "CAST(max(event_date) AS STRING) AS high"
            )
            .collect()
        )
        return None if row.low is None else (row.low, row.high)

    def write(self, existing_event_files: Sequence[str], staged: str) -> EventsOutput:
        """The earliest received copy of each event wins, and none already in
        `existing_event_files`; one file per (partition, run of raw hours)."""
        from pyspark.sql import functions as F
        from pyspark.sql.window import Window

        flat = self._flattened_frame()
        events = flat.where("reason_code IS NULL")
        order = Window.partitionBy("event_id").orderBy(
            F.col("received_at").asc_nulls_last(), "raw_hour", "raw_file", "line_no", "item_index"
        )
        events = events.withColumn("_copy", F.row_number().over(order)).where("_copy = 1")
        if existing_event_files:
            stored = self.engine.read(existing_event_files).select("event_id").distinct()
            events = events.join(stored, "event_id", "left_anti")
        output = EventsOutput()
        output.events = self._write_per_owner(
            events, _CORE_ROW, "event_date", "event_date", f"{staged}/events"
        )
        quarantined = flat.where("reason_code IS NOT NULL").selectExpr("raw_hour", *_QUARANTINE_ROW)
        output.quarantine = self._write_per_owner(
            quarantined,
            [n for n, _ in QUARANTINE_COLUMNS],
            "received_date",
            "received_date",
            f"{staged}/quarantine",
        )
        output.duplicates = self.flattened().events - sum(f.rows for f in output.events)
        return output

    def _write_per_owner(
        self, rows: DataFrame, columns: list[str], name: str, expression: str, staged: str
    ) -> list[StagedFile]:
        """`rows` as one file per (partition value, run of raw hours), as
        duckdb_events.write_per_owner cuts them: neighbouring hours share a file until it
        holds events.schema.FILE_ROWS rows. The executors write into the lake folder `staged`
        themselves."""
        lake = self.engine.lake
        rows = rows.selectExpr("*", f"CAST({expression} AS STRING) AS _part").cache()
        try:
            per_hour = {
                r.raw_hour: r.n
                for r in rows.groupBy("raw_hour")
                .agg({"*": "count"})
                .withColumnRenamed("count(1)", "n")
                .collect()
            }
            if not per_hour:
                return []
            runs: list[tuple[str, int]] = []
            run_no = run_rows = 0
            for hour in [h for h in dict.fromkeys(f.hour for f in self.files) if h in per_hour]:
                if run_rows and run_rows + per_hour[hour] > events_schema.FILE_ROWS:
                    run_no, run_rows = run_no + 1, 0
                runs.append((hour, run_no))
                run_rows += per_hour[hour]
            from pyspark.sql import functions as F

            table = self.spark.createDataFrame(runs, "raw_hour string, _run int")
            rows = rows.join(F.broadcast(table), "raw_hour")
            owners = {
                (r._part, r._run): ",".join(sorted(r.hours))
                for r in rows.groupBy("_part", "_run")
                .agg(F.collect_set("raw_hour").alias("hours"))
                .collect()
            }
            if None in {part for part, _ in owners}:  # the flatten gives every row a date
                raise ValueError(f"rows of raw hours {sorted(per_hour)} have no {name}")
            lake.remove(staged)
            (
                rows.repartition("_part", "_run")
                .select(*columns, "_part", "_run")
                .write.partitionBy("_part", "_run")
                .parquet(lake.uri(staged))
            )
        finally:
            rows.unpersist()
        files = []
        for path, count in written_files(lake, staged):
            folders = PurePosixPath(path).parent
            part = folders.parent.name.removeprefix("_part=")
            run = int(folders.name.removeprefix("_run="))
            files.append(StagedFile(path, {name: part}, owners[(part, run)], count))
        return files

    def close(self) -> None:
        self.engine.lake.remove(self.scratch)


def events_batches(
    engine: SparkEngine, groups: Sequence[Sequence[RawFile]]
) -> Iterator[SparkEventsBatch]:
    """A batch per group, in order; each group's scratch files go when the next is taken."""
    scratch = staging_dir("spark_events")
    try:
        for i, group in enumerate(groups):
            batch = SparkEventsBatch(engine, group, f"{scratch}/group-{i}")
            try:
                yield batch
            finally:
                batch.close()
    finally:
        engine.lake.remove(scratch)
