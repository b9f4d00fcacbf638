"""What happens in one session, in true time, before any SDK turns it into payloads.

The script is format-free so Segment and Blotout traffic share one behaviour model, and the shop
export can replay just the buying sessions to learn when each order was placed.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import NamedTuple
from urllib.parse import quote_plus

from cdpflow.sample.catalog import (
    BING_CAMPAIGNS,
    BY_COLLECTION,
    CHANNEL_WEIGHTS_APP,
    CHANNEL_WEIGHTS_FIRST,
    CHANNEL_WEIGHTS_RETURN,
    CHANNELS,
    COLLECTIONS,
    EMAIL_REFERRERS,
    EUR_PER_USD,
    FACEBOOK_CAMPAIGNS,
    FACEBOOK_CONTENT,
    FACEBOOK_REFERRERS,
    GOOGLE_CAMPAIGNS,
    GOOGLE_TERMS,
    ORGANIC_REFERRERS,
    PRODUCTS,
    REFERRAL_SITES,
    SHOP,
    SHOP_NAME,
    TIKTOK_CAMPAIGNS,
    Product,
)
from cdpflow.sample.plan import DAY_MS, STREAM_ORDER, Session, between, stream

_CUM_FIRST = tuple(sum(CHANNEL_WEIGHTS_FIRST[: i + 1]) for i in range(len(CHANNELS)))
_CUM_RETURN = tuple(sum(CHANNEL_WEIGHTS_RETURN[: i + 1]) for i in range(len(CHANNELS)))
_CUM_APP = tuple(sum(CHANNEL_WEIGHTS_APP[: i + 1]) for i in range(len(CHANNELS)))
TOKEN_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_ORGANIC = tuple(r for r, _ in ORGANIC_REFERRERS)
_ORGANIC_CUM = tuple(sum(w for _, w in ORGANIC_REFERRERS[: i + 1]) for i in range(3))

# The behaviour model's shares and distributions, read by this row-by-row path and by the
# vectorized one (cdpflow.sample.columnar) alike, so the two cannot drift apart.
BOUNCE_SHARE = 0.35  # non-buying sessions of a single page
PAGES_RATE = 0.25  # other non-buying sessions: 2 + Exp(rate) pages, at most MAX_PAGES
MAX_PAGES = 12
BUY_BROWSE_MAX = 3  # pages a buying session browses before adding its order's lines
BUY_CART_SHARE = 0.8  # buying sessions that view the cart before checkout
ADD_TO_CART_SHARE = 0.12  # per product page of a non-buying session
CART_AFTER_ADD_SHARE = 0.5  # non-buying sessions with an add that go on to the cart
CHECKOUT_AFTER_CART_SHARE = 0.35  # ... and of those, start checkout (then abandon)
BROWSE_PRODUCT_SHARE = 0.55  # a browsed page: a product (from the collection just seen) ...
BROWSE_COLLECTION_SHARE = 0.30  # ... a collection, or else the home page
# Landing page by channel: (product share, collection share); the rest land on the home page.
LANDING_SHARES = {
    "google_cpc": (0.6, 0.35), "bing_cpc": (0.6, 0.35), "facebook": (0.65, 0.3),
    "tiktok": (0.7, 0.2), "email": (0.3, 0.5), "organic": (0.4, 0.2),
    "referral": (0.7, 0.0), "direct": (0.15, 0.05),
}  # fmt: skip
DWELL_LOG_MU, DWELL_LOG_SIGMA = 10.1, 0.9  # time on a page (ms): lognormal, clipped to ...
DWELL_MIN_MS, DWELL_MAX_MS = 4_000, 180_000
CHECKOUT_DWELL_MS = (40_000, 180_000)  # on the checkout form: uniform
# When things happen on a page (ms after it loads; the leave is before the next page loads)
LEAVE_BEFORE_NEXT_MS = (30, 400)
VIEWED_AFTER_MS = (150, 900)  # Product Viewed
CHECKOUT_AFTER_MS = (200, 900)  # Checkout Started
ORDER_AFTER_MS = (300, 1500)  # Order Completed
LATE_ACTION_SHARE = (0.3, 0.8)  # adds, logins and the checkout form: this share of the dwell
GCLID_ONLY_SHARE = 0.1  # Google clicks with auto-tagging only: a click id but no UTM tags
FACEBOOK_PAID_SOCIAL_SHARE = 0.75  # Facebook clicks tagged paid_social (the rest cpc)
EMAIL_CONTENT = ("hero_cta", "product_grid", "footer_link")
TIKTOK_REFERRERS = ("https://www.tiktok.com/", "")
# Click ids: (parameter, prefix, random characters after it)
GCLID = ("gclid", "Cj0KCQjw", 72)
FBCLID = ("fbclid", "IwAR", 56)
TTCLID = ("ttclid", "E.C.P.", 48)
# An order: 1-3 lines (cumulative weights), quantity 1 or else 2, a welcome coupon sometimes.
ORDER_LINES_CUM = (60, 90, 100)
SINGLE_QUANTITY_SHARE = 0.85
COUPON_SHARE = 0.15

# Action kinds a renderer turns into SDK calls.
PRODUCT_VIEWED = "product_viewed"
PRODUCT_ADDED = "product_added"
CHECKOUT_STARTED = "checkout_started"
LOGIN = "login"  # identify with email at the login form
CHECKOUT_IDENTIFY = "checkout_identify"  # identify with email, phone and name at checkout
ORDER_COMPLETED = "order_completed"


class Action(NamedTuple):
    """Something the visitor does on a page, at true time `t` (ms)."""

    t: int
    kind: str
    product: Product | None = None
    quantity: int = 1


@dataclass(slots=True)
class Visit:
    """One page (web) or screen (app) view from load to leave, in true time."""

    start: int
    leave: int
    path: str
    title: str
    screen: str
    url: str
    actions: list[Action] = field(default_factory=list)


class Order(NamedTuple):
    """A purchase's lines and amounts, derived from the order number alone."""

    order_no: int
    order_id: str
    currency: str
    lines: tuple[tuple[Product, int, float], ...]  # (product, quantity, unit price)
    coupon: str
    subtotal: float
    discount: float
    shipping: float
    tax: float
    revenue: float
    total: float


class Page(NamedTuple):
    """A page to visit and the one deliberate thing done there (product views are implied)."""

    path: str
    title: str
    screen: str  # the app's screen name for the same view
    action: str | None = None
    quantity: int = 1


_HOME = Page("/", SHOP_NAME, "Home")
_CART = Page("/cart", f"Your Shopping Cart – {SHOP_NAME}", "Cart")
_LOGIN = Page("/account/login", f"Account – {SHOP_NAME}", "Login", LOGIN)
_ACCOUNT = Page("/account", f"Account – {SHOP_NAME}", "Account")


@dataclass(slots=True)
class Script:
    """A session: where it came from, the pages it saw, and its order if it bought."""

    channel: str
    params: list[tuple[str, str]]  # landing query parameters (UTM tags and click ids)
    query: str  # "?utm_source=..." or ""
    referrer: str
    visits: list[Visit]
    checkout_token: str
    order: Order | None = None
    order_ms: int = 0


def order_for(seed: int, order_no: int, *, eur: bool) -> Order:
    """Order `order_no`'s contents; the same for the event stream and the shop export."""
    rng = stream(seed, STREAM_ORDER, order_no)
    count = rng.choices((1, 2, 3), cum_weights=ORDER_LINES_CUM)[0]
    lines = []
    for product in rng.sample(PRODUCTS, count):
        price = round(product.price * EUR_PER_USD, 2) if eur else product.price
        lines.append((product, 1 if rng.random() < SINGLE_QUANTITY_SHARE else 2, price))
    subtotal = round(sum(q * p for _, q, p in lines), 2)
    coupon = "WELCOME10" if rng.random() < COUPON_SHARE else ""
    discount = round(subtotal * 0.10, 2) if coupon else 0.0
    revenue = round(subtotal - discount, 2)
    shipping = 0.0 if revenue >= 75 else (5.95 if eur else 6.95)
    tax = 0.0 if eur else round(revenue * 0.0825, 2)  # EUR prices include VAT
    return Order(
        order_no=order_no,
        order_id=f"ORD-{order_no:06d}",
        currency="EUR" if eur else "USD",
        lines=tuple(lines),
        coupon=coupon,
        subtotal=subtotal,
        discount=discount,
        shipping=shipping,
        tax=tax,
        revenue=revenue,
        total=round(revenue + shipping + tax, 2),
    )


def build_script(seed: int, s: Session, rng: random.Random) -> Script:
    """Draw session `s` from its stream `rng`: channel, landing, pages, cart, login, checkout.

    Renderers keep drawing from `rng` afterwards, so the script is the same whether or not the
    session is rendered (the shop export only needs the script).
    """
    app = s.ios_app and s.device == 0
    cum = _CUM_APP if app else (_CUM_FIRST if s.visit_no == 0 else _CUM_RETURN)
    channel = rng.choices(CHANNELS, cum_weights=cum)[0]
    params, referrer = _arrival(rng, channel, s.start_ms)
    query = "?" + "&".join(f"{k}={quote_plus(v)}" for k, v in params) if params else ""
    token = f"{rng.getrandbits(96):024x}"

    pages = [_landing(rng, channel)]
    order = order_for(seed, s.order_no, eur=s.eur) if s.converts else None
    if order is not None:
        pages += [_browse(rng, pages[-1]) for _ in range(rng.randint(0, BUY_BROWSE_MAX))]
        for product, quantity, _ in order.lines:
            pages.append(_product_page(product, PRODUCT_ADDED, quantity))
        if rng.random() < BUY_CART_SHARE:
            pages.append(_CART)
        pages.append(_checkout_page(token, "information", CHECKOUT_IDENTIFY))
        pages.append(_checkout_page(token, "thank-you", ORDER_COMPLETED))
    else:
        bounce = rng.random() < BOUNCE_SHARE
        length = 1 if bounce else min(2 + int(rng.expovariate(PAGES_RATE)), MAX_PAGES)
        pages += [_browse(rng, pages[-1]) for _ in range(length - 1)]
        if s.login:
            at = rng.randint(1, len(pages))
            pages[at:at] = [_LOGIN, _ACCOUNT]
        pages = _maybe_cart(rng, pages, token)

    visits = _timeline(rng, s.start_ms, pages)
    visits[0].url += query
    script = Script(channel, params, query, referrer, visits, token)
    if order is not None:
        script.order = order
        script.order_ms = visits[-1].actions[0].t
    return script


def _arrival(rng: random.Random, channel: str, start_ms: int) -> tuple[list[tuple[str, str]], str]:
    """Landing query parameters and external referrer for a channel."""
    if channel == "google_cpc":
        gclid = (GCLID[0], GCLID[1] + _token(rng, GCLID[2]))
        if rng.random() < GCLID_ONLY_SHARE:
            return [gclid], "https://www.google.com/"
        return [
            ("utm_source", "google"),
            ("utm_medium", "cpc"),
            ("utm_campaign", rng.choice(GOOGLE_CAMPAIGNS)),
            ("utm_term", rng.choice(GOOGLE_TERMS)),
            gclid,
        ], "https://www.google.com/"
    if channel == "bing_cpc":
        return [
            ("utm_source", "bing"),
            ("utm_medium", "cpc"),
            ("utm_campaign", rng.choice(BING_CAMPAIGNS)),
            ("utm_term", rng.choice(GOOGLE_TERMS)),
            ("msclkid", f"{rng.getrandbits(128):032x}"),
        ], "https://www.bing.com/"
    if channel == "facebook":
        return [
            ("utm_source", "facebook"),
            ("utm_medium", "paid_social" if rng.random() < FACEBOOK_PAID_SOCIAL_SHARE else "cpc"),
            ("utm_campaign", rng.choice(FACEBOOK_CAMPAIGNS)),
            ("utm_content", rng.choice(FACEBOOK_CONTENT)),
            (FBCLID[0], FBCLID[1] + _token(rng, FBCLID[2])),
        ], rng.choice(FACEBOOK_REFERRERS)
    if channel == "tiktok":
        return [
            ("utm_source", "tiktok"),
            ("utm_medium", "paid_social"),
            ("utm_campaign", rng.choice(TIKTOK_CAMPAIGNS)),
            (TTCLID[0], TTCLID[1] + _token(rng, TTCLID[2])),
        ], rng.choice(TIKTOK_REFERRERS)
    if channel == "email":
        days = start_ms // DAY_MS
        tuesday = days - (days + 2) % 7  # 1970-01-01 was a Thursday; newsletters go out Tuesdays
        sent = time.strftime("%Y_%m_%d", time.gmtime(tuesday * 86_400))
        return [
            ("utm_source", "newsletter"),
            ("utm_medium", "email"),
            ("utm_campaign", f"newsletter_{sent}"),
            ("utm_content", rng.choice(EMAIL_CONTENT)),
        ], rng.choice(EMAIL_REFERRERS)
    if channel == "organic":
        return [], rng.choices(_ORGANIC, cum_weights=_ORGANIC_CUM)[0]
    if channel == "referral":
        return [], rng.choice(REFERRAL_SITES)
    return [], ""


def _product_page(product: Product, action: str | None = None, quantity: int = 1) -> Page:
    title = f"{product.name} – {SHOP_NAME}"
    return Page(f"/products/{product.handle}", title, "Product Detail", action, quantity)


def _collection_page(collection: str) -> Page:
    title = collection.replace("-", " ").title()
    return Page(f"/collections/{collection}", f"{title} – {SHOP_NAME}", "Collection")


def _checkout_page(token: str, step: str, action: str) -> Page:
    title = "Thank you for your purchase!" if step == "thank-you" else "Checkout"
    screen = "Order Confirmation" if step == "thank-you" else "Checkout"
    return Page(f"/checkouts/cn/{token}/{step}", f"{title} – {SHOP_NAME}", screen, action)


def _landing(rng: random.Random, channel: str) -> Page:
    roll = rng.random()
    product_share, collection_share = LANDING_SHARES[channel]
    if roll < product_share:
        return _product_page(rng.choice(PRODUCTS))
    if roll < product_share + collection_share:
        return _collection_page(rng.choice(COLLECTIONS))
    return _HOME


def _browse(rng: random.Random, previous: Page) -> Page:
    roll = rng.random()
    if roll < BROWSE_PRODUCT_SHARE:
        if previous.screen == "Collection":
            return _product_page(rng.choice(BY_COLLECTION[previous.path.rsplit("/", 1)[1]]))
        return _product_page(rng.choice(PRODUCTS))
    if roll < BROWSE_PRODUCT_SHARE + BROWSE_COLLECTION_SHARE:
        return _collection_page(rng.choice(COLLECTIONS))
    return _HOME


def _maybe_cart(rng: random.Random, pages: list[Page], token: str) -> list[Page]:
    """Non-buying sessions: some add to cart, a few of those start checkout and abandon."""
    added = False
    for i, page in enumerate(pages):
        if page.screen == "Product Detail" and rng.random() < ADD_TO_CART_SHARE:
            pages[i] = page._replace(action=PRODUCT_ADDED)
            added = True
    if added and rng.random() < CART_AFTER_ADD_SHARE:
        pages.append(_CART)
        if rng.random() < CHECKOUT_AFTER_CART_SHARE:
            pages.append(_checkout_page(token, "information", CHECKOUT_STARTED))
    return pages


_BY_PATH = {f"/products/{p.handle}": p for p in PRODUCTS}


def _timeline(rng: random.Random, start: int, pages: list[Page]) -> list[Visit]:
    """Place pages and their actions in true time: seconds to minutes apart."""
    visits = []
    t = start
    for path, title, screen, action, quantity in pages:
        if action in (CHECKOUT_IDENTIFY, CHECKOUT_STARTED):
            dwell = between(rng, *CHECKOUT_DWELL_MS)
        else:
            dwell = int(rng.lognormvariate(DWELL_LOG_MU, DWELL_LOG_SIGMA))
            dwell = min(max(dwell, DWELL_MIN_MS), DWELL_MAX_MS)
        visit = Visit(
            t, t + dwell - between(rng, *LEAVE_BEFORE_NEXT_MS), path, title, screen, SHOP + path
        )
        product = _BY_PATH.get(path)
        if product is not None:
            visit.actions.append(
                Action(t + between(rng, *VIEWED_AFTER_MS), PRODUCT_VIEWED, product)
            )
        if action is not None:
            late = t + int(dwell * rng.uniform(*LATE_ACTION_SHARE))
            if action == PRODUCT_ADDED:
                visit.actions.append(Action(late, action, product, quantity))
            elif action == CHECKOUT_IDENTIFY:
                visit.actions.append(Action(t + between(rng, *CHECKOUT_AFTER_MS), CHECKOUT_STARTED))
                visit.actions.append(Action(late, action))
            elif action == ORDER_COMPLETED:
                visit.actions.append(Action(t + between(rng, *ORDER_AFTER_MS), action))
            elif action == LOGIN:
                visit.actions.append(Action(late, action))
            else:  # CHECKOUT_STARTED on an abandoned checkout
                visit.actions.append(Action(t + between(rng, *CHECKOUT_AFTER_MS), action))
        visits.append(visit)
        t += dwell
    return visits


def _token(rng: random.Random, n: int) -> str:
    return "".join(rng.choices(TOKEN_CHARS, k=n))
