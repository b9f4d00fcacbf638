"""The README's table of quarantine reasons lists every reason_code events_incremental can
write, and nothing else; each has its meaning in QUARANTINE_REASONS."""

from __future__ import annotations

import re
from pathlib import Path

from cdpflow.engine import duckdb_events, duckdb_sql
from cdpflow.events.schema import QUARANTINE_REASONS

ROOT = Path(__file__).resolve().parents[3]


def _documented() -> list[str]:
    text = (ROOT / "README.md").read_text()
    table = text.split("<!-- reasons:", 1)[1].split("\n\n", 1)[0]
    return re.findall(r"^\| `(\w+)` \|", table, re.MULTILINE)


def _in_code() -> set[str]:
    rules = duckdb_sql._segment_rules(100) + duckdb_sql._blotout_rules(100)
    codes = {code for _, code, _ in rules}
    sql = duckdb_sql.flatten_sql("lines", 100)
    codes |= set(re.findall(r"THEN '(\w+)' ELSE '(\w+)' END AS reason_code", sql)[0])
    return codes | {duckdb_events.UNPROCESSABLE}


def test_every_quarantine_reason_is_documented_and_no_other() -> None:
    documented = _documented()
    assert len(documented) == len(set(documented))
    assert set(documented) == _in_code() == set(QUARANTINE_REASONS)
