"""A killed collector's left-open raw files: whole members published, a torn tail dropped, a
live collector's file left alone."""

from __future__ import annotations

import fcntl
from datetime import UTC, datetime
from pathlib import Path

from support.raw_zone import gzip_member, landed_lines

from cdpflow.collector.recovery import PROBE_PREFIX, complete_members_length, recover
from cdpflow.lake.raw import hour_dir
from cdpflow.lake.storage import Lake

H13 = datetime(2026, 11, 20, 13, tzinfo=UTC)


def test_recovery_publishes_whole_members_and_drops_a_torn_tail(lake: Lake) -> None:
    directory = Path(lake.root, hour_dir(H13))
    directory.mkdir(parents=True)
    left = directory / ".collector-20261120T13-abc.jsonl.gz.landing"
    torn = gzip_member(b'{"n":3}', b'{"n":4}')
    left.write_bytes(gzip_member(b'{"n":1}') + gzip_member(b'{"n":2}') + torn[: len(torn) // 2])
    empty = directory / ".collector-20261120T13-empty.jsonl.gz.landing"
    empty.write_bytes(b"")

    published = recover(lake.root)

    assert [p.name for p in published] == ["collector-20261120T13-abc.jsonl.gz"]
    assert landed_lines(lake) == [b'{"n":1}', b'{"n":2}']
    assert not left.exists() and not empty.exists()


def test_recovery_leaves_a_live_collectors_file_alone(lake: Lake) -> None:
    directory = Path(lake.root, hour_dir(H13))
    directory.mkdir(parents=True)
    live = directory / ".collector-20261120T13-live.jsonl.gz.landing"
    live.write_bytes(gzip_member(b'{"n":1}'))
    with open(live, "rb") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        assert recover(lake.root) == []
    assert live.exists()


def test_recovery_removes_a_health_probe_a_killed_collector_left(lake: Lake) -> None:
    events = Path(lake.root, "raw", "events")
    events.mkdir(parents=True)
    probe = events / f"{PROBE_PREFIX}0123456789ab"
    probe.write_bytes(b"\0" * 4096)
    assert recover(lake.root) == []
    assert not probe.exists()


def test_complete_members_length_stops_at_garbage(tmp_path: Path) -> None:
    path = tmp_path / "f"
    good = gzip_member(b"a") + gzip_member(b"b")
    path.write_bytes(good + b"\x1f\x8b garbage")
    assert complete_members_length(path) == len(good)
