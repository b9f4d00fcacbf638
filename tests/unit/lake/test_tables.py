from __future__ import annotations

import os
import posixpath
import threading
import time
import uuid
from collections.abc import Iterator

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cdpflow.errors import ConcurrentCommitError, TableNotFoundError
from cdpflow.lake.storage import STAGING_DIR, Lake, staging_dir
from cdpflow.lake.tables import DataFile, TableStore, promote, promote_rows


def test_commits_build_versions_and_replace_owned_files(lake: Lake) -> None:
    store = TableStore(lake)
    assert store.current("t") is None
    v1 = store.commit(
        "t",
        None,
        operation="load",
        add=[DataFile("a.parquet", 10, 100, "h1"), DataFile("b.parquet", 5, 50, "h2")],
        columns=[("x", "BIGINT")],
        properties={"raw_hours": {"h1": "f1"}},
    )
    v2 = store.commit(
        "t",
        v1,
        operation="rerun",
        add=[DataFile("c.parquet", 7, 70, "h1")],
        remove=lambda f: f.owner == "h1",
    )
    current = store.get("t")
    assert current == v2 and current.version == 2
    assert [f.path for f in current.files] == ["b.parquet", "c.parquet"]
    assert current.rows == 12 and current.columns == (
        ("x", "int64"),
    )  # the lake's names, not DuckDB's
    assert current.properties == {"raw_hours": {"h1": "f1"}}
    assert store.names() == ["t"]


def test_a_second_writer_on_the_same_base_is_refused(lake: Lake) -> None:
    store = TableStore(lake)
    base = store.commit("t", None, operation="a")
    store.commit("t", base, operation="b")
    with pytest.raises(ConcurrentCommitError, match="version 2"):
        store.commit("t", base, operation="c")
    assert store.get("t").operation == "b"


def test_readers_find_a_version_whose_hint_was_not_updated(lake: Lake) -> None:
    store = TableStore(lake)
    base = store.commit("t", None, operation="a")
    store.commit("t", base, operation="b")
    lake.write_bytes("t/_snapshots/LATEST", b"1")  # as if the writer died after the snapshot
    assert store.get("t").version == 2


def test_unknown_table_names_the_known_ones(lake: Lake) -> None:
    store = TableStore(lake)
    store.commit("core_events", None, operation="a")
    with pytest.raises(TableNotFoundError, match="core_events"):
        store.get("sessions")


def _staged(lake: Lake, rows: int = 1000) -> tuple[str, pa.Table]:
    """A Parquet file of `rows` rows staged in `lake`, as an engine leaves one."""
    table = pa.table({"n": pa.array(range(rows), pa.int64())})
    staged = f"{staging_dir('test')}/part.parquet"
    lake.makedirs(posixpath.dirname(staged))
    with lake.open(staged, "wb") as out:
        pq.write_table(table, out)
    return staged, table


@pytest.fixture
def memory_lake() -> Iterator[Lake]:
    """A lake behind an fsspec URL (memory:// stands in for s3://)."""
    root = f"/promote-{uuid.uuid4().hex}"
    yield Lake(f"memory://{root}")
    memory = fsspec.filesystem("memory")
    if memory.exists(root):
        memory.rm(root, recursive=True)


@pytest.mark.parametrize("kind", ["local", "fsspec"])
def test_promote_moves_a_staged_lake_file_into_the_table(
    kind: str, lake: Lake, memory_lake: Lake
) -> None:
    lake = lake if kind == "local" else memory_lake
    staged, table = _staged(lake)
    assert staged.startswith("_staging/test/") and lake.exists(staged)

    added = promote(lake, "t", staged, table.num_rows, owner="h1", partition={"d": "2026-11-20"})

    assert added.path.startswith("d=2026-11-20/part-") and added.owner == "h1"
    assert added.rows == 1000 and added.bytes == lake.size(f"t/{added.path}")
    assert lake.read_parquet(f"t/{added.path}").equals(table)
    assert not lake.exists(staged)
    assert [p for p, _ in lake.walk_files("t")] == [f"t/{added.path}"]


def test_promote_is_a_rename_so_a_reader_sees_the_whole_file_or_none(lake: Lake) -> None:
    staged, table = _staged(lake, rows=2_000_000)  # some megabytes: a copy would take a while
    size, inode = lake.size(staged), os.stat(lake.full(staged)).st_ino
    seen: list[int] = []
    done = threading.Event()

    def read_the_table_folder() -> None:
        while not done.is_set():
            for path, _ in lake.walk_files("t"):
                seen.append(os.stat(lake.full(path)).st_size)

    reader = threading.Thread(target=read_the_table_folder)
    reader.start()
    try:
        added = promote(lake, "t", staged, table.num_rows)
        time.sleep(0.05)  # the reader sees the published file too
    finally:
        done.set()
        reader.join()
    assert os.stat(lake.full(f"t/{added.path}")).st_ino == inode  # the same file, not a copy
    assert seen and set(seen) == {size}


def test_promote_takes_only_staged_files(lake: Lake) -> None:
    lake.write_bytes("other/part.parquet", b"PAR1")
    with pytest.raises(ValueError, match="not a staged file"):
        promote(lake, "t", "other/part.parquet", 1)
    assert lake.exists("other/part.parquet") and not lake.exists("t")


@pytest.mark.parametrize("kind", ["local", "fsspec"])
def test_promote_rows_leaves_nothing_staged(kind: str, lake: Lake, memory_lake: Lake) -> None:
    lake = lake if kind == "local" else memory_lake
    rows = pa.table({"n": [1, 2, 3]})
    added = promote_rows(lake, "t", rows, owner="o")
    assert lake.read_parquet(f"t/{added.path}").equals(rows)
    assert list(lake.walk_files(STAGING_DIR)) == []
