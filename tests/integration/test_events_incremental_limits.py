"""events_incremental at its limits: a lake on another disk, batched hours larger than the
engine's memory, many small hours in a backfill."""

from __future__ import annotations

import errno
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import LATER, lake_query

from cdpflow.jobs.events_incremental import run
from cdpflow.lake.raw import RawWriter, Received
from cdpflow.lake.storage import Lake
from cdpflow.settings import load_settings

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
