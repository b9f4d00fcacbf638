from __future__ import annotations

import pytest

from cdpflow.errors import ConcurrentCommitError, TableNotFoundError
from cdpflow.lake.storage import Lake
from cdpflow.lake.tables import DataFile, TableStore


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
