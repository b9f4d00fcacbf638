"""The vectorized sessions (cdpflow.sample.columnar) as core_events rows: what the flatten makes
of the Segment messages `render_web` and `render_ios` would send for them.

The messages follow the renderers (a page or screen per visit, Deep Link Opened on an app
landing with tags, Product Viewed on product pages, Product Added, Checkout Started, alias and
identify at a login or checkout, Order Completed) with the same devices (`person_devices`:
anonymous ids, clocks, user agents, queue lengths) and customers (`customer_profile`), the same
send and network delays and the iOS queue's flushes; the columns follow the flatten (the
tags and click ids of the landing, the skew correction), in cdpflow.sample.columnar_rows.
Blotout visitors are not rendered.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from cdpflow.errors import ConfigError
from cdpflow.sample.columnar import (
    ABANDON,
    ADD,
    CHECKOUT_IDENTIFY,
    LOGIN,
    ORDER,
    PRODUCT0,
    Sessions,
    hex_strings,
)
from cdpflow.sample.people import customer_profile, person_devices
from cdpflow.sample.plan import STREAM_COLUMNAR_MESSAGES
from cdpflow.sample.script import (
    CHECKOUT_AFTER_MS,
    LATE_ACTION_SHARE,
    ORDER_AFTER_MS,
    VIEWED_AFTER_MS,
)
from cdpflow.sample.segment import (
    ALIAS_SHARE,
    IOS_BACKGROUND_MS,
    IOS_FLUSH_AFTER_MS,
    IOS_FLUSH_INTERVAL_MS,
    IOS_NETWORK_MS,
    WEB_NETWORK_MS,
    WEB_QUEUED_MS,
    WEB_QUEUED_SHARE,
    WEB_SEND_MS,
)

DAY_MS = 86_400_000
# A page's messages in the order the SDK makes them (slots of the page).
DEEP_LINK, VIEW, PRODUCT_VIEWED, ACTION, ALIAS, IDENTIFY = range(6)


@dataclass(frozen=True, slots=True, eq=False)
class Events:
    """Every message of the sessions, as numbers: which page and slot, when it was made, sent,
    received, and the time the flatten gives it. `columnar_rows.core_events_rows` renders any
    subset as core_events rows."""

    sessions: Sessions
    page: np.ndarray  # index into the sessions' pages
    slot: np.ndarray
    session: np.ndarray  # index into the plan's sessions
    made: np.ndarray  # true time (ms)
    sent: np.ndarray  # client clock (ms), skew included
    received: np.ndarray
    event_time: np.ndarray  # received - (sent - timestamp): true time plus the network delay
    user: np.ndarray  # carries the customer's user id
    device_row: np.ndarray  # per session: index into the devices' columns
    people: np.ndarray  # the devices' people: devices 2i and 2i+1 are people[i]'s phone, laptop
    devices: dict[str, pa.Array]  # anonymous_id, user_agent, ip: per (person, device)
    customers: dict[str, pa.Array]  # user_id, email, phone, first/last name: per customer_no
    token: np.ndarray  # per session: the checkout and cart id
    ios: np.ndarray  # per session


def segment_events(s: Sessions) -> Events:
    """The messages of every session of `s` (Segment visitors only: see the module docstring)."""
    plan = s.plan
    spec = plan.spec
    if plan.blotout.any():
        raise ConfigError("blotout_share", spec.blotout_share, "0 for columnar (Segment) traffic")
    rng = np.random.default_rng(
        [spec.seed % (1 << 64), STREAM_COLUMNAR_MESSAGES, plan.first_position]
    )
    people, person_row = np.unique(plan.person, return_inverse=True)
    devices: dict[str, list] = {"anonymous_id": [], "user_agent": [], "ip": []}
    skew, flush_at = [], []
    for person in people.tolist():
        pair = person_devices(
            spec.seed, person, blotout=False, ios_app=bool(plan.ios_app[person]),
            eur=bool(plan.eur[person]),
        )  # fmt: skip
        for d in pair:
            devices["anonymous_id"].append(d.anonymous_id)
            devices["user_agent"].append(d.user_agent)
            devices["ip"].append(d.ip)
            skew.append(d.skew_ms)
            flush_at.append(d.flush_at)
    device_row = 2 * person_row + plan.device
    numbers = np.arange(1, plan.n_customers + 1)
    profiles = [customer_profile(spec.seed, int(no)) for no in numbers]
    customers = {
        "user_id": pa.array([None] + [c.customer_id for c in profiles], pa.string()),
        "email": pa.array([None] + [c.email for c in profiles], pa.string()),
        "phone": pa.array([None] + [c.phone for c in profiles], pa.string()),
        "first_name": pa.array([None] + [c.first_name for c in profiles], pa.string()),
        "last_name": pa.array([None] + [c.last_name for c in profiles], pa.string()),
    }
    ios = plan.ios_app[plan.person] & (plan.device == 0)
    known = plan.known_before & (plan.customer_no[plan.person] > 0)

    k = len(s.page)
    identifies = (s.action == LOGIN) | (s.action == CHECKOUT_IDENTIFY)
    slots = np.zeros((k, 6), bool)
    slots[:, DEEP_LINK] = (
        ios[s.page_session] & (s.page_no == 0) & (s.tags["query"][s.page_session] != "")
    )
    slots[:, VIEW] = True
    slots[:, PRODUCT_VIEWED] = s.page >= PRODUCT0
    slots[:, ACTION] = np.isin(s.action, (ADD, CHECKOUT_IDENTIFY, ORDER, ABANDON))
    slots[:, ALIAS] = identifies & ~known[s.page_session] & (rng.random(k) < ALIAS_SHARE)
    slots[:, IDENTIFY] = identifies
    late = s.start + (s.dwell * rng.uniform(*LATE_ACTION_SHARE, k)).astype(np.int64)
    at = np.empty((k, 6), np.int64)
    at[:, DEEP_LINK] = at[:, VIEW] = s.start
    at[:, PRODUCT_VIEWED] = s.start + rng.integers(VIEWED_AFTER_MS[0], VIEWED_AFTER_MS[1] + 1, k)
    soon = s.start + np.where(
        s.action == ORDER,
        rng.integers(ORDER_AFTER_MS[0], ORDER_AFTER_MS[1] + 1, k),
        rng.integers(CHECKOUT_AFTER_MS[0], CHECKOUT_AFTER_MS[1] + 1, k),
    )
    at[:, ACTION] = np.where(s.action == ADD, late, soon)
    at[:, ALIAS] = late
    at[:, IDENTIFY] = late + 1
    page, slot = np.nonzero(slots)
    session = s.page_session[page]
    made = at[page, slot]
    n = len(page)

    # user_id from the session's start on a device known before, else from its alias/identify.
    ident = np.where(slots[:, ALIAS], ALIAS, IDENTIFY)
    ident_key = np.full(plan.n_sessions, np.iinfo(np.int64).max)
    rows = np.flatnonzero(identifies)
    np.minimum.at(ident_key, s.page_session[rows], rows * 8 + ident[rows])
    user = known[session] | (page * 8 + slot >= ident_key[session])

    skews = np.array(skew, np.int64)[device_row[session]]
    web = ~ios[session]
    queued = rng.random(n) < WEB_QUEUED_SHARE
    delay = np.where(
        queued,
        rng.integers(WEB_QUEUED_MS[0], WEB_QUEUED_MS[1] + 1, n),
        rng.integers(WEB_SEND_MS[0], WEB_SEND_MS[1] + 1, n),
    )
    network = rng.integers(WEB_NETWORK_MS[0], WEB_NETWORK_MS[1] + 1, n)
    flushed, batch_network = _ios_flushes(
        rng, session, made, ~web, np.array(flush_at)[device_row], s.leave, s.page_session
    )
    sent_true = np.where(web, made + delay, flushed)
    network = np.where(web, network, batch_network)
    return Events(
        sessions=s,
        page=page,
        slot=slot.astype(np.int8),
        session=session,
        made=made,
        sent=sent_true + skews,
        received=sent_true + network,
        event_time=made + network,
        user=user,
        device_row=device_row,
        people=people,
        devices={k: pa.array(v, pa.string()) for k, v in devices.items()},
        customers=customers,
        token=hex_strings(rng, plan.n_sessions, 24),
        ios=ios,
    )


def _ios_flushes(
    rng: np.random.Generator,
    session: np.ndarray,
    made: np.ndarray,
    ios: np.ndarray,
    flush_at: np.ndarray,
    leave: np.ndarray,
    page_session: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """When each iOS message's batch was sent, and its network delay, as segment._flush does:
    on the queue length, on the timer, and the rest when the app is left."""
    rows = np.flatnonzero(ios)
    sent = np.zeros(len(session), np.int64)
    network = np.zeros(len(session), np.int64)
    if not len(rows):
        return sent, network
    sess = session[rows]
    first = np.r_[0, np.flatnonzero(np.diff(sess)) + 1]
    counts = np.diff(np.r_[first, len(rows)])
    position = np.arange(len(rows)) - np.repeat(first, counts)
    group = np.repeat(np.arange(len(first)), counts)
    m = len(first)
    limit = flush_at[sess[first]]
    batch = np.zeros(m, np.int64)
    pending = np.zeros(m, np.int64)
    opened = np.zeros(m, np.int64)
    closes = np.zeros((m, int(counts.max()) + 1), np.int64)
    batch_of = np.empty(len(rows), np.int64)
    for p in range(int(counts.max())):
        e = np.flatnonzero(position == p)
        g, t = group[e], made[rows[e]]
        timer = (pending[g] > 0) & (t > opened[g] + IOS_FLUSH_INTERVAL_MS)
        gt = g[timer]
        closes[gt, batch[gt]] = opened[gt] + IOS_FLUSH_INTERVAL_MS
        batch[gt] += 1
        pending[gt] = 0
        fresh = pending[g] == 0
        opened[g[fresh]] = t[fresh]
        batch_of[e] = batch[g]
        pending[g] += 1
        full = pending[g] >= limit[g]
        gf = g[full]
        closes[gf, batch[gf]] = t[full] + rng.integers(
            IOS_FLUSH_AFTER_MS[0], IOS_FLUSH_AFTER_MS[1] + 1, len(gf)
        )
        batch[gf] += 1
        pending[gf] = 0
    left = np.full(int(page_session.max()) + 1, np.iinfo(np.int64).min)
    np.maximum.at(left, page_session, leave)
    rest = np.flatnonzero(pending > 0)
    last = made[rows[first[rest] + counts[rest] - 1]]
    background = rng.integers(IOS_BACKGROUND_MS[0], IOS_BACKGROUND_MS[1] + 1, len(rest))
    closes[rest, batch[rest]] = np.maximum(left[sess[first[rest]]], last) + background
    delays = rng.integers(IOS_NETWORK_MS[0], IOS_NETWORK_MS[1] + 1, closes.shape)
    sent[rows] = closes[group, batch_of]
    network[rows] = delays[group, batch_of]
    return sent, network
