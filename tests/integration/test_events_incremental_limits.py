"""events_incremental at its limits: a lake on another disk, batched hours larger than the
engine's memory, many small hours in a backfill."""

from __future__ import annotations

import dataclasses
import errno
import os
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support.lake import LATER, lake_query

from cdpflow.engine.duckdb_common import connect
from cdpflow.engine.duckdb_events import EventsWorker
from cdpflow.errors import TerminalError
from cdpflow.jobs import Interval
from cdpflow.jobs.events_incremental import run
from cdpflow.lake.raw import RawWriter, Received
from cdpflow.lake.raw_reader import RawFile
from cdpflow.lake.storage import Lake
from cdpflow.lake.tables import TableStore
from cdpflow.settings import Settings, load_settings

T = datetime(2026, 11, 20, 13, 5, tzinfo=UTC)


def _track(message_id: str, **extra: object) -> dict:
    return {
        "type": "track",
        "event": "Product Viewed",
        "messageId": message_id,
        "anonymousId": "anon-1",
        "timestamp": "2026-11-20T13:04:00.000Z",
        **extra,
    }


@pytest.fixture
def lake_on_other_disk(tmp_path: Path) -> Iterator[Path]:
    """A lake folder on another filesystem than CDPFLOW_HOME (a tmpfs), as a mounted data
    volume would be."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no tmpfs on another filesystem than the test's folder")
    folder = shm / f"cdpflow-test-{uuid.uuid4().hex}"
    folder.mkdir()
    try:
        yield folder / "lake"
    finally:
        for path in sorted(folder.rglob("*"), reverse=True):
            path.rmdir() if path.is_dir() and not path.is_symlink() else path.unlink()
        folder.rmdir()


def test_a_lake_on_another_filesystem_than_the_home_is_written(
    tmp_path: Path, lake_on_other_disk: Path
) -> None:
    settings = load_settings(env={"CDPFLOW_LAKE_URL": str(lake_on_other_disk)}, home=tmp_path)
    assert os.stat(settings.work_dir.parent).st_dev != os.stat(lake_on_other_disk.parent).st_dev
    with RawWriter(Lake(settings.lake_url)) as writer:
        writer.write(Received(T, "web", _track("m-1")))
        writer.write(Received(T, "web", {"type": "track"}))  # quarantined: no id

    result = run(settings, now=LATER)

    assert (result.written, result.quarantined) == (1, 1)
    assert lake_query(settings, "SELECT event_id FROM core_events") == [{"event_id": "m-1"}]
    assert lake_query(settings, "SELECT reason_code FROM quarantine_events") == [
        {"reason_code": "missing_id"}
    ]
    hidden = [p for p in lake_on_other_disk.rglob(".*") if p.is_file()]
    assert hidden == []  # no temporary copies left behind


def test_a_lake_whose_renames_fail_across_devices_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same where no second filesystem is at hand: renames out of CDPFLOW_HOME/work fail
    with EXDEV, as they do when the lake is on another disk."""
    settings = load_settings(env={}, home=tmp_path)
    real_replace = os.replace

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        if Path(src).is_relative_to(settings.work_dir):
            raise OSError(errno.EXDEV, os.strerror(errno.EXDEV), str(src), None, str(dst))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with RawWriter(Lake(settings.lake_url)) as writer:
        writer.write(Received(T, "web", _track("m-1")))

    assert run(settings, now=LATER).written == 1
    assert lake_query(settings, "SELECT event_id FROM core_events") == [{"event_id": "m-1"}]


def _batch_lines(batches: int, per_batch: int, seed: int = 7) -> list[Received]:
    """`/v1/batch` bodies as server-side SDKs send them: `per_batch` events of about 600 bytes
    each, with a field of random text so they do not compress away."""
    rng = random.Random(seed)
    lines = []
    for b in range(batches):
        items = [
            _track(
                f"b{b}-{i}",
                context={"page": {"url": f"https://shop.example.com/p/{rng.randrange(5000)}"}},
                properties={
                    "sku": f"SKU-{rng.randrange(10_000)}",
                    "note": rng.randbytes(150).hex(),
                },
            )
            for i in range(per_batch)
        ]
        lines.append(Received(T, "server", {"batch": items, "sentAt": "2026-11-20T13:04:01Z"}))
    return lines


def _small_engine(tmp_path: Path, name: str, **changes: int) -> Settings:
    """Settings with the smallest engine memory allowed (100 MB), in this process."""
    settings = load_settings(env={}, home=tmp_path / name)
    return dataclasses.replace(
        settings, engine_memory_bytes=100_000_000, engine_threads=1, **changes
    )


def test_batched_traffic_larger_than_the_engine_memory_allows_per_chunk_is_flattened(
    tmp_path: Path,
) -> None:
    """12 MB of 100-event batch lines in one 64 MB chunk need more than 100 MB in DuckDB (the
    review's out-of-memory, at a fifth of its scale); the job cuts its chunks to fit."""
    settings = _small_engine(tmp_path, "home")
    with RawWriter(Lake(settings.lake_url)) as writer:
        for line in _batch_lines(200, 100):
            writer.write(line)

    result = run(settings, now=LATER)

    assert (result.read, result.written, result.quarantined) == (20_000, 20_000, 0)
    counted = lake_query(settings, "SELECT count(DISTINCT event_id) AS n FROM core_events")
    assert counted == [{"n": 20_000}]


def test_batches_of_many_tiny_items_fit_the_engine_memory(tmp_path: Path) -> None:
    """Batches of 10,000 empty items: few bytes, many rows; each item is quarantined."""
    settings = _small_engine(tmp_path, "home")
    with RawWriter(Lake(settings.lake_url)) as writer:
        for _ in range(150):
            writer.write(Received(T, "server", {"batch": [{}] * 10_000}))

    result = run(settings, now=LATER)

    assert (result.read, result.written, result.quarantined) == (1_500_000, 0, 1_500_000)
    reasons = lake_query(
        settings, "SELECT reason_code, count(*) AS n FROM quarantine_events GROUP BY ALL"
    )
    assert reasons == [{"reason_code": "missing_id", "n": 1_500_000}]


def test_a_chunk_that_runs_out_of_memory_is_flattened_in_halves(tmp_path: Path) -> None:
    """Whatever the estimate missed: a statement that runs out of memory is retried on each
    half of its lines, and the rows are those of a roomy engine."""
    lake = Lake(str(tmp_path / "lake"))
    with RawWriter(lake) as writer:
        for line in _batch_lines(120, 100):
            writer.write(line)
    files = [RawFile(path, "2026-11-20T13", size) for path, size in lake.walk_files("raw")]
    rows = {}
    for name, memory in (("tight", "60MB"), ("roomy", "2GB")):
        con = connect(
            config={"threads": 1, "memory_limit": memory, "temp_directory": str(tmp_path / name)}
        )
        # No memory estimate: one chunk. No fast path: its plain batches never run the statement.
        worker = EventsWorker(con, lake, 64_000_000, 32_768, fast_path=False)
        counts = worker.flatten("flat", files, tmp_path / f"{name}.parquet")
        rows[name] = (
            counts,
            con.execute("SELECT * FROM flat ORDER BY line_no, item_index").fetchall(),
        )
        if name == "tight":
            assert worker.split_chunks > 0
        else:
            assert worker.split_chunks == 0
        con.close()
    assert rows["tight"] == rows["roomy"]
    assert rows["tight"][0].events == 12_000


def test_a_line_too_large_for_the_engine_memory_names_itself(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    with RawWriter(lake) as writer:
        writer.write(Received(T, "server", {"batch": [{}] * 300_000}))
    files = [RawFile(path, "2026-11-20T13", size) for path, size in lake.walk_files("raw")]
    con = connect(config={"threads": 1, "memory_limit": "20MB"})
    worker = EventsWorker(con, lake, 64_000_000, 32_768)
    with pytest.raises(
        TerminalError,
        match=r"Line 1 of raw file raw/events/.* needs more memory .* CDPFLOW_ENGINE_MEMORY_BYTES",
    ):
        worker.flatten("flat", files, tmp_path / "keys.parquet")


def test_rerunning_one_small_hour_replaces_exactly_its_rows(tmp_path: Path) -> None:
    """A backfill's small hours share files; a re-run of one hour after a late file landed in
    it adds that file's events and leaves every other hour's rows as they were."""
    settings = load_settings(env={}, home=tmp_path)
    lake = Lake(settings.lake_url)
    with RawWriter(lake) as writer:
        for h in range(48):
            for i in range(20):
                writer.write(Received(T + timedelta(hours=h), "web", _track(f"h{h}-{i}")))
    run(settings, now=LATER)
    per_hour = (
        "SELECT strftime(received_at, '%Y-%m-%dT%H') AS hour, count(*) AS n, "
        "sum(hash(event_id, event_time, properties)) AS h FROM core_events GROUP BY 1 ORDER BY 1"
    )
    before = lake_query(settings, per_hour)
    files = TableStore(lake).get("core_events").files
    assert len(files) < 48 and max(len(f.owners) for f in files) > 1  # hours share files
    with RawWriter(lake) as writer:  # a late file in hour 2026-11-20T20
        writer.write(Received(T + timedelta(hours=7), "web", _track("late-1")))

    hour = T.replace(minute=0) + timedelta(hours=7)
    rerun = run(settings, Interval(hour, hour + timedelta(hours=1)), now=LATER)

    assert "2026-11-20T20" in rerun.hours and rerun.written == len(rerun.hours) * 20 + 1
    after = lake_query(settings, per_hour)
    changed = [row["hour"] for row, old in zip(after, before, strict=True) if row != old]
    assert changed == ["2026-11-20T20"]
    assert lake_query(settings, "SELECT count(*) AS n FROM core_events") == [{"n": 48 * 20 + 1}]
