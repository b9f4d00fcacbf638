"""events_incremental's heavy work on DuckDB: raw hours flattened, deduplicated and written per
(event date, raw hour), on every core.

DuckDB's own threads barely speed up flattening (JSON parsing and string functions over one
materialized chunk), so a run large enough to repay starting them uses worker processes, one per
engine thread, each with a single-threaded DuckDB. A group's raw hours are shared out between the
workers; each reads and flattens its hours into a temp table and writes the narrow keys the
dedup needs to a file. This process decides which copies lose (in DuckDB, which spills, so a huge
raw hour does not have to fit in memory), then each worker writes its own rows (all of
an hour's rows are in one worker, so an (event date, raw hour) is still one file). Two groups are
in the workers at a time, so they flatten one while this process deduplicates and commits the
other. A small run does the same in process.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import shutil
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Protocol

import duckdb
import pyarrow as pa
from duckdb.func import FunctionNullHandling

from cdpflow.engine import EventsOutput, FlattenCounts, StagedFile
from cdpflow.engine.duckdb_engine import connect, literal
from cdpflow.engine.duckdb_sql import CORE_SELECT, EVENT_BYTES_FUNCTION, flatten_sql
from cdpflow.errors import CdpflowError, TerminalError
from cdpflow.events import quarantine
from cdpflow.events import schema as events_schema
from cdpflow.events.schema import QUARANTINE_COLUMNS
from cdpflow.events.size import event_text_bytes
from cdpflow.lake.raw_reader import LINES_SCHEMA, RawFile, prefetch, read_line_chunks
from cdpflow.lake.storage import Lake
from cdpflow.settings import Settings

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


def vector_limit(memory_bytes: int) -> tuple[int, int, int]:
    """The reader's `vector_limit` for a DuckDB with `memory_bytes` of memory."""
    weight = memory_bytes // 2 // _MEMORY_PER_LINE_BYTE
    return _VECTOR_LINES, weight, _OBJECT_BYTES


class EventsWorkerError(CdpflowError):
    """A worker failed on its share of a group; nothing of the group was committed."""

    def __init__(self, hours: Sequence[str], detail: str) -> None:
        self.hours = list(hours)
        super().__init__(
            f"Flattening raw hours {self.hours[0]} .. {self.hours[-1]} failed, so nothing of them "
            f"was committed (the run can be repeated): {detail}"
        )


def write_per_owner(
    con: duckdb.DuckDBPyConnection,
    table: str,
    where: str,
    select: str,
    partition: tuple[str, str],
    out_dir: Path,
    file_rows: int | None = None,
) -> list[StagedFile]:
    """Write the rows of `table` matching `where` as one file per (partition value, run of raw
    hours), flat in `out_dir`, and describe each file; a file's owner lists its hours.

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
    con.execute("CREATE OR REPLACE TEMP TABLE _hour_runs (raw_hour VARCHAR, run INTEGER)")
    con.executemany("INSERT INTO _hour_runs VALUES (?, ?)", list(runs.items()))
    try:
        owners = con.execute(
            f"""SELECT ({expression})::VARCHAR AS part, run, min(t.rowid), max(t.rowid),
              count(*), string_agg(DISTINCT t.raw_hour, ',' ORDER BY t.raw_hour)
            FROM {table} t JOIN _hour_runs USING (raw_hour) WHERE {where}
            GROUP BY ALL ORDER BY 3"""
        ).fetchall()
    finally:
        con.execute("DROP TABLE _hour_runs")
    staged = []
    for part, _, low, high, rows, owner in owners:
        if part is None:  # the flatten gives every valid row a date; a bug if not
            raise ValueError(f"{rows} row(s) of raw hours {owner} have no {name}")
        listed = ", ".join(literal(hour) for hour in owner.split(","))
        path = out_dir / f"{uuid.uuid4().hex}.parquet"
        # LZ4: written 20% faster than zstd level 1, in files half as large again; they live
        # until `compression` rewrites their day as a few sorted zstd files.
        con.execute(
            f"""COPY (
              SELECT {select} FROM {table}
              WHERE rowid BETWEEN {low} AND {high} AND {where}
                AND ({expression})::VARCHAR = {literal(part)} AND raw_hour IN ({listed})
            ) TO {literal(str(path))}
            (FORMAT parquet, COMPRESSION lz4_raw, ROW_GROUP_SIZE 122880)"""
        ).fetchall()
        staged.append(StagedFile(path, {name: part}, owner, int(rows)))
    return staged


class EventsWorker:
    """Flattens raw files into a temp table, then writes its rows: one process's work.

    Chunks are cut to fit `memory_bytes` (see `vector_limit`); a chunk that still runs out
    of memory is flattened again in halves, down to a single line.
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        lake: Lake,
        chunk_bytes: int,
        max_event_bytes: int,
        memory_bytes: int | None = None,
    ) -> None:
        self.con = con
        self.lake = lake
        self.chunk_bytes = chunk_bytes
        self.memory_bytes = memory_bytes
        self.split_chunks = 0  # chunks flattened again in halves after running out of memory
        self.con.create_function(
            EVENT_BYTES_FUNCTION,
            event_text_bytes,
            ["varchar", "varchar"],
            "bigint",
            null_handling=FunctionNullHandling.SPECIAL,
            side_effects=False,
        )
        # A view, so the 26 kB statement is parsed once, not per chunk (a third of its planning).
        self.con.register("raw_lines", LINES_SCHEMA.empty_table())
        try:
            self.con.execute(
                "CREATE OR REPLACE TEMP VIEW _flattened_lines AS "
                + flatten_sql("raw_lines", max_event_bytes)
            ).fetchall()
        finally:
            self.con.unregister("raw_lines")

    def flatten(self, table: str, files: Sequence[RawFile], keys_path: Path) -> FlattenCounts:
        """Flatten `files` chunk by chunk into `table`, and write the keys of their events to
        `keys_path`; what they turned into."""
        limit = vector_limit(self.memory_bytes) if self.memory_bytes else None
        created = False
        for lines, _ in prefetch(read_line_chunks(self.lake, files, self.chunk_bytes, limit)):
            self._add(lines, table, created)
            created = True
        if not created:  # no lines at all
            self._add(LINES_SCHEMA.empty_table(), table, created)
        ((events, quarantined),) = self.con.execute(
            f"SELECT count(*) - count(reason_code), count(reason_code) FROM {table}"
        ).fetchall()
        self.con.execute(
            f"COPY (SELECT {_KEYS} FROM {table} WHERE reason_code IS NULL) "
            f"TO {literal(str(keys_path))} (FORMAT parquet, COMPRESSION lz4_raw)"
        ).fetchall()
        return FlattenCounts(events=int(events), quarantined=int(quarantined))

    def _add(self, lines: pa.Table, table: str, created: bool) -> None:
        """Flatten `lines` into `table` (made by this statement unless `created`); in halves
        when DuckDB runs out of memory or one line's content makes the statement fail (a
        statement that fails changes nothing), down to that one line, which is quarantined."""
        into = f"INSERT INTO {table} " if created else f"CREATE OR REPLACE TEMP TABLE {table} AS "
        self.con.register("raw_lines", lines)
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
            self.con.unregister("raw_lines")
        self.split_chunks += 1
        half = lines.num_rows // 2
        self._add(lines.slice(0, half), table, created)
        self._add(lines.slice(half), table, True)

    def _quarantine_line(self, table: str, created: bool, err: duckdb.Error) -> None:
        """The quarantine row of the one line in `raw_lines` that the flatten cannot take; it
        is partitioned by its raw hour (its receive time may be what broke the flatten)."""
        if not created:  # the table is made with the flatten's columns
            self.con.execute(
                f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT * FROM _flattened_lines LIMIT 0"
            ).fetchall()
        detail = str(err).splitlines()[0][:300]
        self.con.execute(
            f"""INSERT INTO {table} BY NAME
            SELECT raw_hour, raw_file, line_no, 0::BIGINT AS item_index, ? AS reason_code,
              ? AS reason, line AS raw, try(json_extract_string(line, '$._cdp.source')) AS source
            FROM raw_lines""",
            [UNPROCESSABLE, f"the line could not be flattened: {detail}"],
        ).fetchall()

    def write(
        self, table: str, losers_path: Path, out_dir: Path
    ) -> tuple[list[StagedFile], list[StagedFile]]:
        """Write the events of `table` but the copies listed in `losers_path`, and its
        quarantined rows; drop `table`."""
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
                out_dir / "events",
            )
            quarantine = write_per_owner(
                self.con,
                table,
                "reason_code IS NOT NULL",
                _QUARANTINE_ROW,
                ("received_date", _RECEIVED_DATE),
                out_dir / "quarantine",
            )
        finally:
            self.con.execute(f"DROP TABLE IF EXISTS {table}").fetchall()
        return events, quarantine


class _Worker(Protocol):
    """An EventsWorker behind a queue: a call returns a ticket at once; its answer is taken
    with the ticket, and answers come in the order the calls were made."""

    def call(self, method: str, *args: Any) -> int: ...

    def result(self, ticket: int) -> Any: ...

    def close(self) -> None: ...


class _LocalWorker:
    """An EventsWorker in this process, on the engine's own connection."""

    def __init__(self, worker: EventsWorker) -> None:
        self._worker = worker
        self._answers: dict[int, tuple[BaseException | None, Any]] = {}
        self._tickets = 0

    def call(self, method: str, *args: Any) -> int:
        self._tickets += 1
        try:
            self._answers[self._tickets] = (None, getattr(self._worker, method)(*args))
        except Exception as err:  # raised when the answer is taken, as a process's would be
            self._answers[self._tickets] = (err, None)
        return self._tickets

    def result(self, ticket: int) -> Any:
        error, value = self._answers.pop(ticket)
        if error is not None:
            raise error
        return value

    def close(self) -> None:
        self._answers.clear()


def _serve(conn: Connection, lake_url: str, settings: dict[str, Any]) -> None:
    """A worker process: answer calls on `conn` until told to stop (None)."""
    con = connect(
        config={
            "threads": 1,
            "memory_limit": f"{settings['memory_bytes'] // 1_000_000}MB",
            "temp_directory": settings["spill_dir"],
            "preserve_insertion_order": False,
        }
    )
    worker = EventsWorker(
        con,
        Lake(lake_url),
        settings["chunk_bytes"],
        settings["max_event_bytes"],
        settings["memory_bytes"],
    )
    while (request := conn.recv()) is not None:
        method, args = request
        try:
            answer: tuple[str | None, Any] = (None, getattr(worker, method)(*args))
        except Exception:
            answer = (traceback.format_exc(limit=4), None)
        conn.send(answer)


class _ProcessWorker:
    """An EventsWorker in a child process, fed through a pipe."""

    def __init__(self, name: str, lake_url: str, settings: dict[str, Any]) -> None:
        # spawn: this process runs DuckDB's and the reader's threads, which fork would not copy.
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(child, lake_url, settings), name=name, daemon=True
        )
        self._process.start()
        child.close()
        self._tickets = 0
        self._answered = 0
        self._answers: dict[int, tuple[str | None, Any]] = {}

    def call(self, method: str, *args: Any) -> int:
        try:
            self._conn.send((method, args))
        except OSError as err:
            raise self._ended() from err
        self._tickets += 1
        return self._tickets

    def result(self, ticket: int) -> Any:
        while ticket not in self._answers:
            try:
                answer = self._conn.recv()
            except (EOFError, OSError) as err:
                raise self._ended() from err
            self._answered += 1
            self._answers[self._answered] = answer
        error, value = self._answers.pop(ticket)
        if error is not None:
            raise RuntimeError(error)
        return value

    def _ended(self) -> RuntimeError:
        self._process.join(5)
        code = self._process.exitcode
        return RuntimeError(f"worker process {self._process.name} ended (exit code {code})")

    def close(self) -> None:
        """Stop the worker: at once when it is idle; after an error it may be mid-task, and is
        given two seconds before it is terminated."""
        with contextlib.suppress(OSError):  # already gone
            self._conn.send(None)
        self._process.join(2)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join()
        self._conn.close()


def start_workers(
    settings: Settings, con: duckdb.DuckDBPyConnection, lake: Lake, input_bytes: int
) -> list[_Worker]:
    """One worker process per engine thread, each with its share of the engine's memory.

    This process alone when there is one thread, when the input is small (under a sixteenth of
    CDPFLOW_CHUNK_BYTES compressed, about 40 MB of raw JSON by default: starting processes costs
    more than they save), when the lake is not on this machine (another process cannot open an
    in-memory filesystem) or when this process is a daemonic worker of a process pool (say a
    task runner's), which may not start processes of its own.
    """
    small = input_bytes < settings.chunk_bytes // 16
    daemonic = multiprocessing.current_process().daemon
    if settings.engine_threads < 2 or small or not lake.is_local or daemonic:
        local = EventsWorker(
            con, lake, settings.chunk_bytes, settings.max_event_bytes, settings.engine_memory_bytes
        )
        return [_LocalWorker(local)]
    workers: list[_Worker] = []
    for i in range(settings.engine_threads):
        name = f"cdpflow-events-{i}"
        own = {  # a spill folder each: a DuckDB instance clears its own when it closes
            "memory_bytes": settings.engine_memory_bytes // settings.engine_threads,
            "spill_dir": str(settings.work_dir / "duckdb_spill" / name),
            "chunk_bytes": settings.chunk_bytes,
            "max_event_bytes": settings.max_event_bytes,
        }
        workers.append(_ProcessWorker(name, lake.url, own))
    return workers


def _share(files: Sequence[RawFile], workers: int) -> list[list[RawFile]]:
    """Whole raw hours per worker, the largest first to the least loaded."""
    hours: dict[str, list[RawFile]] = {}
    for f in files:
        hours.setdefault(f.hour, []).append(f)
    shares: list[list[RawFile]] = [[] for _ in range(workers)]
    loads = [0] * workers
    for hour_files in sorted(hours.values(), key=lambda fs: -sum(f.size for f in fs)):
        least = loads.index(min(loads))
        shares[least].extend(hour_files)
        loads[least] += sum(f.size for f in hour_files)
    return shares


class DuckDBEventsBatch:
    """One group: its hours are flattened by the workers, into `table`, and then written; its
    dedup keys and losing copies pass through files in `scratch`."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        workers: list[_Worker],
        files: Sequence[RawFile],
        table: str,
        scratch: Path,
        start_next: Callable[[], None],
    ) -> None:
        self.con = con
        self.table = table
        self.scratch = scratch
        scratch.mkdir(parents=True)
        shares = _share(files, len(workers))
        self._busy = [
            (i, worker, share, worker.call("flatten", table, share, self._keys_path(i)))
            for i, (worker, share) in enumerate(zip(workers, shares, strict=True))
            if share
        ]
        self._start_next = start_next
        self._next_started = False
        self._flattened: list[FlattenCounts] | None = None

    def _keys_path(self, worker: int) -> Path:
        return self.scratch / f"keys-{worker}.parquet"

    def _answers(self) -> list[FlattenCounts]:
        if self._flattened is None:
            self._flattened = [self._answer(w, share, t) for _, w, share, t in self._busy]
        return self._flattened

    def _answer(self, worker: _Worker, share: list[RawFile], ticket: int) -> Any:
        try:
            return worker.result(ticket)
        except RuntimeError as err:
            raise EventsWorkerError(sorted({f.hour for f in share}), str(err)) from err

    def flattened(self) -> FlattenCounts:
        total = FlattenCounts()
        for counts in self._answers():
            total.events += counts.events
            total.quarantined += counts.quarantined
        return total

    def _keys(self) -> str:
        """Every event's keys, with the worker that holds it."""
        self._answers()
        return " UNION ALL ".join(
            f"SELECT *, {i} AS worker FROM read_parquet({literal(str(self._keys_path(i)))})"
            for i, _, _, _ in self._busy
        )

    def event_date_range(self) -> tuple[str, str] | None:
        if not self._busy:
            return None
        ((low, high),) = self.con.execute(
            f"SELECT min(event_date)::VARCHAR, max(event_date)::VARCHAR FROM ({self._keys()})"
        ).fetchall()
        return None if low is None else (str(low), str(high))

    def write(self, existing_event_files: Sequence[str], out_dir: Path) -> EventsOutput:
        output = EventsOutput()
        if not self._busy:
            self.start_next()
            return output
        self._write_losers(existing_event_files)
        tickets = [
            worker.call("write", self.table, self.scratch / f"losers-{i}.parquet", out_dir / str(i))
            for i, worker, _, _ in self._busy
        ]
        self.start_next()  # queued behind this write: the workers stay busy during the commit
        for (_, worker, share, _), ticket in zip(self._busy, tickets, strict=True):
            events, quarantine = self._answer(worker, share, ticket)
            output.events += events
            output.quarantine += quarantine
        written = sum(f.rows for f in output.events)
        output.duplicates = self.flattened().events - written
        return output

    def _write_losers(self, existing_event_files: Sequence[str]) -> None:
        """Write, per worker, the copies it must not write: every copy of an event already in
        core_events (from other raw hours), and all but the earliest received copy of an event
        seen more than once here."""
        if existing_event_files:
            listed = ", ".join(literal(f) for f in existing_event_files)
            existing = f"(SELECT event_id FROM read_parquet([{listed}]))"
        else:
            existing = "(SELECT NULL::VARCHAR AS event_id WHERE false)"
        self.con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _losers AS
            WITH keyed AS ({self._keys()}),
            repeated AS (
              SELECT * FROM keyed WHERE event_id IN (
                SELECT event_id FROM keyed GROUP BY event_id HAVING count(*) > 1)
            )
            SELECT worker, raw_file, line_no, item_index FROM (
              SELECT *, row_number() OVER (
                PARTITION BY event_id
                ORDER BY received_at NULLS LAST, raw_hour, raw_file, line_no, item_index
              ) AS copy_no
              FROM repeated
            ) WHERE copy_no > 1
            UNION
            SELECT worker, raw_file, line_no, item_index
            FROM keyed WHERE event_id IN {existing}"""
        ).fetchall()
        try:
            for i, _, _, _ in self._busy:
                path = literal(str(self.scratch / f"losers-{i}.parquet"))
                self.con.execute(
                    "COPY (SELECT raw_file, line_no, item_index FROM _losers "
                    f"WHERE worker = {i}) TO {path} (FORMAT parquet)"
                ).fetchall()
        finally:
            self.con.execute("DROP TABLE IF EXISTS _losers").fetchall()

    def start_next(self) -> None:
        if not self._next_started:
            self._next_started = True
            self._start_next()

    def drain(self) -> None:
        """Take the flattening's answers if the caller did not, so none is left waiting."""
        self._answers()

    def close(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)


def events_batches(
    con: duckdb.DuckDBPyConnection,
    workers: list[_Worker],
    groups: Sequence[Sequence[RawFile]],
    scratch: Path,
) -> Iterator[DuckDBEventsBatch]:
    """A batch per group, in order. Two groups are in the workers at a time: while this
    process deduplicates one, they flatten the next; each write queues the one after."""
    queued: deque[DuckDBEventsBatch] = deque()
    position = 0

    def start_next() -> None:
        nonlocal position
        if position < len(groups):
            table = f"_flat_{position % 2}"
            group_scratch = scratch / f"group-{position}"
            position += 1
            group = groups[position - 1]
            queued.append(DuckDBEventsBatch(con, workers, group, table, group_scratch, start_next))

    try:
        start_next()
        start_next()
        while queued:
            batch = queued[0]
            yield batch
            queued.popleft()
            batch.drain()
            batch.close()
            batch.start_next()
    finally:  # after an error the engine is closed, which stops the workers
        for batch in queued:
            batch.close()
        shutil.rmtree(scratch, ignore_errors=True)
