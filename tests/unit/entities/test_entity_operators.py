"""Every trait operator on every kind of column it fits, and the event keys (page, screen,
properties, between), each at its boundary, on three hand-built people as of 2026-11-30 12:00
UTC: strings compare case-insensitively, a missing value is not equal / not set, timestamps
compare by their UTC day."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pytest

from cdpflow.entities.compile import Compiler
from cdpflow.entities.parse import parse_entity
from cdpflow.entities.spec import Segment
from cdpflow.lake.types import neutral

AS_OF = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)  # the last 7 days: 2026-11-24 .. 2026-11-30


@pytest.fixture(scope="module")
def shop() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE customer_360 (global_user_id VARCHAR, revenue DOUBLE, country VARCHAR,"
        " emails VARCHAR[], last_order_at TIMESTAMPTZ, accepts_marketing BOOLEAN)"
    )
    con.execute(
        "INSERT INTO customer_360 VALUES "
        "('a', 50, 'US', ['A@Shop.com'], TIMESTAMPTZ '2026-11-24 00:00:00+00', true), "
        "('b', 150, 'de', ['b@other.org', 'b2@shop.com'], "
        " TIMESTAMPTZ '2026-11-23 23:59:59+00', false), "
        "('c', NULL, NULL, [], NULL, NULL)"
    )
    # a lake table keyed by global_user_id, without a row for c
    con.execute("CREATE TABLE loyalty (global_user_id VARCHAR, tier VARCHAR, points BIGINT)")
    con.execute("INSERT INTO loyalty VALUES ('a', 'Gold', 900), ('b', 'silver', 10)")
    con.execute(
        "CREATE TABLE unique_events (global_user_id VARCHAR, event_type VARCHAR,"
        " event_name VARCHAR, event_date DATE, path VARCHAR, properties VARCHAR)"
    )
    rows = [
        ("a", "page", None, "2026-11-29", "/Sale/shoes", "{}"),
        ("b", "page", None, "2026-11-29", "/about", "{}"),
        ("c", "screen", "Cart", "2026-11-29", None, "{}"),
        ("a", "track", "Order Completed", "2026-10-01", None, '{"value": 20, "coupon": "SPRING"}'),
        ("b", "track", "Order Completed", "2026-10-31", None, '{"value": 20.5}'),
        ("b", "track", "Order Completed", "2026-11-01", None, '{"value": "x"}'),
    ]
    con.executemany("INSERT INTO unique_events VALUES (?, ?, ?, ?, ?, ?)", rows)
    return con


def members(con: duckdb.DuckDBPyConnection, condition: str) -> set[str]:
    entity = parse_entity(f"kind: segment\nconditions: [{condition}]\n", "entities/s.yml", "s")
    assert isinstance(entity, Segment)
    tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
    described = {t: {c: k for c, k, *_ in con.execute(f"DESCRIBE {t}").fetchall()} for t in tables}
    # the job compiles against the lake's type names; DuckDB's own names compile the same
    schema = {t: {c: neutral(k) for c, k in columns.items()} for t, columns in described.items()}
    sql = Compiler(schema, AS_OF, {"s": entity}).segment_sql(entity)
    assert Compiler(described, AS_OF, {"s": entity}).segment_sql(entity) == sql
    return {row[0] for row in con.execute(sql).fetchall()}


TRAITS = [
    # text
    ("{trait: country, op: equals, value: us}", {"a"}),
    ("{trait: country, op: not_equals, value: US}", {"b", "c"}),  # NULL is not equal
    ("{trait: country, op: contains, value: E}", {"b"}),
    ("{trait: country, op: starts_with, value: D}", {"b"}),
    ("{trait: country, op: in, value: [de, FR]}", {"b"}),
    ("{trait: country, op: is_set}", {"a", "b"}),
    ("{trait: country, op: is_not_set}", {"c"}),
    # a list column: any element
    ("{trait: emails, op: contains, value: SHOP.COM}", {"a", "b"}),
    ("{trait: emails, op: equals, value: a@shop.com}", {"a"}),
    ("{trait: emails, op: not_equals, value: a@shop.com}", {"b", "c"}),
    ("{trait: emails, op: starts_with, value: B2}", {"b"}),
    ("{trait: emails, op: is_set}", {"a", "b"}),  # an empty list is not set
    ("{trait: emails, op: is_not_set}", {"c"}),
    # numbers
    ("{trait: revenue, op: equals, value: 50}", {"a"}),
    ("{trait: revenue, op: not_equals, value: 50}", {"b", "c"}),
    ("{trait: revenue, op: in, value: [50, 150]}", {"a", "b"}),
    ("{trait: revenue, op: greater_than, value: 150}", set()),
    ("{trait: revenue, op: at_least, value: 150}", {"b"}),
    ("{trait: revenue, op: less_than, value: 50}", set()),
    ("{trait: revenue, op: at_most, value: 50}", {"a"}),
    ("{trait: revenue, op: between, value: [50, 149.5]}", {"a"}),
    ("{trait: revenue, op: between, value: [50, 150]}", {"a", "b"}),
    # a timestamp by its UTC day; within_last_days at the day edge
    ("{trait: last_order_at, op: within_last_days, value: 7}", {"a"}),
    ("{trait: last_order_at, op: within_last_days, value: 8}", {"a", "b"}),
    ("{trait: last_order_at, op: equals, value: 2026-11-23}", {"b"}),
    ("{trait: last_order_at, op: greater_than, value: 2026-11-23}", {"a"}),
    ("{trait: last_order_at, op: at_least, value: 2026-11-23}", {"a", "b"}),
    ("{trait: last_order_at, op: less_than, value: 2026-11-24}", {"b"}),
    ("{trait: last_order_at, op: at_most, value: 2026-11-24}", {"a", "b"}),
    ("{trait: last_order_at, op: between, value: [2026-11-20, 2026-11-23]}", {"b"}),
    ("{trait: last_order_at, op: is_not_set}", {"c"}),
    # booleans
    ("{trait: accepts_marketing, op: equals, value: true}", {"a"}),
    ("{trait: accepts_marketing, op: not_equals, value: true}", {"b", "c"}),
    ("{trait: accepts_marketing, op: is_set}", {"a", "b"}),
    # table.column: a person without a row there is not equal / not set
    ("{trait: loyalty.tier, op: equals, value: gold}", {"a"}),
    ("{trait: loyalty.tier, op: not_equals, value: gold}", {"b", "c"}),
    ("{trait: loyalty.points, op: greater_than, value: 100}", {"a"}),
    ("{trait: loyalty.tier, op: is_not_set}", {"c"}),
]


@pytest.mark.parametrize(("condition", "expected"), TRAITS, ids=[c for c, _ in TRAITS])
def test_trait_operators(shop, condition: str, expected: set[str]) -> None:
    assert members(shop, condition) == expected


EVENTS = [
    # page and screen match those event types; names and values case-insensitively
    ("{page: '*', where: {path: {starts_with: /sale}}}", {"a"}),
    ("{page: '*'}", {"a", "b"}),
    ("{screen: cart}", {"c"}),
    ("{event: cart}", set()),  # a track event of that name: there is none
    ("{event: '*', where: {path: {is_set: true}}}", set()),  # track events have no path
    # a key that is not a column is one of the event's properties
    ("{event: Order Completed, where: {coupon: spring}}", {"a"}),
    ("{event: Order Completed, where: {properties.coupon: {is_not_set: true}}}", {"b"}),
    ("{event: Order Completed, where: {value: {greater_than: 20}}}", {"b"}),  # "x" is no number
    ("{event: Order Completed, where: {value: {at_least: 20}}}", {"a", "b"}),
    ("{event: Order Completed, where: {value: [20, 21]}}", {"a"}),
    # between: event days, both included
    ("{event: Order Completed, between: [2026-10-02, 2026-10-31]}", {"b"}),
    ("{event: Order Completed, between: [2026-10-01, 2026-10-30]}", {"a"}),
    ("{event: Order Completed, between: [2026-10-31, 2026-11-01], count: {exactly: 2}}", {"b"}),
    # at_most / exactly 0 include the people who never did it
    ("{event: Order Completed, count: {exactly: 0}}", {"c"}),
    ("{event: Order Completed, count: {at_most: 1}}", {"a", "c"}),
    ("{event: Order Completed, count: {at_least: 0}}", {"a", "b", "c"}),
]


@pytest.mark.parametrize(("condition", "expected"), EVENTS, ids=[c for c, _ in EVENTS])
def test_event_keys(shop, condition: str, expected: set[str]) -> None:
    assert members(shop, condition) == expected


def test_the_sql_escape_hatch_reads_the_lake_and_is_deduplicated(shop) -> None:
    entity = parse_entity(
        "kind: segment\nsql: select global_user_id from unique_events where event_type = 'track'\n",
        "entities/s.yml",
        "s",
    )
    assert isinstance(entity, Segment)
    schema = {"customer_360": {"global_user_id": "VARCHAR"}, "unique_events": {}}
    sql = Compiler(schema, AS_OF, {}).segment_sql(entity)
    assert sorted(shop.execute(sql).fetchall()) == [("a",), ("b",)]  # b's two orders: one row
