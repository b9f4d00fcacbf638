"""The analytics models on small hand-built event sets whose answers are worked out by hand."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml
from support.analytics import (
    add_events,
    event,
    purchase,
    record_merges,
    set_identities,
    update_identities,
)
from support.lake import lake_query

from cdpflow.dbt.models import PROJECT_DIR, marts
from cdpflow.dbt.runner import DbtBuildFailed
from cdpflow.jobs import attribution, campaign, compression, events_unified_view, retention
from cdpflow.jobs.analytics import warehouse_path
from cdpflow.lake.storage import Lake
from cdpflow.lake.tables import TableStore
from cdpflow.settings import Settings, load_settings

SHOPPERS = [
    # a device whose pages are exactly 30 minutes apart, then 30 minutes and a second
    event(
        "t1",
        "2024-03-04 10:00:00",
        anonymous_id="d-timeout",
        path="/",
        referrer="https://shop.example.com/elsewhere",
    ),
    event("t2", "2024-03-04 10:30:00", anonymous_id="d-timeout", path="/a"),
    event("t3", "2024-03-04 11:00:01", anonymous_id="d-timeout", path="/b"),
    # one person on two devices: an ad on the phone, then a purchase on the laptop, logged in
    event(
        "p1",
        "2024-03-05 09:00:00",
        anonymous_id="phone",
        utm_source="facebook",
        utm_medium="paid_social",
        utm_campaign="spring",
        fbclid="fb1",
    ),
    event("l1", "2024-03-07 20:00:00", anonymous_id="laptop", user_id="u2"),
    purchase("l2", "2024-03-07 20:05:00", "o2", 100.0, anonymous_id="laptop", user_id="u2"),
    # one Google ad click that converts in the same session
    event("s1", "2024-03-06 12:00:00", anonymous_id="single", gclid="g1"),
    event("dup", "2024-03-06 12:00:30", anonymous_id="single", path="/first-copy"),
    event(
        "dup",
        "2024-03-06 12:00:30",
        anonymous_id="single",
        path="/later-copy",
        received_at="2024-03-06 13:00:00",
    ),
    purchase("s2", "2024-03-06 12:03:00", "o1", 50.0, anonymous_id="single"),
    # three visits from e-mail, organic search and organic social, then a purchase
    event(
        "h1",
        "2024-03-01 08:00:00",
        anonymous_id="three",
        utm_source="newsletter",
        utm_medium="email",
    ),
    event("h2", "2024-03-03 08:00:00", anonymous_id="three", referrer="https://www.google.com/"),
    event("h3", "2024-03-04 08:00:00", anonymous_id="three", referrer="https://l.facebook.com/"),
    purchase("h4", "2024-03-04 08:01:00", "o3", 30.0, anonymous_id="three"),
    # a server-side purchase by someone never seen on a device
    purchase("v1", "2024-03-06 15:00:00", "o9", 20.0, user_id="u9"),
    # a visit from a blog
    event(
        "b1", "2024-03-02 18:00:00", anonymous_id="blog", referrer="https://blog.example.org/post"
    ),
]
LATER = [("anonymous_id", "laptop"), ("user_id", "u2")]
PEOPLE = {
    "P-timeout": [("anonymous_id", "d-timeout")],
    "P-two": [("anonymous_id", "phone"), ("anonymous_id", "laptop"), ("user_id", "u2")],
    "P-one": [("anonymous_id", "single")],
    "P-three": [("anonymous_id", "three")],
    "P-server": [("user_id", "u9")],
    "P-blog": [("anonymous_id", "blog")],
}


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = load_settings(env={}, home=tmp_path_factory.mktemp("shop") / "home")
    add_events(settings, SHOPPERS)
    # as identity runs leave it: the laptop and its login first a person of their own, then
    # joined to the phone by a later run's delta over the stored base
    set_identities(settings, {**PEOPLE, "P-two": [("anonymous_id", "phone")], "P-later": LATER})
    update_identities(settings, {"P-two": LATER})
    events_unified_view.run(settings)
    attribution.run(settings)
    campaign.run(settings)
    retention.run(settings)
    return settings


def sessions_of(shop: Settings, device: str) -> list[dict[str, Any]]:
    return lake_query(
        shop, f"SELECT * FROM sessions WHERE anonymous_id = '{device}' ORDER BY started_at"
    )


def credits(shop: Settings, order_id: str, model: str) -> list[tuple[str | None, float, float]]:
    rows = lake_query(
        shop,
        f"""SELECT channel, credit, revenue_credit FROM attribution
            WHERE order_id = '{order_id}' AND model = '{model}' ORDER BY touch_number""",
    )
    return [(r["channel"], round(r["credit"], 6), round(r["revenue_credit"], 6)) for r in rows]


@pytest.mark.parametrize("mart", marts())
def test_every_mart_column_is_described_in_its_yaml_in_table_order(
    shop: Settings, mart: str
) -> None:
    """`dbt docs` and the README read the marts' YAML: it must name the table's real columns."""
    spec = yaml.safe_load((PROJECT_DIR / "models" / "marts" / f"{mart}.yml").read_text())
    (model,) = spec["models"]
    columns = model["columns"]
    documented = [(c["name"], c.get("description", "").strip()) for c in columns]
    built = [r["column_name"] for r in lake_query(shop, f"DESCRIBE {mart}")]
    # the lake table is the mart without the warehouse's bookkeeping (`_batch_id`)
    assert [name for name, _ in documented if not name.startswith("_")] == built
    assert [name for name, text in documented if not text] == []
    # an enforced contract: dbt fails the build when a column or its type changes
    assert model["config"]["contract"] == {"enforced": True}
    assert [c["name"] for c in columns if not c.get("data_type")] == []


def test_exactly_thirty_minutes_does_not_split_a_session(shop: Settings) -> None:
    first, second = sessions_of(shop, "d-timeout")
    assert (first["event_count"], first["duration_seconds"]) == (2, 1800)
    assert (first["landing_page"], first["exit_page"], first["page_views"]) == ("/", "/a", 2)
    assert second["event_count"] == 1 and second["landing_page"] == "/b"
    # a referrer on the shop's own host is not a referral
    assert first["channel"] == "Direct"


def test_unique_events_keep_the_earliest_copy_with_its_person(shop: Settings) -> None:
    rows = lake_query(shop, "SELECT event_id, path, global_user_id FROM unique_events")
    assert len(rows) == len({r["event_id"] for r in rows}) == len(SHOPPERS) - 1
    dup = next(r for r in rows if r["event_id"] == "dup")
    assert dup["path"] == "/first-copy"
    assert {r["global_user_id"] for r in rows} == set(PEOPLE)


def test_a_person_on_two_devices_has_both_sessions(shop: Settings) -> None:
    phone, laptop = sessions_of(shop, "phone") + sessions_of(shop, "laptop")
    assert phone["global_user_id"] == laptop["global_user_id"] == "P-two"
    person = lake_query(shop, "SELECT * FROM customer_360 WHERE global_user_id = 'P-two'")[0]
    assert (person["sessions"], person["devices"], person["orders"]) == (2, 2, 1)
    assert person["revenue"] == 100.0
    assert (person["first_touch_channel"], person["last_touch_channel"]) == (
        "Paid Social",
        "Direct",
    )
    assert person["user_ids"] == ["u2"]


def test_channels_follow_ga4_default_grouping(shop: Settings) -> None:
    channels = {
        (r["anonymous_id"], r["channel"])
        for r in lake_query(shop, "SELECT anonymous_id, channel FROM sessions")
    }
    assert channels == {
        ("d-timeout", "Direct"),
        ("phone", "Paid Social"),
        ("laptop", "Direct"),
        ("single", "Paid Search"),
        ("three", "Email"),
        ("three", "Organic Search"),
        ("three", "Organic Social"),
        ("blog", "Referral"),
    }


def test_a_converting_session_counts_its_order_and_is_engaged(shop: Settings) -> None:
    (session,) = sessions_of(shop, "single")
    assert session["converted"] and session["is_engaged"] and session["revenue"] == 50.0
    assert (session["source"], session["medium"]) == ("google", "cpc")


def test_one_touch_takes_all_credit_under_every_model(shop: Settings) -> None:
    for model in (
        "first_touch",
        "last_touch",
        "last_non_direct",
        "linear",
        "position_based",
        "time_decay",
    ):
        assert credits(shop, "o1", model) == [("Paid Search", 1.0, 50.0)], model


def test_two_touch_path_across_devices(shop: Settings) -> None:
    assert credits(shop, "o2", "first_touch") == [("Paid Social", 1.0, 100.0)]
    assert credits(shop, "o2", "last_touch") == [("Direct", 1.0, 100.0)]
    assert credits(shop, "o2", "last_non_direct") == [("Paid Social", 1.0, 100.0)]
    assert credits(shop, "o2", "linear") == [("Paid Social", 0.5, 50.0), ("Direct", 0.5, 50.0)]
    assert credits(shop, "o2", "position_based") == [
        ("Paid Social", 0.5, 50.0),
        ("Direct", 0.5, 50.0),
    ]
    # ages from each session's start to the purchase: 2 d 11 h 5 min, and 5 min
    w1, w2 = 2 ** (-(2 + 11 / 24 + 5 / 1440) / 7), 2 ** (-(5 / 1440) / 7)
    share = round(w1 / (w1 + w2), 6)
    assert credits(shop, "o2", "time_decay") == [
        ("Paid Social", share, round(100 * w1 / (w1 + w2), 6)),
        ("Direct", round(1 - w1 / (w1 + w2), 6), round(100 * w2 / (w1 + w2), 6)),
    ]


def test_position_based_gives_40_20_40_over_three_touches(shop: Settings) -> None:
    assert credits(shop, "o3", "position_based") == [
        ("Email", 0.4, 12.0),
        ("Organic Search", 0.2, 6.0),
        ("Organic Social", 0.4, 12.0),
    ]
    assert credits(shop, "o3", "last_non_direct") == [("Organic Social", 1.0, 30.0)]


def test_a_conversion_without_touchpoints_is_direct_not_lost(shop: Settings) -> None:
    rows = lake_query(shop, "SELECT * FROM attribution WHERE order_id = 'o9'")
    assert len(rows) == 6
    assert {(r["channel"], r["session_id"], r["credit"], r["revenue_credit"]) for r in rows} == {
        ("Direct", None, 1.0, 20.0)
    }
    (conversion,) = lake_query(shop, "SELECT * FROM conversions WHERE order_id = 'o9'")
    assert conversion["session_id"] is None and conversion["global_user_id"] == "P-server"


def test_campaign_performance_adds_up(shop: Settings) -> None:
    rows = lake_query(shop, "SELECT * FROM campaign_performance")
    assert sum(r["sessions"] for r in rows) == 9
    assert sum(r["revenue"] for r in rows) == 180.0  # o9 had no session
    for model in ("first_touch", "linear", "position_based", "time_decay"):
        assert math.isclose(sum(r[f"attributed_revenue_{model}"] for r in rows), 200.0)
    spring = next(r for r in rows if r["campaign"] == "spring")
    assert (spring["source"], spring["medium"], spring["sessions"], spring["new_users"]) == (
        "facebook",
        "paid_social",
        1,
        1,
    )
    assert spring["attributed_revenue_first_touch"] == 100.0


def test_late_event_lands_in_its_session_and_equals_a_full_rebuild(settings: Settings) -> None:
    set_identities(settings, {"P": [("anonymous_id", "late")]})
    add_events(
        settings,
        [
            event("a", "2024-03-04 10:00:00", anonymous_id="late", path="/a"),
            event("c", "2024-03-04 10:50:00", anonymous_id="late", path="/c"),
        ],
    )
    events_unified_view.run(settings)
    assert len(lake_query(settings, "SELECT * FROM sessions")) == 2

    add_events(settings, [event("b", "2024-03-04 10:25:00", anonymous_id="late", path="/b")])
    result = events_unified_view.run(settings)
    assert not result.full_refresh and result.pending_files == 1
    (session,) = lake_query(settings, "SELECT * FROM sessions")
    assert (session["event_count"], session["landing_page"], session["exit_page"]) == (
        3,
        "/a",
        "/c",
    )
    views = lake_query(settings, "SELECT path, time_on_page_seconds FROM page_views ORDER BY 1")
    assert [(v["path"], v["time_on_page_seconds"]) for v in views] == [
        ("/a", 1500),
        ("/b", 1500),
        ("/c", None),
    ]
    incremental = lake_query(settings, "SELECT * EXCLUDE (session_date) FROM sessions")
    events_unified_view.run(settings, full_rebuild=True)
    assert lake_query(settings, "SELECT * EXCLUDE (session_date) FROM sessions") == incremental


def _assert_a_full_rebuild_changes_nothing(settings: Settings) -> None:
    """The marts the incremental runs built are the rows a full rebuild builds."""
    incremental = {
        table: lake_query(settings, f"SELECT * FROM {table} ORDER BY ALL")
        for table in ("sessions", "page_views", "customer_360", "attribution")
    }
    events_unified_view.run(settings, full_rebuild=True)
    attribution.run(settings, full_rebuild=True)
    for table, rows in incremental.items():
        assert lake_query(settings, f"SELECT * FROM {table} ORDER BY ALL") == rows, table


def test_a_late_page_view_tied_with_a_purchase_becomes_the_landing_as_in_a_full_rebuild(
    settings: Settings,
) -> None:
    set_identities(settings, {"P": [("anonymous_id", "tied")]})
    # an SDK batch lost its page view: the purchase alone is the session, and Direct
    add_events(
        settings,
        [purchase("a-order", "2024-03-04 10:00:00", "o5", 50.0, anonymous_id="tied")],
    )
    events_unified_view.run(settings)
    attribution.run(settings)
    assert credits(settings, "o5", "last_touch") == [("Direct", 1.0, 50.0)]

    # the page view arrives an hour later, stamped the same millisecond as the purchase
    add_events(
        settings,
        [
            event(
                "b-page",
                "2024-03-04 10:00:00",
                anonymous_id="tied",
                path="/p/31",
                referrer="https://www.google.com/",
                received_at="2024-03-04 11:00:00",
            )
        ],
    )
    assert not events_unified_view.run(settings).full_refresh
    attribution.run(settings)
    (session,) = lake_query(settings, "SELECT * FROM sessions")
    assert (session["landing_page"], session["source"], session["channel"]) == (
        "/p/31",
        "google.com",
        "Organic Search",
    )
    assert credits(settings, "o5", "last_touch") == [("Organic Search", 1.0, 50.0)]

    # then an app event a minute before both: the session starts earlier, its landing stays
    add_events(
        settings,
        [
            event(
                "c-open",
                "2024-03-04 09:59:00",
                anonymous_id="tied",
                event_type="track",
                event_name="Application Opened",
                received_at="2024-03-04 12:00:00",
            )
        ],
    )
    events_unified_view.run(settings)
    attribution.run(settings)
    (session,) = lake_query(settings, "SELECT * FROM sessions")
    assert (session["event_count"], session["landing_page"], session["channel"]) == (
        3,
        "/p/31",
        "Organic Search",
    )
    _assert_a_full_rebuild_changes_nothing(settings)


def test_late_events_recompute_a_device_from_their_visit_and_equal_a_full_rebuild(
    settings: Settings,
) -> None:
    set_identities(settings, {"P": [("anonymous_id", "many")]})
    add_events(
        settings,
        [
            event("v1a", "2024-03-01 10:00:00", anonymous_id="many", path="/1a"),
            event("v1b", "2024-03-01 10:05:00", anonymous_id="many", path="/1b"),
            event("v2a", "2024-03-02 10:00:00", anonymous_id="many", path="/2a"),
            event("v2b", "2024-03-02 10:20:00", anonymous_id="many", path="/2b"),
            event("v3a", "2024-03-03 10:00:00", anonymous_id="many", path="/3a"),
            event("v4a", "2024-03-03 11:00:00", anonymous_id="many", path="/4a"),
            purchase("v4p", "2024-03-03 11:05:00", "o7", 70.0, anonymous_id="many"),
        ],
    )
    events_unified_view.run(settings)
    attribution.run(settings)
    assert len(lake_query(settings, "SELECT * FROM sessions")) == 4
    assert [c for _, c, _ in credits(settings, "o7", "linear")] == [0.25] * 4

    # a late event joins the last two visits (30 minutes each side does not split), and the
    # device comes back two days later; the first two visits cannot change
    add_events(
        settings,
        [
            event("v3b", "2024-03-03 10:30:00", anonymous_id="many", path="/3b"),
            event("v5a", "2024-03-05 09:00:00", anonymous_id="many", path="/5a"),
        ],
    )
    result = events_unified_view.run(settings)
    assert not result.full_refresh
    sessions = lake_query(
        settings, "SELECT started_at, event_count, exit_page FROM sessions ORDER BY started_at"
    )
    assert [(s["event_count"], s["exit_page"]) for s in sessions] == [
        (2, "/1b"),
        (2, "/2b"),
        (4, "/4a"),
        (1, "/5a"),
    ]
    # the order itself did not change, its path did: three visits before it now
    attribution.run(settings)
    assert [c for _, c, _ in credits(settings, "o7", "linear")] == [0.333333] * 3
    # only the days that changed were written: 03-03 rewritten, 03-05 new
    assert result.published["sessions"][1] == 2
    views = lake_query(settings, "SELECT path, time_on_page_seconds FROM page_views ORDER BY 1")
    assert [(v["path"], v["time_on_page_seconds"]) for v in views] == [
        ("/1a", 300),
        ("/1b", None),
        ("/2a", 1200),
        ("/2b", None),
        ("/3a", 1800),
        ("/3b", 1800),
        ("/4a", None),
        ("/5a", None),
    ]

    _assert_a_full_rebuild_changes_nothing(settings)


def test_customer_360_and_attribution_follow_identity_and_event_changes_incrementally(
    settings: Settings,
) -> None:
    set_identities(
        settings,
        {
            "P1": [("anonymous_id", "shared"), ("user_id", "u1")],
            "P2": [("user_id", "u2")],
            "P3": [("anonymous_id", "d3")],
            "P4": [("anonymous_id", "d4")],
            "P5": [("anonymous_id", "d5"), ("user_id", "u5")],
        },
    )
    add_events(
        settings,
        [
            event("s1", "2024-03-04 10:00:00", anonymous_id="shared", user_id="u1"),
            event("s2", "2024-03-04 10:10:00", anonymous_id="shared"),
            event("d3", "2024-03-04 11:00:00", anonymous_id="d3", gclid="g3"),
            event(
                "d4",
                "2024-03-05 11:00:00",
                anonymous_id="d4",
                utm_source="newsletter",
                utm_medium="email",
            ),
            purchase("o4", "2024-03-05 11:05:00", "o4", 40.0, anonymous_id="d4"),
            event("d5", "2024-03-05 12:00:00", anonymous_id="d5"),
        ],
    )
    events_unified_view.run(settings)
    attribution.run(settings)
    assert credits(settings, "o4", "first_touch") == [("Email", 1.0, 40.0)]
    before = {r["global_user_id"]: r for r in lake_query(settings, "SELECT * FROM customer_360")}
    assert before["P1"]["sessions"] == 1 and before["P2"]["sessions"] == 0

    # an hour later: a late event of another login on the shared device takes its session from
    # P1 to P2; an offline record gives P5 an e-mail (no event); P4 merges into P3 (P3 gets the
    # device, the order and the e-mail session); nothing happens to anyone else
    update_identities(
        settings,
        {"P5": [("email", "five@example.com")], "P3": [("anonymous_id", "d4")]},
    )
    record_merges(settings, {"P4": "P3"})
    add_events(
        settings,
        [event("s0", "2024-03-04 09:55:00", anonymous_id="shared", user_id="u2")],
    )
    result = events_unified_view.run(settings)
    assert not result.full_refresh
    attribution.run(settings)
    after = {r["global_user_id"]: r for r in lake_query(settings, "SELECT * FROM customer_360")}
    assert (after["P1"]["sessions"], after["P2"]["sessions"]) == (0, 1)
    assert after["P5"]["emails"] == ["five@example.com"]
    assert "P4" not in after
    assert (after["P3"]["devices"], after["P3"]["sessions"], after["P3"]["orders"]) == (2, 2, 1)
    assert (after["P3"]["first_touch_channel"], after["P3"]["last_touch_channel"]) == (
        "Paid Search",
        "Email",
    )

    # an hour with events only: the identities are not read; then an identity run alone
    add_events(settings, [event("d5b", "2024-03-06 12:00:00", anonymous_id="d5")])
    events_unified_view.run(settings)
    assert _rows_of_last_run(settings, "int_people_identities") == 0
    update_identities(settings, {"P5": [("phone", "+14155550105")]})
    events_unified_view.run(settings)
    after = {r["global_user_id"]: r for r in lake_query(settings, "SELECT * FROM customer_360")}
    assert (after["P5"]["sessions"], after["P5"]["phones"]) == (2, ["+14155550105"])

    # o4 is P3's now: the search visit before it is its first touch
    assert credits(settings, "o4", "first_touch") == [("Paid Search", 1.0, 40.0)]
    assert credits(settings, "o4", "linear") == [("Paid Search", 0.5, 20.0), ("Email", 0.5, 20.0)]
    credited = lake_query(settings, "SELECT * FROM attribution ORDER BY ALL")

    events_unified_view.run(settings, full_rebuild=True)
    attribution.run(settings, full_rebuild=True)
    rebuilt = {r["global_user_id"]: r for r in lake_query(settings, "SELECT * FROM customer_360")}
    assert rebuilt == after
    assert lake_query(settings, "SELECT * FROM attribution ORDER BY ALL") == credited


def _rows_of_last_run(settings: Settings, table: str) -> int:
    """Rows of the analytics warehouse's `table` that the last run wrote."""
    with duckdb.connect(str(warehouse_path(settings)), read_only=True) as con:
        row = con.execute(
            f"SELECT count(*) FROM {table} WHERE _batch_id = "
            "(SELECT max(batch_id) FROM cdpflow_state.batches)"
        ).fetchone()
    return int(row[0]) if row else 0


def test_a_rerun_with_nothing_new_rewrites_nothing(settings: Settings) -> None:
    set_identities(settings, {"P": [("anonymous_id", "x")]})
    add_events(settings, [event("a", "2024-03-04 10:00:00", anonymous_id="x")])
    events_unified_view.run(settings)
    tables = TableStore(Lake(settings.lake_url))
    before = tables.get("sessions").version
    result = events_unified_view.run(settings)
    assert result.published["sessions"][1] == 0 and result.published["unique_events"][1] == 0
    assert tables.get("sessions").version == before


def test_an_hourly_run_writes_only_the_days_it_changed(settings: Settings) -> None:
    set_identities(settings, {"P": [("anonymous_id", "x")], "Q": [("anonymous_id", "y")]})
    add_events(
        settings,
        [
            event("a", "2024-03-04 10:00:00", anonymous_id="x"),
            event("b", "2024-03-05 10:00:00", anonymous_id="x"),
        ],
    )
    events_unified_view.run(settings)
    # device x comes back on a new day, and y appears on an old one
    add_events(
        settings,
        [
            event("c", "2024-03-06 10:00:00", anonymous_id="x"),
            event("d", "2024-03-04 12:00:00", anonymous_id="y"),
        ],
    )
    result = events_unified_view.run(settings)
    # x's stored sessions came out the same: only the new rows are written, one file a day
    assert result.published["sessions"] == (4, 2)
    assert result.published["unique_events"] == (4, 2)
    snapshot = TableStore(Lake(settings.lake_url)).get("sessions")
    files = sorted((f.partition["session_date"], f.rows) for f in snapshot.files)
    assert files == [("2024-03-04", 1), ("2024-03-04", 1), ("2024-03-05", 1), ("2024-03-06", 1)]
    sessions = lake_query(settings, "SELECT anonymous_id, session_date FROM sessions ORDER BY 2, 1")
    assert [(r["anonymous_id"], str(r["session_date"])) for r in sessions] == [
        ("x", "2024-03-04"),
        ("y", "2024-03-04"),
        ("x", "2024-03-05"),
        ("x", "2024-03-06"),
    ]
    # compression merges the day's files; the next run still finds nothing to write
    compression.run(settings, now=datetime(2030, 1, 1, tzinfo=UTC))
    compacted = TableStore(Lake(settings.lake_url)).get("sessions")
    assert len(compacted.files) == 3 and compacted.rows == 4
    assert events_unified_view.run(settings).published["sessions"] == (4, 0)


def test_a_failing_dbt_test_fails_the_run_and_publishes_nothing(settings: Settings) -> None:
    add_events(settings, [event("a", "2024-03-04 10:00:00", anonymous_id="x")])
    set_identities(settings, {None: [("anonymous_id", "x")]})  # type: ignore[dict-item]
    with pytest.raises(DbtBuildFailed, match="stg_lake__identities"):
        events_unified_view.run(settings)
    assert "sessions" not in TableStore(Lake(settings.lake_url)).names()


def test_retention_cohorts_by_day_week_and_month(settings: Settings) -> None:
    # 2024-03-04 is a Monday. A: Mon, Tue, next Mon. B: Mon only. C: Tue, and a purchase the
    # next Wednesday.
    set_identities(
        settings,
        {"A": [("anonymous_id", "a")], "B": [("anonymous_id", "b")], "C": [("anonymous_id", "c")]},
    )
    add_events(
        settings,
        [
            event("a1", "2024-03-04 09:00:00", anonymous_id="a"),
            event("a2", "2024-03-05 09:00:00", anonymous_id="a"),
            event("a3", "2024-03-11 09:00:00", anonymous_id="a"),
            event("b1", "2024-03-04 10:00:00", anonymous_id="b"),
            event("c1", "2024-03-05 10:00:00", anonymous_id="c"),
            purchase("c2", "2024-03-13 10:00:00", "oc", 5.0, anonymous_id="c"),
        ],
    )
    events_unified_view.run(settings)
    retention.run(settings)
    rows = lake_query(settings, "SELECT * FROM retention")
    table = {
        (r["retention_type"], r["granularity"], str(r["cohort_start"]), r["period_number"]): (
            r["cohort_size"],
            r["retained_users"],
        )
        for r in rows
    }
    assert table["activity", "week", "2024-03-04", 0] == (3, 3)
    assert table["activity", "week", "2024-03-04", 1] == (3, 2)  # A and C came back
    assert table["activity", "day", "2024-03-04", 1] == (2, 1)  # A on Tuesday
    assert table["activity", "day", "2024-03-04", 7] == (2, 1)  # A the next Monday
    assert table["activity", "day", "2024-03-04", 9] == (2, 0)
    assert ("activity", "day", "2024-03-04", 10) not in table  # past the newest data
    assert table["activity", "day", "2024-03-05", 8] == (1, 1)  # C's purchase day
    assert table["activity", "month", "2024-03-01", 0] == (3, 3)
    assert table["purchase", "week", "2024-03-11", 0] == (1, 1)
    assert not [k for k in table if k[:2] == ("purchase", "week") and k[2] < "2024-03-11"]
    rates = {
        r["retention_rate"]
        for r in rows
        if (r["granularity"], r["period_number"]) == ("week", 1)
        and r["retention_type"] == "activity"
    }
    assert rates == {2 / 3}


def test_attribution_before_the_unified_view_names_the_job_to_run(tmp_path: Path) -> None:
    settings = load_settings(env={}, home=tmp_path / "home")
    with pytest.raises(Exception, match="cdpflow run events_unified_view"):
        attribution.run(settings)


@pytest.mark.parametrize(("honour", "sessions"), [("true", 2), ("false", 1)])
def test_the_trackers_session_id_splits_sessions_when_honoured(
    tmp_path: Path, honour: str, sessions: int
) -> None:
    settings = load_settings(env={"CDPFLOW_SESSION_USE_TRACKER_ID": honour}, home=tmp_path / "home")
    set_identities(settings, {"P": [("anonymous_id", "b")]})
    add_events(
        settings,
        [
            event("a", "2024-03-04 10:00:00", anonymous_id="b", session_id="1709546400000"),
            event("c", "2024-03-04 10:05:00", anonymous_id="b", session_id="1709546700000"),
        ],
    )
    events_unified_view.run(settings)
    rows = lake_query(settings, "SELECT tracker_session_id FROM sessions ORDER BY started_at")
    assert len(rows) == sessions
    assert rows[0]["tracker_session_id"] == "1709546400000"


def test_a_changed_session_setting_rebuilds_the_sessions(settings: Settings) -> None:
    set_identities(settings, {"P": [("anonymous_id", "x")]})
    add_events(
        settings,
        [
            event("a", "2024-03-04 10:00:00", anonymous_id="x"),
            event("b", "2024-03-04 10:25:00", anonymous_id="x"),
        ],
    )
    events_unified_view.run(settings)
    assert len(lake_query(settings, "SELECT * FROM sessions")) == 1
    shorter = load_settings(env={"CDPFLOW_SESSION_TIMEOUT_MINUTES": "20"}, home=settings.home)
    result = events_unified_view.run(shorter)
    assert result.full_refresh
    assert len(lake_query(shorter, "SELECT * FROM sessions")) == 2
    assert not events_unified_view.run(shorter).full_refresh


def test_a_visit_is_cut_24_hours_after_its_first_event(tmp_path: Path) -> None:
    # a 10-hour timeout makes events 9 hours apart one visit; the cap cuts it at 24 hours
    settings = load_settings(env={"CDPFLOW_SESSION_TIMEOUT_MINUTES": "600"}, home=tmp_path / "home")
    set_identities(settings, {"P": [("anonymous_id", "k")]})
    add_events(
        settings,
        [
            event(f"k{n}", when, anonymous_id="k")
            for n, when in enumerate(
                [
                    "2024-03-01 00:00:00",
                    "2024-03-01 09:00:00",
                    "2024-03-01 18:00:00",
                    "2024-03-02 03:00:00",
                    "2024-03-02 12:00:00",
                ]
            )
        ],
    )
    events_unified_view.run(settings)
    rows = lake_query(
        settings, "SELECT event_count, duration_seconds FROM sessions ORDER BY started_at"
    )
    assert [(r["event_count"], r["duration_seconds"]) for r in rows] == [
        (3, 18 * 3600),
        (2, 9 * 3600),
    ]
