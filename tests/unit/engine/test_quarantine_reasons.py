"""The README's table of quarantine reasons lists every reason_code events_incremental can
write, and nothing else; each has its meaning in QUARANTINE_REASONS, and every code the
engine's statement writes comes from the declarations in cdpflow.events.quarantine."""

from __future__ import annotations

import re
from pathlib import Path

from cdpflow.engine import duckdb_events, duckdb_sql
from cdpflow.events import quarantine
from cdpflow.events.quarantine import QUARANTINE_REASONS

ROOT = Path(__file__).resolve().parents[3]


def _documented() -> list[str]:
    text = (ROOT / "README.md").read_text()
    table = text.split("<!-- reasons:", 1)[1].split("\n\n", 1)[0]
    return re.findall(r"^\| `(\w+)` \|", table, re.MULTILINE)


def _declared() -> set[str]:
    rules = quarantine.SEGMENT_RULES + quarantine.BLOTOUT_RULES
    line_codes = {quarantine.INVALID_JSON, quarantine.UNKNOWN_FORMAT, quarantine.UNPROCESSABLE}
    return {rule.code for rule in rules} | line_codes


def _in_code() -> set[str]:
    sql = duckdb_sql.flatten_sql("lines", 100)
    rules = re.findall(r"CASE broken_rule ((?:WHEN \d+ THEN '\w+' )+)END AS reason_code", sql)
    assert len(rules) == 2  # Segment's and Blotout's
    codes = set(re.findall(r"THEN '(\w+)'", " ".join(rules)))
    codes |= set(re.findall(r"THEN '(\w+)' ELSE '(\w+)' END AS reason_code", sql)[0])
    return codes | {duckdb_events.UNPROCESSABLE}


def test_every_quarantine_reason_is_documented_and_no_other() -> None:
    documented = _documented()
    assert len(documented) == len(set(documented))
    assert set(documented) == _declared() == _in_code() == set(QUARANTINE_REASONS)
