"""Worker processes for events_incremental on DuckDB: an EventsWorker in a child interpreter,
fed through a socket pair, or in this process, behind the same ticketed calls.

DuckDB's own threads barely speed up flattening (JSON parsing and string functions over one
materialized chunk), so a run large enough to repay starting them uses worker processes, one per
engine thread, each with a single-threaded DuckDB and its share of the engine's memory.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any, Protocol

from cdpflow.lake.storage import Lake

if TYPE_CHECKING:  # imported where used: the job starts its workers before it needs them
    import duckdb

    from cdpflow.engine.duckdb_events import EventsWorker
    from cdpflow.settings import Settings


class Worker(Protocol):
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


# The child imports from where this process does (a test's or a checkout's path included).
_PATH_VARIABLE = "CDPFLOW_WORKER_SYS_PATH"
_WORKER_MAIN = (
    f"import json, os, sys; sys.path[:] = json.loads(os.environ.pop({_PATH_VARIABLE!r}));"
    " from cdpflow.engine.duckdb_workers import serve_socket; serve_socket(int(sys.argv[1]))"
)


def serve_socket(fd: int) -> None:
    """A worker process's main: its settings come first on the socket `fd`, then the calls."""
    conn = Connection(fd)
    lake_url, settings = conn.recv()
    _serve(conn, lake_url, settings)


def _serve(conn: Connection, lake_url: str, settings: dict[str, Any]) -> None:
    """A worker process: answer calls on `conn` until told to stop (None)."""
    from cdpflow.engine.duckdb_common import connect
    from cdpflow.engine.duckdb_events import EventsWorker

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
    # Everything is answered and written: close DuckDB (which clears its spill folder) and end
    # here. The interpreter's teardown of a process that held a group's rows is most of a
    # worker's shutdown, and the job waits for it.
    con.close()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


class _ProcessWorker:
    """An EventsWorker in a child process, fed through a socket pair."""

    def __init__(self, name: str, lake_url: str, settings: dict[str, Any]) -> None:
        # A fresh interpreter that imports only the worker. Not fork: this process runs DuckDB's
        # and the reader's threads, which fork would not copy. Not multiprocessing's spawn,
        # which imports this process's main module again in the child: under Airflow that is
        # Airflow's whole CLI, in every worker of every run.
        self.name = name
        mine, theirs = socket.socketpair()
        with theirs:
            self._process = subprocess.Popen(
                [sys.executable, "-c", _WORKER_MAIN, str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                env={**os.environ, _PATH_VARIABLE: json.dumps(sys.path)},
            )
        self._conn = Connection(mine.detach())
        self._conn.send((lake_url, settings))
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
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(5)
        code = self._process.returncode
        return RuntimeError(f"worker process {self.name} ended (exit code {code})")

    def close(self) -> None:
        """Stop the worker: at once when it is idle; after an error it may be mid-task, and is
        given two seconds before it is terminated."""
        with contextlib.suppress(OSError):  # already gone
            self._conn.send(None)
        try:
            self._process.wait(2)
        except subprocess.TimeoutExpired:
            self._process.terminate()
            self._process.wait()
        self._conn.close()


def start_workers(
    settings: Settings,
    con: Callable[[], duckdb.DuckDBPyConnection],
    lake: Lake,
    input_bytes: int,
) -> list[Worker]:
    """One worker process per engine thread, each with its share of the engine's memory.

    This process alone when there is one thread, when the input is small (under a sixteenth of
    CDPFLOW_CHUNK_BYTES compressed, about 40 MB of raw JSON by default: starting processes costs
    more than they save), when the lake is not on this machine (another process cannot open an
    in-memory filesystem).
    """
    small = input_bytes < settings.chunk_bytes // 16
    if settings.engine_threads < 2 or small or not lake.is_local:
        from cdpflow.engine.duckdb_events import EventsWorker

        local = EventsWorker(
            con(),
            lake,
            settings.chunk_bytes,
            settings.max_event_bytes,
            settings.engine_memory_bytes,
        )
        return [_LocalWorker(local)]
    workers: list[Worker] = []
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
