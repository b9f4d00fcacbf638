"""Publishing local files into the lake: whole files only, on the lake's filesystem or another."""

from __future__ import annotations

import errno
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cdpflow.lake.storage import Lake, local_root

_SHM = Path("/dev/shm")


def _other_filesystem(tmp_path: Path) -> Path | None:
    """A writable folder on another filesystem than `tmp_path` (a tmpfs), if the machine has one."""
    if not _SHM.is_dir() or not os.access(_SHM, os.W_OK):
        return None
    if os.stat(_SHM).st_dev == os.stat(tmp_path).st_dev:
        return None
    return _SHM


@pytest.fixture
def other_disk(tmp_path: Path) -> Iterator[Path]:
    base = _other_filesystem(tmp_path)
    if base is None:
        pytest.skip("no writable tmpfs on another filesystem than the test's folder")
    folder = base / f"cdpflow-test-{uuid.uuid4().hex}"
    folder.mkdir()
    try:
        yield folder
    finally:
        for path in sorted(folder.rglob("*"), reverse=True):
            path.rmdir() if path.is_dir() else path.unlink()
        folder.rmdir()


def _cross_device_rename(monkeypatch: pytest.MonkeyPatch, staging: Path) -> list[tuple[str, str]]:
    """Make renames out of `staging` fail as they do across filesystems (EXDEV); record the
    renames that happen."""
    real_replace = os.replace
    renames: list[tuple[str, str]] = []

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        if Path(src).is_relative_to(staging):
            raise OSError(errno.EXDEV, os.strerror(errno.EXDEV), str(src), None, str(dst))
        renames.append((str(src), str(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    return renames


def test_put_copies_into_a_lake_on_another_filesystem(tmp_path: Path, other_disk: Path) -> None:
    staged = tmp_path / "work" / "part.parquet"
    staged.parent.mkdir()
    staged.write_bytes(b"PAR1" + os.urandom(100_000))
    content = staged.read_bytes()
    lake = Lake(str(other_disk / "lake"))

    lake.put(staged, "core_events/event_date=2026-11-20/part.parquet")

    assert lake.read_bytes("core_events/event_date=2026-11-20/part.parquet") == content
    assert not staged.exists()
    assert os.listdir(other_disk / "lake" / "core_events" / "event_date=2026-11-20") == [
        "part.parquet"
    ]


def test_put_across_devices_renames_only_within_the_lake(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    staging = tmp_path / "work"
    staged = staging / "part.parquet"
    staging.mkdir()
    staged.write_bytes(b"x" * 300_000)
    lake = Lake(str(tmp_path / "lake"))
    renames = _cross_device_rename(monkeypatch, staging)

    lake.put(staged, "t/p=1/part.parquet")

    assert lake.read_bytes("t/p=1/part.parquet") == b"x" * 300_000
    assert not staged.exists()
    ((src, dst),) = renames  # the one rename: a hidden copy beside the target, onto it
    assert Path(src).parent == Path(dst).parent == tmp_path / "lake" / "t" / "p=1"
    assert Path(src).name.startswith(".")
    assert os.listdir(tmp_path / "lake" / "t" / "p=1") == ["part.parquet"]


def test_a_failed_copy_across_devices_leaves_no_file_in_the_lake(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    staging = tmp_path / "work"
    staged = staging / "part.parquet"
    staging.mkdir()
    staged.write_bytes(b"x" * 1000)
    lake = Lake(str(tmp_path / "lake"))
    _cross_device_rename(monkeypatch, staging)

    real_fsync = os.fsync

    def full_disk(fd: int) -> None:  # the lake's disk is full; the staging disk is not
        if Path(os.readlink(f"/proc/self/fd/{fd}")).is_relative_to(tmp_path / "lake"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space"):
        lake.put(staged, "t/p=1/part.parquet")
    assert os.listdir(tmp_path / "lake" / "t" / "p=1") == []
    assert staged.exists()  # still staged: the run fails and can be repeated


_TREE = {
    "raw/events/2024-03-11T00/h=03/a.jsonl.gz": b"abc",
    "raw/events/2024-03-11T00/h=03/.hidden.tmp": b"",
    "raw/events/2024-03-11T00/h=01/deep/b.jsonl.gz": b"hello",
    "raw/events/2024-03-10T00/h=23/c.jsonl.gz": b"x" * 10,
    "core_events/part.parquet": b"pq",
}


@pytest.mark.parametrize("where", ["local", "memory"])
def test_listing_gives_names_paths_and_sizes_in_order(tmp_path: Path, where: str) -> None:
    """A local lake is listed with os, another with fsspec: both answer the same."""
    url = str(tmp_path / "lake") if where == "local" else f"memory://lake-{uuid.uuid4().hex}"
    lake = Lake(url)
    for rel, data in _TREE.items():
        if rel.endswith(".tmp"):
            _plain_write(lake, rel, data)
        else:
            lake.write_bytes(rel, data)

    assert lake.listdir("raw/events") == ["2024-03-10T00", "2024-03-11T00"]
    assert lake.listdir("raw/events/2024-03-11T00") == ["h=01", "h=03"]
    assert lake.listdir("raw/missing") == []
    assert list(lake.walk_files("raw/events/2024-03-11T00")) == [
        ("raw/events/2024-03-11T00/h=01/deep/b.jsonl.gz", 5),
        ("raw/events/2024-03-11T00/h=03/.hidden.tmp", 0),
        ("raw/events/2024-03-11T00/h=03/a.jsonl.gz", 3),
    ]
    assert [path for path, _ in lake.walk_files("")] == sorted(_TREE)
    assert list(lake.walk_files("core_events/part.parquet")) == [("core_events/part.parquet", 2)]
    assert list(lake.walk_files("nowhere")) == []


def _plain_write(lake: Lake, rel: str, data: bytes) -> None:
    """A file written in place, as a crashed writer leaves its hidden temporary file."""
    lake.makedirs(rel.rsplit("/", 1)[0])
    with lake.open(rel, "wb") as handle:
        handle.write(data)


def test_a_local_lake_lists_through_a_symlinked_folder(tmp_path: Path) -> None:
    """A raw zone linked in from another disk is listed like one inside the lake."""
    elsewhere = tmp_path / "elsewhere" / "h=05"
    elsewhere.mkdir(parents=True)
    (elsewhere / "e.jsonl.gz").write_bytes(b"1234")
    (tmp_path / "lake" / "raw" / "events" / "2024-03-11T00").mkdir(parents=True)
    os.symlink(elsewhere, tmp_path / "lake" / "raw" / "events" / "2024-03-11T00" / "h=05")
    lake = Lake(str(tmp_path / "lake"))
    assert lake.listdir("raw/events/2024-03-11T00") == ["h=05"]
    assert list(lake.walk_files("raw")) == [("raw/events/2024-03-11T00/h=05/e.jsonl.gz", 4)]


@pytest.mark.parametrize(
    "url",
    ["/srv/lake/", "lake", "./lake", ".", "~/lake", "file:///srv/lake", "file:/srv/lake", "/"],
)
def test_a_local_lake_is_rooted_where_fsspec_would_root_it(url: str) -> None:
    """A local lake works without fsspec, at the folder fsspec would give (paths in error
    messages and engines' file lists stay the same)."""
    import fsspec

    _, root = fsspec.core.url_to_fs(url)
    lake = Lake(url)
    assert lake.is_local and lake.root == (root.rstrip("/") or "/")


@pytest.mark.parametrize("url", ["memory://lake", "s3://bucket/lake", "simplecache::s3://b/l"])
def test_other_urls_are_not_local(url: str) -> None:
    assert local_root(url) is None
