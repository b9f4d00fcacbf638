"""The population plan: who visits when, who is a customer, which sessions buy.

Built first and cheaply (numpy columns, a few bytes per session) so that both the event stream and
the shop export derive from the same seeded facts without materializing any events.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from cdpflow.sample.catalog import HOUR_WEIGHTS
from cdpflow.sample.model import SampleSpec

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
# Sessions of one person start at least this far apart and last at most ~40 minutes, so any two
# are separated by well over 30 minutes of inactivity.
MIN_SESSION_GAP_MS = 2 * HOUR_MS
# Latest session start: leaves room for the session, retries and app flushes before `end`.
TAIL_MS = 90 * 60_000

RETURNING_SHARE = 0.35  # visitors who come back at least once
TWO_DEVICE_SHARE = 0.25  # visitors seen on a phone and a laptop
CUSTOMER_SHARE = 0.35  # visitors who have (or create) a shop account
CUSTOMER_CONVERSION = 0.10  # per session of a customer
CUSTOMER_LOGIN = 0.15  # per non-buying session of a customer
IOS_APP_SHARE = 0.4  # Segment-tracked visitors whose phone uses the iOS app
EUR_SHARE = 0.1  # visitors who shop in EUR

# Random streams: one per purpose, keyed so adding a stream never shifts another.
STREAM_PERSON = 1
STREAM_SESSION = 2
STREAM_CUSTOMER = 3
STREAM_ORDER = 4
STREAM_NOISE = 5
STREAM_EXPORT = 6
STREAM_CONSENT = 7  # the export's country and marketing consent per customer
STREAM_FOLLOW_ON = 8  # sessions after a plan's span (follow_on)
# The vectorized path (cdpflow.sample.columnar*): sessions, messages, and message ids, each also
# keyed by the plan's first position, so a follow-on plan never repeats its plan's draws.
STREAM_COLUMNAR, STREAM_COLUMNAR_MESSAGES, STREAM_COLUMNAR_IDS = 9, 10, 11


def stream(seed: int, kind: int, index: int) -> random.Random:
    """A `random.Random` for one (purpose, index) pair, independent of every other pair."""
    return random.Random(((seed % (1 << 64)) << 48) | (kind << 40) | index)


def between(rng: random.Random, lo: int, hi: int) -> int:
    """`rng.randint(lo, hi)` at a tenth of the cost (no rejection sampling; bias is negligible)."""
    return lo + int(rng.random() * (hi - lo + 1))


def np_stream(seed: int, kind: int) -> np.random.Generator:
    """A numpy generator for one purpose of one seed."""
    return np.random.default_rng([seed % (1 << 64), kind])


class Session(NamedTuple):
    """One planned visit; everything else about it is drawn from its own random stream."""

    position: int  # in start order; keys the session's random stream
    start_ms: int
    person: int
    device: int  # 0 = phone, 1 = laptop
    visit_no: int  # 0 for the person's first session in the span
    converts: bool
    login: bool
    known_before: bool  # this device identified in an earlier session
    order_no: int  # 0 when the session does not buy
    customer_no: int  # 0 when the person has no shop account
    blotout: bool
    ios_app: bool
    eur: bool


@dataclass(frozen=True, slots=True, eq=False)
class Plan:
    """Columns per session (ordered by start) and per person."""

    spec: SampleSpec
    start_ms: np.ndarray
    person: np.ndarray
    device: np.ndarray
    visit_no: np.ndarray
    converts: np.ndarray
    login: np.ndarray
    known_before: np.ndarray
    order_no: np.ndarray
    customer_no: np.ndarray  # per person
    blotout: np.ndarray  # per person
    ios_app: np.ndarray  # per person
    eur: np.ndarray  # per person
    first_position: int = 0  # position of the first session (a follow-on plan's continue)

    @property
    def n_sessions(self) -> int:
        return len(self.start_ms)

    @property
    def n_customers(self) -> int:
        return int(self.customer_no.max(initial=0))

    def sessions(self, where: np.ndarray | None = None, chunk: int = 8192) -> Iterator[Session]:
        """Sessions in start order (optionally only those at `where`), a chunk of columns at a time.

        Chunking keeps Python-object overhead bounded for plans with millions of sessions.
        """
        indices = np.arange(self.n_sessions) if where is None else np.flatnonzero(where)
        for lo in range(0, len(indices), chunk):
            idx = indices[lo : lo + chunk]
            people = self.person[idx]
            yield from map(
                Session,
                (idx + self.first_position).tolist(),
                self.start_ms[idx].tolist(),
                people.tolist(),
                self.device[idx].tolist(),
                self.visit_no[idx].tolist(),
                self.converts[idx].tolist(),
                self.login[idx].tolist(),
                self.known_before[idx].tolist(),
                self.order_no[idx].tolist(),
                self.customer_no[people].tolist(),
                self.blotout[people].tolist(),
                self.ios_app[people].tolist(),
                self.eur[people].tolist(),
            )


@lru_cache(maxsize=2)
def build_plan(spec: SampleSpec) -> Plan:
    """Draw the whole population for `spec`; cached because events and export both need it."""
    rng = np_stream(spec.seed, 0)
    n = spec.visitors
    returning = rng.random(n) < RETURNING_SHARE
    n_sessions = 1 + np.where(returning, np.minimum(rng.geometric(0.35, n), 11), 0)
    two_devices, main_device, is_customer, blotout, ios_app, eur = _people(spec, rng, n)

    total = int(n_sessions.sum())
    person = np.repeat(np.arange(n, dtype=np.int32), n_sessions)
    start = _start_times(spec, rng, total)
    device = np.where(two_devices[person], rng.integers(0, 2, total), main_device[person])
    device = device.astype(np.int8)
    converts, login = _buys_and_logins(rng, is_customer[person])

    # Drop sessions too close to the same person's previous one (sorted by person, then time).
    by_person = np.lexsort((start, person))
    person, start = person[by_person], start[by_person]
    device, converts, login = device[by_person], converts[by_person], login[by_person]
    same = np.empty(total, dtype=bool)
    same[0] = False
    same[1:] = person[1:] == person[:-1]
    gap = np.empty(total, dtype=np.int64)
    gap[0] = 0
    gap[1:] = start[1:] - start[:-1]
    keep = ~(same & (gap < MIN_SESSION_GAP_MS))
    person, start = person[keep], start[keep]
    device, converts, login = device[keep], converts[keep], login[keep]
    visit_no = _rank_in_group(person)

    # Has this device identified (login or checkout) in an earlier session?
    by_device = np.lexsort((start, device, person))
    ident = (converts | login)[by_device].astype(np.int64)
    group = person[by_device].astype(np.int64) * 2 + device[by_device]
    earlier = _exclusive_cumsum_in_group(ident, group)
    known_before = np.empty(len(start), dtype=bool)
    known_before[by_device] = earlier > 0

    order = np.lexsort((person, start))
    converts = converts[order]
    order_no = np.where(converts, np.cumsum(converts), 0).astype(np.int32)
    customer_no = np.where(is_customer, np.cumsum(is_customer), 0).astype(np.int32)
    return Plan(
        spec=spec,
        start_ms=start[order],
        person=person[order],
        device=device[order],
        visit_no=visit_no[order].astype(np.int16),
        converts=converts,
        login=login[order],
        known_before=known_before[order],
        order_no=order_no,
        customer_no=customer_no,
        blotout=blotout,
        ios_app=ios_app,
        eur=eur,
    )


def follow_on(plan: Plan, start_ms: int, end_ms: int, returning: int, new: int) -> Plan:
    """Sessions starting in `[start_ms, end_ms)`, after `plan`'s span: up to `returning` of
    its visitors (each picked as the visitor of a random earlier session, on that session's
    device, so the busy ones are likelier) and `new` first-time visitors.

    Its per-person columns cover the plan's people and then the new ones; order, customer and
    session positions continue the plan's. A returning visitor comes at most once, and not
    within MIN_SESSION_GAP_MS of their last session in `plan`.
    """
    spec = plan.spec
    rng = np_stream(spec.seed, STREAM_FOLLOW_ON)
    old = len(plan.customer_no)
    picked = rng.integers(0, plan.n_sessions, returning)
    person_of, first = np.unique(plan.person[picked], return_index=True)
    device_of = plan.device[picked[first]]
    last_start = np.full(old, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(last_start, plan.person, plan.start_ms)
    visits = np.bincount(plan.person, minlength=old)
    two_devices, main_device, is_customer, blotout, ios_app, eur = _people(spec, rng, new)
    new_people = np.arange(old, old + new, dtype=np.int32)
    new_device = np.where(two_devices, rng.integers(0, 2, new), main_device)
    start = rng.integers(start_ms, end_ms, len(person_of) + new)
    keep = np.r_[start[: len(person_of)] - last_start[person_of] >= MIN_SESSION_GAP_MS,
                 np.ones(new, dtype=bool)]  # fmt: skip
    person = np.r_[person_of, new_people][keep]
    device = np.r_[device_of, new_device].astype(np.int8)[keep]
    start = start[keep]
    customer = np.r_[plan.customer_no > 0, is_customer]
    converts, login = _buys_and_logins(rng, customer[person])
    # The device identified (logged in or bought) in one of its sessions in `plan`.
    ident = np.zeros(2 * old, dtype=bool)
    np.logical_or.at(
        ident, 2 * plan.person.astype(np.int64) + plan.device, plan.converts | plan.login
    )
    known_before = np.r_[ident, np.zeros(2 * new, dtype=bool)][2 * person.astype(np.int64) + device]

    order = np.lexsort((person, start))
    converts = converts[order]
    first_order = int(plan.order_no.max(initial=0))
    order_no = np.where(converts, first_order + np.cumsum(converts), 0).astype(np.int32)
    new_no = np.where(is_customer, plan.n_customers + np.cumsum(is_customer), 0)
    return Plan(
        spec=spec,
        start_ms=start[order],
        person=person[order],
        device=device[order],
        visit_no=np.r_[visits, np.zeros(new, dtype=np.int64)][person[order]].astype(np.int16),
        converts=converts,
        login=login[order],
        known_before=known_before[order],
        order_no=order_no,
        customer_no=np.r_[plan.customer_no, new_no.astype(np.int32)],
        blotout=np.r_[plan.blotout, blotout],
        ios_app=np.r_[plan.ios_app, ios_app],
        eur=np.r_[plan.eur, eur],
        first_position=plan.first_position + plan.n_sessions,
    )


def _people(spec: SampleSpec, rng: np.random.Generator, n: int) -> tuple[np.ndarray, ...]:
    """Per visitor: two devices, the main device of one, customer, Blotout, iOS app, EUR."""
    two_devices = rng.random(n) < TWO_DEVICE_SHARE
    main_device = (rng.random(n) < 0.45).astype(np.int8)  # single-device visitors: 55% phone
    is_customer = rng.random(n) < CUSTOMER_SHARE
    blotout = rng.random(n) < spec.blotout_share
    ios_app = ~blotout & (rng.random(n) < IOS_APP_SHARE)
    eur = rng.random(n) < EUR_SHARE
    return two_devices, main_device, is_customer, blotout, ios_app, eur


def _buys_and_logins(rng: np.random.Generator, customer: np.ndarray) -> tuple[np.ndarray, ...]:
    """Which sessions (of a customer, per `customer`) buy, and which of the others log in."""
    n = len(customer)
    converts = customer & (rng.random(n) < CUSTOMER_CONVERSION)
    login = customer & ~converts & (rng.random(n) < CUSTOMER_LOGIN)
    return converts, login


def _start_times(spec: SampleSpec, rng: np.random.Generator, total: int) -> np.ndarray:
    """Session starts in `[begin, end - TAIL)`, denser in the (US) evening."""
    begin, last = spec.begin_ms, spec.end_ms - TAIL_MS
    if last <= begin:  # a one-day span still leaves 22.5 hours; this guards odd custom ends
        last = begin + 1
    midnight = begin - begin % DAY_MS
    weights = np.asarray(HOUR_WEIGHTS) / sum(HOUR_WEIGHTS)
    start = np.full(total, -1, dtype=np.int64)
    todo = np.arange(total)
    for _ in range(50):  # rejection sampling; each round keeps ~90% of the draws
        k = len(todo)
        day = rng.integers(0, spec.days + 1, k)
        hour = rng.choice(24, size=k, p=weights)
        drawn = midnight + day * DAY_MS + hour * HOUR_MS + rng.integers(0, HOUR_MS, k)
        ok = (drawn >= begin) & (drawn < last)
        start[todo[ok]] = drawn[ok]
        todo = todo[~ok]
        if not len(todo):
            break
    start[todo] = rng.integers(begin, last, len(todo))
    return start


def _rank_in_group(keys: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... within each run of equal consecutive keys."""
    n = len(keys)
    if not n:
        return np.zeros(0, dtype=np.int64)
    first = np.ones(n, dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    run_start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    return np.arange(n) - run_start


def _exclusive_cumsum_in_group(values: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Sum of `values` over the earlier rows of the same run of equal consecutive `group`."""
    n = len(values)
    if not n:
        return np.zeros(0, dtype=np.int64)
    before = np.cumsum(values) - values
    first = np.ones(n, dtype=bool)
    first[1:] = group[1:] != group[:-1]
    run_start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    return before - before[run_start]
