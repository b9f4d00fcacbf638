"""The vectorized sample traffic (cdpflow.sample.columnar*) against the row-by-row generator on
the same spec: the same plan's facts exactly, the behaviour's mix and shape within tolerance."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest

from cdpflow.errors import ConfigError
from cdpflow.events.schema import CORE_EVENTS_COLUMNS
from cdpflow.sample import SampleSpec, generate_events
from cdpflow.sample.columnar import draw_sessions
from cdpflow.sample.columnar_rows import core_events_rows
from cdpflow.sample.columnar_segment import segment_events
from cdpflow.sample.plan import HOUR_MS, build_plan, follow_on

END = datetime(2024, 6, 3, tzinfo=UTC)
SHOP = "https://shop.example.com"
SPEC = SampleSpec(days=14, visitors=4000, seed=23, end=END, blotout_share=0.0)
GAP = timedelta(minutes=30)


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def rowwise() -> list[dict[str, Any]]:
    """The row-by-row traffic's Segment messages, each with the time it was received."""
    out = []
    for raw in generate_events(SPEC):
        assert isinstance(raw.message, dict)
        for msg in raw.message["batch"] if raw.source == "ios" else [raw.message]:
            out.append({**msg, "received": raw.received_at, "source": raw.source})
    return out


@pytest.fixture(scope="module")
def columnar() -> list[dict[str, Any]]:
    events = segment_events(draw_sessions(build_plan(SPEC)))
    table = core_events_rows(events, np.arange(len(events.page)))
    assert table.schema.names == [c for c, _ in CORE_EVENTS_COLUMNS]
    return table.to_pylist()


def _name(msg: dict[str, Any]) -> str:
    return msg.get("event") or msg["type"]


def _sessions(times: dict[str, list[datetime]]) -> Iterator[int]:
    """Sessions per device: runs of its times no more than 30 minutes apart."""
    for stamps in times.values():
        stamps.sort()
        yield 1 + sum(b - a > GAP for a, b in itertools.pairwise(stamps))


def _channel(params: dict[str, list[str]], referrer: str) -> str:
    if "gclid" in params:
        return "google_cpc"
    for key, channel in (("fbclid", "facebook"), ("msclkid", "bing_cpc"), ("ttclid", "tiktok")):
        if key in params:
            return channel
    if params.get("utm_medium") == ["email"]:
        return "email"
    if referrer in ("https://www.google.com/", "https://www.bing.com/", "https://duckduckgo.com/"):
        return "organic"
    return "referral" if referrer else "direct"


def _shares(counter: Counter[str]) -> dict[str, float]:
    total = sum(counter.values())
    return {k: v / total for k, v in counter.items()}


def test_the_plans_facts_are_the_same_exactly(
    rowwise: list[dict[str, Any]], columnar: list[dict[str, Any]]
) -> None:
    """Devices, orders (ids, revenue, currency) and who identified come from the one plan."""
    assert {m["anonymousId"] for m in rowwise} == {r["anonymous_id"] for r in columnar}
    orders = {
        m["properties"]["order_id"]: (m["properties"]["revenue"], m["properties"]["currency"])
        for m in rowwise
        if _name(m) == "Order Completed"
    }
    assert len(orders) > 100
    assert orders == {
        r["order_id"]: (r["revenue"], r["currency"])
        for r in columnar
        if r["event_name"] == "Order Completed"
    }
    identified = {m["userId"] for m in rowwise if m["type"] == "identify"}
    assert identified == {r["user_id"] for r in columnar if r["event_type"] == "identify"}
    emails = {m["traits"]["email"].strip().lower() for m in rowwise if m["type"] == "identify"}
    assert emails == {r["email"] for r in columnar if r["event_type"] == "identify"}


def test_event_mix_and_sessions_per_device_match_the_row_by_row_traffic(
    rowwise: list[dict[str, Any]], columnar: list[dict[str, Any]]
) -> None:
    names = Counter(_name(m) for m in rowwise)
    got = Counter(
        r["event_name"] if r["event_type"] == "track" else r["event_type"] for r in columnar
    )
    assert abs(len(columnar) / len(rowwise) - 1) < 0.03
    for name, count in names.items():  # every kind of message, within 10% (or 20 of a rare one)
        assert abs(got[name] - count) <= max(0.1 * count, 20), (name, got[name], count)
    assert set(got) == set(names)

    with_user = sum("userId" in m for m in rowwise) / len(rowwise)
    assert abs(sum(r["user_id"] is not None for r in columnar) / len(columnar) - with_user) < 0.02

    row_times: dict[str, list[datetime]] = defaultdict(list)
    for m in rowwise:
        row_times[m["anonymousId"]].append(m["received"])
    col_times: dict[str, list[datetime]] = defaultdict(list)
    for r in columnar:
        col_times[r["anonymous_id"]].append(r["event_time"])
    row_sessions, col_sessions = list(_sessions(row_times)), list(_sessions(col_times))
    assert abs(sum(col_sessions) / sum(row_sessions) - 1) < 0.02
    assert abs(np.mean(col_sessions) - np.mean(row_sessions)) < 0.05
    for n in (1, 2, 3):  # devices with one, two and three sessions
        share = row_sessions.count(n) / len(row_sessions)
        assert abs(col_sessions.count(n) / len(col_sessions) - share) < 0.02, n


def test_landings_mix_channels_like_the_row_by_row_traffic(
    rowwise: list[dict[str, Any]], columnar: list[dict[str, Any]]
) -> None:
    """Web landings (a page with an external referrer), by channel, within 2.5 points each;
    tags and click ids are on every event of the landing page and nowhere else."""
    rows = Counter()
    for m in rowwise:
        page = m["context"].get("page")
        if m["type"] == "page" and not page["referrer"].startswith(SHOP):
            rows[_channel(parse_qs(page["search"].removeprefix("?")), page["referrer"])] += 1
    cols = Counter()
    for r in columnar:
        if r["event_type"] == "page" and not r["referrer"].startswith(SHOP):
            params = parse_qs(urlsplit(r["url"]).query)
            cols[_channel(params, r["referrer"])] += 1
            for click in ("gclid", "fbclid", "msclkid", "ttclid"):
                assert r[click] == params.get(click, [None])[0]
    assert sum(cols.values()) == pytest.approx(sum(rows.values()), rel=0.03)
    expected, got = _shares(rows), _shares(cols)
    assert set(got) == set(expected) == {
        "google_cpc", "facebook", "email", "organic", "referral", "direct", "bing_cpc", "tiktok",
    }  # fmt: skip
    for channel, share in expected.items():
        assert abs(got[channel] - share) < 0.025, (channel, got[channel], share)
    web = [r for r in columnar if r["source"] == "web"]
    for r in web:  # only the landing page's url carries the query, and with it the tags
        landing = bool(urlsplit(r["url"]).query)
        assert (r["utm_source"] is not None or r["gclid"] is not None) == landing


def test_times_are_ordered_like_the_sdks_send_them(columnar: list[dict[str, Any]]) -> None:
    begin = END - timedelta(days=14)
    for r in columnar:
        assert begin <= r["event_time"] <= r["received_at"] < END + timedelta(hours=1)
        assert r["event_date"] == r["event_time"].date()
    web_delay = [r["received_at"] - r["event_time"] for r in columnar if r["source"] == "web"]
    assert max(web_delay) <= timedelta(seconds=61)
    app_delay = [r["received_at"] - r["event_time"] for r in columnar if r["source"] == "ios"]
    assert max(app_delay) > timedelta(seconds=30)  # the app queues calls and flushes batches


def test_follow_on_sessions_continue_the_plan() -> None:
    plan = build_plan(SPEC)
    more = follow_on(plan, SPEC.end_ms, SPEC.end_ms + HOUR_MS, returning=300, new=200)
    old = len(plan.customer_no)
    assert (more.start_ms >= SPEC.end_ms).all() and (more.start_ms < SPEC.end_ms + HOUR_MS).all()
    assert (more.person >= old).sum() == 200 and 200 < (more.person < old).sum() <= 300
    returning = more.person[more.person < old]
    assert len(set(returning.tolist())) == len(returning)
    assert (more.visit_no[more.person < old] > 0).all() and (
        more.visit_no[more.person >= old] == 0
    ).all()
    assert more.order_no[more.converts].min() == plan.order_no.max() + 1
    assert more.first_position == plan.n_sessions
    events = segment_events(draw_sessions(more))
    rows = core_events_rows(events, np.arange(len(events.page)))
    base = segment_events(draw_sessions(plan))
    known = set(core_events_rows(base, np.arange(len(base.page)))["anonymous_id"].to_pylist())
    returning = more.person[events.session] < old
    ids = np.array(rows["anonymous_id"].to_pylist(), object)
    assert set(ids[returning]) <= known  # the same devices come back
    assert not set(ids[~returning]) & known
    # Every message id is new, in the plan's rows and the follow-on's alike, however the rows
    # are split into tables (here: from the first row of each, as a day's file would start).
    base_ids = core_events_rows(base, np.arange(len(base.page)))["event_id"].to_pylist()
    more_ids = rows["event_id"].to_pylist()
    assert len(set(base_ids) | set(more_ids)) == len(base_ids) + len(more_ids)


def test_blotout_visitors_are_refused() -> None:
    plan = build_plan(SampleSpec(days=2, visitors=50, seed=1, end=END, blotout_share=0.5))
    with pytest.raises(ConfigError, match="blotout_share"):
        segment_events(draw_sessions(plan))
