"""The vectorized messages (cdpflow.sample.columnar_segment) as core_events rows: the columns
the flatten makes of them (the landing's tags and click ids on its events, the skew-corrected
time, the page, product, checkout and order properties, the identify's traits)."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cdpflow.events.schema import CORE_EVENTS_COLUMNS
from cdpflow.sample.catalog import COLLECTIONS, EUR_PER_USD, PRODUCTS, SHOP, SHOP_NAME, Product
from cdpflow.sample.columnar import (
    ABANDON,
    ADD,
    CHECKOUT_FORM,
    CHECKOUT_IDENTIFY,
    CLICK_IDS,
    ORDER,
    PRODUCT0,
    THANK_YOU,
    UTM_TAGS,
)
from cdpflow.sample.columnar_segment import (
    ACTION,
    ALIAS,
    DAY_MS,
    DEEP_LINK,
    IDENTIFY,
    PRODUCT_VIEWED,
    VIEW,
    Events,
)
from cdpflow.sample.people import PHONE_E164_SHARE
from cdpflow.sample.plan import STREAM_COLUMNAR_IDS

_PATHS = ["/", "/cart", "/account/login", "/account", "", ""]
_TITLES = [SHOP_NAME, f"Your Shopping Cart – {SHOP_NAME}", f"Account – {SHOP_NAME}",
           f"Account – {SHOP_NAME}", f"Checkout – {SHOP_NAME}",
           f"Thank you for your purchase! – {SHOP_NAME}"]  # fmt: skip
_SCREENS = ["Home", "Cart", "Login", "Account", "Checkout", "Order Confirmation"]
for _c in COLLECTIONS:
    _PATHS.append(f"/collections/{_c}")
    _TITLES.append(f"{_c.replace('-', ' ').title()} – {SHOP_NAME}")
    _SCREENS.append("Collection")
for _p in PRODUCTS:
    _PATHS.append(f"/products/{_p.handle}")
    _TITLES.append(f"{_p.name} – {SHOP_NAME}")
    _SCREENS.append("Product Detail")
PATHS, TITLES, SCREENS = (pa.array(v, pa.string()) for v in (_PATHS, _TITLES, _SCREENS))
_TS = pa.timestamp("ms", tz="UTC")


def core_events_rows(ev: Events, rows: np.ndarray) -> pa.Table:
    """The core_events rows (CORE_EVENTS_COLUMNS, in order) of the messages at `rows`."""
    s, plan = ev.sessions, ev.sessions.plan
    n = len(rows)
    page, slot, session = ev.page[rows], ev.slot[rows], ev.session[rows]
    code, page_no, action = s.page[page], s.page_no[page], s.action[page]
    ios, web = ev.ios[session], ~ev.ios[session]
    landing = page_no == 0
    dev = ev.device_row[session]
    customer = plan.customer_no[plan.person[session]]
    eur = plan.eur[plan.person[session]]
    token = _strings(ev.token[session])
    # Keyed by the first row and the plan: disjoint subsets of all plans draw different ids.
    first = int(rows[0]) if n else 0
    rng = np.random.default_rng(
        [plan.spec.seed % (1 << 64), STREAM_COLUMNAR_IDS, first, plan.first_position]
    )
    query = _strings(s.tags["query"][session])

    def path_of(codes: np.ndarray) -> pa.Array:
        static = PATHS.take(pa.array(codes))
        steps = pa.array(np.where(codes == THANK_YOU, "/thank-you", "/information"))
        checkout = pc.binary_join_element_wise("/checkouts/cn/", token, steps, "")
        return pc.if_else(
            pa.array((codes == CHECKOUT_FORM) | (codes == THANK_YOU)), checkout, static
        )

    path = path_of(code)
    page_url = pc.binary_join_element_wise(SHOP, path, pc.if_else(pa.array(landing), query, ""), "")
    previous = s.page[np.maximum(page - 1, 0)]
    previous_url = pc.binary_join_element_wise(
        SHOP, path_of(previous), pc.if_else(pa.array(page_no == 1), query, ""), ""
    )
    referrer = pc.if_else(pa.array(landing), _strings(s.tags["referrer"][session]), previous_url)
    product_url = pc.binary_join_element_wise(SHOP, path, "")
    deep = slot == DEEP_LINK
    viewed = slot == PRODUCT_VIEWED
    app_url = pc.if_else(pa.array(deep), page_url, pc.if_else(pa.array(viewed), product_url, None))
    url = pc.if_else(pa.array(web), page_url, app_url)
    app_path = pc.if_else(pa.array(deep | viewed), path, None)
    columns: dict[str, pa.Array] = {
        "url": url,
        "path": pc.if_else(pa.array(web), path, app_path),
        "referrer": pc.if_else(pa.array(web), referrer, None),
        "page_title": pc.if_else(pa.array(web), TITLES.take(pa.array(code)), None),
    }
    none = np.full(n, None, object)
    for tag in UTM_TAGS:
        columns[tag] = _strings(np.where(landing, s.tags[tag][session], none))
    for click in CLICK_IDS:
        columns[click] = _strings(np.where(landing & (web | deep), s.tags[click][session], none))

    action_slot = slot == ACTION
    added = action_slot & (action == ADD)
    checkout = action_slot & ((action == CHECKOUT_IDENTIFY) | (action == ABANDON))
    ordered = action_slot & (action == ORDER)
    view_slot = slot == VIEW
    track_name = np.select(
        [deep, viewed, added, checkout, ordered],
        [
            "Deep Link Opened",
            "Product Viewed",
            "Product Added",
            "Checkout Started",
            "Order Completed",
        ],
        "",
    )
    kind = np.select(
        [view_slot & web, view_slot, slot == ALIAS, slot == IDENTIFY],
        ["page", "screen", "alias", "identify"],
        "track",
    )
    screen = SCREENS.take(pa.array(code))
    name = pc.if_else(
        pa.array(kind == "track"),
        pa.array(track_name),
        pc.if_else(pa.array(kind == "screen"), screen, pa.array(kind)),
    )
    anon = ev.devices["anonymous_id"].take(pa.array(dev))
    ident = (slot == ALIAS) | (slot == IDENTIFY)
    user_id = ev.customers["user_id"].take(pa.array(np.where(ev.user[rows] | ident, customer, 0)))
    email = ev.customers["email"].take(pa.array(np.where(slot == IDENTIFY, customer, 0)))
    full = (slot == IDENTIFY) & (action == CHECKOUT_IDENTIFY)
    phone = _typed_phones(rng, ev.customers["phone"].take(pa.array(np.where(full, customer, 0))))

    currency = np.where(eur, "EUR", "USD")
    money = np.full(n, np.nan)
    order_id = np.full(n, None, object)
    props = np.full(n, None, object)
    rate = np.where(eur, EUR_PER_USD, 1.0)
    product = np.maximum(code - PRODUCT0, 0)
    price = np.round(np.array([p.price for p in PRODUCTS])[product] * rate, 2)
    for i in np.flatnonzero(checkout | ordered).tolist():
        props[i], order_id[i], money[i] = _order_props(ev, int(session[i]), bool(ordered[i]))
    viewed_props = {  # per (product, currency)
        (i, c): json.dumps(
            {**_product(p, c, round(p.price * r, 2)), "url": SHOP + _PATHS[PRODUCT0 + i]}
        )
        for i, p in enumerate(PRODUCTS)
        for c, r in (("USD", 1.0), ("EUR", EUR_PER_USD))
    }
    for i in np.flatnonzero(viewed).tolist():
        props[i] = viewed_props[(int(product[i]), str(currency[i]))]
    quantity = s.quantity[page]
    for i in np.flatnonzero(added).tolist():
        item = _product(PRODUCTS[product[i]], str(currency[i]), float(price[i]))
        props[i] = json.dumps(
            {**item, "quantity": int(quantity[i]), "cart_id": ev.token[session[i]]}
        )
    page_props = pc.binary_join_element_wise(
        '{"path": "', path, '", "referrer": "', referrer, '", "search": "',
        pc.if_else(pa.array(landing), query, ""), '", "title": "', TITLES.take(pa.array(code)),
        '", "url": "', page_url, '"}', "",
    )  # fmt: skip
    screen_props = pc.binary_join_element_wise('{"name": "', screen, '"}', "")
    deep_props = pc.binary_join_element_wise('{"url": "', page_url, '"}', "")
    properties = pc.if_else(
        pa.array(view_slot),
        pc.if_else(pa.array(web), page_props, screen_props),
        pc.if_else(pa.array(deep), deep_props, _strings(props)),
    )
    traits = pc.if_else(
        pa.array(slot == IDENTIFY),
        pc.binary_join_element_wise(
            '{"email": "', email, pc.if_else(pa.array(full), pc.binary_join_element_wise(
                '", "phone": "', phone, '", "first_name": "',
                ev.customers["first_name"].take(pa.array(customer)), '", "last_name": "',
                ev.customers["last_name"].take(pa.array(customer)), ""), ""), '"}', "",
        ),
        None,
    )  # fmt: skip
    event_id = _event_ids(rng, ios)
    columns.update(
        event_id=event_id,
        event_type=pa.array(kind),
        event_name=name,
        event_time=pa.array(ev.event_time[rows], _TS),
        received_at=pa.array(ev.received[rows], _TS),
        sent_at=pa.array(ev.sent[rows], _TS),
        anonymous_id=anon,
        user_id=user_id,
        previous_id=pc.if_else(pa.array(slot == ALIAS), anon, None),
        group_id=pa.nulls(n, pa.string()),
        session_id=pa.nulls(n, pa.string()),
        email=email,
        phone=phone,
        map_id=pa.nulls(n, pa.string()),
        map_provider=pa.nulls(n, pa.string()),
        order_id=_strings(order_id),
        revenue=pa.array(money, mask=np.isnan(money)),
        currency=pc.if_else(
            pa.array(added | viewed | checkout | ordered), pa.array(currency), None
        ),
        properties=properties,
        traits=traits,
        user_agent=ev.devices["user_agent"].take(pa.array(dev)),
        ip=ev.devices["ip"].take(pa.array(dev)),
        source=pa.array(np.where(ios, "ios", "web")),
        payload_format=pa.array(np.full(n, "segment")),
        event_date=pa.array((ev.event_time[rows] // DAY_MS).astype(np.int32), pa.date32()),
    )
    return pa.table({c: columns[c] for c, _ in CORE_EVENTS_COLUMNS})


def _strings(values: np.ndarray) -> pa.Array:
    return pa.array(values.tolist(), pa.string())


def _typed_phones(rng: np.random.Generator, phones: pa.Array) -> pa.Array:
    """Phones as typed (people.typed_phone): E.164 or the US display form, then trimmed."""
    display = pc.binary_join_element_wise(
        "(", pc.utf8_slice_codeunits(phones, 2, 5), ") ", pc.utf8_slice_codeunits(phones, 5, 8),
        "-", pc.utf8_slice_codeunits(phones, 8, 12), "",
    )  # fmt: skip
    e164 = pa.array(rng.random(len(phones)) < PHONE_E164_SHARE)
    return pc.if_else(e164, phones, display)


def _product(p: Product, currency: str, price: float) -> dict[str, object]:
    return {"product_id": p.product_id, "sku": p.sku, "name": p.name, "price": price,
            "category": p.collection, "currency": currency}  # fmt: skip


def _order_props(ev: Events, session: int, completed: bool) -> tuple[str, str | None, float]:
    """Checkout Started (of an order or an abandoned cart) or Order Completed: properties,
    order id and the revenue the flatten reads."""
    s = ev.sessions
    checkout_id = str(ev.token[session])
    order = s.orders.get(session)
    if order is not None:
        lines = [(p, q, price) for p, q, price in order.lines]
        currency = order.currency
    else:  # an abandoned checkout: what was added to the cart
        eur = bool(s.plan.eur[s.plan.person[session]])
        rate, currency = (EUR_PER_USD, "EUR") if eur else (1.0, "USD")
        lo, hi = np.searchsorted(s.page_session, [session, session + 1])
        adds = [i for i in range(lo, hi) if s.action[i] == ADD]
        lines = [(PRODUCTS[s.page[i] - PRODUCT0], int(s.quantity[i]), 0.0) for i in adds]
        lines = [(p, q, round(p.price * rate, 2)) for p, q, _ in lines]
    products = [{**_product(p, currency, price), "quantity": q} for p, q, price in lines]
    if order is None or not completed:
        value = round(sum(price * q for _, q, price in lines), 2)
        props = {"checkout_id": checkout_id, "value": value, "revenue": value,
                 "currency": currency, "products": products}  # fmt: skip
        return json.dumps(props), None, value
    props = {"order_id": order.order_id, "checkout_id": checkout_id, "total": order.total,
             "revenue": order.revenue, "shipping": order.shipping, "tax": order.tax,
             "discount": order.discount, "currency": order.currency,
             "products": products}  # fmt: skip
    if order.coupon:
        props["coupon"] = order.coupon
    return json.dumps(props), order.order_id, order.revenue


def _event_ids(rng: np.random.Generator, ios: np.ndarray) -> pa.Array:
    """messageIds as the SDKs make them: analytics.js `ajs-next-<hex>`, analytics-ios an
    upper-case version-4 UUID."""
    n = len(ios)
    digits = np.frombuffer(b"0123456789abcdef", np.uint8)[rng.integers(0, 16, (n, 32))]
    web = np.full((n, 41), ord("-"), np.uint8)
    web[:, :8] = np.frombuffer(b"ajs-next", np.uint8)
    web[:, 9:] = digits
    uuid = np.full((n, 36), ord("-"), np.uint8)
    for lo, hi, at in ((0, 8, 0), (8, 12, 9), (12, 16, 14), (16, 20, 19), (20, 32, 24)):
        uuid[:, at : at + hi - lo] = digits[:, lo:hi]
    uuid[:, 14] = ord("4")
    uuid[:, 19] = np.frombuffer(b"89ab", np.uint8)[digits[:, 19] % 4]
    uuid = np.frombuffer(bytes(uuid).upper(), np.uint8).reshape(n, 36)
    web_ids = web.view("S41").ravel().astype(str)
    ios_ids = uuid.view("S36").ravel().astype(str)
    return pa.array(np.where(ios, ios_ids, web_ids).tolist(), pa.string())
