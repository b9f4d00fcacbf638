"""The sample traffic's sessions, vectorized: numpy over a whole plan instead of a Python call
per session, for data sets (benchmarks) the row-by-row generator is too slow for.

The same Plan as `generate_events` (visitors, sessions, devices, customers, which sessions buy
or log in, every order's contents through `order_for`) and the same behaviour constants
(`cdpflow.sample.script`): channel by visit, landing tags and click ids, landing and browsed
pages, carts, abandoned checkouts, logins, time on each page. Only the random stream differs
(numpy instead of one `random.Random` per session), so the sessions match the row-by-row ones in
mix and shape, not value by value. `cdpflow.sample.columnar_segment` renders them as rows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from cdpflow.sample import catalog as cat
from cdpflow.sample.plan import DAY_MS, STREAM_COLUMNAR, Plan
from cdpflow.sample.script import (
    ADD_TO_CART_SHARE,
    BOUNCE_SHARE,
    BROWSE_COLLECTION_SHARE,
    BROWSE_PRODUCT_SHARE,
    BUY_BROWSE_MAX,
    BUY_CART_SHARE,
    CART_AFTER_ADD_SHARE,
    CHECKOUT_AFTER_CART_SHARE,
    CHECKOUT_DWELL_MS,
    DWELL_LOG_MU,
    DWELL_LOG_SIGMA,
    DWELL_MAX_MS,
    DWELL_MIN_MS,
    EMAIL_CONTENT,
    FACEBOOK_PAID_SOCIAL_SHARE,
    FBCLID,
    GCLID,
    GCLID_ONLY_SHARE,
    LANDING_SHARES,
    LEAVE_BEFORE_NEXT_MS,
    MAX_PAGES,
    PAGES_RATE,
    TIKTOK_REFERRERS,
    TOKEN_CHARS,
    TTCLID,
    Order,
    order_for,
)

# Page codes: the shop's fixed pages, then its collections, then its products.
HOME, CART, LOGIN_PAGE, ACCOUNT, CHECKOUT_FORM, THANK_YOU = range(6)
COLLECTION0 = 6
PRODUCT0 = COLLECTION0 + len(cat.COLLECTIONS)
# What a page is for (its action in the script).
NO_ACTION, ADD, LOGIN, CHECKOUT_IDENTIFY, ORDER, ABANDON = range(6)
# Longest session: MAX_PAGES browsed, login and account pages, cart and checkout form.
MAX_SESSION_PAGES = MAX_PAGES + 4
UTM_TAGS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
CLICK_IDS = ("gclid", "fbclid", "msclkid", "ttclid")
_PRODUCT_NO = {p.product_id: i for i, p in enumerate(cat.PRODUCTS)}
_BY_COLLECTION = [
    np.array([_PRODUCT_NO[p.product_id] for p in cat.BY_COLLECTION[c]]) for c in cat.COLLECTIONS
]


@dataclass(frozen=True, slots=True, eq=False)
class Sessions:
    """A plan's sessions as scripts: columns per session and per (session, page)."""

    plan: Plan
    channel: np.ndarray  # per session: index into catalog.CHANNELS
    tags: dict[str, np.ndarray]  # UTM_TAGS, CLICK_IDS, "referrer", "query": str or None
    orders: dict[int, Order]  # by session index, the buying ones
    page_session: np.ndarray  # per page, in session then visit order
    page_no: np.ndarray  # 0 for the landing page
    page: np.ndarray  # page code
    action: np.ndarray
    quantity: np.ndarray
    start: np.ndarray  # true time the page loads (ms)
    dwell: np.ndarray  # ms until the next page loads
    leave: np.ndarray


def draw_sessions(plan: Plan) -> Sessions:
    """Every session of `plan` as a script (see the module docstring for what is shared)."""
    spec = plan.spec
    rng = np.random.default_rng([spec.seed % (1 << 64), STREAM_COLUMNAR, plan.first_position])
    n = plan.n_sessions
    app = plan.ios_app[plan.person] & (plan.device == 0)
    u = rng.random(n)
    channel = np.empty(n, np.int8)
    for mask, weights in (
        (app, cat.CHANNEL_WEIGHTS_APP),
        (~app & (plan.visit_no == 0), cat.CHANNEL_WEIGHTS_FIRST),
        (~app & (plan.visit_no > 0), cat.CHANNEL_WEIGHTS_RETURN),
    ):
        cum = np.cumsum(weights) / sum(weights)
        channel[mask] = np.minimum(np.searchsorted(cum, u[mask], "right"), len(cum) - 1)
    tags = _arrival(rng, channel, plan.start_ms)

    pages = np.full((n, MAX_SESSION_PAGES), -1, np.int16)
    action = np.zeros((n, MAX_SESSION_PAGES), np.int8)
    quantity = np.ones((n, MAX_SESSION_PAGES), np.int8)
    shares = np.array([LANDING_SHARES[c] for c in cat.CHANNELS])[channel]
    roll = rng.random(n)
    pages[:, 0] = np.where(
        roll < shares[:, 0],
        PRODUCT0 + rng.integers(0, len(cat.PRODUCTS), n),
        np.where(
            roll < shares.sum(1), COLLECTION0 + rng.integers(0, len(cat.COLLECTIONS), n), HOME
        ),
    )
    buys = plan.converts
    bounce = rng.random(n) < BOUNCE_SHARE
    long = np.minimum(2 + rng.exponential(1 / PAGES_RATE, n).astype(np.int64), MAX_PAGES)
    browsed = np.where(buys, 1 + rng.integers(0, BUY_BROWSE_MAX + 1, n), np.where(bounce, 1, long))
    for k in range(1, int(browsed.max(initial=1))):
        m = browsed > k
        pages[m, k] = _browse(rng, pages[m, k - 1])
    length = browsed.copy()

    # Non-buying sessions: a login (the login and account pages inserted after a browsed page),
    # then adds on product pages, the cart after some, and a checkout started after a few.
    rows = np.flatnonzero(plan.login & ~buys)
    at = rng.integers(1, length[rows] + 1)
    col = np.arange(MAX_SESSION_PAGES)[None, :]
    src = np.where(col < at[:, None], col, np.maximum(col - 2, 0))
    moved = np.take_along_axis(pages[rows], src, 1)
    moved[col == at[:, None]] = LOGIN_PAGE
    moved[col == at[:, None] + 1] = ACCOUNT
    pages[rows] = moved
    action[rows] = np.where(col == at[:, None], LOGIN, NO_ACTION)
    length[rows] += 2
    browsing = ~buys[:, None] & (pages >= PRODUCT0) & (col < length[:, None])
    added = browsing & (rng.random(pages.shape) < ADD_TO_CART_SHARE)
    action[added] = ADD
    cart = added.any(1) & (rng.random(n) < CART_AFTER_ADD_SHARE)
    abandon = cart & (rng.random(n) < CHECKOUT_AFTER_CART_SHARE)
    _append(pages, action, length, cart, CART, NO_ACTION)
    _append(pages, action, length, abandon, CHECKOUT_FORM, ABANDON)

    # Buying sessions: their order's lines added on product pages, maybe the cart, checkout.
    buyers = np.flatnonzero(buys)
    orders = {
        int(i): order_for(spec.seed, int(no), eur=bool(e))
        for i, no, e in zip(
            buyers, plan.order_no[buyers], plan.eur[plan.person[buyers]], strict=True
        )
    }
    for line in range(3):
        has = np.array([len(orders[int(i)].lines) > line for i in buyers], bool)
        rows = buyers[has]
        chosen = [orders[int(i)].lines[line] for i in rows]
        pages[rows, length[rows]] = [PRODUCT0 + _PRODUCT_NO[p.product_id] for p, _, _ in chosen]
        action[rows, length[rows]] = ADD
        quantity[rows, length[rows]] = [q for _, q, _ in chosen]
        length[rows] += 1
    is_buyer = np.zeros(n, bool)
    is_buyer[buyers] = True
    _append(pages, action, length, is_buyer & (rng.random(n) < BUY_CART_SHARE), CART, NO_ACTION)
    _append(pages, action, length, is_buyer, CHECKOUT_FORM, CHECKOUT_IDENTIFY)
    _append(pages, action, length, is_buyer, THANK_YOU, ORDER)

    page_session, page_no = np.nonzero(col < length[:, None])
    page = pages[page_session, page_no]
    act = action[page_session, page_no]
    form = (act == CHECKOUT_IDENTIFY) | (act == ABANDON)
    k = len(page)
    lognormal = rng.lognormal(DWELL_LOG_MU, DWELL_LOG_SIGMA, k).astype(np.int64)
    dwell = np.where(
        form,
        rng.integers(CHECKOUT_DWELL_MS[0], CHECKOUT_DWELL_MS[1] + 1, k),
        np.clip(lognormal, DWELL_MIN_MS, DWELL_MAX_MS),
    )
    ends = np.cumsum(dwell)
    first = np.flatnonzero(page_no == 0)
    before = np.repeat(ends[first] - dwell[first], np.diff(np.r_[first, k]))
    start = plan.start_ms[page_session] + ends - dwell - before
    leave = start + dwell - rng.integers(LEAVE_BEFORE_NEXT_MS[0], LEAVE_BEFORE_NEXT_MS[1] + 1, k)
    return Sessions(
        plan=plan,
        channel=channel,
        tags=tags,
        orders=orders,
        page_session=page_session,
        page_no=page_no,
        page=page,
        action=act,
        quantity=quantity[page_session, page_no],
        start=start,
        dwell=dwell,
        leave=leave,
    )


def _append(
    pages: np.ndarray,
    action: np.ndarray,
    length: np.ndarray,
    where: np.ndarray,
    page: int,
    act: int,
) -> None:
    rows = np.flatnonzero(where)
    pages[rows, length[rows]] = page
    action[rows, length[rows]] = act
    length[rows] += 1


def _browse(rng: np.random.Generator, previous: np.ndarray) -> np.ndarray:
    """The page browsed after `previous`: a product (of the collection just seen), a
    collection, or the home page."""
    n = len(previous)
    roll = rng.random(n)
    out = np.where(
        roll < BROWSE_PRODUCT_SHARE + BROWSE_COLLECTION_SHARE,
        COLLECTION0 + rng.integers(0, len(cat.COLLECTIONS), n),
        HOME,
    )
    product = roll < BROWSE_PRODUCT_SHARE
    out[product] = PRODUCT0 + rng.integers(0, len(cat.PRODUCTS), int(product.sum()))
    collection = previous - COLLECTION0
    for c, members in enumerate(_BY_COLLECTION):
        m = product & (collection == c)
        out[m] = PRODUCT0 + members[rng.integers(0, len(members), int(m.sum()))]
    return out.astype(np.int16)


def _arrival(
    rng: np.random.Generator, channel: np.ndarray, start_ms: np.ndarray
) -> dict[str, np.ndarray]:
    """Landing query parameters (each tag and the query string) and external referrer."""
    n = len(channel)
    out = {k: np.full(n, None, object) for k in (*UTM_TAGS, *CLICK_IDS)}
    out["referrer"] = np.full(n, "", object)  # "" is a value: the SDKs send it
    out["query"] = np.full(n, "", object)
    names = {c: np.flatnonzero(channel == i) for i, c in enumerate(cat.CHANNELS)}

    def pick(rows: np.ndarray, values: tuple, weights: tuple | None = None) -> np.ndarray:
        p = None if weights is None else np.array(weights) / sum(weights)
        return np.array(values, object)[rng.choice(len(values), len(rows), p=p)]

    def tag(rows: np.ndarray, pairs: list[tuple[str, object]]) -> None:
        query = np.full(len(rows), "?", object)
        for i, (key, value) in enumerate(pairs):
            out[key][rows] = value
            shown = np.char.replace(np.asarray(value, str), " ", "+").astype(object)
            query = query + ("&" if i else "") + key + "=" + shown
        out["query"][rows] = query

    rows = names["google_cpc"]
    out["referrer"][rows] = "https://www.google.com/"
    gclid = _tokens(rng, len(rows), *GCLID[1:])
    only = rng.random(len(rows)) < GCLID_ONLY_SHARE
    tag(rows[only], [("gclid", gclid[only])])
    rows, gclid = rows[~only], gclid[~only]
    tag(rows, [("utm_source", "google"), ("utm_medium", "cpc"),
               ("utm_campaign", pick(rows, cat.GOOGLE_CAMPAIGNS)),
               ("utm_term", pick(rows, cat.GOOGLE_TERMS)), ("gclid", gclid)])  # fmt: skip
    rows = names["bing_cpc"]
    out["referrer"][rows] = "https://www.bing.com/"
    msclkid = hex_strings(rng, len(rows), 32)
    tag(rows, [("utm_source", "bing"), ("utm_medium", "cpc"),
               ("utm_campaign", pick(rows, cat.BING_CAMPAIGNS)),
               ("utm_term", pick(rows, cat.GOOGLE_TERMS)),
               ("msclkid", msclkid)])  # fmt: skip
    rows = names["facebook"]
    paid = FACEBOOK_PAID_SOCIAL_SHARE
    tag(rows, [("utm_source", "facebook"),
               ("utm_medium", pick(rows, ("paid_social", "cpc"), (paid, 1 - paid))),
               ("utm_campaign", pick(rows, cat.FACEBOOK_CAMPAIGNS)),
               ("utm_content", pick(rows, cat.FACEBOOK_CONTENT)),
               ("fbclid", _tokens(rng, len(rows), *FBCLID[1:]))])  # fmt: skip
    out["referrer"][rows] = pick(rows, cat.FACEBOOK_REFERRERS)
    rows = names["tiktok"]
    tag(rows, [("utm_source", "tiktok"), ("utm_medium", "paid_social"),
               ("utm_campaign", pick(rows, cat.TIKTOK_CAMPAIGNS)),
               ("ttclid", _tokens(rng, len(rows), *TTCLID[1:]))])  # fmt: skip
    out["referrer"][rows] = pick(rows, TIKTOK_REFERRERS)
    rows = names["email"]
    days = start_ms[rows] // DAY_MS
    tuesday = days - (days + 2) % 7  # as script._arrival: newsletters go out on Tuesdays
    sent, which = np.unique(tuesday, return_inverse=True)
    names_of = [
        f"newsletter_{time.strftime('%Y_%m_%d', time.gmtime(int(d) * 86_400))}" for d in sent
    ]
    tag(rows, [("utm_source", "newsletter"), ("utm_medium", "email"),
               ("utm_campaign", np.array(names_of, object)[which]),
               ("utm_content", pick(rows, EMAIL_CONTENT))])  # fmt: skip
    out["referrer"][rows] = pick(rows, cat.EMAIL_REFERRERS)
    rows = names["organic"]
    out["referrer"][rows] = pick(rows, *zip(*cat.ORGANIC_REFERRERS, strict=True))
    rows = names["referral"]
    out["referrer"][rows] = pick(rows, cat.REFERRAL_SITES)
    return out


def _tokens(rng: np.random.Generator, n: int, prefix: str, length: int) -> np.ndarray:
    """`prefix` and `length` random characters of script.TOKEN_CHARS, as click ids are."""
    chars = np.frombuffer(TOKEN_CHARS.encode(), np.uint8)[rng.integers(0, 64, (n, length))]
    return prefix + chars.view(f"S{length}").ravel().astype(str).astype(object)


def hex_strings(rng: np.random.Generator, n: int, length: int) -> np.ndarray:
    """`n` random lower-case hex strings of `length` digits (as `getrandbits` formats them)."""
    digits = np.frombuffer(b"0123456789abcdef", np.uint8)[rng.integers(0, 16, (n, length))]
    return digits.view(f"S{length}").ravel().astype(str).astype(object)
