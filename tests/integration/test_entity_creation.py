"""entity_creation on hand-built marts: members enter and exit across runs, a rerun over the same
data commits nothing, funnels count PostHog's way on interleaved events, sizes per day, a broken
file keeps its rows without stopping the others, and the shop pack appears once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from support.entities import DAY1, DAY3, entity, events, people, versions
from support.lake import lake_query

from cdpflow.errors import TerminalError
from cdpflow.jobs import Interval, entity_creation
from cdpflow.settings import Settings

BIG = "kind: segment\nconditions:\n  - {trait: revenue, op: greater_than, value: 100}\n"
ORDERED = "kind: segment\nconditions:\n  - {event: Order Completed}\n"
FUNNEL = """kind: funnel
steps:
  - {event: Product Viewed}
  - {event: Product Added}
  - {event: Order Completed}
window_days: 1
"""


def test_entries_exits_sizes_and_a_rerun_that_changes_nothing(settings: Settings) -> None:
    people(settings, {"a": 50, "b": 150, "c": 300})
    events(settings, [("a", "Order Completed", DAY1)])
    entity(settings, "big", BIG)
    entity(settings, "ordered", ORDERED)
    entity(settings, "broken", "kind: segment\nconditions:\n  - {trait: revenue, op: greater}\n")
    first = entity_creation.run(settings, Interval(end=DAY1))
    assert first.segments == {"big": 2, "ordered": 1}
    assert "broken" in first.broken and "op: greater" in first.broken["broken"]
    members = lake_query(
        settings, "SELECT segment, global_user_id, emails, entered_at FROM segment_members "
        "ORDER BY 1, 2",
    )  # fmt: skip
    assert [(m["segment"], m["global_user_id"]) for m in members] == [
        ("big", "b"), ("big", "c"), ("ordered", "a"),
    ]  # fmt: skip
    assert members[0]["emails"] == ["b@example.com"]

    before = versions(settings)
    again = entity_creation.run(settings, Interval(end=DAY1))
    assert versions(settings) == before and again.written == []
    assert again.entered == again.exited == 0

    # two days on: b spent less (exits big), a spent more (enters), c stays and keeps its time
    people(settings, {"a": 500, "b": 20, "c": 300})
    second = entity_creation.run(settings, Interval(end=DAY3))
    assert (second.entered, second.exited) == (1, 1)
    changes = lake_query(
        settings,
        "SELECT global_user_id, change, \"at\" FROM segment_changes WHERE segment = 'big' "
        "ORDER BY 3, 1",
    )
    assert [(c["global_user_id"], c["change"], c["at"]) for c in changes] == [
        ("b", "enter", DAY1), ("c", "enter", DAY1), ("a", "enter", DAY3), ("b", "exit", DAY3),
    ]  # fmt: skip
    entered = {
        r["global_user_id"]: r["entered_at"]
        for r in lake_query(settings, "SELECT * FROM segment_members WHERE segment = 'big'")
    }
    assert entered == {"a": DAY3, "c": DAY1}
    sizes = lake_query(
        settings, "SELECT day, size, entered, exited FROM segment_sizes WHERE segment = 'big' "
        "ORDER BY day",
    )  # fmt: skip
    assert [(str(s["day"]), s["size"], s["entered"], s["exited"]) for s in sizes] == [
        ("2026-11-02", 2, 2, 0), ("2026-11-03", 2, 0, 0), ("2026-11-04", 2, 1, 1),
    ]  # fmt: skip

    # removing a file: its members exit; the broken one never lost anything it had
    (settings.home / "entities" / "ordered.yml").unlink()
    entity_creation.run(settings, Interval(end=DAY3))
    left = lake_query(settings, "SELECT DISTINCT segment FROM segment_members")
    assert {r["segment"] for r in left} == {"big"}
    exits = lake_query(
        settings, "SELECT global_user_id FROM segment_changes WHERE segment = 'ordered' "
        "AND change = 'exit'",
    )  # fmt: skip
    assert [r["global_user_id"] for r in exits] == ["a"]


def test_a_run_killed_between_changes_and_members_records_its_changes_once(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    people(settings, {"a": 500})
    entity(settings, "big", BIG)
    real = entity_creation.EntityTables.replace

    def die(self: Any, table: str, *args: Any, **kwargs: Any) -> bool:
        if table == "segment_members":
            raise KeyboardInterrupt
        return bool(real(self, table, *args, **kwargs))

    monkeypatch.setattr(entity_creation.EntityTables, "replace", die)
    with pytest.raises(KeyboardInterrupt):
        entity_creation.run(settings, Interval(end=DAY1))
    monkeypatch.setattr(entity_creation.EntityTables, "replace", real)
    entity_creation.run(settings, Interval(end=DAY1))
    changes = lake_query(settings, "SELECT global_user_id, change FROM segment_changes")
    assert changes == [{"global_user_id": "a", "change": "enter"}]


def test_funnel_tables_on_interleaved_events(settings: Settings) -> None:
    t = DAY1
    people(settings, {"a": 0, "b": 0, "c": 0})
    events(
        settings,
        [
            # a: viewed twice, added after the second view, ordered 2h later: converts
            ("a", "Product Viewed", t),
            ("a", "Product Viewed", t + timedelta(hours=1)),
            ("a", "Product Added", t + timedelta(hours=2)),
            ("a", "Order Completed", t + timedelta(hours=4)),
            # b: viewed, added an hour later, ordered two days later (outside the 1-day window)
            ("b", "Product Viewed", t),
            ("b", "Product Added", t + timedelta(hours=1)),
            ("b", "Order Completed", t + timedelta(days=2)),
            # c: added before viewing (out of order), so only step 1
            ("c", "Product Added", t),
            ("c", "Product Viewed", t + timedelta(minutes=5)),
        ],
    )
    entity(settings, "purchase", FUNNEL)
    result = entity_creation.run(settings, Interval(end=DAY3))
    assert result.funnels == {"purchase": 3}
    rows = lake_query(
        settings, "SELECT global_user_id, furthest_step, converted, entered_at FROM funnel_people "
        "ORDER BY 1",
    )  # fmt: skip
    assert [(r["global_user_id"], r["furthest_step"], r["converted"]) for r in rows] == [
        ("a", 3, True), ("b", 2, False), ("c", 1, False),
    ]  # fmt: skip
    assert rows[0]["entered_at"] == t  # the first entry reaching most steps counts
    steps = lake_query(settings, "SELECT * FROM funnel_steps ORDER BY step")
    got = [
        (s["step"], s["step_label"], s["users"], s["conversion_from_previous"],
         s["conversion_from_first"], s["median_seconds_from_previous"])
        for s in steps
    ]  # fmt: skip
    assert got == [
        (1, "Product Viewed", 3, None, 1.0, None),
        (2, "Product Added", 2, 2 / 3, 2 / 3, 3600.0 * 1.5),  # a: 2h, b: 1h
        (3, "Order Completed", 1, 0.5, 1 / 3, 7200.0),
    ]
    assert {str(s["entry_day"]) for s in steps} == {"2026-11-02"}
    before = versions(settings)
    entity_creation.run(settings, Interval(end=DAY3))
    assert versions(settings) == before


def test_the_shop_pack_appears_once_and_never_returns(settings: Settings) -> None:
    people(settings, {"a": 10})
    events(settings, [("a", "transaction", DAY1)])
    assert entity_creation.run(settings, Interval(end=DAY1)).predefined == []
    pipelines = settings.home / "pipelines"
    pipelines.mkdir(parents=True)
    (pipelines / "shop.yml").write_text("type: shopify\nshop: example\n")
    first = entity_creation.run(settings, Interval(end=DAY1))
    assert "buyers" in first.predefined and "purchase" in first.predefined
    assert first.broken == {}
    assert first.segments["buyers"] == 1  # Blotout's `transaction` counts as an order
    folder = settings.home / "entities"
    (folder / "buyers.yml").unlink()
    edited = folder / "repeat_buyers.yml"
    edited.write_text(edited.read_text().replace("at_least: 2", "at_least: 3"))
    again = entity_creation.run(settings, Interval(end=DAY1))
    assert again.predefined == []
    assert not (folder / "buyers.yml").exists()
    assert "at_least: 3" in edited.read_text()


def test_only_recomputes_one_entity_and_the_others_keep_their_rows(settings: Settings) -> None:
    people(settings, {"a": 500, "b": 20})
    events(settings, [("a", "Order Completed", DAY1)])
    entity(settings, "big", BIG)
    entity(settings, "ordered", ORDERED)
    entity_creation.run(settings, Interval(end=DAY1))
    people(settings, {"a": 20, "b": 500})
    events(settings, [("b", "Order Completed", DAY3)])
    result = entity_creation.run(settings, Interval(end=DAY3), only="big")
    assert result.segments == {"big": 1} and (result.entered, result.exited) == (1, 1)
    members = lake_query(settings, "SELECT segment, global_user_id FROM segment_members ORDER BY 1")
    assert [(m["segment"], m["global_user_id"]) for m in members] == [
        ("big", "b"), ("ordered", "a"),  # ordered was not recomputed: a stays, b not added
    ]  # fmt: skip
    with pytest.raises(TerminalError, match=r"No entity `bigg` in .* \(entities: big, ordered\)"):
        entity_creation.run(settings, Interval(end=DAY3), only="bigg")


def test_entities_over_a_lake_without_marts_are_reported_and_the_run_succeeds(
    settings: Settings,
) -> None:
    entity(settings, "big", BIG)
    entity(settings, "purchase", FUNNEL)
    result = entity_creation.run(settings, Interval(end=DAY1))
    assert set(result.broken) == {"big", "purchase"}
    assert "no such lake table" in result.broken["big"]
    assert result.segments == {} and result.funnels == {}
    assert "2 broken (kept their previous rows)" in result.summary()
