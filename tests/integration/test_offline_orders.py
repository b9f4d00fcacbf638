"""Offline orders and customers from an ELT pipeline, end to end: a `files` pipeline declaring
`role: customers` and `role: orders` is stitched to online visitors through `table:` identity
sources, and customer_360 and conversions count the shop's orders as the shop does."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support.analytics import add_events, event, purchase
from support.lake import LATER, lake_query

from cdpflow.elt import job as elt_job
from cdpflow.jobs import (
    Interval,
    entity_creation,
    events_incremental,
    events_unified_view,
    id_stitching_incremental,
)
from cdpflow.lake.raw import RawWriter, Received
from cdpflow.lake.storage import Lake
from cdpflow.sample import SampleSpec, generate_events, generate_shop_export
from cdpflow.settings import Settings, load_settings

# The shop's export, in its own column names (the pipeline maps them to the role's fields).
CUSTOMERS = """\
cid,mail,tel,given,family,cc,newsletter,created
c-1,Ann@Shop.test,(415) 555-0101,Ann,Archer,us,yes,2024-01-02T00:00:00Z
c-2,bob@shop.test,,Bob,Baker,de,no,2024-01-03T00:00:00Z
c-3,cid@shop.test,,Cid,Cole,fr,,2024-01-04T00:00:00Z
"""
# o-1 is also online (at 100, the shop says 90 after a discount); o-2 is Ann's in-store order;
# o-3 was refunded 15 of 40; o-4 cancelled; o-5 fully refunded (no amount given); o-6 is Cid's.
ORDERS = """\
oid,cust,mail,amount,refund,cur,state,placed,cancelled
o-1,c-1,ann@shop.test,90.00,,USD,paid,2024-03-05T10:00:30Z,
o-2,c-1,,25.50,,USD,fulfilled,2024-03-06T15:00:00Z,
o-3,c-2,bob@shop.test,40.00,15.00,USD,partially_refunded,2024-03-06T16:00:00Z,
o-4,c-2,bob@shop.test,70.00,,USD,paid,2024-03-06T17:00:00Z,2024-03-06T18:00:00Z
o-5,c-2,bob@shop.test,12.00,,USD,refunded,2024-03-07T09:00:00Z,
o-6,c-3,cid@shop.test,8.00,0,USD,paid,2024-03-07T10:00:00Z,
"""
PIPELINE = """\
type: files
resources:
  customers:
    primary_key: cid
    path: imports/customers.csv
    columns: {created: timestamp}
    role: customers
    fields: {customer_id: cid, email: mail, phone: tel, first_name: given, last_name: family,
             country: cc, accepts_marketing: newsletter}
  orders:
    primary_key: oid
    path: imports/orders.csv
    columns: {placed: timestamp, cancelled: timestamp}
    role: orders
    fields: {order_id: oid, customer_id: cust, email: mail, total: amount, refunded: refund,
             currency: cur, status: state, ordered_at: placed, cancelled_at: cancelled}
"""
MAPPING = """\
sources:
  - table: pos__customers
    seen_at: created
    columns: {cid: [shop_customer_id, user_id], mail: email, tel: phone}
  - table: pos__orders
    columns: {cust: [shop_customer_id, user_id], mail: email}
"""
ONLINE = [
    # Ann logs in on her phone and buys o-1; the event says 100, the shop 90
    event("a1", "2024-03-05 09:58:00", anonymous_id="ann-phone", user_id="c-1"),
    purchase("a2", "2024-03-05 10:00:00", "o-1", 100.0, anonymous_id="ann-phone", user_id="c-1"),
    # Bob browses with his e-mail typed in; his orders are all offline
    event("b1", "2024-03-06 12:00:00", anonymous_id="bob-laptop", email="BOB@shop.test"),
    # an online-only order by a visitor the shop does not know
    purchase("z1", "2024-03-06 13:00:00", "o-99", 33.0, anonymous_id="zed"),
]
SEGMENT = "kind: segment\nconditions:\n  - {trait: orders, op: at_least, value: 1}\n"


def _shop(settings: Settings, *, mapping: bool = True) -> None:
    home = settings.home
    (home / "imports").mkdir(parents=True)
    (home / "imports" / "customers.csv").write_text(CUSTOMERS)
    (home / "imports" / "orders.csv").write_text(ORDERS)
    (home / "pipelines").mkdir()
    (home / "pipelines" / "pos.yml").write_text(PIPELINE)
    if mapping:
        (home / "identity.yaml").write_text(MAPPING)


def _run_all(settings: Settings) -> None:
    elt_job.run(settings, Interval(), name="pos")
    id_stitching_incremental.run(settings)
    events_unified_view.run(settings)


def _by(rows: list[dict], key: str) -> dict:
    return {r[key]: r for r in rows}


def test_shop_orders_and_customers_reach_conversions_and_customer_360(settings: Settings):
    _shop(settings)
    add_events(settings, ONLINE)
    _run_all(settings)

    people = _by(lake_query(settings, "SELECT * FROM customer_360"), "global_user_id")
    orders = _by(lake_query(settings, "SELECT * FROM conversions"), "order_id")
    # the order online and offline is one conversion: its session, the shop's total
    both = orders["o-1"]
    assert both["order_source"] == "both" and both["revenue"] == 90.0
    assert both["session_id"] is not None and both["event_id"] == "a2"
    assert both["order_status"] == "paid"
    assert orders["o-2"]["order_source"] == "offline" and orders["o-2"]["session_id"] is None
    assert orders["o-3"]["revenue"] == 25.0 and orders["o-3"]["refunded"] == 15.0
    assert "o-4" not in orders  # cancelled
    assert orders["o-5"]["revenue"] == 0.0 and orders["o-5"]["refunded"] == 12.0
    assert orders["o-99"]["order_source"] == "online" and orders["o-99"]["revenue"] == 33.0

    ann = people[orders["o-1"]["global_user_id"]]
    assert orders["o-2"]["global_user_id"] == ann["global_user_id"]  # by customer id
    assert ann["devices"] == 1 and ann["orders"] == 2 and ann["revenue"] == 115.5
    bob = people[orders["o-3"]["global_user_id"]]
    assert bob["devices"] == 1 and bob["orders"] == 2 and bob["revenue"] == 25.0
    # revenue equals the shop's net order totals (not cancelled) for these people
    shop_net = 90.0 + 25.5 + (40.0 - 15.0) + 0.0 + 8.0
    assert sum(p["revenue"] for p in people.values() if p["global_user_id"] != orders["o-99"][
        "global_user_id"]) == shop_net  # fmt: skip
    assert (ann["first_name"], ann["last_name"], ann["country"], ann["accepts_marketing"]) == (
        "Ann", "Archer", "US", True,
    )  # fmt: skip
    assert (bob["first_name"], bob["country"], bob["accepts_marketing"]) == ("Bob", "DE", False)
    cid = people[orders["o-6"]["global_user_id"]]
    assert cid["first_name"] == "Cid" and cid["accepts_marketing"] is None

    (settings.home / "entities").mkdir()
    (settings.home / "entities" / "buyers.yml").write_text(SEGMENT)
    entity_creation.run(settings)
    members = _by(lake_query(settings, "SELECT * FROM segment_members"), "global_user_id")
    assert members[ann["global_user_id"]]["first_name"] == "Ann"
    assert members[ann["global_user_id"]]["consent"] is True
    assert members[bob["global_user_id"]]["consent"] is False
    assert members[bob["global_user_id"]]["country"] == "DE"


def test_a_changed_order_and_customer_update_the_next_build(settings: Settings):
    _shop(settings)
    add_events(settings, ONLINE)
    _run_all(settings)
    (settings.home / "imports" / "orders.csv").write_text(
        ORDERS.replace(
            "o-6,c-3,cid@shop.test,8.00,0,USD,paid", "o-6,c-3,cid@shop.test,8.00,8,USD,refunded"
        )
    )
    (settings.home / "imports" / "customers.csv").write_text(
        CUSTOMERS.replace("Cid,Cole", "Cyd,Cole")
    )
    _run_all(settings)
    [cid] = lake_query(settings, "SELECT * FROM customer_360 WHERE 'cid@shop.test' IN emails")
    assert cid["first_name"] == "Cyd" and cid["revenue"] == 0.0 and cid["orders"] == 1


def test_with_no_pipelines_every_model_builds_and_offline_columns_are_typed(settings: Settings):
    add_events(settings, ONLINE)
    id_stitching_incremental.run(settings)
    result = events_unified_view.run(settings)
    assert all(m.status == "success" for m in result.models)
    [row] = lake_query(
        settings,
        "SELECT typeof(first_name) AS name, typeof(accepts_marketing) AS consent, "
        "count(*) AS people FROM customer_360 GROUP BY ALL",
    )
    assert row == {"name": "VARCHAR", "consent": "BOOLEAN", "people": 3}
    orders = lake_query(settings, "SELECT order_id, order_source, refunded FROM conversions")
    assert sorted(o["order_id"] for o in orders) == ["o-1", "o-99"]
    assert {o["order_source"] for o in orders} == {"online"} and {
        o["refunded"] for o in orders
    } == {0.0}


def test_a_role_table_without_its_key_column_fails_naming_the_field(settings: Settings):
    _shop(settings)
    (settings.home / "pipelines" / "pos.yml").write_text(
        PIPELINE.replace("fields: {order_id: oid,", "fields: {order_id: number,")
    )
    add_events(settings, ONLINE)
    elt_job.run(settings, Interval(), name="pos")
    id_stitching_incremental.run(settings)
    with pytest.raises(
        Exception, match=r"pos__orders declares `role: orders` but has no column `number`"
    ):
        events_unified_view.run(settings)


EXAMPLES = Path(__file__).parents[2] / "examples"


def _demo_home(settings: Settings, land, spec: SampleSpec, *, pipeline: bool) -> None:  # type: ignore[no-untyped-def]
    """The sample traffic and shop export; with `pipeline`, as `make demo` sets them up."""
    land(Received(m.received_at, m.source, m.message) for m in generate_events(spec))
    generate_shop_export(spec, settings.home / "imports" / "shop")
    if pipeline:
        (settings.home / "pipelines").mkdir()
        shutil.copy(EXAMPLES / "pipelines" / "shop.yml", settings.home / "pipelines")
        shutil.copy(EXAMPLES / "identity.yaml", settings.home)
        elt_job.run(settings, Interval(), name="shop")
    events_incremental.run(settings, now=LATER)


def test_the_demo_loads_the_shop_export_through_its_pipeline(settings, land, tmp_path: Path):
    # seed 5: 48 orders, of them 3 refunded and 1 cancelled
    spec = SampleSpec(days=3, visitors=250, seed=5, end=datetime(2026, 11, 20, tzinfo=UTC))
    _demo_home(settings, land, spec, pipeline=True)
    stitched = id_stitching_incremental.run(settings, now=LATER)
    assert (stitched.offline_files, stitched.offline_tables) == (0, 2)  # imports/ is not read
    events_unified_view.run(settings)

    shop = lake_query(
        settings, "SELECT order_id, total - total_refunded AS net, cancelled_at FROM shop__orders"
    )
    kept = {o["order_id"]: o["net"] for o in shop if o["cancelled_at"] is None}
    assert len(kept) < len(shop)  # a cancelled order is no conversion
    orders = _by(lake_query(settings, "SELECT * FROM conversions"), "order_id")
    assert set(orders) == set(kept)  # one row each: online orders are not counted twice
    for order_id, row in orders.items():
        assert row["order_source"] == ("offline" if order_id.startswith("POS-") else "both")
        assert row["revenue"] == pytest.approx(kept[order_id])
    [people] = lake_query(
        settings,
        "SELECT sum(orders) AS orders, sum(revenue) AS revenue, count(first_name) AS named, "
        "count(*) FILTER (first_name IS NOT NULL AND sessions > 0) AS named_online "
        "FROM customer_360",
    )
    assert people["orders"] == len(kept)
    assert people["revenue"] == pytest.approx(sum(kept.values()))
    assert people["named_online"] > 0 and people["named"] > people["named_online"]
    # each person's name, country and consent are those of one of its shop customer records
    strays = lake_query(
        settings,
        """SELECT p.global_user_id FROM customer_360 p WHERE p.first_name IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM identities i JOIN shop__customers c
             ON i.identifier_type = 'shop_customer_id' AND i.identifier_value = c.customer_id
             WHERE i.global_user_id = p.global_user_id AND c.first_name = p.first_name
             AND c.country = p.country AND c.accepts_marketing = p.accepts_marketing)""",
    )
    assert strays == []

    # the same people as the built-in mapping reading the export's files directly
    files = load_settings(env={}, home=tmp_path / "files")
    _demo_home(files, _lander(files), spec, pipeline=False)
    assert id_stitching_incremental.run(files, now=LATER).offline_files == 2
    people_sql = (
        "SELECT identifier_type, identifier_value, global_user_id, first_seen_at FROM identities "
        "ORDER BY ALL"
    )
    assert lake_query(settings, people_sql) == lake_query(files, people_sql)


def _lander(settings: Settings):  # type: ignore[no-untyped-def]
    def land(items) -> None:  # type: ignore[no-untyped-def]
        with RawWriter(Lake(settings.lake_url)) as writer:
            for item in items:
                writer.write(item)

    return land
