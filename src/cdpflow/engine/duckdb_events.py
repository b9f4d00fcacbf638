"""events_incremental's work in one DuckDB: raw files flattened into a temp table, chunk by chunk
within the memory it has, then written per (event date, run of raw hours), but for the copies the
dedup chose to drop.

One EventsWorker runs in each worker process (cdpflow.engine.duckdb_workers), or in this process
for a small run; cdpflow.engine.duckdb_events_batches shares the raw hours out between them and
deduplicates across them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from duckdb.func import FunctionNullHandling

from cdpflow.engine import FlattenCounts, StagedFile, fast_flatten
from cdpflow.engine.duckdb_common import LakeOut, literal
from cdpflow.engine.duckdb_sql import (
    CORE_SELECT,
    EVENT_BYTES_FUNCTION,
    FLATTEN_COLUMNS,
    flatten_sql,
)
from cdpflow.errors import TerminalError
from cdpflow.events import quarantine
from cdpflow.events import schema as events_schema
from cdpflow.events.schema import QUARANTINE_COLUMNS
from cdpflow.events.size import event_text_bytes
from cdpflow.lake.raw_reader import LINES_SCHEMA, RawFile, prefetch, read_line_chunks
from cdpflow.lake.storage import Lake

# A quarantined row's partition: the day it was received (from its raw hour when it has no time).
_RECEIVED_DATE = "coalesce(CAST(received_at AS DATE), CAST(left(raw_hour, 10) AS DATE))"
_QUARANTINE_ROW = ", ".join(
    {"quarantined_at": "now()", "received_date": _RECEIVED_DATE}.get(name, name) + f" AS {name}"
    for name, _ in QUARANTINE_COLUMNS
)
# Errors a statement raises because of a line's content (a value out of range, an impossible
# cast), not because of the machine: the line is quarantined as UNPROCESSABLE.
CONTENT_ERRORS = (duckdb.DataError, duckdb.InvalidInputException)
UNPROCESSABLE = quarantine.UNPROCESSABLE
# What the dedup needs of each flattened event.
_KEYS = "event_id, received_at, raw_hour, raw_file, line_no, item_index, event_date"
# DuckDB flattens a vector of 2,048 lines at a time and holds that vector's parse at once: up
# to about 20 bytes of memory per byte of the lines plus 100 per JSON object in them (measured
# in bench/README.md: 10x for lines of 100-event batches, 18x for 15 items of 32 kB, 90 B per
# item of a batch of 10,000 `{}`). A chunk is cut so one vector needs half of the memory.
_VECTOR_LINES = 2048
_MEMORY_PER_LINE_BYTE = 20
_OBJECT_BYTES = 100 // _MEMORY_PER_LINE_BYTE  # an object weighs as much as 5 bytes of line
# A chunk of lines as the statement reads it: `taken` marks the lines the fast path flattened.
_CHUNK_SCHEMA = LINES_SCHEMA.append(pa.field("taken", pa.bool_()))
# No lines, made without `Schema.empty_table()`: that builds its columns from Python lists, and
# pyarrow then imports pandas to check them, a quarter of a worker's start (bench/README.md).
_NO_LINES = pa.Table.from_batches([], schema=LINES_SCHEMA)
_NO_CHUNK = pa.Table.from_batches([], schema=_CHUNK_SCHEMA)
_LINES = ", ".join(LINES_SCHEMA.names)


def vector_limit(memory_bytes: int) -> tuple[int, int, int]:
    """The reader's `vector_limit` for a DuckDB with `memory_bytes` of memory."""
    weight = memory_bytes // 2 // _MEMORY_PER_LINE_BYTE
    return _VECTOR_LINES, weight, _OBJECT_BYTES


def write_per_owner(
    con: duckdb.DuckDBPyConnection,
    table: str,
    where: str,
    select: str,
    partition: tuple[str, str],
    out: LakeOut,
    file_rows: int | None = None,
) -> list[StagedFile]:
    """Write the rows of `table` matching `where` as one file per (partition value, run of raw
    hours), flat in the lake folder `out`, and describe each file; a file's owner lists its
    hours. The partition is (column name, a DATE expression over `table`).

    Neighbouring raw hours (in the order they were inserted) share files until their rows
    reach `file_rows` (default events.schema.FILE_ROWS); an hour with more rows has files of
    its own.
    Re-running any hour of a file re-runs its other hours too (the job takes all the owners
    of a file together).

    A COPY per file instead of one partitioned COPY: DuckDB's partitioned write buffers every
    row in per-partition collections first, which doubled the cost of writing; and no folder
    per partition and hour is made (a new folder costs more than a file on ext4). A raw hour's
    rows are neighbours in `table` (they were inserted together), so each COPY scans its rowid
    range only.
    """
    name, expression = partition
    out_dir = out.local
    out_dir.mkdir(parents=True, exist_ok=True)
    hours = con.execute(
        f"SELECT raw_hour, count(*) FROM {table} WHERE {where} GROUP BY ALL ORDER BY min(rowid)"
    ).fetchall()
    if not hours:
        return []
    file_rows = file_rows or events_schema.FILE_ROWS
    runs: dict[str, int] = {}
    run_no = run_rows = 0
    for hour, rows in hours:
        if run_rows and run_rows + rows > file_rows:
            run_no, run_rows = run_no + 1, 0
        runs[hour] = run_no
        run_rows += rows
    owners = _file_owners(con, table, where, expression, runs)
    staged = []
    for part, low, high, rows, owner in owners:
        if part is None:  # the flatten gives every valid row a date; a bug if not
            raise ValueError(f"{rows} row(s) of raw hours {owner} have no {name}")
        # One run: every hour of the rows is in the file, so no filter on the hours.
        of_hours = ""
        if run_no:
            of_hours = f"AND raw_hour IN ({', '.join(literal(h) for h in owner.split(','))})"
        path = out_dir / f"{uuid.uuid4().hex}.parquet"
        # LZ4: written 20% faster than zstd level 1, in files half as large again; they live
        # until `compression` rewrites their day as a few sorted zstd files. The partition is
        # compared as its own type (a date), not as text: a cast of every row scanned.
        con.execute(
            f"""COPY (
              SELECT {select} FROM {table}
              WHERE rowid BETWEEN {low} AND {high} AND {where}
                AND ({expression}) = CAST({literal(part)} AS DATE) {of_hours}
            ) TO {literal(str(path))}
            (FORMAT parquet, COMPRESSION lz4_raw, ROW_GROUP_SIZE 122880)"""
        ).fetchall()
        staged.append(StagedFile(out.publish(path), {name: part}, owner, int(rows)))
    return staged


def _file_owners(
    con: duckdb.DuckDBPyConnection, table: str, where: str, expression: str, runs: dict[str, int]
) -> list[tuple[str | None, int, int, int, str]]:
    """(partition value, first rowid, last rowid, rows, owner hours) of each file: one per
    (partition value, run of hours), in rowid order. Without a join when there is one run,
    as for a share of small hours."""
    part = f"({expression})::VARCHAR AS part"
    owner = "string_agg(DISTINCT t.raw_hour, ',' ORDER BY t.raw_hour)"
    if len(set(runs.values())) == 1:
        rows = con.execute(
            f"""SELECT {part}, min(t.rowid), max(t.rowid), count(*), {owner}
            FROM {table} t WHERE {where} GROUP BY part ORDER BY 2"""
        ).fetchall()
        return [(p, low, high, n, hours) for p, low, high, n, hours in rows]
    con.execute("CREATE OR REPLACE TEMP TABLE _hour_runs (raw_hour VARCHAR, run INTEGER)")
    con.executemany("INSERT INTO _hour_runs VALUES (?, ?)", list(runs.items()))
    try:
        rows = con.execute(
            f"""SELECT {part}, run, min(t.rowid), max(t.rowid), count(*), {owner}
            FROM {table} t JOIN _hour_runs USING (raw_hour) WHERE {where}
            GROUP BY ALL ORDER BY 3"""
        ).fetchall()
    finally:
        con.execute("DROP TABLE _hour_runs")
    return [(p, low, high, n, hours) for p, _, low, high, n, hours in rows]


class EventsWorker:
    """Flattens raw files into a temp table, then writes its rows: one process's work.

    Chunks are cut to fit `memory_bytes` (see `vector_limit`); a chunk that still runs out
    of memory is flattened again in halves, down to a single line. The lines the compiled fast
    path takes (cdpflow.engine.fast_flatten) skip the statement, unless `fast_path` is False.
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        lake: Lake,
        chunk_bytes: int,
        max_event_bytes: int,
        memory_bytes: int | None = None,
        fast_path: bool = True,
    ) -> None:
        self.con = con
        self.max_event_bytes = max_event_bytes
        self.fast_path = fast_path and fast_flatten.available
        self._created = False  # the table of the flatten under way exists
        self._left: list[pa.Table] = []  # lines the fast path left, for the statement
        self.lake = lake
        self.chunk_bytes = chunk_bytes
        self.memory_bytes = memory_bytes
        self.split_chunks = 0  # chunks flattened again in halves after running out of memory
        # The table's columns, to make it without planning the statement (a share whose lines
        # all take the fast path never runs it).
        self._columns = ", ".join(f'"{name}" {kind}' for name, kind in FLATTEN_COLUMNS)
        self.con.create_function(
            EVENT_BYTES_FUNCTION,
            event_text_bytes,
            ["varchar", "varchar"],
            "bigint",
            null_handling=FunctionNullHandling.SPECIAL,
            side_effects=False,
        )
        # A view, so the 26 kB statement is parsed once, not per chunk (a third of its planning),
        # over the lines of the chunk that the fast path left (DuckDB filters them as it scans).
        self.con.register("_chunk", _NO_CHUNK)
        try:
            self.con.execute(
                f"CREATE OR REPLACE TEMP VIEW raw_lines AS SELECT {_LINES} FROM _chunk "
                "WHERE NOT taken"
            ).fetchall()
            self.con.execute(
                "CREATE OR REPLACE TEMP VIEW _flattened_lines AS "
                + flatten_sql("raw_lines", max_event_bytes)
            ).fetchall()
        finally:
            self.con.unregister("_chunk")

    def flatten(self, table: str, files: Sequence[RawFile], keys_path: Path) -> FlattenCounts:
        """Flatten `files` chunk by chunk into `table`, and write the keys of their events to
        `keys_path`; what they turned into."""
        limit = vector_limit(self.memory_bytes) if self.memory_bytes else None
        self._created = False
        self._left = []
        for lines, _ in prefetch(read_line_chunks(self.lake, files, self.chunk_bytes, limit)):
            self._add(lines, table)
        if self._left or not self._created:  # what the fast path left, or no lines at all
            self._add_left(table)
        ((events, quarantined),) = self.con.execute(
            f"SELECT count(*) - count(reason_code), count(reason_code) FROM {table}"
        ).fetchall()
        self.con.execute(
            f"COPY (SELECT {_KEYS} FROM {table} WHERE reason_code IS NULL) "
            f"TO {literal(str(keys_path))} (FORMAT parquet, COMPRESSION lz4_raw)"
        ).fetchall()
        return FlattenCounts(events=int(events), quarantined=int(quarantined))

    def _add(self, lines: pa.Table, table: str) -> None:
        """Flatten `lines` into `table` (made by the first call): the fast path's lines now;
        the others by the statement, now when they are many, else with the next few chunks'
        (planning the statement costs as much as flattening a few hundred lines with it)."""
        rows, taken = fast_flatten.split(lines, self.max_event_bytes, self.fast_path)
        if rows.num_rows:
            if not self._created:
                self._create(table)
                self._created = True
            self.con.register("_fast_rows", rows)
            try:
                self.con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _fast_rows").fetchall()
            finally:
                self.con.unregister("_fast_rows")
        left = lines.num_rows - taken.true_count
        if not left:
            return
        if left > lines.num_rows // 8:
            self._add_by_statement(lines.append_column("taken", taken), table, self._created)
            self._created = True
            return
        self._left.append(lines.filter(pc.invert(taken)))
        if sum(t.nbytes for t in self._left) > self.chunk_bytes // 8:
            self._add_left(table)

    def _add_left(self, table: str) -> None:
        """The lines the fast path left, flattened together by the statement."""
        lines = pa.concat_tables(self._left) if self._left else _NO_LINES
        self._left = []
        self._add_by_statement(
            lines.append_column("taken", fast_flatten.none_taken(lines.num_rows)),
            table,
            self._created,
        )
        self._created = True

    def _create(self, table: str) -> None:
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {table} ({self._columns})").fetchall()

    def _add_by_statement(self, lines: pa.Table, table: str, created: bool) -> None:
        """Flatten the lines of `lines` not `taken` into `table` (made by this statement unless
        `created`); in halves when DuckDB runs out of memory or one line's content makes the
        statement fail (a statement that fails changes nothing), down to that one line, which
        is quarantined."""
        into = f"INSERT INTO {table} " if created else f"CREATE OR REPLACE TEMP TABLE {table} AS "
        self.con.register("_chunk", lines)
        try:
            self.con.execute(into + "SELECT * FROM _flattened_lines").fetchall()
            return
        except duckdb.OutOfMemoryException as err:
            if lines.num_rows < 2:
                line_no, raw_file = lines["line_no"][0], lines["raw_file"][0]
                raise TerminalError(
                    f"Line {line_no} of raw file {raw_file} ({len(lines['line'][0].as_py()):,} "
                    f"bytes) needs more memory to flatten than a worker has; raise "
                    f"CDPFLOW_ENGINE_MEMORY_BYTES. {err}"
                ) from err
        except CONTENT_ERRORS as err:
            if lines.num_rows < 2:
                self._quarantine_line(table, created, err)
                return
        finally:
            self.con.unregister("_chunk")
        self.split_chunks += 1
        half = lines.num_rows // 2
        self._add_by_statement(lines.slice(0, half), table, created)
        self._add_by_statement(lines.slice(half), table, True)

    def _quarantine_line(self, table: str, created: bool, err: duckdb.Error) -> None:
        """The quarantine row of the one line in `_chunk` that the flatten cannot take; it is
        partitioned by its raw hour (its receive time may be what broke the flatten)."""
        if not created:  # the table is made with the flatten's columns
            self._create(table)
        detail = str(err).splitlines()[0][:300]
        self.con.execute(
            f"""INSERT INTO {table} BY NAME
            SELECT raw_hour, raw_file, line_no, 0::BIGINT AS item_index, ? AS reason_code,
              ? AS reason, line AS raw, try(json_extract_string(line, '$._cdp.source')) AS source
            FROM _chunk""",
            [UNPROCESSABLE, f"the line could not be flattened: {detail}"],
        ).fetchall()

    def write(
        self, table: str, losers_path: Path, staged: str, work: Path
    ) -> tuple[list[StagedFile], list[StagedFile]]:
        """Write the events of `table` but the copies listed in `losers_path`, and its
        quarantined rows, under the lake folder `staged` (through the local folder `work` when
        the lake is elsewhere, see LakeOut); drop `table`."""
        out = LakeOut(self.lake, staged, work)
        losers = f"read_parquet({literal(str(losers_path))})"
        try:
            self.con.execute(
                f"""DELETE FROM {table} t USING {losers} l
                WHERE t.raw_file = l.raw_file AND t.line_no = l.line_no
                  AND t.item_index = l.item_index AND t.reason_code IS NULL"""
            ).fetchall()
            events = write_per_owner(
                self.con,
                table,
                "reason_code IS NULL",
                CORE_SELECT,
                ("event_date", "event_date"),
                out.sub("events"),
            )
            quarantine = write_per_owner(
                self.con,
                table,
                "reason_code IS NOT NULL",
                _QUARANTINE_ROW,
                ("received_date", _RECEIVED_DATE),
                out.sub("quarantine"),
            )
        finally:
            self.con.execute(f"DROP TABLE IF EXISTS {table}").fetchall()
        return events, quarantine
