"""Durable landing of received lines into the raw zone, with group commit.

A single writer thread owns the open files, one per received hour. Requests hand it encoded
lines and wait; it writes everything that queued up meanwhile as one complete gzip member per
file, fsyncs once for all of them, and only then lets the requests answer. So a 2xx means the
lines are on disk, and many concurrent requests share one fsync.

An open file lives under a hidden name (`.collector-….jsonl.gz.landing`) that readers and
cleanup_temp_tables ignore, and holds an exclusive `flock` while open. It is published (renamed
to its visible `.jsonl.gz` name) when its hour ends or it reaches `rotate_bytes`. A process
killed with SIGKILL leaves whole fsync'd members and maybe one torn member at the end:
`recovery.recover` (run at every start) truncates the torn tail and publishes the rest, so no
acknowledged line is lost and the next run sees only valid files.

The raw zone holds personal data (emails, IPs): its directories are created 0700 and its files
0600. `healthy` says whether the zone can be written now (free space, and a probe write after a
failed commit), not how the last write went, so a node a load balancer took out comes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import queue
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from cdpflow.collector.recovery import OPEN_SUFFIX, PROBE_PREFIX, recover, recover_file
from cdpflow.errors import TerminalError, TransientError
from cdpflow.lake.raw import FILE_MODE, RAW_EVENTS, hour_dir, hour_of, make_private_dirs
from cdpflow.lake.storage import fsync_dir

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Line = tuple[datetime, bytes]  # (received hour, encoded line without its newline)
_GRACE = timedelta(seconds=2)  # late stragglers of an hour still go to its open file
_TICK = 0.5
PROBE_SECONDS = 1.0  # /health checks the disk at most this often
MIN_FREE_BYTES = 1 << 20  # less free space than this, and /health says 503 before a write fails


class StorageError(TransientError):
    """The lines could not be made durable; nothing of the request was acknowledged."""


class Sink(Protocol):
    """Where received lines go; `land` returns only once they are durable."""

    async def land(self, lines: Sequence[Line]) -> None: ...

    def healthy(self) -> bool: ...


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _OpenFile:
    hour: datetime
    tmp: Path
    final: Path
    fd: int
    size: int = 0


@dataclass
class _Request:
    lines: Sequence[Line]
    done: Callable[[BaseException | None], None]


@dataclass
class LandingStats:
    commits: int = 0
    lines: int = 0
    published: list[str] = field(default_factory=list)


class FileSink:
    """Lands lines under `<lake root>/raw/events/...`; needs a local lake (fsync, rename)."""

    def __init__(
        self,
        lake_root: str | Path,
        rotate_bytes: int = 64_000_000,
        *,
        clock: Clock = utc_now,
        compresslevel: int = 6,
        fsync: bool = True,
    ) -> None:
        self.root = Path(lake_root)
        self.rotate_bytes = rotate_bytes
        self.clock = clock
        self.compresslevel = compresslevel
        self.fsync = fsync
        self.stats = LandingStats()
        self._files: dict[datetime, _OpenFile] = {}
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._failed: BaseException | None = None
        self._probed_at = float("-inf")
        self._writable = True

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> list[Path]:
        """Recover what a killed process left, then start the writer thread."""
        make_private_dirs(self.root, RAW_EVENTS)
        recovered = recover(self.root)
        self._thread = threading.Thread(target=self._run, name="collector-landing", daemon=True)
        self._thread.start()
        return recovered

    def close(self) -> None:
        """Write what is queued, publish every open file, stop the thread."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        self._publish_all()
        while True:  # a request that raced the stop is refused, never left waiting
            try:
                late = self._queue.get_nowait()
            except queue.Empty:
                break
            if late is not None:
                late.done(StorageError("The collector stopped before this request was stored."))

    def healthy(self) -> bool:
        """Whether a commit would succeed now, as far as a cheap check tells: free space, and a
        small write and fsync after a failed commit (at most once a `PROBE_SECONDS`)."""
        if self._thread is None or not self._thread.is_alive():
            return False
        now = time.monotonic()
        if now - self._probed_at >= PROBE_SECONDS:
            self._probed_at = now
            self._writable = self._probe()
        return self._writable and self._failed is None

    def _probe(self) -> bool:
        directory = self.root / RAW_EVENTS
        try:
            stats = os.statvfs(directory)
        except OSError:
            log.exception("the raw zone %s cannot be checked", directory)
            return False
        if stats.f_bavail * stats.f_frsize < MIN_FREE_BYTES or stats.f_favail == 0:
            return False
        if self._failed is None:
            return True
        probe = directory / f"{PROBE_PREFIX}{uuid.uuid4().hex[:12]}"
        try:
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
            try:
                os.write(fd, b"\0" * 4096)
                os.fsync(fd)
            finally:
                os.close(fd)
                os.unlink(probe)
        except OSError as err:
            log.warning("the raw zone %s is still not writable: %s", directory, err)
            return False
        log.warning("the raw zone %s is writable again", directory)
        self._failed = None
        return True

    # --- the request side ------------------------------------------------------------------
    async def land(self, lines: Sequence[Line]) -> None:
        if not lines:
            return
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()

        def done(error: BaseException | None) -> None:
            loop.call_soon_threadsafe(_settle, future, error)

        self._submit(_Request(lines, done))
        await future

    def land_sync(self, lines: Sequence[Line]) -> None:
        """`land` for callers without an event loop (tests, tools)."""
        finished = threading.Event()
        outcome: list[BaseException | None] = []

        def done(error: BaseException | None) -> None:
            outcome.append(error)
            finished.set()

        self._submit(_Request(lines, done))
        finished.wait()
        if outcome[0] is not None:
            raise outcome[0]

    def _submit(self, request: _Request) -> None:
        if self._thread is None or not self._thread.is_alive():
            raise StorageError("The landing writer is not running; the collector is stopping.")
        self._queue.put(request)

    # --- the writer thread -----------------------------------------------------------------
    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch: list[_Request] = []
            try:
                first = self._queue.get(timeout=_TICK)
            except queue.Empty:
                pass  # idle: only rotation is due
            else:
                if first is None:
                    stopping = True
                else:
                    batch.append(first)
            while True:  # everything that queued up meanwhile shares this commit
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                else:
                    batch.append(more)
            if batch:
                self._commit(batch)
            try:
                self._rotate()
            except Exception:  # never let the writer die; the file is recovered at next start
                log.exception("rotating the raw files failed")

    def _commit(self, batch: list[_Request]) -> None:
        by_hour: dict[datetime, list[bytes]] = {}
        for request in batch:
            for hour, line in request.lines:
                by_hour.setdefault(hour, []).append(line)
        error: BaseException | None = None
        try:
            touched = [self._append(hour, lines) for hour, lines in by_hour.items()]
            if self.fsync:
                for handle in touched:
                    os.fsync(handle.fd)
            if self._failed is not None:  # writable again: /health checks afresh
                self._failed = None
                self._probed_at = float("-inf")
            self.stats.commits += 1
            self.stats.lines += sum(len(lines) for lines in by_hour.values())
        except Exception as err:
            log.exception("landing failed; %d request(s) answered 503", len(batch))
            self._failed = err
            error = StorageError(f"Writing to the raw zone failed: {err}")
            self._abandon_all()
        for request in batch:
            request.done(error)

    def _append(self, hour: datetime, lines: list[bytes]) -> _OpenFile:
        handle = self._files.get(hour) or self._open(hour)
        member = zlib.compressobj(self.compresslevel, zlib.DEFLATED, 31)
        data = member.compress(b"\n".join(lines) + b"\n") + member.flush()
        view = memoryview(data)
        while view:
            written = os.write(handle.fd, view)
            view = view[written:]
        handle.size += len(data)
        return handle

    def _open(self, hour: datetime) -> _OpenFile:
        directory = make_private_dirs(self.root, hour_dir(hour))
        name = f"collector-{hour:%Y%m%dT%H}-{uuid.uuid4().hex[:12]}.jsonl.gz"
        tmp = directory / f".{name}{OPEN_SUFFIX}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, FILE_MODE)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if self.fsync:
            fsync_dir(directory)  # the name itself survives a crash
        handle = _OpenFile(hour, tmp, directory / name, fd)
        self._files[hour] = handle
        return handle

    def _rotate(self) -> None:
        current = hour_of(self.clock() - _GRACE)
        for hour, handle in list(self._files.items()):
            if hour < current or handle.size >= self.rotate_bytes:
                try:
                    self._publish(handle)
                except OSError:
                    log.exception("publishing %s failed; recovered at the next start", handle.tmp)
                    self._forget(handle)

    def _publish(self, handle: _OpenFile) -> None:
        """Rename while still holding the lock, so a starting process never recovers it too."""
        self._files.pop(handle.hour, None)
        try:
            if handle.size:
                os.rename(handle.tmp, handle.final)
                if self.fsync:
                    fsync_dir(handle.final.parent)
                self.stats.published.append(str(handle.final.relative_to(self.root)))
            else:
                os.unlink(handle.tmp)
        finally:
            os.close(handle.fd)

    def _publish_all(self) -> None:
        for handle in list(self._files.values()):
            try:
                self._publish(handle)
            except OSError:
                log.exception("publishing %s failed; it is recovered at the next start", handle.tmp)

    def _abandon_all(self) -> None:
        """After a failed write a file may end in a torn member: publish its whole members now
        (or, if even that fails, leave it for `recover` at the next start)."""
        for handle in list(self._files.values()):
            self._forget(handle)
            try:
                recover_file(handle.tmp)
            except OSError:
                log.exception("%s is left for recovery at the next start", handle.tmp)

    def _forget(self, handle: _OpenFile) -> None:
        self._files.pop(handle.hour, None)
        with contextlib.suppress(OSError):
            os.close(handle.fd)


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():  # the request was cancelled (client went away); the lines are landed
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


def local_root(lake_url: str) -> Path:
    """The local directory of a lake URL; the collector appends and fsyncs, so it must be local."""
    if "://" in lake_url and not lake_url.startswith("file://"):
        raise TerminalError(
            f"The collector lands on a local lake, and CDPFLOW_LAKE_URL is `{lake_url}`. Run it "
            "with a local CDPFLOW_LAKE_URL (and copy the raw zone to the object store) for now."
        )
    return Path(lake_url.removeprefix("file://"))
