"""A local Shopify Admin REST API that enforces what Shopify documents and refuses what it
refuses, so the shopify ELT type is tested against a contract, not a mock.

Enforced: the `X-Shopify-Access-Token` header (401 with Shopify's `{"errors": "[API] Invalid
API key or access token ..."}` otherwise); the API version in the path (`/admin/api/2025-10/
customers.json`; an unknown version is 404); `limit` of at most 250 (default 50; more is 400);
cursor pagination by the `Link` header (`<...page_info=...&limit=...>; rel="next"` and
`rel="previous"`), where a request with `page_info` may carry only `limit` and `fields` (any
other parameter is 400 "x cannot be passed when page_info is present", as Shopify answers) and
an unknown page_info is 400; `updated_at_min`/`updated_at_max` and `created_at_min`/
`created_at_max` (inclusive, ISO 8601); orders' `status` (default `open`: cancelled and closed
orders are left out unless `status=any`); the events endpoint with `filter`, `verb` and
`created_at_min`/`max`; and the leaky bucket (default 40 requests draining at 2/s): every answer
says `X-Shopify-Shop-Api-Call-Limit: used/size`, a request into a full bucket is 429 with
`Retry-After` (seconds until a slot drains).

Hooks for tests: `update`, `add` and `delete` rows (a delete adds a `destroy` event for orders
and products, as Shopify's event log does), `faults` (statuses, `"malformed"` or `"drop"` for the
next list requests), `fail_after_pages` (every list request after that many pages answers 503),
and counters (`requests`, `throttled`, `peak_bucket`).

Rows are kept as their JSON bytes with the few fields the filters read, so a million orders fit
and a page is a join of bytes (the benchmark serves 1,000,000 orders from it).

Standalone, for a demo: `python -m tests.fakes.shopify --port 8093 --token shpat_demo` (then set
a shopify pipeline's `api_base_url: http://127.0.0.1:8093` and store shpat_demo as its token).
"""

from __future__ import annotations

import argparse
import base64
import bisect
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import orjson

from . import channel_server
from .channel_server import Answer, running, serve_until_interrupted, url_of

VERSIONS = {
    "2025-01", "2025-04", "2025-07", "2025-10", "2026-01", "2026-04", "2026-07", "2026-10",
}  # fmt: skip
RESOURCES = ("customers", "orders", "products")
SUBJECTS = {"orders": "Order", "products": "Product"}
MAX_LIMIT, DEFAULT_LIMIT = 250, 50
PAGE_ONLY = {"page_info", "limit", "fields"}
FILTERS = {
    "customers": {"updated_at_min", "updated_at_max", "created_at_min", "created_at_max", "since_id", "ids"},  # noqa: E501
    "orders": {"updated_at_min", "updated_at_max", "created_at_min", "created_at_max", "since_id", "ids", "status", "financial_status", "fulfillment_status", "processed_at_min", "processed_at_max", "attribution_app_id"},  # noqa: E501
    "products": {"updated_at_min", "updated_at_max", "created_at_min", "created_at_max", "since_id", "ids", "status", "vendor", "handle", "product_type", "collection_id", "published_status", "published_at_min", "published_at_max", "presentment_currencies", "title"},  # noqa: E501
    "events": {"filter", "verb", "created_at_min", "created_at_max", "since_id"},
}  # fmt: skip
BAD_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
THROTTLED = (
    "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted "
    "service."
)
START = datetime(2025, 1, 1, tzinfo=UTC)
SHOP_ZONE = timezone(timedelta(hours=-5))  # the shop's own zone, as Shopify stamps rows


class Refused(Exception):
    def __init__(self, status: int, errors: Any, headers: dict[str, str] | None = None) -> None:
        self.status, self.errors, self.headers = status, errors, headers or {}


@dataclass
class Row:
    id: int
    updated: float  # epoch seconds of updated_at
    created: float
    state: str  # orders: open, closed or cancelled; products: their status
    body: bytes  # the row as Shopify's JSON


@dataclass
class Table:
    rows: dict[int, Row] = field(default_factory=dict)
    ids: list[int] = field(default_factory=list)  # sorted keys of rows

    def put(self, row: Row) -> None:
        if row.id not in self.rows:
            bisect.insort(self.ids, row.id)
        self.rows[row.id] = row

    def remove(self, row_id: int) -> None:
        del self.rows[row_id]
        self.ids.pop(bisect.bisect_left(self.ids, row_id))


@dataclass
class Shop:
    """One shop's data, its bucket, and what the tests read back."""

    token: str
    bucket_size: int = 40
    leak_per_second: float = 2.0
    tables: dict[str, Table] = field(default_factory=lambda: {r: Table() for r in RESOURCES})
    events: Table = field(default_factory=Table)
    faults: list[int | str | None] = field(default_factory=list)  # None: answer normally
    fail_after_pages: int | None = None
    pages_served: int = 0
    requests: int = 0
    throttled: int = 0  # 429s answered (a full bucket or a fault)
    bucket_refusals: int = 0  # 429s of a full bucket alone
    peak_bucket: float = 0.0
    refused: list[tuple[int, str]] = field(default_factory=list)  # (status, path) of 4xx
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)
    _level: float = 0.0
    _drained_at: float = field(default_factory=time.monotonic)
    _next_id: int = 20_000_000_000  # above the generated ids: new rows sort last, as in Shopify

    # -- hooks for tests --------------------------------------------------------------------

    def record(self, resource: str, row_id: int) -> dict[str, Any]:
        return dict(orjson.loads(self.tables[resource].rows[row_id].body))

    def count(self, resource: str) -> int:
        return len(self.tables[resource].rows)

    def add(self, resource: str, item: dict[str, Any]) -> int:
        """Store a row (a new id unless it has one); its timestamps default to now."""
        with self.lock:
            if "id" not in item:
                self._next_id += 1
                item["id"] = self._next_id
            now = _stamp(_now())
            item.setdefault("created_at", now)
            item.setdefault("updated_at", now)
            self.tables[resource].put(_row(resource, item))
            return int(item["id"])

    def update(self, resource: str, row_id: int, **changes: Any) -> dict[str, Any]:
        """Change fields of a row; updated_at moves to now unless given."""
        item = self.record(resource, row_id)
        item.update(changes)
        if "updated_at" not in changes:
            item["updated_at"] = _stamp(_now())
        with self.lock:
            self.tables[resource].put(_row(resource, item))
        return item

    def delete(self, resource: str, row_id: int) -> None:
        """Remove a row; orders and products leave a `destroy` event, customers nothing."""
        with self.lock:
            self.tables[resource].remove(row_id)
            if resource in SUBJECTS:
                self._next_id += 1
                now = _now()
                event = {
                    "id": self._next_id,
                    "subject_id": row_id,
                    "created_at": _stamp(now),
                    "subject_type": SUBJECTS[resource],
                    "verb": "destroy",
                    "arguments": [],
                    "body": None,
                    "message": f"{SUBJECTS[resource]} {row_id} was deleted.",
                    "author": "Shopify",
                    "description": f"{SUBJECTS[resource]} was deleted.",
                    "path": f"/admin/{resource}/{row_id}",
                }
                self.events.put(
                    Row(
                        event["id"],
                        now.timestamp(),
                        now.timestamp(),
                        "destroy",
                        orjson.dumps(event),
                    )
                )

    # -- the API ----------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: Any) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            self.requests += 1
            parts = urlsplit(target)
            try:
                out = self._answer(method, parts.path, parts.query, headers)
            except Refused as err:
                if err.status != 429:
                    self.refused.append((err.status, parts.path))
                return err.status, err.headers, orjson.dumps({"errors": err.errors})
            return out

    def _answer(
        self, method: str, path: str, query_text: str, headers: Any
    ) -> tuple[int, dict[str, str], bytes]:
        if headers.get("X-Shopify-Access-Token") != self.token:
            raise Refused(401, BAD_TOKEN)
        segments = path.strip("/").split("/")
        if len(segments) != 4 or segments[:2] != ["admin", "api"] or method != "GET":
            raise Refused(404, "Not Found")
        version, endpoint = segments[2], segments[3]
        if version not in VERSIONS:
            raise Refused(404, "Not Found")
        name = endpoint.removesuffix(".json")
        if not endpoint.endswith(".json") or name not in FILTERS:
            raise Refused(404, "Not Found")
        limit_header = self._take_from_bucket()
        answer_headers = {
            "X-Shopify-Shop-Api-Call-Limit": limit_header,
            "X-Shopify-API-Version": version,
        }
        if self.fail_after_pages is not None and self.pages_served >= self.fail_after_pages:
            return 503, answer_headers, b'{"errors":"Service Unavailable"}'
        fault = self.faults.pop(0) if self.faults else None
        if fault is not None:
            if fault == "malformed":
                self.pages_served += 1
                return 200, answer_headers, b'{"' + name.encode() + b'": [{"id": 1, "upd'
            if fault == "drop":
                return -1, {}, b""
            if fault == 429:
                self.throttled += 1
                raise Refused(
                    429,
                    THROTTLED,
                    {**answer_headers, "Retry-After": "0.1"},
                )
            return int(fault), answer_headers, b'{"errors":"Internal Server Error"}'
        query = {k: v[-1] for k, v in parse_qs(query_text, keep_blank_values=True).items()}
        body, link = self._page(name, query, version)
        if link:
            answer_headers["Link"] = link
        self.pages_served += 1
        return 200, answer_headers, body

    def _take_from_bucket(self) -> str:
        now = time.monotonic()
        self._level = max(0.0, self._level - (now - self._drained_at) * self.leak_per_second)
        self._drained_at = now
        if self._level + 1 > self.bucket_size:
            self.throttled += 1
            self.bucket_refusals += 1
            wait = (self._level + 1 - self.bucket_size) / self.leak_per_second
            raise Refused(
                429,
                THROTTLED,
                {
                    "Retry-After": f"{max(wait, 0.01):.2f}",
                    "X-Shopify-Shop-Api-Call-Limit": f"{self.bucket_size}/{self.bucket_size}",
                },
            )
        self._level += 1
        self.peak_bucket = max(self.peak_bucket, self._level)
        return f"{int(self._level + 0.999)}/{self.bucket_size}"

    def _page(self, name: str, query: dict[str, str], version: str) -> tuple[bytes, str]:
        limit = _limit(query.get("limit"))
        if "page_info" in query:
            extra = sorted(set(query) - PAGE_ONLY)
            if extra:
                raise Refused(
                    400, {extra[0]: f"{extra[0]} cannot be passed when page_info is present."}
                )
            filters, after, direction = _decode(query["page_info"])
        else:
            unknown = sorted(set(query) - FILTERS[name] - {"limit", "fields"})
            if unknown:
                raise Refused(400, {unknown[0]: "is not a supported parameter."})
            filters, after, direction = {k: v for k, v in query.items() if k != "limit"}, 0, "next"
        table = self.events if name == "events" else self.tables[name]
        keep = _matcher(name, filters)
        if direction == "next":
            start = bisect.bisect_right(table.ids, after)
            picked = _scan(table, range(start, len(table.ids)), keep, limit + 1)
        else:
            start = bisect.bisect_left(table.ids, after)
            picked = _scan(table, range(start - 1, -1, -1), keep, limit + 1)[::-1]
        more = len(picked) > limit
        rows = (picked[:limit] if direction == "next" else picked[-limit:]) if more else picked
        links = []
        base = f"{self.url}/admin/api/{version}/{name}.json"
        if rows and (more or direction == "previous"):
            token = _encode(filters, rows[-1].id, "next")
            links.append(f'<{base}?{urlencode({"limit": limit, "page_info": token})}>; rel="next"')
        if rows and ((direction == "next" and after > 0) or (direction == "previous" and more)):
            token = _encode(filters, rows[0].id, "previous")
            links.insert(
                0, f'<{base}?{urlencode({"limit": limit, "page_info": token})}>; rel="previous"'
            )
        key = name.encode()
        return b'{"' + key + b'":[' + b",".join(r.body for r in rows) + b"]}", ", ".join(links)


def _scan(table: Table, positions: range, keep: Any, wanted: int) -> list[Row]:
    out = []
    for i in positions:
        row = table.rows[table.ids[i]]
        if keep(row):
            out.append(row)
            if len(out) == wanted:
                break
    return out


def _matcher(name: str, filters: dict[str, str]) -> Any:
    def bound(key: str) -> float | None:
        if key not in filters:
            return None
        try:
            return datetime.fromisoformat(filters[key].replace("Z", "+00:00")).timestamp()
        except ValueError as err:
            raise Refused(400, {key: "must be a valid ISO 8601 date and time."}) from err

    u_min, u_max = bound("updated_at_min"), bound("updated_at_max")
    c_min, c_max = bound("created_at_min"), bound("created_at_max")
    status = filters.get("status", "open" if name == "orders" else "")
    since = int(filters.get("since_id") or 0)
    subjects = set(filters.get("filter", "").split(",")) - {""}
    verb = filters.get("verb")
    if name == "orders" and status not in ("open", "closed", "cancelled", "any"):
        raise Refused(400, {"status": "must be one of open, closed, cancelled, any."})

    def keep(row: Row) -> bool:
        if row.id <= since:
            return False
        if (u_min is not None and row.updated < u_min) or (
            u_max is not None and row.updated > u_max
        ):
            return False
        if (c_min is not None and row.created < c_min) or (
            c_max is not None and row.created > c_max
        ):
            return False
        if name == "orders" and status != "any" and row.state != status:
            return False
        if name == "products" and status and row.state != status:
            return False
        if name == "events":
            if verb and row.state != verb:
                return False
            if subjects and orjson.loads(row.body)["subject_type"] not in subjects:
                return False
        return True

    return keep


def _limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_LIMIT
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise Refused(400, {"limit": f"must be between 1 and {MAX_LIMIT}."})
    return int(text)


def _encode(filters: dict[str, str], last_id: int, direction: str) -> str:
    raw = orjson.dumps({"f": filters, "last_id": last_id, "direction": direction})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(token: str) -> tuple[dict[str, str], int, str]:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        return dict(data["f"]), int(data["last_id"]), str(data["direction"])
    except (ValueError, KeyError, TypeError) as err:
        raise Refused(400, {"page_info": "Invalid value."}) from err


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _stamp(moment: datetime) -> str:
    """Shopify's timestamps: seconds, in the shop's zone (here -05:00)."""
    return moment.astimezone(SHOP_ZONE).isoformat()


def _parse(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def _row(resource: str, item: dict[str, Any]) -> Row:
    if resource == "orders":
        state = (
            "cancelled"
            if item.get("cancelled_at")
            else "closed"
            if item.get("closed_at")
            else "open"
        )
    else:
        state = str(item.get("status") or "")
    return Row(
        int(item["id"]),
        _parse(item["updated_at"]),
        _parse(item["created_at"]),
        state,
        orjson.dumps(item),
    )


# -- generated shops --------------------------------------------------------------------------

FIRST = ["Ada", "Ben", "Chloé", "Dev", "Eva", "Femi", "Gus", "Hana", "Ivo", "Jo", "Kai", "Lea"]
LAST = ["Smith", "Okafor", "Müller", "Rossi", "Tanaka", "Silva", "Novak", "Kim", "Dubois"]
COUNTRIES = ["US", "GB", "DE", "FR", "CA", "AU", "NL", "SE", None]
PRODUCTS = ["Tee", "Hoodie", "Cap", "Mug", "Sticker", "Tote", "Socks", "Poster"]


def generate(shop: Shop, customers: int, orders: int, products: int = 50, seed: int = 7) -> None:
    """A shop of `customers`, `orders` (about a tenth refunded in part, a few cancelled) and
    `products`, with timestamps over 2025 and ids in Shopify's range."""
    rng = random.Random(seed)
    span = 330 * 86_400
    tables = shop.tables
    catalogue = []
    for p in range(products):
        pid = 7_000_000_000 + p
        created = START + timedelta(seconds=rng.randrange(0, span // 4))
        variants = [
            {
                "id": 40_000_000_000 + p * 10 + v,
                "product_id": pid,
                "title": size,
                "price": f"{rng.randrange(5, 80)}.{rng.choice(['00', '50', '99'])}",
                "sku": f"SKU-{p}-{size}",
                "inventory_quantity": rng.randrange(0, 500),
            }
            for v, size in enumerate(rng.sample(["S", "M", "L", "XL"], rng.randint(1, 3)))
        ]
        item = {
            "id": pid,
            "title": f"{rng.choice(PRODUCTS)} {p}",
            "handle": f"product-{p}",
            "vendor": rng.choice(["Acme", "Northwind", "Globex"]),
            "product_type": rng.choice(["Apparel", "Home", "Accessories"]),
            "status": rng.choice(["active"] * 8 + ["draft", "archived"]),
            "created_at": _stamp(created),
            "updated_at": _stamp(created + timedelta(seconds=rng.randrange(0, span // 2))),
            "published_at": _stamp(created),
            "tags": "",
            "variants": variants,
        }
        catalogue.append(item)
        tables["products"].put(_row("products", item))
    people = []
    for c in range(customers):
        cid = 6_000_000_000 + c
        created = START + timedelta(seconds=rng.randrange(0, span))
        first, last = rng.choice(FIRST), rng.choice(LAST)
        country = rng.choice(COUNTRIES)
        item = {
            "id": cid,
            "email": f"{first.lower()}.{last.lower()}.{c}@example.com",
            "phone": f"+1555{c:07d}" if rng.random() < 0.6 else None,
            "first_name": first,
            "last_name": last,
            "state": "enabled",
            "orders_count": 0,
            "total_spent": "0.00",
            "currency": "USD",
            "tags": "",
            "created_at": _stamp(created),
            "updated_at": _stamp(created),
            "email_marketing_consent": {
                "state": rng.choice(["subscribed", "not_subscribed", "unsubscribed"]),
                "opt_in_level": "single_opt_in",
                "consent_updated_at": _stamp(created),
            },
            "default_address": (
                {
                    "id": 9_000_000_000 + c,
                    "customer_id": cid,
                    "country_code": country,
                    "city": "Springfield",
                    "default": True,
                }
                if country
                else None
            ),
        }
        people.append((item, created))
    spent = [0.0] * customers
    counts = [0] * customers
    last_order = [people[i][1] for i in range(customers)]
    for o in range(orders):
        ci = rng.randrange(customers) if customers else None
        created = START + timedelta(seconds=rng.randrange(0, span))
        lines = []
        for n in range(rng.choice([1, 1, 2, 2, 3])):
            product = rng.choice(catalogue)
            variant = rng.choice(product["variants"])
            lines.append({
                "id": 30_000_000_000 + o * 4 + n, "product_id": product["id"],
                "variant_id": variant["id"], "title": product["title"],
                "quantity": rng.randint(1, 3), "price": variant["price"], "sku": variant["sku"],
            })  # fmt: skip
        total = round(sum(float(li["price"]) * li["quantity"] for li in lines), 2)
        refunds = []
        status = "paid"
        if rng.random() < 0.1:
            amount = round(total * rng.choice([0.25, 0.5, 1.0]), 2)
            when = _stamp(created + timedelta(days=3))
            refunds.append({
                "id": 80_000_000_000 + o, "order_id": 5_000_000_000 + o, "created_at": when,
                "transactions": [{"id": 90_000_000_000 + o, "kind": "refund",
                                  "status": "success", "amount": f"{amount:.2f}",
                                  "currency": "USD"}],
            })  # fmt: skip
            status = "refunded" if amount == total else "partially_refunded"
        cancelled = rng.random() < 0.02
        updated = created + timedelta(days=3 if refunds else 0, seconds=rng.randrange(0, 600))
        customer = people[ci][0] if ci is not None else None
        item = {
            "id": 5_000_000_000 + o,
            "email": customer["email"] if customer else None,
            "phone": customer["phone"] if customer else None,
            "name": f"#{1001 + o}",
            "currency": "USD",
            "total_price": f"{total:.2f}",
            "subtotal_price": f"{total:.2f}",
            "financial_status": "voided" if cancelled else status,
            "fulfillment_status": None,
            "cancelled_at": _stamp(updated) if cancelled else None,
            "closed_at": None,
            "processed_at": _stamp(created),
            "created_at": _stamp(created),
            "updated_at": _stamp(updated),
            "customer": {"id": customer["id"], "email": customer["email"]} if customer else None,
            "line_items": lines,
            "refunds": refunds,
        }
        tables["orders"].put(_row("orders", item))
        if ci is not None and not cancelled:
            counts[ci] += 1
            spent[ci] += total
            last_order[ci] = max(last_order[ci], updated)
    for i, (item, _) in enumerate(people):
        item["orders_count"] = counts[i]
        item["total_spent"] = f"{spent[i]:.2f}"
        item["updated_at"] = _stamp(last_order[i])
        tables["customers"].put(_row("customers", item))


def serve(shop: Shop, port: int = 0) -> ThreadingHTTPServer:
    def handle(method: str, target: str, headers: Any, body: bytes) -> Answer:
        return shop.handle(method, target, headers)

    server = channel_server.serve(handle, "application/json; charset=utf-8", port)
    shop.url = url_of(server)
    return server


@contextmanager
def shopify_server(token: str, **options: Any) -> Iterator[Shop]:
    shop = Shop(token, **options)
    with running(serve(shop)):
        yield shop


def main() -> None:
    parser = argparse.ArgumentParser(description="A local Shopify Admin REST API for demos.")
    parser.add_argument("--port", type=int, default=8093)
    parser.add_argument("--token", default="shpat_demo", help="the access token it accepts")
    parser.add_argument("--customers", type=int, default=2_000)
    parser.add_argument("--orders", type=int, default=5_000)
    parser.add_argument("--products", type=int, default=50)
    parser.add_argument("--bucket", type=int, default=40, help="leaky bucket size")
    parser.add_argument("--leak", type=float, default=2.0, help="requests drained per second")
    args = parser.parse_args()
    shop = Shop(args.token, bucket_size=args.bucket, leak_per_second=args.leak)
    generate(shop, args.customers, args.orders, args.products)
    server = serve(shop, args.port)
    serve_until_interrupted(
        server,
        f"Shopify fake on {shop.url} (token {args.token}; {args.customers} customers, "
        f"{args.orders} orders, {args.products} products); Ctrl-C stops it",
    )


if __name__ == "__main__":
    main()
