"""Spark removes writeKeys in Python: the text it leaves must be what DuckDB's json_remove does."""

from __future__ import annotations

import duckdb
import pytest

from cdpflow.engine.spark_python import without_write_keys

CASES = [
    '{"writeKey":"wk_live_0123","order_id":"o-1","total":19.9}',
    '{"writeKey":"wk","order_number":123456789012345678901234567890,"qty":2}',  # past 64 bits
    '{"writeKey":"wk","id":-98765432109876543210,"note":"caf\\u00e9 \\u2713"}',
    '{"writeKey":"wk","ref":"12345678901234567890123","price":1.10}',  # digits in a string
    '{"a":{"writeKey":"wk","b":[1,2,{"c":9223372036854775807}]}}',
]


@pytest.mark.parametrize("text", CASES)
def test_the_text_left_is_what_duckdb_leaves(text: str) -> None:
    con = duckdb.connect()
    (expected,) = con.execute(
        "SELECT json_remove(?::JSON, '$.writeKey')::VARCHAR", [text]
    ).fetchall()
    assert without_write_keys(text, (("writeKey",),)) == expected[0]
