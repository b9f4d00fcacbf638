"""Behaviour of the sample traffic generator and the shop export it must agree with."""

from __future__ import annotations

import csv
import itertools
import tracemalloc
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import orjson
import pytest

from cdpflow.errors import ConfigError
from cdpflow.sample import RawMessage, SampleSpec, generate_events, generate_shop_export
from cdpflow.sample.plan import build_plan

END = datetime(2024, 6, 3, tzinfo=UTC)
SHOP = "https://shop.example.com"
MAX_BYTES = 32 * 1024


def _spec(**overrides: Any) -> SampleSpec:
    fields: dict[str, Any] = {"days": 14, "visitors": 800, "seed": 11, "end": END}
    return SampleSpec(**{**fields, **overrides})


@pytest.fixture(scope="module")
def clean() -> list[RawMessage]:
    return list(generate_events(_spec()))


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("shop")
    generate_shop_export(_spec(), out)
    return out


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _segment(messages: list[RawMessage]) -> Iterator[tuple[RawMessage, dict[str, Any]]]:
    """Each Segment message with its envelope (web bodies, and every message in iOS batches)."""
    for raw in messages:
        if raw.source == "web" and isinstance(raw.message, dict):
            yield raw, raw.message
        elif raw.source == "ios" and isinstance(raw.message, dict):
            for msg in raw.message["batch"]:
                yield raw, msg


def _blotout(messages: list[RawMessage]) -> Iterator[tuple[RawMessage, dict[str, Any]]]:
    for raw in messages:
        if raw.source == "blotout" and isinstance(raw.message, dict):
            for event in raw.message["events"]:
                yield raw, event


def _iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _dirty_kind(raw: RawMessage) -> str | None:
    """How a body is broken, or None when a pipeline should accept it."""
    if isinstance(raw.message, str):
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(raw.message)
        return "truncated"
    if len(orjson.dumps(raw.message)) > MAX_BYTES:
        return "oversized"
    if raw.source == "blotout":
        items = raw.message["events"]
        id_key, time_key, props_key = "mid", "evt", "additionalData"
    else:
        items = raw.message["batch"] if raw.source == "ios" else [raw.message]
        id_key, time_key, props_key = "messageId", "timestamp", "properties"
    for item in items:
        if id_key not in item:
            return "no_id"
        if props_key in item and not isinstance(item[props_key], dict):
            return "list_properties"
        stamp = item[time_key]
        if time_key == "evt" and not isinstance(stamp, int):
            return "bad_timestamp"
        if time_key == "timestamp":
            try:
                _iso(stamp)
            except ValueError:
                return "bad_timestamp"
    return None


def _message_key(raw: RawMessage) -> tuple[str, ...]:
    body = raw.message
    assert isinstance(body, dict)
    if raw.source == "web":
        return (body["messageId"],)
    if raw.source == "ios":
        return tuple(m["messageId"] for m in body["batch"])
    return tuple(e["mid"] for e in body["events"])


def test_same_seed_yields_identical_traffic_and_export(tmp_path: Path) -> None:
    spec = _spec(visitors=150, duplicate_rate=0.05, dirty_rate=0.05)
    first = list(generate_events(spec))
    counts = generate_shop_export(spec, tmp_path / "a")
    build_plan.cache_clear()  # the second run must not lean on the cached plan
    assert list(generate_events(spec)) == first
    assert generate_shop_export(spec, tmp_path / "b") == counts
    for name in ("customers.csv", "orders.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
        assert len(_rows(tmp_path / "a" / name)) == counts[name]


def test_different_seed_yields_different_traffic() -> None:
    a = list(generate_events(_spec(visitors=100, seed=1)))
    b = list(generate_events(_spec(visitors=100, seed=2)))
    assert [m.message for m in a[:50]] != [m.message for m in b[:50]]
    ids_a = {k for m in a for k in _message_key(m)}
    assert not ids_a & {k for m in b for k in _message_key(m)}


def test_messages_arrive_in_order_inside_the_span(clean: list[RawMessage]) -> None:
    times = [m.received_at for m in clean]
    assert times == sorted(times)
    assert all(t.tzinfo is not None and t.utcoffset() == timedelta(0) for t in times)
    assert END - timedelta(days=14) <= times[0] and times[-1] < END
    assert times[-1] - times[0] > timedelta(days=12)  # spread over the span, not bunched


def test_traffic_mixes_every_channel_format_and_batch_envelopes(
    clean: list[RawMessage],
) -> None:
    assert {m.source for m in clean} == {"web", "ios", "blotout"}
    batches = [
        len(m.message["batch"]) for m in clean if isinstance(m.message, dict) and m.source == "ios"
    ]
    assert max(batches) >= 4 and sum(batches) > 2 * len(batches)

    landings: list[tuple[str, str]] = []  # (query string, external referrer)
    for _, msg in _segment(clean):
        if msg["type"] == "page" and not msg["context"]["page"]["referrer"].startswith(SHOP):
            landings.append((msg["context"]["page"]["search"], msg["context"]["page"]["referrer"]))
    for raw in clean:
        if raw.source == "blotout" and isinstance(raw.message, dict):
            meta = raw.message["meta"]
            landings.append((meta["search"], meta["referrer"]))

    channels = Counter()
    for query, referrer in landings:
        params = parse_qs(query.removeprefix("?"))
        source, medium = params.get("utm_source", [""])[0], params.get("utm_medium", [""])[0]
        if "gclid" in params and source == "google" and medium == "cpc":
            channels["google_cpc"] += 1
        if "fbclid" in params and source == "facebook" and medium in ("paid_social", "cpc"):
            channels["facebook"] += 1
        if source == "newsletter" and medium == "email" and params["utm_campaign"]:
            channels["email"] += 1
        if "msclkid" in params:
            channels["bing_cpc"] += 1
        if "ttclid" in params:
            channels["tiktok"] += 1
        if not params and referrer in ("https://www.google.com/", "https://www.bing.com/"):
            channels["organic"] += 1
        if not params and referrer and "google" not in referrer and "bing" not in referrer:
            channels["referral"] += 1
        if not params and not referrer:
            channels["direct"] += 1
    expected = {"google_cpc", "facebook", "email", "bing_cpc", "tiktok", "organic", "referral"}
    assert expected | {"direct"} <= {name for name, n in channels.items() if n >= 3}

    campaigns = [m["context"]["campaign"] for _, m in _segment(clean) if "campaign" in m["context"]]
    assert {"source", "medium", "name"} <= set(campaigns[0])
    events = Counter(m.get("event", m["type"]) for _, m in _segment(clean))
    for name in ("page", "screen", "identify", "alias", "Product Viewed", "Product Added"):
        assert events[name] > 0, name
    assert events["Checkout Started"] > events["Order Completed"] > 0
    assert events["page"] > 20 * events["Order Completed"]  # a minority of sessions convert
    blotout = Counter(e["evn"] for _, e in _blotout(clean))
    for name in ("sdk_start", "visibility_hidden", "add-to-cart", "transaction", "persona"):
        assert blotout[name] > 0, name


def test_purchases_match_orders_csv(clean: list[RawMessage], export: Path) -> None:
    orders = {r["order_id"]: r for r in _rows(export / "orders.csv")}
    customers = {r["customer_id"] for r in _rows(export / "customers.csv")}
    online: dict[str, tuple[float, str]] = {}
    for raw, msg in _segment(clean):
        if msg.get("event") == "Order Completed":
            props = msg["properties"]
            online[props["order_id"]] = (props["total"], props["currency"])
            assert msg["userId"] in customers
            assert orders[props["order_id"]]["customer_id"] == msg["userId"]
            if raw.source == "web":  # the shop stamps the order when the browser reports it
                made = raw.received_at - (_iso(msg["sentAt"]) - _iso(msg["timestamp"]))
                stamped = _iso(orders[props["order_id"]]["created_at"])
                assert timedelta(0) <= made - stamped < timedelta(seconds=2)
    for _, event in _blotout(clean):
        if event["evn"] == "transaction":
            data = event["additionalData"]
            online[data["transaction_id"]] = (
                data["transaction_total"],
                data["transaction_currency"],
            )
    assert len(online) >= 20
    for order_id, (total, currency) in online.items():
        assert order_id.startswith("ORD-")
        assert float(orders[order_id]["total"]) == pytest.approx(total)
        assert orders[order_id]["currency"] == currency
    # Every online order of the export happened online; the rest are in-store orders.
    assert {k for k in orders if k.startswith("ORD-")} == set(online)
    assert any(k.startswith("POS-") for k in orders)
    assert {r["customer_id"] for r in orders.values()} <= customers
    created = {r["customer_id"]: _iso(r["created_at"]) for r in _rows(export / "customers.csv")}
    for row in orders.values():
        assert END - timedelta(days=14) <= _iso(row["created_at"]) < END
        assert created[row["customer_id"]] <= _iso(row["created_at"])
        assert row["total"] == f"{float(row['total']):.2f}"
    assert {o["currency"] for o in orders.values()} == {"USD", "EUR"}


def test_export_has_refunds_cancellations_countries_and_consent(export: Path) -> None:
    orders = _rows(export / "orders.csv")
    by_status = Counter(o["status"] for o in orders)
    assert by_status["refunded"] > 0 and by_status["cancelled"] > 0
    for o in orders:
        refunded = o["total"] if o["status"] == "refunded" else "0.00"  # refunds are whole
        assert o["total_refunded"] == refunded
        if o["status"] == "cancelled":
            assert _iso(o["cancelled_at"]) > _iso(o["created_at"])
        else:
            assert o["cancelled_at"] == ""
    customers = _rows(export / "customers.csv")
    countries = Counter(c["country"] for c in customers)
    assert set(countries) <= {"US", "CA", "GB", "DE"} and countries.most_common(1)[0][0] == "US"
    consent = Counter(c["accepts_marketing"] for c in customers)
    assert set(consent) == {"true", "false"} and consent["true"] > consent["false"]


def test_identities_match_customers_csv_after_normalizing(
    clean: list[RawMessage], export: Path
) -> None:
    by_id = {r["customer_id"]: r for r in _rows(export / "customers.csv")}
    seen: dict[str, set[str]] = defaultdict(set)  # customer id -> anonymous ids
    typed: list[tuple[str, str]] = []  # (customer id, email as typed)
    phones: list[str] = []
    for _, msg in _segment(clean):
        if msg["type"] == "identify":
            typed.append((msg["userId"], msg["traits"]["email"]))
            phones += [msg["traits"]["phone"]] if "phone" in msg["traits"] else []
            seen[msg["userId"]].add(msg["anonymousId"])
    for _, event in _blotout(clean):
        if event["evn"] == "persona":
            data = event["additionalData"]
            typed.append((data["persona_id"], data["persona_email"]))
            seen[data["persona_id"]].add(event["userid"])
        if event["evn"] == "map_id":
            assert event["additionalData"]["map_provider"] == "shopify"
            assert event["additionalData"]["map_id"] in by_id
    assert len(typed) > 50
    for customer_id, email in typed:
        assert email.strip().lower() == by_id[customer_id]["email"]
    assert any(email != email.strip().lower() for _, email in typed)  # messy input exists
    assert any(phone.startswith("(") for phone in phones)
    assert all(r["phone"].startswith("+1") and len(r["phone"]) == 12 for r in by_id.values())
    assert any(len(devices) >= 2 for devices in seen.values())  # phone + laptop
    assert len(by_id) > len(seen)  # offline-only customers too
    assert len({r["email"] for r in by_id.values()}) == len(by_id)


def test_skewed_clocks_keep_sent_at_after_timestamp(clean: list[RawMessage]) -> None:
    skewed = 0
    for raw, msg in _segment(clean):
        stamp = _iso(msg["timestamp"])
        envelope = raw.message if raw.source == "ios" else msg
        assert isinstance(envelope, dict)
        sent = _iso(envelope["sentAt"])
        assert sent >= stamp
        if abs(raw.received_at - sent) > timedelta(minutes=1):
            skewed += 1
        # Both client times carry the same skew, so their difference is the real send delay and
        # received_at - (sentAt - timestamp) recovers when the call was made.
        limit = timedelta(seconds=61) if raw.source == "web" else timedelta(minutes=6)
        assert sent - stamp <= limit
    assert skewed > 50


def test_sessions_are_separated_by_half_an_hour(clean: list[RawMessage]) -> None:
    times: dict[str, list[datetime]] = defaultdict(list)
    for _, msg in _segment(clean):
        times[msg["anonymousId"]].append(_iso(msg["timestamp"]))
    for _, event in _blotout(clean):
        times[event["userid"]].append(datetime.fromtimestamp(event["evt"] / 1000, UTC))
    returning = 0
    for stamps in times.values():
        stamps.sort()
        gaps = [b - a for a, b in itertools.pairwise(stamps)]
        assert not [g for g in gaps if timedelta(minutes=4) < g <= timedelta(minutes=30)]
        returning += any(g > timedelta(minutes=30) for g in gaps)
    assert 0.1 * len(times) < returning < 0.6 * len(times)


def test_duplicates_are_identical_later_copies_of_the_base_traffic(
    clean: list[RawMessage],
) -> None:
    noisy = list(generate_events(_spec(duplicate_rate=0.1)))
    first: dict[tuple[str, ...], RawMessage] = {}
    originals = []
    repeats = 0
    for raw in noisy:
        key = _message_key(raw)
        if key in first:
            repeats += 1
            assert raw.message == first[key].message and raw.source == first[key].source
            assert raw.message is not first[key].message
            assert raw.received_at - first[key].received_at >= timedelta(seconds=2)
        else:
            first[key] = raw
            originals.append(raw)
    assert originals == clean  # retries add copies and never change the base traffic
    assert 0.08 < repeats / len(clean) < 0.12
    assert len({_message_key(m) for m in clean}) == len(clean)  # no repeats without the rate


def test_dirty_rate_adds_each_kind_of_broken_body(clean: list[RawMessage]) -> None:
    assert [m for m in clean if _dirty_kind(m)] == []
    noisy = list(generate_events(_spec(dirty_rate=0.1)))
    kinds = Counter(kind for m in noisy if (kind := _dirty_kind(m)))
    assert set(kinds) == {"truncated", "no_id", "bad_timestamp", "list_properties", "oversized"}
    assert 0.08 < sum(kinds.values()) / len(clean) < 0.12
    assert [m for m in noisy if not _dirty_kind(m)] == clean
    assert {m.source for m in noisy if _dirty_kind(m)} == {"web", "ios", "blotout"}


def test_bodies_are_json_and_segment_messages_fit_32kb(clean: list[RawMessage]) -> None:
    for raw in clean:
        assert isinstance(raw.message, dict)
        orjson.dumps(raw.message)
    for _, msg in _segment(clean):
        assert len(orjson.dumps(msg)) < MAX_BYTES
        assert msg["messageId"] and msg["anonymousId"]
        assert msg["context"]["library"]["name"] in ("analytics.js", "analytics-ios")
    for _, event in _blotout(clean):
        assert isinstance(event["evt"], int) and len(event["session_id"]) == 13


def test_large_runs_stream_in_bounded_memory() -> None:
    tracemalloc.start()
    try:
        events = generate_events(_spec(visitors=200_000, days=30))
        head = list(itertools.islice(events, 2_000))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(head) == 2_000 and head[0].received_at >= END - timedelta(days=30)
    assert peak < 80 * 1024 * 1024  # the whole run is ~2 million bodies, several GB as dicts


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"end": datetime(2024, 6, 3)}, "end"),  # naive on purpose
        ({"days": 0}, "days"),
        ({"dirty_rate": 1.5}, "dirty_rate"),
        ({"blotout_share": -0.1}, "blotout_share"),
    ],
)
def test_bad_spec_names_the_field(overrides: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        _spec(**overrides)
