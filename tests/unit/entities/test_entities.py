"""Entity files: parsing errors name file, key and what is allowed; compiled segments select the
right people on hand-built tables (boundaries of counts, days, any/all, not, nesting)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml
from support.lake import CASES

from cdpflow.entities.compile import Compiler
from cdpflow.entities.folder import load_folder
from cdpflow.entities.pack import shop_pipeline
from cdpflow.entities.parse import parse_entity
from cdpflow.entities.spec import EntityError, Funnel, Segment
from cdpflow.settings import load_settings

AS_OF = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def segment(text: str) -> Segment:
    entity = parse_entity(text, "entities/s.yml", "s")
    assert isinstance(entity, Segment)
    return entity


@pytest.fixture
def lake() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE customer_360 (global_user_id VARCHAR, revenue DOUBLE, country VARCHAR)"
    )
    con.execute(
        "INSERT INTO customer_360 VALUES ('a', 50, 'US'), ('b', 150, 'de'), ('c', NULL, NULL)"
    )
    con.execute(
        "CREATE TABLE unique_events (global_user_id VARCHAR, event_type VARCHAR,"
        " event_name VARCHAR, event_date DATE, currency VARCHAR)"
    )
    rows = [
        ("a", "track", "Order Completed", "2026-11-30", "USD"),
        ("b", "track", "Order Completed", "2026-11-29", "USD"),
        ("b", "track", "order completed", "2026-09-02", "usd"),  # day 90 back is 2026-09-02
        ("c", "track", "Order Completed", "2026-09-01", "USD"),  # one day too old
    ]
    con.executemany("INSERT INTO unique_events VALUES (?, ?, ?, ?, ?)", rows)
    return con


def members(con: duckdb.DuckDBPyConnection, seg: Segment) -> set[str]:
    tables = {
        t: {c: k for c, k, *_ in con.execute(f"DESCRIBE {t}").fetchall()}
        for t in ("customer_360", "unique_events")
    }
    sql = Compiler(tables, AS_OF, {seg.name: seg}).segment_sql(seg)
    return {row[0] for row in con.execute(sql).fetchall()}


ORDERS = """
kind: segment
conditions:
  - event: Order Completed
    where: {{currency: {{equals: usd}}}}
    count: {{{op}: {n}}}
    within_days: 90
"""


@pytest.mark.parametrize(
    ("op", "n", "expected"),
    [
        ("at_least", 2, {"b"}),
        ("at_least", 1, {"a", "b"}),
        ("exactly", 1, {"a"}),
        ("at_most", 1, {"a", "c"}),
    ],
)
def test_count_boundaries_and_the_day_edge(lake, op, n, expected) -> None:
    assert members(lake, segment(ORDERS.format(op=op, n=n))) == expected


def test_traits_any_all_not_and_nesting(lake) -> None:
    rich = "kind: segment\nconditions: [{trait: revenue, op: greater_than, value: 100}]\n"
    assert members(lake, segment(rich)) == {"b"}
    at_least = "kind: segment\nconditions: [{trait: revenue, op: at_least, value: 150}]\n"
    assert members(lake, segment(at_least)) == {"b"}
    unset = "kind: segment\nconditions: [{trait: country, op: is_not_set}]\n"
    assert members(lake, segment(unset)) == {"c"}
    case = "kind: segment\nconditions: [{trait: country, op: equals, value: DE}]\n"
    assert members(lake, segment(case)) == {"b"}
    nested = """
kind: segment
match: any
conditions:
  - not: {trait: revenue, op: is_set}
  - match: all
    conditions:
      - {trait: country, op: in, value: [us, de]}
      - {trait: revenue, op: less_than, value: 100}
"""
    assert members(lake, segment(nested)) == {"a", "c"}


def test_a_wrong_operator_names_file_key_and_allowed_values() -> None:
    text = (
        "kind: segment\nconditions:\n  - {event: X}\n  - {trait: revenue, op: greater, value: 1}\n"
    )
    with pytest.raises(EntityError) as err:
        parse_entity(text, "entities/vip.yml", "vip")
    message = str(err.value)
    assert message.startswith(
        "`op: greater` in entities/vip.yml, conditions[1]: use one of equals,"
    )
    assert "within_last_days" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("kind: segmnt\n", "`kind: segmnt` in entities/s.yml, kind: use one of segment, funnel"),
        (
            "kind: segment\nmatch: some\nconditions: [{event: X}]\n",
            "`match: some` in entities/s.yml, match: use one of all, any",
        ),
        (
            "kind: segment\nsql: delete from customer_360\n",
            "`sql` starting with `delete` in entities/s.yml, sql: the escape hatch is read-only",
        ),
        (
            "kind: segment\nsql: select 1; drop table x\n",
            "`sql` holds several statements in entities/s.yml, sql: write one SELECT",
        ),
        (
            "kind: funnel\nsteps: [{event: A}, {event: B}]\norder: random\n",
            "`order: random` in entities/s.yml, order: use one of sequential, strict, any",
        ),
    ],
)
def test_error_messages(text: str, expected: str) -> None:
    with pytest.raises(EntityError) as err:
        parse_entity(text, "entities/s.yml", "s")
    assert str(err.value).startswith(expected)


def test_a_broken_file_and_a_cycle_do_not_stop_the_others(tmp_path: Path) -> None:
    folder = tmp_path / "entities"
    folder.mkdir()
    (folder / "ok.yml").write_text("kind: segment\nconditions: [{event: Order Completed}]\n")
    (folder / "bad.yml").write_text("kind: segment\nconditions: [{trait: x, op: nope, value: 1}]\n")
    (folder / "p.yml").write_text("kind: segment\nconditions: [{in_segment: q}]\n")
    (folder / "q.yml").write_text("kind: segment\nconditions: [{not: {in_segment: p}}]\n")
    loaded = load_folder(folder)
    assert set(loaded.entities) == {"ok"}
    assert set(loaded.errors) == {"bad", "p", "q"}
    assert "cycle: p -> q -> p" in str(loaded.errors["p"])


TWO_STEP_EVENTS = [
    ("p", "A", "0 seconds"),  # A, X, B: sequential and any convert, strict does not
    ("p", "X", "1 hour"),
    ("p", "B", "2 hours"),
    ("q", "B", "0 seconds"),  # B before A: only any converts
    ("q", "A", "1 hour"),
    ("r", "A", "0 seconds"),  # B one second past the 7-day window
    ("r", "B", "7 days 1 second"),
    ("w", "A", "0 seconds"),  # B exactly at the window's end counts
    ("w", "B", "7 days"),
    ("s", "A", "0 seconds"),  # refunded between the steps
    ("s", "Refund", "1 hour"),
    ("s", "B", "2 hours"),
]


def run_funnel(text: str, events: list[tuple[str, ...]]) -> list[tuple[Any, ...]]:
    """funnel_people's rows (person, entered_at, furthest_step, step_times, converted) of the
    funnel in `text` over `events`: (person, track event name, offset from 2026-11-01 10:00
    UTC), or (person, event type, name, offset, path) for page and screen events."""
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE unique_events (global_user_id VARCHAR, event_id VARCHAR, event_type VARCHAR,"
        " event_name VARCHAR, event_time TIMESTAMPTZ, event_date DATE, path VARCHAR)"
    )
    start = "2026-11-01 10:00:00+00"
    for i, event in enumerate(events):
        person, kind, name, offset, path = (
            event if len(event) == 5 else (event[0], "track", event[1], event[2], None)
        )
        con.execute(
            "INSERT INTO unique_events SELECT ?, ?, ?, ?, t, CAST(t AS DATE), ? FROM "
            f"(SELECT TIMESTAMPTZ '{start}' + INTERVAL '{offset}' AS t)",
            [person, f"e{i:02d}", kind, name, path],
        )
    funnel = parse_entity(text, "entities/f.yml", "f")
    assert isinstance(funnel, Funnel)
    schema = {
        "unique_events": {c: k for c, k, *_ in con.execute("DESCRIBE unique_events").fetchall()}
    }
    return con.execute(Compiler(schema, AS_OF, {}).funnel_sql(funnel)).fetchall()


def funnel_rows(order: str, exclude: str = "") -> dict[str, tuple[int, bool]]:
    text = f"kind: funnel\nsteps: [{{event: a}}, {{event: b}}]\nwindow_days: 7\norder: {order}\n"
    rows = run_funnel(text + exclude, TWO_STEP_EVENTS)
    return {p: (step, done) for p, _, step, _, done in rows}


def test_funnel_order_modes_window_edge_and_exclusion() -> None:
    sequential = funnel_rows("sequential")
    assert sequential == {
        "p": (2, True),
        "q": (1, False),
        "r": (1, False),
        "w": (2, True),
        "s": (2, True),
    }
    assert funnel_rows("strict")["p"] == (1, False)
    assert funnel_rows("strict")["s"] == (1, False)
    assert funnel_rows("strict")["w"] == (2, True)  # B is the very next event
    unordered = funnel_rows("any")
    assert unordered["q"] == (2, True)
    assert unordered["r"] == (1, False)
    excluded = funnel_rows("sequential", "exclude: [{event: Refund}]\n")
    assert "s" not in excluded
    assert excluded["p"] == (2, True)


INTERLEAVED = [
    ("m", "A", "0 seconds"),  # A B A C B
    ("m", "B", "1 hour"),
    ("m", "A", "2 hours"),
    ("m", "C", "3 hours"),
    ("m", "B", "4 hours"),
    ("n", "C", "0 seconds"),  # C B A
    ("n", "B", "1 hour"),
    ("n", "A", "2 hours"),
    ("o", "A", "0 seconds"),  # A C B
    ("o", "C", "1 hour"),
    ("o", "B", "2 hours"),
]


@pytest.mark.parametrize(
    ("order", "furthest"),
    [
        ("sequential", {"m": 3, "n": 1, "o": 2}),  # o: C came before B, so it does not count
        ("strict", {"m": 2, "n": 1, "o": 1}),  # m: A B, then A is not C
        ("any", {"m": 3, "n": 3, "o": 3}),
    ],
)
def test_each_order_mode_on_three_interleaved_steps(order: str, furthest: dict[str, int]) -> None:
    text = f"kind: funnel\nsteps: [{{event: a}}, {{event: b}}, {{event: c}}]\norder: {order}\n"
    rows = {r[0]: r for r in run_funnel(text, INTERLEAVED)}
    assert {p: r[2] for p, r in rows.items()} == furthest
    assert {p: r[4] for p, r in rows.items()} == {p: n == 3 for p, n in furthest.items()}
    if order == "any":  # n's attempt starts at C; the steps' times are in time order
        times = rows["n"][3]
        assert times == sorted(times) and times[0] == rows["n"][1]


def test_page_steps_and_an_exclusion_after_the_last_step() -> None:
    """A page step matches page events by path (not screens); an excluded event after the
    furthest step reached does not drop the attempt, one before it does."""
    events = [
        ("x", "page", None, "0 seconds", "/Products/1"),  # viewed, ordered, refunded after
        ("x", "Order Completed", "1 hour"),
        ("x", "Order Refunded", "2 hours"),
        ("y", "page", None, "0 seconds", "/about"),  # no product page: never enters
        ("y", "Order Completed", "1 hour"),
        ("z", "page", None, "0 seconds", "/products/2"),  # refunded between the steps
        ("z", "Order Refunded", "1 hour"),
        ("z", "Order Completed", "2 hours"),
        ("v", "screen", "products", "0 seconds", None),  # a screen is not a page
    ]
    text = (
        "kind: funnel\nsteps:\n  - {page: '*', where: {path: {starts_with: /products}}}\n"
        "  - {event: Order Completed}\nexclude: [{event: order refunded}]\norder: "
    )
    expected = {
        "sequential": {"x": (2, True)},  # z's attempt reached step 2 past a refund: dropped
        "strict": {"x": (2, True), "z": (1, False)},  # z's next event is the refund: 1 step
        # any order: an order alone is an attempt of one step (z's order after its refund too)
        "any": {"x": (2, True), "y": (1, False), "z": (1, False)},
    }
    for order, people in expected.items():
        rows = run_funnel(text + order, events)
        assert {r[0]: (r[2], r[4]) for r in rows} == people, order


def test_any_and_all_of_the_same_conditions_and_not_of_a_behaviour(lake) -> None:
    both = """
kind: segment
match: {match}
conditions:
  - {{trait: revenue, op: at_most, value: 100}}
  - {{event: Order Completed, within_days: 1}}
"""
    assert members(lake, segment(both.format(match="all"))) == {"a"}
    assert members(lake, segment(both.format(match="any"))) == {"a"}  # b ordered a day early
    two_days = both.replace("within_days: 1", "within_days: 2")
    assert members(lake, segment(two_days.format(match="all"))) == {"a"}
    assert members(lake, segment(two_days.format(match="any"))) == {"a", "b"}
    never = "kind: segment\nconditions: [{not: {event: Order Completed, within_days: 2}}]\n"
    assert members(lake, segment(never)) == {"c"}


def test_in_segment_and_not_in_segment(lake) -> None:
    rich = parse_entity(
        "kind: segment\nconditions: [{trait: revenue, op: greater_than, value: 100}]\n",
        "entities/rich.yml",
        "rich",
    )
    others = segment("kind: segment\nconditions: [{not: {in_segment: rich}}]\n")
    tables = {
        t: {c: k for c, k, *_ in lake.execute(f"DESCRIBE {t}").fetchall()}
        for t in ("customer_360", "unique_events")
    }
    compiler = Compiler(tables, AS_OF, {"rich": rich, "s": others})  # type: ignore[dict-item]
    rows = lake.execute(compiler.segment_sql(others)).fetchall()
    assert {r[0] for r in rows} == {"a", "c"}


S = "kind: segment\n"


@pytest.mark.parametrize(
    "case",
    yaml.safe_load((CASES / "entity_errors.yml").read_text()),
    ids=lambda case: case["error"].split(" in ")[0],
)
def test_every_parse_error_names_file_key_and_what_is_allowed(case: dict[str, str]) -> None:
    with pytest.raises(EntityError) as err:
        parse_entity(case["text"], "entities/s.yml", "s")
    assert str(err.value).startswith(case["error"])


def test_an_unquoted_star_is_explained() -> None:
    with pytest.raises(
        EntityError, match=r"quote a value that starts with \* or &, e.g. event: '\*'"
    ):
        parse_entity(S + "conditions: [{event: *}]\n", "entities/s.yml", "s")


@pytest.mark.parametrize(
    "case",
    yaml.safe_load((CASES / "entity_compile_errors.yml").read_text()),
    ids=lambda case: case["condition"],
)
def test_compile_errors_name_the_column_and_what_fits_it(lake, case: dict[str, str]) -> None:
    with pytest.raises(EntityError) as err:
        members(lake, segment(f"kind: segment\nconditions: [{case['condition']}]\n"))
    assert str(err.value).startswith(case["error"])


def test_reference_errors_and_a_second_file_for_a_name(tmp_path: Path) -> None:
    folder = tmp_path / "entities"
    folder.mkdir()
    (folder / "f.yml").write_text("kind: funnel\nsteps: [{event: A}, {event: B}]\n")
    (folder / "bad.yml").write_text("kind: segment\nconditions: [{event: X, count: 1.5}]\n")
    files = {
        "to_funnel": "conditions: [{in_segment: f}]",
        "to_nothing": "conditions: [{in_segment: nope}]",
        "to_broken": "conditions: [{in_segment: bad}]",
        "twice": "conditions: [{event: X}]",
    }
    for name, body in files.items():
        (folder / f"{name}.yml").write_text(f"kind: segment\n{body}\n")
    (folder / "twice.yaml").write_text("kind: segment\nconditions: [{event: Y}]\n")
    errors = {name: str(err) for name, err in load_folder(folder).errors.items()}
    assert errors["to_funnel"] == (
        "`in_segment: f` in entities/to_funnel.yml, conditions[0]: f is a funnel; name a segment"
    )
    assert errors["to_nothing"].startswith(
        "`in_segment: nope` in entities/to_nothing.yml, conditions[0]: no such segment (segments: "
    )
    assert errors["to_broken"] == (
        "`in_segment: bad` in entities/to_broken.yml, conditions[0]: bad is broken; fix it first"
    )
    assert errors["twice"] == (
        "a second file for `twice` in entities/twice.yml: keep one of <name>.yml and <name>.yaml"
    )
    assert "count" in errors["bad"]


@pytest.mark.parametrize(
    ("pipeline", "is_shop"),
    [
        ("type: shopify\nshop: my-shop.myshopify.com\n", True),
        ("type: files\nresources:\n  customers: {path: c.csv}\n  orders: {path: o.csv}\n", True),
        ("type: postgres\nresources: [{name: customers}, {name: orders, table: x}]\n", True),
        ("type: files\nresources: {customers: {path: c.csv}}\n", False),
        ("type: files\nresources: [\n", False),  # broken: its own DAG reports it
    ],
)
def test_a_shop_pipeline_is_shopify_or_declares_customers_and_orders(
    tmp_path: Path, pipeline: str, is_shop: bool
) -> None:
    settings = load_settings(env={}, home=tmp_path)
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "shop.yml").write_text(pipeline)
    assert (shop_pipeline(settings) is not None) == is_shop
