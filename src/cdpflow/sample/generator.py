"""Sample storefront traffic for `cdpflow generate-sample`, streamed in receive order.

Sessions are expanded one at a time in start order; their messages wait in a heap only until no
later session can be received earlier, so memory is bounded by the sessions active at once.
"""

from __future__ import annotations

import csv
import heapq
import itertools
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from cdpflow.sample import noise
from cdpflow.sample.blotout import render_blotout
from cdpflow.sample.model import SOURCE_BLOTOUT, SOURCE_IOS, SOURCE_WEB, RawMessage, SampleSpec
from cdpflow.sample.people import customer_profile, person_devices
from cdpflow.sample.plan import (
    DAY_MS,
    HOUR_MS,
    STREAM_CONSENT,
    STREAM_EXPORT,
    STREAM_NOISE,
    STREAM_SESSION,
    Session,
    build_plan,
    np_stream,
    stream,
)
from cdpflow.sample.script import build_script, order_for
from cdpflow.sample.segment import render_ios, render_web

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
OFFLINE_CUSTOMER_SHARE = 0.2  # offline-only customers, relative to online ones
IN_STORE_SHARE = 0.05  # online customers who also bought in store during the span
OFFLINE_ORDER_BASE = 1 << 32  # order-stream index of in-store orders, clear of online numbers
COUNTRIES = ("US", "CA", "GB", "DE")  # customers' countries, with their shares
COUNTRY_SHARES = (0.8, 0.1, 0.05, 0.05)
CONSENT_SHARE = 0.6  # customers subscribed to e-mail marketing
CANCELLED_AFTER_MS = 2 * HOUR_MS  # a cancelled order is cancelled this long after it was placed


def generate_events(spec: SampleSpec) -> Iterator[RawMessage]:
    """Yield the spec's traffic as received by a collector, in non-decreasing `received_at`.

    Args:
        spec: size, span, seed and noise rates; the same spec always yields the same messages.

    Yields:
        Segment bodies (source "web"), Segment batch envelopes (source "ios") and Blotout bodies
        (source "blotout"), plus SDK retries (`duplicate_rate`) and malformed bodies
        (`dirty_rate`).
    """
    plan = build_plan(spec)
    rng = stream(spec.seed, STREAM_NOISE, 0)  # one stream, so the base traffic never shifts
    dup_rate, dirty_rate = spec.duplicate_rate, spec.dirty_rate
    heap: list[tuple[int, int, RawMessage]] = []
    seq = itertools.count()
    push, pop = heapq.heappush, heapq.heappop
    for session in plan.sessions():
        # Every message of this and later sessions is received at or after this start.
        while heap and heap[0][0] <= session.start_ms:
            yield pop(heap)[2]
        source, rendered = render_session(spec.seed, session)
        for received, body, template in rendered:
            push(heap, (received, next(seq), RawMessage(_at(received), source, body)))
            if dup_rate and rng.random() < dup_rate:
                again = received + noise.retry_delay_ms(rng)
                push(heap, (again, next(seq), RawMessage(_at(again), source, noise.copy(body))))
            if dirty_rate and rng.random() < dirty_rate:
                broken = noise.dirty(rng, source, template)
                at = received + rng.randint(1, 5_000)
                push(heap, (at, next(seq), RawMessage(_at(at), source, broken)))
    while heap:
        yield pop(heap)[2]


def render_session(
    seed: int, s: Session
) -> tuple[str, list[tuple[int, dict[str, Any], dict[str, Any]]]]:
    """One session's bodies as (received ms, body, template for noise), with its source name."""
    rng = stream(seed, STREAM_SESSION, s.position)
    script = build_script(seed, s, rng)
    phone, laptop = person_devices(seed, s.person, blotout=s.blotout, ios_app=s.ios_app, eur=s.eur)
    device = laptop if s.device else phone
    customer = customer_profile(seed, s.customer_no) if s.customer_no else None
    known = s.known_before and customer is not None
    if device.source == SOURCE_BLOTOUT:
        return SOURCE_BLOTOUT, render_blotout(rng, script, device, customer, eur=s.eur)
    if device.source == SOURCE_IOS:
        return SOURCE_IOS, render_ios(rng, script, device, customer, known=known, eur=s.eur)
    return SOURCE_WEB, render_web(rng, script, device, customer, known=known, eur=s.eur)


def generate_shop_export(spec: SampleSpec, out_dir: Path) -> dict[str, int]:
    """Write the shop's own records for the spec: customers.csv and orders.csv.

    The same customers and online order ids as `generate_events(spec)`, plus offline-only
    customers and in-store orders ("POS-" ids). Only buying sessions are replayed, not traffic.
    Customers have a country and an e-mail marketing consent; a refunded order was refunded
    whole (`total_refunded`), a cancelled one has `cancelled_at`.

    Args:
        spec: the spec whose traffic this export must match.
        out_dir: created if missing; existing files of the same name are replaced.

    Returns:
        Rows written per file name.
    """
    plan = build_plan(spec)
    rng = np_stream(spec.seed, STREAM_EXPORT)
    n_online = plan.n_customers
    n_offline = round(n_online * OFFLINE_CUSTOMER_SHARE)

    # When each online customer first logged in or bought: new accounts are created then.
    first_seen = np.full(len(plan.customer_no), np.iinfo(np.int64).max, dtype=np.int64)
    ident = plan.converts | plan.login
    np.minimum.at(first_seen, plan.person[ident], plan.start_ms[ident])
    people = np.flatnonzero(plan.customer_no)  # in customer_no order
    created = spec.begin_ms - rng.integers(DAY_MS, 3 * 365 * DAY_MS, n_online + n_offline)
    is_new = (first_seen[people] < spec.end_ms) & (rng.random(n_online) < 0.45)
    created[:n_online] = np.where(is_new, first_seen[people], created[:n_online])
    created[n_online:] = np.where(
        rng.random(n_offline) < 0.2,
        rng.integers(spec.begin_ms, spec.end_ms, n_offline),
        created[n_online:],
    )

    customers = [customer_profile(spec.seed, no) for no in range(1, n_online + n_offline + 1)]
    orders: list[tuple[str, str, str, int, float, str, str]] = []
    statuses = ("fulfilled", "paid", "refunded", "cancelled")
    status_of = rng.choice(4, size=int(plan.converts.sum()), p=(0.7, 0.2, 0.07, 0.03)).tolist()
    for s, code in zip(plan.sessions(where=plan.converts), status_of, strict=True):
        script = build_script(spec.seed, s, stream(spec.seed, STREAM_SESSION, s.position))
        order = script.order
        assert order is not None
        c = customers[s.customer_no - 1]
        status = statuses[code]
        orders.append(
            (order.order_id, c.customer_id, c.email, script.order_ms, order.total, order.currency,
             status)
        )  # fmt: skip

    # In-store orders: a few online customers, and most offline-only ones (some twice).
    visits = np.concatenate(
        (
            (rng.random(n_online) < IN_STORE_SHARE).astype(np.int64),
            rng.choice(3, size=n_offline, p=(0.4, 0.45, 0.15)),
        )
    )
    buyers = np.repeat(np.arange(1, n_online + n_offline + 1), visits).tolist()
    pos = random.Random(int(rng.integers(1 << 62)))
    k = 0
    for no in buyers:
        c = customers[no - 1]
        earliest = max(spec.begin_ms, int(created[no - 1]))
        if earliest >= spec.end_ms - HOUR_MS:
            continue  # the account only just opened; no time left to shop in store
        k += 1
        at = pos.randrange(earliest, spec.end_ms - HOUR_MS)
        total = order_for(spec.seed, OFFLINE_ORDER_BASE + k, eur=False).total
        orders.append((f"POS-{k:06d}", c.customer_id, c.email, at, total, "USD", "fulfilled"))
    orders.sort(key=lambda row: (row[3], row[0]))

    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / "customers.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(
            ("customer_id", "email", "phone", "first_name", "last_name", "created_at", "country",
             "accepts_marketing")
        )  # fmt: skip
        for no, (c, ms) in enumerate(zip(customers, created.tolist(), strict=True), start=1):
            profile = stream(spec.seed, STREAM_CONSENT, no)
            country = profile.choices(COUNTRIES, COUNTRY_SHARES)[0]
            consent = "true" if profile.random() < CONSENT_SHARE else "false"
            w.writerow(
                (c.customer_id, c.email, c.phone, c.first_name, c.last_name, _iso(ms), country,
                 consent)
            )  # fmt: skip
    with (out_dir / "orders.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(
            ("order_id", "customer_id", "email", "created_at", "total", "currency", "status",
             "total_refunded", "cancelled_at")
        )  # fmt: skip
        for order_id, cid, email, ms, total, currency, status in orders:
            refunded = total if status == "refunded" else 0.0
            cancelled = _iso(ms + CANCELLED_AFTER_MS) if status == "cancelled" else ""
            w.writerow(
                (order_id, cid, email, _iso(ms), f"{total:.2f}", currency, status,
                 f"{refunded:.2f}", cancelled)
            )  # fmt: skip
    return {"customers.csv": len(customers), "orders.csv": len(orders)}


def _at(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


def _iso(ms: int) -> str:
    return _at(ms).strftime("%Y-%m-%dT%H:%M:%SZ")
