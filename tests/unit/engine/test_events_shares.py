from __future__ import annotations

from cdpflow.engine.duckdb_events_batches import _share
from cdpflow.lake.raw_reader import RawFile


def test_workers_get_whole_raw_hours_with_even_loads() -> None:
    sizes = {"h1": [50, 10], "h2": [40], "h3": [30, 5], "h4": [20], "h5": [10]}
    files = [
        RawFile(f"{hour}/{i}", hour, size)
        for hour, parts in sizes.items()
        for i, size in enumerate(parts)
    ]
    shares = _share(files, 2)
    hours = [{f.hour for f in share} for share in shares]
    assert hours[0].isdisjoint(hours[1]) and hours[0] | hours[1] == set(sizes)
    assert sorted(sum(f.size for f in share) for share in shares) == [80, 85]
    assert sorted(f.path for share in shares for f in share) == sorted(f.path for f in files)


def test_a_worker_without_hours_gets_an_empty_share() -> None:
    assert _share([RawFile("a", "h1", 5)], 3) == [[RawFile("a", "h1", 5)], [], []]


def test_hours_of_even_loads_go_to_each_worker_as_a_run_of_neighbours() -> None:
    # A worker writes a file per event date of its hours: runs of neighbouring hours keep a
    # day's rows in one file instead of one per worker.
    files = [RawFile(f"h{i}/0", f"2024-06-01T{i:02d}", 100 + i % 2) for i in range(6)]
    shares = _share(list(reversed(files)), 2)
    assert [[f.hour[-2:] for f in share] for share in shares] == [
        ["00", "01", "02"],
        ["03", "04", "05"],
    ]
