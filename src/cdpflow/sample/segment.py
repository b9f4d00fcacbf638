"""Render a session script as Segment HTTP Tracking API messages (analytics.js and analytics-ios).

Timing follows the SDKs: the browser sends each call at once; the app queues calls and flushes a
batch envelope. Client timestamps carry the device's clock skew; receive times are true time.
"""

from __future__ import annotations

import random
import time
from typing import Any

from cdpflow.sample.catalog import EUR_PER_USD, SHOP, UA_IOS_APP, Product
from cdpflow.sample.people import Customer, Device, typed_email, typed_phone, uuid4
from cdpflow.sample.plan import between
from cdpflow.sample.script import (
    CHECKOUT_IDENTIFY,
    CHECKOUT_STARTED,
    LOGIN,
    ORDER_COMPLETED,
    PRODUCT_ADDED,
    PRODUCT_VIEWED,
    Action,
    Script,
)

Rendered = tuple[int, dict[str, Any], dict[str, Any]]  # (received ms, body, page-like template)

WEB_LIBRARY = ("analytics.js", "npm:next-1.70.0")
IOS_LIBRARY = ("analytics-ios", "4.1.8")
ALIAS_SHARE = 0.15  # first identify on a device that also calls alias()
IOS_FLUSH_INTERVAL_MS = 120_000
# Send and network delays (ms), shared with the vectorized path (cdpflow.sample.columnar).
WEB_SEND_MS = (2, 250)  # analytics.js sends a call this long after it is made ...
WEB_QUEUED_SHARE, WEB_QUEUED_MS = 0.01, (5_000, 60_000)  # ... or, offline, this long
WEB_NETWORK_MS = (20, 400)  # from sentAt to the collector
IOS_FLUSH_AFTER_MS = (5, 80)  # a full queue flushes this long after its last call
IOS_BACKGROUND_MS = (100, 2_000)  # the rest flushes this long after the app is left
IOS_NETWORK_MS = (40, 900)
_TIMEZONES = {-240: "America/New_York", -300: "America/Chicago", -360: "America/Denver",
              -420: "America/Los_Angeles", 60: "Europe/London", 120: "Europe/Berlin"}  # fmt: skip


def iso(ms: int) -> str:
    """ISO-8601 UTC with milliseconds and `Z`, as the SDKs format client time."""
    sec, milli = divmod(ms, 1000)
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(sec))}.{milli:03d}Z"


class _Calls:
    """Builds the track/identify/alias bodies shared by the web and iOS renderers."""

    def __init__(
        self,
        rng: random.Random,
        script: Script,
        device: Device,
        customer: Customer | None,
        *,
        known: bool,
        eur: bool,
        ios: bool,
    ) -> None:
        self.rng = rng
        self.script = script
        self.device = device
        self.customer = customer
        self.user_id = customer.customer_id if customer is not None and known else ""
        self.currency = "EUR" if eur else "USD"
        self.rate = EUR_PER_USD if eur else 1.0
        self.ios = ios
        self.cart: list[tuple[Product, int]] = []

    def message_id(self) -> str:
        if self.ios:
            return uuid4(self.rng).upper()
        return f"ajs-next-{self.rng.getrandbits(128):032x}"

    def base(self, kind: str, t: int) -> dict[str, Any]:
        msg: dict[str, Any] = {
            "type": kind,
            "messageId": self.message_id(),
            "anonymousId": self.device.anonymous_id,
            "timestamp": iso(t + self.device.skew_ms),
        }
        if self.user_id:
            msg["userId"] = self.user_id
        return msg

    def product(self, p: Product, quantity: int = 0) -> dict[str, Any]:
        item = {
            "product_id": p.product_id,
            "sku": p.sku,
            "name": p.name,
            "price": round(p.price * self.rate, 2),
            "category": p.collection,
            "currency": self.currency,
        }
        if quantity:
            item["quantity"] = quantity
        return item

    def action(self, a: Action) -> list[tuple[int, dict[str, Any]]]:
        """One script action as (true ms, message) calls, before context and sentAt."""
        out = []
        if a.kind == PRODUCT_VIEWED and a.product is not None:
            props = self.product(a.product)
            props["url"] = f"{SHOP}/products/{a.product.handle}"
            out.append(self.track(a.t, "Product Viewed", props))
        elif a.kind == PRODUCT_ADDED and a.product is not None:
            self.cart.append((a.product, a.quantity))
            props = self.product(a.product, a.quantity)
            props["cart_id"] = self.script.checkout_token
            out.append(self.track(a.t, "Product Added", props))
        elif a.kind == CHECKOUT_STARTED:
            order = self.script.order
            lines = [(p, q) for p, q, _ in order.lines] if order is not None else self.cart
            value = round(sum(round(p.price * self.rate, 2) * q for p, q in lines), 2)
            props = {
                "checkout_id": self.script.checkout_token,
                "value": value,
                "revenue": value,
                "currency": self.currency,
                "products": [self.product(p, q) for p, q in lines],
            }
            out.append(self.track(a.t, "Checkout Started", props))
        elif a.kind in (LOGIN, CHECKOUT_IDENTIFY) and self.customer is not None:
            out.extend(self.identify(a.t, full=a.kind == CHECKOUT_IDENTIFY))
        elif a.kind == ORDER_COMPLETED and self.script.order is not None:
            o = self.script.order
            props = {
                "order_id": o.order_id,
                "checkout_id": self.script.checkout_token,
                "total": o.total,
                "revenue": o.revenue,
                "shipping": o.shipping,
                "tax": o.tax,
                "discount": o.discount,
                "currency": o.currency,
                "products": [self.product(p, q) for p, q, _ in o.lines],
            }
            if o.coupon:
                props["coupon"] = o.coupon
            out.append(self.track(a.t, "Order Completed", props))
        return out

    def track(self, t: int, event: str, props: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        msg = self.base("track", t)
        msg["event"] = event
        msg["properties"] = props
        return t, msg

    def identify(self, t: int, *, full: bool) -> list[tuple[int, dict[str, Any]]]:
        customer = self.customer
        assert customer is not None
        out = []
        if not self.user_id and self.rng.random() < ALIAS_SHARE:
            alias = self.base("alias", t)
            alias["previousId"] = self.device.anonymous_id
            alias["userId"] = customer.customer_id
            out.append((t, alias))
        self.user_id = customer.customer_id
        traits: dict[str, Any] = {"email": typed_email(customer, self.rng)}
        if full:
            traits["phone"] = typed_phone(customer, self.rng)
            traits["first_name"] = customer.first_name
            traits["last_name"] = customer.last_name
        msg = self.base("identify", t + 1)
        msg["traits"] = traits
        out.append((t + 1, msg))
        return out


def render_web(
    rng: random.Random,
    script: Script,
    device: Device,
    customer: Customer | None,
    *,
    known: bool,
    eur: bool,
) -> list[Rendered]:
    """analytics.js: one HTTP call per message, sent within milliseconds of the call."""
    calls = _Calls(rng, script, device, customer, known=known, eur=eur, ios=False)
    campaign = _campaign(script.params)
    skew = device.skew_ms
    out: list[Rendered] = []
    referrer = script.referrer
    for n, visit in enumerate(script.visits):
        # analytics.js sends the page's fields as the page call's properties and as every
        # call's context.page
        fields = {
            "path": visit.path,
            "referrer": referrer,
            "search": script.query if n == 0 else "",
            "title": visit.title,
            "url": visit.url,
        }
        page = calls.base("page", visit.start)
        page["properties"] = dict(fields)
        batch = [(visit.start, page)]
        for a in visit.actions:
            batch.extend(calls.action(a))
        for t, msg in batch:
            msg["context"] = ctx = {
                "library": {"name": WEB_LIBRARY[0], "version": WEB_LIBRARY[1]},
                "locale": device.locale,
                "page": dict(fields),
                "userAgent": device.user_agent,
                "ip": device.ip,
            }
            if n == 0 and campaign:
                ctx["campaign"] = dict(campaign)
            msg["integrations"] = {}
            # A few calls wait in the offline queue before they go out.
            queued = rng.random() <= WEB_QUEUED_SHARE
            delay = between(rng, *WEB_QUEUED_MS) if queued else between(rng, *WEB_SEND_MS)
            msg["sentAt"] = iso(t + delay + skew)
            out.append((t + delay + between(rng, *WEB_NETWORK_MS), msg, page))
        referrer = visit.url
    return out


def render_ios(
    rng: random.Random,
    script: Script,
    device: Device,
    customer: Customer | None,
    *,
    known: bool,
    eur: bool,
) -> list[Rendered]:
    """analytics-ios: calls queue up and flush as `{"batch": [...], "sentAt"}` envelopes."""
    calls = _Calls(rng, script, device, customer, known=known, eur=eur, ios=True)
    campaign = _campaign(script.params)
    queued: list[tuple[int, dict[str, Any]]] = []
    landing = 0  # calls made on the landing screen carry the campaign
    for n, visit in enumerate(script.visits):
        if n == 0 and script.params:  # a universal link from an ad or newsletter opened the app
            link = f"{SHOP}{visit.path}{script.query}"
            queued.append(calls.track(visit.start, "Deep Link Opened", {"url": link}))
        screen = calls.base("screen", visit.start)
        screen["name"] = visit.screen
        screen["properties"] = {"name": visit.screen}
        queued.append((visit.start, screen))
        for a in visit.actions:
            queued.extend(calls.action(a))
        if n == 0:
            landing = len(queued)
    for i, (_, msg) in enumerate(queued):
        msg["context"] = _ios_context(device, campaign if i < landing else None)
    return _flush(rng, queued, device, script.visits[-1].leave)


def _flush(
    rng: random.Random, queued: list[tuple[int, dict[str, Any]]], device: Device, end: int
) -> list[Rendered]:
    """Group queued calls into batches: on queue length, on the timer, and at app background."""
    out: list[Rendered] = []
    pending: list[tuple[int, dict[str, Any]]] = []
    template: dict[str, Any] = queued[0][1]

    def send(at: int) -> None:
        body = {"batch": [m for _, m in pending], "sentAt": iso(at + device.skew_ms)}
        out.append((at + between(rng, *IOS_NETWORK_MS), body, template))
        pending.clear()

    for t, msg in queued:
        if pending and t > pending[0][0] + IOS_FLUSH_INTERVAL_MS:
            send(pending[0][0] + IOS_FLUSH_INTERVAL_MS)
        pending.append((t, msg))
        if msg["type"] == "screen":
            template = msg
        if len(pending) >= device.flush_at:
            send(t + between(rng, *IOS_FLUSH_AFTER_MS))
    if pending:
        send(max(end, pending[-1][0]) + rng.randint(*IOS_BACKGROUND_MS))
    return out


def _ios_context(device: Device, campaign: dict[str, str] | None) -> dict[str, Any]:
    ctx: dict[str, Any] = {
        "app": {
            "name": "Example Shop",
            "version": "3.4.1",
            "build": "341",
            "namespace": "com.example.shop",
        },
        "device": {
            "id": device.anonymous_id,
            "manufacturer": "Apple",
            "model": device.model,
            "type": "ios",
        },
        "library": {"name": IOS_LIBRARY[0], "version": IOS_LIBRARY[1]},
        "locale": device.locale,
        "os": {"name": "iOS", "version": "17.4.1"},
        "screen": {"width": device.width, "height": device.height},
        "timezone": _TIMEZONES.get(device.tz_offset, "UTC"),
        "userAgent": UA_IOS_APP,
        "ip": device.ip,
    }
    if campaign:
        ctx["campaign"] = dict(campaign)
    return ctx


def _campaign(params: list[tuple[str, str]]) -> dict[str, str]:
    """context.campaign as analytics.js derives it from the URL's utm_* parameters."""
    out = {}
    for key, value in params:
        if key.startswith("utm_"):
            name = key[4:]
            out["name" if name == "campaign" else name] = value
    return out
