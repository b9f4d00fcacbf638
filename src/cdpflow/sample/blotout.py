"""Render a session script as Blotout web SDK request bodies: `{"meta": {...}, "events": [...]}`.

One body per page, posted when the page is left (the SDK beacons on visibility_hidden), so its
receive time is the leave time; `evt` is the client clock, skew included.
"""

from __future__ import annotations

import base64
import random
from typing import Any

from cdpflow.sample.catalog import EUR_PER_USD
from cdpflow.sample.people import Customer, Device, typed_email, typed_phone
from cdpflow.sample.plan import between
from cdpflow.sample.script import (
    CHECKOUT_IDENTIFY,
    CHECKOUT_STARTED,
    LOGIN,
    ORDER_COMPLETED,
    PRODUCT_ADDED,
    Script,
)

SDK_VERSION = "0.10.2"
_B64 = {
    name: base64.b64encode(name.encode()).decode()
    for name in (
        "sdk_start", "visibility_hidden", "add-to-cart", "initiate-checkout", "transaction",
        "map_id", "persona",
    )
}  # fmt: skip


class _Page:
    """Builds the events of one page load: shared scrn, session and visitor ids."""

    __slots__ = ("loaded", "rng", "scrn", "session_id", "skew", "userid")

    def __init__(
        self, rng: random.Random, scrn: str, loaded: int, skew: int, session_id: str, userid: str
    ) -> None:
        self.rng = rng
        self.scrn = scrn
        self.loaded = loaded
        self.skew = skew
        self.session_id = session_id
        self.userid = userid

    def event(self, evn: str, t: int, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        return {
            "mid": f"{_B64[evn]}-{self.rng.getrandbits(64):016x}-{t - self.loaded}.{t % 7919:04d}",
            "evn": evn,
            "evt": t + self.skew,
            "scrn": self.scrn,
            "session_id": self.session_id,
            "type": kind,
            "userid": self.userid,
            "additionalData": data,
        }


def render_blotout(
    rng: random.Random,
    script: Script,
    device: Device,
    customer: Customer | None,
    *,
    eur: bool,
) -> list[tuple[int, dict[str, Any], dict[str, Any]]]:
    """Bodies as (received ms, body, body) — the body doubles as the template for noise."""
    skew = device.skew_ms
    session_id = str(script.visits[0].start + skew)
    userid = device.anonymous_id
    currency = "EUR" if eur else "USD"
    rate = EUR_PER_USD if eur else 1.0
    screen = {"width": device.width, "height": device.height}
    cart_value = 0.0
    data: dict[str, Any]
    out = []
    for visit in script.visits:
        # The SDK's mid embeds performance.now(): ms since this page loaded.
        loaded = visit.start - between(rng, 300, 2500)
        page = _Page(rng, visit.url, loaded, skew, session_id, userid)
        event = page.event
        start = event("sdk_start", visit.start, "system", {"path": visit.path})
        start["screen"] = {**screen, "docHeight": device.height * 3, "docWidth": device.width}
        events = [start]
        for a in visit.actions:
            if a.kind == PRODUCT_ADDED and a.product is not None:
                cart_value += round(a.product.price * rate, 2) * a.quantity
                data = {"SKU": a.product.sku, "itemName": a.product.name}
                events.append(event("add-to-cart", a.t, "codified", data))
            elif a.kind == CHECKOUT_STARTED:
                order = script.order
                value = order.subtotal if order is not None else round(cart_value, 2)
                data = {"value": value, "currency": currency}
                events.append(event("initiate-checkout", a.t, "codified", data))
            elif a.kind in (LOGIN, CHECKOUT_IDENTIFY) and customer is not None:
                persona: dict[str, Any] = {
                    "persona_id": customer.customer_id,
                    "persona_email": typed_email(customer, rng),
                }
                if a.kind == CHECKOUT_IDENTIFY:
                    persona["persona_number"] = typed_phone(customer, rng)
                    persona["persona_firstname"] = customer.first_name
                    persona["persona_lastname"] = customer.last_name
                mapping = {"map_id": customer.customer_id, "map_provider": "shopify"}
                events.append(event("map_id", a.t, "codified", mapping))
                events.append(event("persona", a.t + 1, "codified", persona))
            elif a.kind == ORDER_COMPLETED and script.order is not None:
                o = script.order
                data = {
                    "transaction_id": o.order_id,
                    "transaction_total": o.total,
                    "transaction_currency": o.currency,
                    "transaction_tax": o.tax,
                    "transaction_shipping": o.shipping,
                    "transaction_discount": o.discount,
                }
                events.append(event("transaction", a.t, "codified", data))
        events.append(event("visibility_hidden", visit.leave, "system", {"path": visit.path}))
        body = {
            "meta": {
                "sdkv": SDK_VERSION,
                "tz_offset": device.tz_offset,
                "user_agent": device.user_agent,
                "referrer": script.referrer,
                "page_title": visit.title,
                "search": script.query,
            },
            "events": events,
        }
        out.append((visit.leave + between(rng, 20, 600), body, body))
    return out
