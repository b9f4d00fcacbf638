"""Both engines' flatten statements render the rules of events/quarantine.py from the one
declaration: every rule in order, with its code and every word of its message, in each
engine's dialect (no engine needed)."""

from __future__ import annotations

import re

import pytest

from cdpflow.engine import flatten_rules
from cdpflow.engine.duckdb_sql import DUCKDB, flatten_sql
from cdpflow.engine.rule_columns import RuleColumns, blotout_columns, segment_columns
from cdpflow.engine.spark_dialect import SPARK
from cdpflow.events import quarantine

FORMATS = [
    (quarantine.SEGMENT_RULES, segment_columns(corrected_text="skewed_ts")),
    (quarantine.BLOTOUT_RULES, blotout_columns()),
]


@pytest.mark.parametrize("dialect", [DUCKDB, SPARK], ids=["duckdb", "spark"])
@pytest.mark.parametrize(("rules", "columns"), FORMATS, ids=["segment", "blotout"])
def test_every_rule_is_rendered_in_order_with_its_code_and_message(
    dialect: flatten_rules.Dialect, rules: tuple[quarantine.Rule, ...], columns: RuleColumns
) -> None:
    broken, codes, messages = flatten_rules.checks(dialect, rules, columns, 1234)
    assert re.findall(r"THEN (\d+)", broken) == [str(i) for i in range(1, len(rules) + 1)]
    for i, rule in enumerate(rules, 1):
        assert f"WHEN {i} THEN {dialect.literal(rule.code)}" in codes
        message = messages.split(f"WHEN {i} THEN ", 1)[1].split(f" WHEN {i + 1} THEN ")[0]
        for text in re.split(r"\{\w+\}", rule.message.replace("{limit}", "1234")):
            if text:
                assert dialect.literal(text) in message, (rule, text)


def test_the_duckdb_statement_quarantines_by_each_formats_rules_in_order() -> None:
    sql = flatten_sql("lines", 1234)
    codes = re.findall(r"CASE broken_rule ((?:WHEN \d+ THEN '\w+' )+)END AS reason_code", sql)
    assert [re.findall(r"THEN '(\w+)'", c) for c in codes] == [
        [r.code for r in quarantine.SEGMENT_RULES],
        [r.code for r in quarantine.BLOTOUT_RULES],
    ]
