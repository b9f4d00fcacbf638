"""An incremental run writes only what changed: a delta over the table's base, folded when large."""

from __future__ import annotations

import os

from cdpflow.elt.job import run
from cdpflow.jobs import Interval, compression
from cdpflow.lake.merge_on_read import base_files, delta_files
from cdpflow.lake.storage import Lake
from cdpflow.lake.tables import TableStore

HEADER = "customer_id,email,updated_at,deleted\n"
TABLE = "shop__customers"


def _pipeline(settings) -> None:
    folder = settings.home / "pipelines"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "shop.yml").write_text(
        "type: files\nresources:\n  customers:\n    primary_key: customer_id\n"
        "    cursor: updated_at\n    deletes: deleted\n    path: 'imports/*.csv'\n"
    )


def _write(settings, name: str, lines: list[str], mtime: int) -> None:
    path = settings.home / "imports" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + "".join(f"{line}\n" for line in lines))
    os.utime(path, (mtime, mtime))


def _snapshot(settings):
    return TableStore(Lake(settings.lake_url)).get(TABLE)


def _emails(query) -> dict[str, str]:
    rows = query(f"SELECT customer_id, email FROM {TABLE}")
    return {r["customer_id"]: r["email"] for r in rows}


def test_an_incremental_run_adds_a_delta_and_leaves_the_base_as_it_was(settings, query):
    _pipeline(settings)
    _write(settings, "a.csv", [f"c{i:03d},{i}@x.io,2026-01-01,false" for i in range(100)], 1_000)
    run(settings, Interval(), name="shop")
    first = _snapshot(settings)
    assert not delta_files(first)

    _write(
        settings,
        "b.csv",
        [
            "c001,new1@x.io,2026-01-05,false",  # newer: wins
            "c002,old2@x.io,2025-12-01,false",  # older than the stored row: loses
            "c003,,2026-01-05,true",  # deleted
            "c100,100@x.io,2026-01-05,false",  # new
        ],
        2_000,
    )
    second_run = run(settings, Interval(), name="shop")
    second = _snapshot(settings)
    assert second_run.loaded == {TABLE: 4}
    assert base_files(second) == base_files(first)  # the base was not rewritten
    assert sum(f.rows for f in delta_files(second)) == 3  # c001, the c003 tombstone, c100
    expected = {f"c{i:03d}": f"{i}@x.io" for i in range(101) if i != 3}
    expected["c001"] = "new1@x.io"
    assert _emails(query) == expected
    assert second.rows == second_run.rows[TABLE] == 100

    # the delta is replaced, not added to: a key only the delta had can be deleted again
    _write(settings, "c.csv", ["c100,,2026-01-06,true", "c001,newer1@x.io,2026-01-06,false"], 3_000)
    run(settings, Interval(), name="shop")
    third = _snapshot(settings)
    assert base_files(third) == base_files(first)
    del expected["c100"]
    expected["c001"] = "newer1@x.io"
    assert _emails(query) == expected
    assert third.rows == 99

    # a change to more than a fifth of the table folds the delta into a new base
    _write(
        settings, "d.csv", [f"c{i:03d},f{i}@x.io,2026-01-07,false" for i in range(50, 80)], 4_000
    )
    run(settings, Interval(), name="shop")
    folded = _snapshot(settings)
    assert not delta_files(folded) and base_files(folded) != base_files(first)
    expected.update({f"c{i:03d}": f"f{i}@x.io" for i in range(50, 80)})
    assert _emails(query) == expected
    assert folded.rows == sum(f.rows for f in folded.files) == 99


def test_compression_folds_the_delta_into_a_base_of_the_same_rows(settings, query):
    _pipeline(settings)
    _write(settings, "a.csv", [f"c{i:03d},{i}@x.io,2026-01-01,false" for i in range(50)], 1_000)
    run(settings, Interval(), name="shop")
    _write(settings, "b.csv", ["c001,,2026-01-05,true", "c002,two@x.io,2026-01-05,false"], 2_000)
    run(settings, Interval(), name="shop")
    before = _snapshot(settings)
    assert delta_files(before)
    rows_before = query(f"SELECT * FROM {TABLE} ORDER BY customer_id")

    result = compression.run(settings)
    after = _snapshot(settings)
    assert not delta_files(after)
    assert after.rows == sum(f.rows for f in after.files) == 49  # the tombstone is gone
    assert query(f"SELECT * FROM {TABLE} ORDER BY customer_id") == rows_before
    assert after.properties["elt_state"] == before.properties["elt_state"]
    assert any(t.table == TABLE and t.version == after.version for t in result.tables)
    # the next run merges on the folded base as on any other
    _write(settings, "c.csv", ["c003,three@x.io,2026-01-06,false"], 3_000)
    run(settings, Interval(), name="shop")
    assert _emails(query)["c003"] == "three@x.io"


def test_a_resource_with_no_rows_yet_is_a_table_with_its_columns(settings, query):
    _pipeline(settings)
    _write(settings, "a.csv", [], 1_000)  # the header only
    assert run(settings, Interval(), name="shop").loaded == {TABLE: 0}
    assert query(f"SELECT customer_id, email, _loaded_at FROM {TABLE}") == []
    _write(settings, "b.csv", ["c1,one@x.io,2026-01-01,false"], 2_000)
    run(settings, Interval(), name="shop")
    assert _emails(query) == {"c1": "one@x.io"}
