"""A `shopify` pipeline against the local Shopify Admin API (tests/fakes/shopify.py): full and
incremental syncs, deletes, throttling, a run killed mid-pagination, a refused token, a
malformed page."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from fakes.shopify import Shop, generate, shopify_server
from support.analytics import add_events, event, purchase
from support.lake import lake_query

from cdpflow.elt import shopify, shopify_api
from cdpflow.elt.job import run
from cdpflow.errors import TerminalError
from cdpflow.http import CredentialRefused, ServiceUnavailable
from cdpflow.jobs import Interval, events_unified_view, id_stitching_incremental
from cdpflow.lake.storage import Lake
from cdpflow.lake.tables import TableStore
from cdpflow.secrets import open_secrets
from cdpflow.settings import Settings, load_settings

TOKEN = "shpat_test_0123456789abcdef"
CUSTOMERS, ORDERS, PRODUCTS = 2_000, 2_600, 40
TABLES = ("shop__customers", "shop__orders", "shop__products")


@pytest.fixture
def shop() -> Iterator[Shop]:
    with shopify_server(TOKEN) as fake:
        generate(fake, CUSTOMERS, ORDERS, PRODUCTS)
        yield fake


def _pipeline(settings: Settings, shop: Shop, token: str = TOKEN) -> None:
    folder = settings.home / "pipelines"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "shop.yml").write_text(
        f"type: shopify\nshop: demo-shop.myshopify.com\napi_base_url: {shop.url}\n"
    )
    open_secrets(settings).put("shop_token", token)


def _rows(settings: Settings, table: str) -> list[dict]:
    return lake_query(settings, f"SELECT * EXCLUDE (_loaded_at) FROM {table} ORDER BY id")


def _versions(settings: Settings) -> dict[str, object]:
    tables = TableStore(Lake(settings.lake_url))
    return {t: (s.version if (s := tables.current(t)) else None) for t in TABLES}


def test_a_full_sync_lands_customers_orders_and_products_flattened(settings, shop, query):
    _pipeline(settings, shop)
    result = run(settings, Interval(), name="shop")
    assert result.rows == {
        "shop__customers": CUSTOMERS,
        "shop__orders": ORDERS,  # cancelled and closed orders too (status=any)
        "shop__products": PRODUCTS,
    }
    columns = [r["column_name"] for r in query("DESCRIBE shop__orders")]
    assert columns == [
        "id", "customer_id", "email", "phone", "name", "currency", "total_price",
        "total_refunded", "financial_status", "cancelled_at", "processed_at", "created_at",
        "updated_at", "line_items", "refunds", "_deleted", "_loaded_at",
    ]  # fmt: skip
    assert [r["column_name"] for r in query("DESCRIBE shop__customers")] == [
        "id", "email", "phone", "first_name", "last_name", "country_code",
        "accepts_marketing", "orders_count", "total_spent", "created_at", "updated_at",
        "_loaded_at",
    ]  # fmt: skip
    assert [r["column_name"] for r in query("DESCRIBE shop__products")][:9] == [
        "id", "title", "handle", "vendor", "product_type", "status", "created_at",
        "updated_at", "variants",
    ]  # fmt: skip

    # a refunded order: its refunds summed, its line items as JSON, its customer's id
    refunded = next(
        o for i in shop.tables["orders"].ids if (o := shop.record("orders", i))["refunds"]
    )
    [row] = query(f"SELECT * FROM shop__orders WHERE id = {refunded['id']}")
    amounts = [float(t["amount"]) for r in refunded["refunds"] for t in r["transactions"]]
    assert row["total_refunded"] == pytest.approx(sum(amounts))
    assert row["total_price"] == pytest.approx(float(refunded["total_price"]))
    assert row["customer_id"] == refunded["customer"]["id"]
    assert json.loads(row["line_items"]) == refunded["line_items"]
    assert json.loads(row["refunds"]) == refunded["refunds"]
    # timestamps in UTC (the shop stamps them at -05:00)
    assert row["updated_at"] == datetime.fromisoformat(refunded["updated_at"])

    # a customer: country from the default address, marketing from the e-mail consent
    source = shop.record("customers", shop.tables["customers"].ids[0])
    [customer] = query(f"SELECT * FROM shop__customers WHERE id = {source['id']}")
    assert customer["accepts_marketing"] is (
        source["email_marketing_consent"]["state"] == "subscribed"
    )
    assert customer["country_code"] == (source["default_address"] or {}).get("country_code")
    assert customer["total_spent"] == pytest.approx(float(source["total_spent"]))
    assert query(
        "SELECT count(*) AS n FROM shop__customers WHERE accepts_marketing"
    ) == [{"n": sum(
        shop.record("customers", i)["email_marketing_consent"]["state"] == "subscribed"
        for i in shop.tables["customers"].ids
    )}]  # fmt: skip


def test_a_second_sync_merges_updates_new_rows_and_deletes(settings, shop, query):
    _pipeline(settings, shop)
    run(settings, Interval(), name="shop")
    ids = list(shop.tables["orders"].ids)
    customer_ids = list(shop.tables["customers"].ids)
    shop.update("customers", customer_ids[3], email="new.address@example.com")
    shop.update("orders", ids[10], financial_status="refunded", refunds=[
        {"id": 1, "created_at": "2026-01-02T00:00:00-05:00", "transactions": [
            {"id": 2, "kind": "refund", "status": "success", "amount": "12.50"},
            {"id": 3, "kind": "refund", "status": "failure", "amount": "99.00"},
        ]},
    ])  # fmt: skip
    new = [shop.add("orders", {"email": "walk-in@example.com", "total_price": "9.99",
                               "name": f"#P{n}", "line_items": [], "refunds": []})
           for n in range(3)]  # fmt: skip
    shop.delete("orders", ids[20])
    shop.delete("products", shop.tables["products"].ids[0])
    shop.delete("customers", customer_ids[5])  # Shopify's REST API reports no such delete

    second = run(settings, Interval(), name="shop")
    assert second.loaded["shop__orders"] <= 1 + 3 + 1 + 2  # and a re-read boundary second
    assert second.rows == {
        "shop__customers": CUSTOMERS,  # the deleted customer stays
        "shop__orders": ORDERS + 3 - 1,
        "shop__products": PRODUCTS - 1,
    }
    assert query("SELECT count(*) AS n, count(DISTINCT id) AS d FROM shop__orders") == [
        {"n": ORDERS + 2, "d": ORDERS + 2}
    ]
    assert query(f"SELECT email FROM shop__customers WHERE id = {customer_ids[3]}") == [
        {"email": "new.address@example.com"}
    ]
    assert query(
        f"SELECT financial_status, total_refunded FROM shop__orders WHERE id = {ids[10]}"
    ) == [{"financial_status": "refunded", "total_refunded": 12.5}]  # failed refund not summed
    assert query(f"SELECT count(*) AS n FROM shop__orders WHERE id = {ids[20]}") == [{"n": 0}]
    assert query(f"SELECT count(*) AS n FROM shop__orders WHERE id IN {tuple(new)}") == [{"n": 3}]
    # nothing new: the boundary second is read again and merged away, the tables stay
    before = {t: _rows(settings, t) for t in TABLES}
    third = run(settings, Interval(), name="shop")
    assert third.rows == second.rows
    assert {t: _rows(settings, t) for t in TABLES} == before


def test_throttling_is_survived_by_pacing_and_retry_after(settings, monkeypatch):
    # a small bucket draining at 10/s (0.6 s to empty), and one 429 from another app's burst
    monkeypatch.setattr(shopify_api, "BUCKET_DRAIN_SECONDS", 0.6)
    waits: list[float] = []
    monkeypatch.setattr(shopify_api, "_sleep", lambda s: (waits.append(s), time.sleep(s)))
    with shopify_server(TOKEN, bucket_size=6, leak_per_second=10.0) as shop:
        generate(shop, 2_500, 3_000, 10)
        shop.faults = [None, None, 429]
        _pipeline(settings, shop)
        result = run(settings, Interval(), name="shop")
    assert result.rows == {"shop__customers": 2_500, "shop__orders": 3_000, "shop__products": 10}
    assert shop.throttled == 1 and shop.bucket_refusals == 0  # the client paced itself
    assert any(w >= 0.1 for w in waits)  # the 429's Retry-After: 0.1 was waited out
    # it ran into the top of the bucket and waited there instead of being refused
    assert shop.peak_bucket >= 4 and len(waits) >= 4


def test_a_run_killed_mid_pagination_commits_nothing_and_the_rerun_matches(
    settings, shop, monkeypatch, tmp_path: Path
):
    monkeypatch.setattr(shopify_api, "_sleep", lambda s: None)  # retries of the 503s at once
    shop.bucket_size = 100_000  # so the bucket, not under test here, never needs the waits
    quick = dataclasses.replace(settings, elt_http_attempts=2)
    _pipeline(quick, shop)
    shop.fail_after_pages = 11  # customers done (8 pages), orders stop after 3 of 11
    with pytest.raises(ServiceUnavailable, match=r"Pipeline `shop`.*Nothing was committed"):
        run(quick, Interval(), name="shop")
    assert _versions(quick) == dict.fromkeys(TABLES)
    shop.fail_after_pages = None
    run(quick, Interval(), name="shop")

    # one uninterrupted run in another home against the same shop
    other = load_settings(env={}, home=tmp_path / "other")
    _pipeline(other, shop)
    run(other, Interval(), name="shop")
    for table in TABLES:
        assert _rows(quick, table) == _rows(other, table)

    # killed again, now in an incremental run after changes: the previous versions stay
    shop.update("orders", shop.tables["orders"].ids[0], email="changed@example.com")
    before = _versions(quick)
    monkeypatch.setattr(shopify, "_columns", _killed_on_orders(shopify._columns))
    with pytest.raises(KeyboardInterrupt):
        run(quick, Interval(), name="shop")
    assert _versions(quick) == before
    monkeypatch.undo()
    run(quick, Interval(), name="shop")
    run(other, Interval(), name="shop")
    for table in TABLES:
        assert _rows(quick, table) == _rows(other, table)


def _killed_on_orders(real):  # type: ignore[no-untyped-def]
    def columns(schema, records):  # type: ignore[no-untyped-def]
        if "line_items" in schema.names:
            raise KeyboardInterrupt("killed")
        return real(schema, records)

    return columns


def test_a_refused_token_is_terminal_and_names_the_pipeline_and_secret(settings, shop):
    _pipeline(settings, shop, token="shpat_wrong_secret_value")
    with pytest.raises(CredentialRefused) as err:
        run(settings, Interval(), name="shop")
    message = str(err.value)
    assert "Pipeline `shop`" in message and "secret `shop_token`" in message
    assert "cdpflow secrets set shop_token" in message
    assert "shpat_wrong_secret_value" not in message and TOKEN not in message
    assert shop.requests == 1  # not retried
    assert _versions(settings) == dict.fromkeys(TABLES)


def test_a_malformed_page_is_named_and_commits_nothing(settings, shop):
    _pipeline(settings, shop)
    run(settings, Interval(), name="shop")
    before = _versions(settings)
    shop.update("customers", shop.tables["customers"].ids[0], email="x@example.com")
    shop.faults = [None, None, None, "malformed"]  # customers, orders, events, then products
    with pytest.raises(TerminalError) as err:
        run(settings, Interval(), name="shop")
    assert "resource `products`: page 1 of products.json is malformed" in str(err.value)
    assert "nothing was committed" in str(err.value)
    assert _versions(settings) == before


def test_the_fake_refuses_what_shopify_refuses(shop):
    headers = {"X-Shopify-Access-Token": TOKEN}
    with httpx.Client(base_url=shop.url, headers=headers) as client:
        assert client.get("/admin/api/2019-04/orders.json").status_code == 404
        assert client.get("/admin/api/2025-10/orders.json?limit=251").status_code == 400
        first = client.get("/admin/api/2025-10/orders.json?limit=250&status=any")
        assert len(first.json()["orders"]) == 250 and 'rel="next"' in first.headers["Link"]
        assert first.headers["X-Shopify-Shop-Api-Call-Limit"].endswith("/40")
        next_url = first.headers["Link"].split(">")[0].lstrip("<")
        refused = client.get(next_url + "&status=any")
        assert refused.status_code == 400
        assert "status cannot be passed when page_info is present" in refused.text
        assert len(client.get(next_url).json()["orders"]) == 250
        cancelled = client.get("/admin/api/2025-10/orders.json?limit=250&status=cancelled")
        assert cancelled.json()["orders"] and all(
            o["cancelled_at"] for o in cancelled.json()["orders"]
        )
        first_open = client.get("/admin/api/2025-10/orders.json?limit=250").json()["orders"]
        assert not any(o["cancelled_at"] for o in first_open)  # the default is status=open
    assert httpx.get(f"{shop.url}/admin/api/2025-10/orders.json").status_code == 401


def test_an_api_version_shopify_does_not_serve_fails_naming_the_setting(settings, shop):
    old = dataclasses.replace(settings, shopify_api_version="2023-10")
    _pipeline(old, shop)
    with pytest.raises(TerminalError, match="CDPFLOW_SHOPIFY_API_VERSION=2023-10"):
        run(old, Interval(), name="shop")


def test_shop_customers_and_orders_reach_customer_360_stitched_to_online_visitors(settings):
    """End to end with no mapping file: the shopify pipeline's own identity entries and roles
    make its orders count, deduplicated against an online purchase, net of refunds."""
    with shopify_server(TOKEN) as fake:
        generate(fake, 60, 150, 5)
        _pipeline(settings, fake)
        run(settings, Interval(), name="shop")
    orders = lake_query(
        settings,
        "SELECT id, customer_id, total_price - total_refunded AS net, total_refunded, "
        "cancelled_at IS NOT NULL AS cancelled FROM shop__orders",
    )
    kept = [o for o in orders if not o["cancelled"]]
    assert len(kept) < len(orders) and any(o["total_refunded"] > 0 for o in kept)
    # three shop customers browse online under their e-mail; one order is also reported online
    buyers = sorted({o["customer_id"] for o in kept})[:3]
    customers = {
        c["id"]: c
        for c in lake_query(settings, f"SELECT * FROM shop__customers WHERE id IN {tuple(buyers)}")
    }
    online_order = next(o for o in kept if o["customer_id"] == buyers[0])
    add_events(
        settings,
        [
            event(
                f"e{n}", "2025-12-20 10:00:00", anonymous_id=f"device-{n}",
                email=customers[cid]["email"],
            )
            for n, cid in enumerate(buyers)
        ]
        + [
            purchase(
                "p0", "2025-12-20 10:05:00", str(online_order["id"]), online_order["net"] + 10,
                anonymous_id="device-0", email=customers[buyers[0]]["email"],
            )
        ],
    )  # fmt: skip
    id_stitching_incremental.run(settings)
    events_unified_view.run(settings)

    people = lake_query(
        settings,
        "SELECT c.*, i.identifier_value AS device FROM customer_360 c JOIN identities i "
        "ON i.global_user_id = c.global_user_id AND i.identifier_type = 'anonymous_id'",
    )
    assert len(people) == 3
    for n, cid in enumerate(buyers):
        [person] = [p for p in people if p["device"] == f"device-{n}"]
        theirs = [o for o in kept if o["customer_id"] == cid]
        assert person["orders"] == len(theirs) and person["sessions"] == 1
        assert person["revenue"] == pytest.approx(sum(o["net"] for o in theirs))
        shop_record = customers[cid]
        assert (person["first_name"], person["last_name"]) == (
            shop_record["first_name"], shop_record["last_name"],
        )  # fmt: skip
        assert person["accepts_marketing"] is shop_record["accepts_marketing"]
    [both] = lake_query(
        settings, f"SELECT * FROM conversions WHERE order_id = '{online_order['id']}'"
    )
    assert both["order_source"] == "both" and both["revenue"] == pytest.approx(online_order["net"])
    # customer_360's revenue is the shop's net order total, the online report counted once
    [total] = lake_query(
        settings, "SELECT sum(revenue) AS revenue, sum(orders) AS n FROM customer_360"
    )
    assert total["n"] == len(kept)
    assert total["revenue"] == pytest.approx(sum(o["net"] for o in kept))
