"""A `files` pipeline end to end through its job: merge rules, resume, schema changes, rejects."""

from __future__ import annotations

import os

import fsspec
import pytest

from cdpflow.elt.job import run
from cdpflow.elt.land import SchemaChangeError
from cdpflow.jobs import Interval
from cdpflow.lake.tables import TableStore


def _pipeline(settings, path: str, extra: str = "") -> None:
    folder = settings.home / "pipelines"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "shop.yml").write_text(
        "type: files\nresources:\n  customers:\n    primary_key: customer_id\n"
        f"    cursor: updated_at\n    deletes: deleted\n    path: '{path}'\n{extra}"
    )


def _write(path, text: str, mtime: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.utime(path, (mtime, mtime))


HEADER = "customer_id,email,updated_at,deleted\n"


def test_newest_cursor_wins_deletes_apply_and_a_rerun_changes_nothing(settings, query):
    imports = settings.home / "imports"
    _pipeline(settings, "imports/customers-*.csv")
    _write(
        imports / "customers-1.csv",
        HEADER + "c1,old@x.io,2026-01-02,false\nc2,two@x.io,2026-01-01,false\n"
        "c3,three@x.io,2026-01-01,false\n",
        1_000,
    )
    first = run(settings, Interval(), name="shop")
    assert first.loaded == {"shop__customers": 3}
    # a later file: c1 re-synced but older than what we have (loses), c2 newer (wins), c3 deleted
    _write(
        imports / "customers-2.csv",
        HEADER + "c1,older@x.io,2026-01-01,false\nc2,new@x.io,2026-01-05,false\n"
        "c3,three@x.io,2026-01-06,true\nc4,four@x.io,2026-01-06,false\n",
        2_000,
    )
    second = run(settings, Interval(), name="shop")
    assert second.loaded == {"shop__customers": 4}  # only the new file was read
    rows = query("SELECT customer_id, email FROM shop__customers ORDER BY customer_id")
    expected = [
        {"customer_id": "c1", "email": "old@x.io"},
        {"customer_id": "c2", "email": "new@x.io"},
        {"customer_id": "c4", "email": "four@x.io"},
    ]
    assert rows == expected
    again = run(settings, Interval(), name="shop")
    assert again.loaded == {"shop__customers": 0}
    assert query("SELECT customer_id, email FROM shop__customers ORDER BY 1") == expected
    assert "shop__customers: loaded 0 rows, 3 in the table" in again.summary()


def test_a_changed_file_is_read_again(settings, query):
    path = settings.home / "imports" / "customers.csv"
    _pipeline(settings, "imports/customers.csv")
    _write(path, HEADER + "c1,a@x.io,2026-01-01,false\n", 1_000)
    run(settings, Interval(), name="shop")
    _write(path, HEADER + "c1,b@x.io,2026-01-02,false\n", 2_000)
    assert run(settings, Interval(), name="shop").loaded == {"shop__customers": 1}
    assert query("SELECT email FROM shop__customers") == [{"email": "b@x.io"}]


def test_a_run_killed_before_its_commit_resumes_without_duplicates(settings, query, monkeypatch):
    _pipeline(settings, "imports/*.csv")
    _write(settings.home / "imports" / "a.csv", HEADER + "c1,a@x.io,2026-01-01,false\n", 1_000)
    run(settings, Interval(), name="shop")
    _write(settings.home / "imports" / "b.csv", HEADER + "c2,b@x.io,2026-01-01,false\n", 2_000)
    real_commit = TableStore.commit

    def killed(self, table, *args, **kwargs):
        if table == "shop__customers":
            raise KeyboardInterrupt("killed")
        return real_commit(self, table, *args, **kwargs)

    monkeypatch.setattr(TableStore, "commit", killed)
    with pytest.raises(KeyboardInterrupt):
        run(settings, Interval(), name="shop")
    monkeypatch.setattr(TableStore, "commit", real_commit)
    assert query("SELECT count(*) AS n FROM shop__customers") == [{"n": 1}]
    assert run(settings, Interval(), name="shop").loaded == {"shop__customers": 1}
    assert query("SELECT customer_id FROM shop__customers ORDER BY 1") == [
        {"customer_id": "c1"},
        {"customer_id": "c2"},
    ]


def test_a_new_source_column_appears_in_the_table(settings, query):
    _pipeline(settings, "imports/*.csv")
    _write(settings.home / "imports" / "a.csv", "customer_id,email\nc1,a@x.io\n", 1_000)
    run(settings, Interval(), name="shop")
    _write(settings.home / "imports" / "b.csv", "customer_id,email,tier\nc2,b@x.io,gold\n", 2_000)
    run(settings, Interval(), name="shop")
    assert query("SELECT customer_id, email, tier FROM shop__customers ORDER BY 1") == [
        {"customer_id": "c1", "email": "a@x.io", "tier": None},
        {"customer_id": "c2", "email": "b@x.io", "tier": "gold"},
    ]


def test_a_changed_column_type_fails_naming_both_types_and_commits_nothing(settings, query):
    _pipeline(settings, "imports/*.csv")
    _write(settings.home / "imports" / "a.csv", "customer_id,score\nc1,10\n", 1_000)
    run(settings, Interval(), name="shop")
    before = _table_version(settings)
    _write(settings.home / "imports" / "b.csv", "customer_id,score\nc2,high\n", 2_000)
    with pytest.raises(SchemaChangeError) as err:
        run(settings, Interval(), name="shop")
    message = str(err.value)
    assert "Resource `customers`" in message
    assert "column `score` from int64 to string" in message
    assert _table_version(settings) == before
    # the state did not move either: fixing the file and re-running reads it
    _write(settings.home / "imports" / "b.csv", "customer_id,score\nc2,7\n", 3_000)
    assert run(settings, Interval(), name="shop").loaded == {"shop__customers": 1}


def test_rows_that_break_the_declared_schema_go_to_elt_rejects_and_are_counted(settings, query):
    _pipeline(settings, "imports/*.csv", "    columns: {score: integer}\n")
    _write(
        settings.home / "imports" / "a.csv",
        "customer_id,score\nc1,10\nc2,lots\n,3\n",
        1_000,
    )
    result = run(settings, Interval(), name="shop")
    assert result.rejected == {"shop__customers": 2}
    assert "2 rejected" in result.summary() and "see elt_rejects" in result.summary()
    assert query("SELECT customer_id, score FROM shop__customers") == [
        {"customer_id": "c1", "score": 10}
    ]
    rejects = query("SELECT pipeline, resource, reason FROM elt_rejects ORDER BY reason")
    assert rejects == [
        {
            "pipeline": "shop",
            "resource": "customers",
            "reason": "column `score`: 'lots' is not a int64",
        },
        {
            "pipeline": "shop",
            "resource": "customers",
            "reason": "primary key column `customer_id` is empty",
        },
    ]


def test_csv_columns_declared_string_keep_their_text(settings, query):
    text = "customer_id,phone,zip,visits\nc1,+12125550100,02134,3\nc2,,10001,4\n"
    _write(settings.home / "imports" / "a.csv", text, 1_000)
    _pipeline(settings, "imports/*.csv", "    columns: {phone: string, zip: string}\n")
    run(settings, Interval(), name="shop")
    rows = query("SELECT customer_id, phone, zip, visits FROM shop__customers ORDER BY 1")
    assert rows == [  # undeclared columns are still inferred (visits: a number)
        {"customer_id": "c1", "phone": "+12125550100", "zip": "02134", "visits": 3},
        {"customer_id": "c2", "phone": None, "zip": "10001", "visits": 4},
    ]


def test_files_on_an_fsspec_memory_filesystem_new_files_only(settings, query):
    memory = fsspec.filesystem("memory")
    memory.pipe("/exports/orders-1.jsonl", b'{"order_id": 1, "total": 10.5}\n')
    folder = settings.home / "pipelines"
    folder.mkdir(parents=True)
    (folder / "pos.yml").write_text(
        "type: files\nresources:\n  - name: orders\n    primary_key: order_id\n"
        "    path: memory://exports/orders-*.jsonl\n"
    )
    assert run(settings, Interval(), name="pos").loaded == {"pos__orders": 1}
    memory.pipe("/exports/orders-2.jsonl", b'{"order_id": 2, "total": 3.0}\n')
    assert run(settings, Interval(), name="pos").loaded == {"pos__orders": 1}
    assert query("SELECT order_id, total FROM pos__orders ORDER BY 1") == [
        {"order_id": 1, "total": 10.5},
        {"order_id": 2, "total": 3.0},
    ]


def _table_version(settings):
    from cdpflow.lake.storage import Lake

    snapshot = TableStore(Lake(settings.lake_url)).current("shop__customers")
    return snapshot.version if snapshot else None
