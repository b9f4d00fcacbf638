"""DuckDB's writers hand back files by their place in the lake, on a local lake and on one
behind an fsspec URL (memory:// stands in for s3://), where DuckDB writes locally first."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cdpflow.engine import open_engine
from cdpflow.lake.storage import Lake, staging_dir
from cdpflow.settings import Settings, load_settings


@pytest.fixture(params=["local", "fsspec"])
def lake_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    if request.param == "local":
        yield load_settings(env={"CDPFLOW_LAKE_URL": str(tmp_path / "lake")}, home=tmp_path)
        return
    root = f"/staging-{uuid.uuid4().hex}"
    yield load_settings(env={"CDPFLOW_LAKE_URL": f"memory://{root}"}, home=tmp_path)
    memory = fsspec.filesystem("memory")
    if memory.exists(root):
        memory.rm(root, recursive=True)


def test_rewrite_sorted_stages_its_files_in_the_lake(lake_settings: Settings) -> None:
    lake = Lake(lake_settings.lake_url)
    rows = pa.table({"t": [3, 1, 2] * 1000, "v": ["x"] * 3000})
    lake.makedirs("core_events")
    with lake.open("core_events/part-a.parquet", "wb") as out:
        pq.write_table(rows, out)
    staged = staging_dir("compression")
    engine = open_engine(lake_settings, lake)
    try:
        written = engine.rewrite_sorted(
            [lake.uri("core_events/part-a.parquet")], "t", staged, 1 << 20
        )
    finally:
        engine.close()

    assert [n for _, n in written] == [3000]
    ((path, _),) = written
    assert path.startswith(f"{staged}/") and lake.exists(path)
    assert lake.read_parquet(path)["t"].to_pylist() == sorted(rows["t"].to_pylist())
    # DuckDB wrote straight into a local lake; for another, its local copies are gone
    work = lake_settings.work_dir
    assert [p for p in work.rglob("*.parquet")] == []
