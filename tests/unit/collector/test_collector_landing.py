from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support.raw_zone import landed_lines

from cdpflow.collector import landing
from cdpflow.collector.landing import FileSink, StorageError
from cdpflow.lake.raw import hour_dir, list_raw_hours
from cdpflow.lake.storage import Lake

T = datetime(2026, 11, 20, 13, 59, 50, tzinfo=UTC)
H13 = T.replace(minute=0, second=0)
H14 = H13 + timedelta(hours=1)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_landed_lines_stay_hidden_until_their_hour_ends(lake: Lake) -> None:
    clock = Clock(T)
    sink = FileSink(lake.root, clock=clock)
    sink.start()
    try:
        sink.land_sync([(H13, b'{"n":1}'), (H13, b'{"n":2}')])
        sink.land_sync([(H13, b'{"n":3}')])
        hidden = list(Path(lake.root, hour_dir(H13)).glob(".collector-*.landing"))
        assert len(hidden) == 1 and list_raw_hours(lake) == []
        clock.now = H14 + timedelta(seconds=3)
        sink.land_sync([(H14, b'{"n":4}')])  # the writer rotates after the commit, soon
        deadline = time.monotonic() + 10
        while not list_raw_hours(lake) and time.monotonic() < deadline:
            time.sleep(0.01)
        hours = list_raw_hours(lake)
        assert [h.key for h in hours] == ["2026-11-20T13"]
        assert landed_lines(lake) == [b'{"n":1}', b'{"n":2}', b'{"n":3}']
    finally:
        sink.close()
    assert [h.key for h in list_raw_hours(lake)] == ["2026-11-20T13", "2026-11-20T14"]
    assert not list(Path(lake.root).rglob(".*.landing"))


def test_an_idle_collector_publishes_the_hour_that_ended(lake: Lake) -> None:
    clock = Clock(T)
    sink = FileSink(lake.root, clock=clock)
    sink.start()
    try:
        sink.land_sync([(H13, b'{"n":1}')])
        clock.now = H14 + timedelta(seconds=3)  # no more traffic: the writer's tick publishes
        deadline = time.monotonic() + 5
        while not list_raw_hours(lake) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert landed_lines(lake) == [b'{"n":1}']
    finally:
        sink.close()


def test_files_rotate_at_the_size_limit(lake: Lake) -> None:
    sink = FileSink(lake.root, rotate_bytes=1024, clock=Clock(T))
    sink.start()
    try:
        for _ in range(20):
            sink.land_sync([(H13, b'{"payload":"%s"}' % os.urandom(200).hex().encode())])
    finally:
        sink.close()
    (hour,) = list_raw_hours(lake)
    assert len(hour.files) >= 5 and len(landed_lines(lake)) == 20


def test_lines_acknowledged_before_a_failure_are_published_at_once(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = FileSink(lake.root, clock=Clock(T))
    sink.start()
    try:
        sink.land_sync([(H13, b'{"n":1}')])
        real_fsync = os.fsync

        def failing_fsync(fd: int) -> None:
            monkeypatch.setattr(os, "fsync", real_fsync)  # only this one fails
            raise OSError(5, "Input/output error")

        monkeypatch.setattr(os, "fsync", failing_fsync)
        with pytest.raises(StorageError, match="Input/output error"):
            sink.land_sync([(H13, b'{"n":2}')])
        # the failed member was written whole, so it is kept too (at least once, never lost)
        assert landed_lines(lake) == [b'{"n":1}', b'{"n":2}']
    finally:
        sink.close()


def test_a_failed_write_is_reported_and_the_next_one_succeeds(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = FileSink(lake.root, clock=Clock(T))
    sink.start()
    try:
        real_write = os.write

        def full_disk(fd: int, data: object) -> int:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(os, "write", full_disk)
        with pytest.raises(StorageError, match="No space left"):
            sink.land_sync([(H13, b'{"n":1}')])
        assert not sink.healthy()
        monkeypatch.setattr(os, "write", real_write)
        sink.land_sync([(H13, b'{"n":2}')])
        assert sink.healthy()
    finally:
        sink.close()
    assert landed_lines(lake) == [b'{"n":2}']
    assert not list(Path(lake.root).rglob(".*.landing"))


def test_health_recovers_once_the_disk_is_writable_again_without_any_event(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A load balancer that took the node out sends it no event: /health must heal by itself."""
    monkeypatch.setattr(landing, "PROBE_SECONDS", 0.05, raising=False)
    sink = FileSink(lake.root, clock=Clock(T))
    sink.start()
    try:
        real_write = os.write
        monkeypatch.setattr(os, "write", _no_space)
        with pytest.raises(StorageError):
            sink.land_sync([(H13, b'{"n":1}')])
        time.sleep(0.06)
        assert not sink.healthy()  # the probe write fails too while the disk is full
        monkeypatch.setattr(os, "write", real_write)
        time.sleep(0.06)
        assert sink.healthy()  # space freed, no event sent
    finally:
        sink.close()
    assert not list(Path(lake.root).rglob(".*"))  # the probe left nothing behind


def test_health_says_503_on_a_full_disk_before_a_write_fails(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(landing, "PROBE_SECONDS", 0.0, raising=False)
    sink = FileSink(lake.root, clock=Clock(T))
    sink.start()
    real_statvfs = os.statvfs
    try:
        assert sink.healthy()
        monkeypatch.setattr(os, "statvfs", lambda path: _full(real_statvfs(path)))
        assert not sink.healthy()
        monkeypatch.setattr(os, "statvfs", real_statvfs)
        assert sink.healthy()
    finally:
        sink.close()


def _no_space(fd: int, data: object) -> int:
    raise OSError(28, "No space left on device")


def _full(real: os.statvfs_result) -> os.statvfs_result:
    values = list(real)
    values[4] = 10  # f_bavail: ten blocks left
    return os.statvfs_result(values)
