"""Type `shopify`: a shop's customers, orders and products through Shopify's Admin REST API.

The requests, their pagination, pacing and errors are `shopify_api`'s; this module is what a
pipeline asks for and what lands: the pipeline file's keys, the resources' columns, the
incremental state and the deletes. Orders are asked for with `status=any` (open, closed and
cancelled).

Incremental: a resource's state is the newest `updated_at` it has landed; a run asks for
`updated_at_min` = that value (inclusive, so rows of that very second are read again and the
primary-key merge keeps one) and `updated_at_max` = the run's start, so a row updated while the
run pages is left to the next run instead of being skipped by a state that passed it.

Deletes: Shopify's REST API reports deleted orders and products only as `destroy` events
(`events.json?filter=Order&verb=destroy`); a resource with a `deletes` column (the defaults
have `_deleted`) reads them from its delete state on and lands each as its id, deleted at the
event's time. Deleted customers are not reported by the REST API at all: they stay in the table.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from cdpflow.elt.config import Check, Pipeline, Resource, Source
from cdpflow.elt.prefetch import prefetched
from cdpflow.elt.shopify_api import MalformedPage, ShopifyApi
from cdpflow.errors import TerminalError

PIPELINE_KEYS = frozenset({"shop", "token_secret", "api_base_url"})
RESOURCE_KEYS: frozenset[str] = frozenset()
DELETED = "_deleted"  # the defaults' deletes column
EVENT_SUBJECTS = {"orders": "Order", "products": "Product"}  # resources with destroy events
SHOP = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")

TIMESTAMP = pa.timestamp("us", tz="UTC")
SCHEMAS: Mapping[str, pa.Schema] = {
    "customers": pa.schema(
        [
            ("id", pa.int64()),
            ("email", pa.string()),
            ("phone", pa.string()),
            ("first_name", pa.string()),
            ("last_name", pa.string()),
            ("country_code", pa.string()),
            ("accepts_marketing", pa.bool_()),
            ("orders_count", pa.int64()),
            ("total_spent", pa.float64()),
            ("created_at", TIMESTAMP),
            ("updated_at", TIMESTAMP),
        ]
    ),
    "orders": pa.schema(
        [
            ("id", pa.int64()),
            ("customer_id", pa.int64()),
            ("email", pa.string()),
            ("phone", pa.string()),
            ("name", pa.string()),
            ("currency", pa.string()),
            ("total_price", pa.float64()),
            ("total_refunded", pa.float64()),
            ("financial_status", pa.string()),
            ("cancelled_at", TIMESTAMP),
            ("processed_at", TIMESTAMP),
            ("created_at", TIMESTAMP),
            ("updated_at", TIMESTAMP),
            ("line_items", pa.string()),
            ("refunds", pa.string()),
        ]
    ),
    "products": pa.schema(
        [
            ("id", pa.int64()),
            ("title", pa.string()),
            ("handle", pa.string()),
            ("vendor", pa.string()),
            ("product_type", pa.string()),
            ("status", pa.string()),
            ("created_at", TIMESTAMP),
            ("updated_at", TIMESTAMP),
            ("variants", pa.string()),
        ]
    ),
}
RESOURCES = tuple(SCHEMAS)


def check_pipeline(data: Mapping[str, Any], check: Check) -> dict[str, Any]:
    shop = data.get("shop")
    if not isinstance(shop, str) or not SHOP.fullmatch(shop.strip().lower()):
        raise check.fail(
            "shop", f"must be the shop's admin host such as my-shop.myshopify.com, got {shop!r}"
        )
    token_secret = check.secret_name(
        "token_secret", data.get("token_secret", f"{check.path.stem}_token")
    )
    base = data.get("api_base_url", f"https://{shop.strip().lower()}")
    if not isinstance(base, str) or not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", base):
        raise check.fail("api_base_url", f"must be an http(s) URL, got {base!r}")
    return {"shop": shop.strip().lower(), "token_secret": token_secret, "api_base_url": base}


def check_resource(item: Mapping[str, Any], key: str, check: Check) -> dict[str, Any]:
    if item.get("name") not in RESOURCES:
        raise check.fail(
            f"{key}.name", f"a shopify resource is one of {', '.join(RESOURCES)}, got "
            f"{item.get('name')!r}",
        )  # fmt: skip
    deletes = item.get("deletes")
    if deletes is not None and item["name"] not in EVENT_SUBJECTS:
        raise check.fail(
            f"{key}.deletes",
            f"Shopify reports no deleted {item['name']}; only orders and products have deletes",
        )
    return {}


def default_resources(options: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Customers, orders and products by id, newest `updated_at` winning; deleted orders and
    products dropped."""
    return [
        {"name": name, "primary_key": "id", "cursor": "updated_at"}
        | ({"deletes": DELETED} if name in EVENT_SUBJECTS else {})
        | ({"role": name} if name in ("customers", "orders") else {})  # customer_360's sources
        for name in RESOURCES
    ]


def extract(
    pipeline: Pipeline,
    resource: Resource,
    state: Mapping[str, Any],
    source: Source,
    emit: Callable[[pa.Table], None],
) -> dict[str, Any]:
    """Emits the rows updated since the state's `updated_at` a page at a time (then the deletes
    since its `deleted_at`), flattened to the resource's columns; returns the state after them.

    The next page is fetched while this one is flattened and staged (`prefetched`): with
    cursor pagination the requests are one after another, but the shop's time to answer and
    ours to take the answer apart need not be."""
    options = pipeline.options
    token = source.secrets.get(options["token_secret"])
    if not token:
        raise TerminalError(
            f"Pipeline `{pipeline.name}`: secret `{options['token_secret']}` (the shop's Admin "
            f"API access token) is not stored. Store it with `cdpflow secrets set "
            f"{options['token_secret']}` and re-run."
        )
    until = datetime.now(UTC).replace(microsecond=0).isoformat()
    api = ShopifyApi(pipeline, resource.name, source, token)
    with api.http:
        params: dict[str, str] = {"updated_at_max": until}
        if state.get("updated_at"):
            params["updated_at_min"] = state["updated_at"]
        if resource.name == "orders":
            params["status"] = "any"
        flatten = FLATTEN[resource.name]
        schema = SCHEMAS[resource.name]
        new_state: dict[str, Any] = {"updated_at": state.get("updated_at")}
        for page, items in enumerate(prefetched(api.pages(resource.name, params)), 1):
            try:
                rows = _columns(schema, [flatten(item) for item in items])
            except (pa.ArrowException, TypeError, ValueError, AttributeError) as err:
                raise MalformedPage(
                    pipeline.name, resource.name, f"{resource.name}.json", page, str(err)[:200]
                ) from err
            new_state["updated_at"] = _newest(rows, "updated_at", new_state)
            if resource.deletes:
                rows = rows.append_column(resource.deletes, pa.repeat(False, rows.num_rows))
            emit(rows)
        if resource.deletes:
            deleted, new_state["deleted_at"] = _deletes(api, resource, state, until)
            emit(deleted)
    return new_state


def _deletes(
    api: ShopifyApi, resource: Resource, state: Mapping[str, Any], until: str
) -> tuple[pa.Table, str | None]:
    """The ids destroyed since the state's `deleted_at`, as delete rows dated by the event."""
    assert resource.deletes is not None
    params = {"filter": EVENT_SUBJECTS[resource.name], "verb": "destroy", "created_at_max": until}
    if state.get("deleted_at"):
        params["created_at_min"] = state["deleted_at"]
    ids: list[int] = []
    stamps: list[str | None] = []
    for events in api.pages("events", params):
        for event in events:
            if event.get("verb") == "destroy" and isinstance(event.get("subject_id"), int):
                ids.append(event["subject_id"])
                stamps.append(event.get("created_at"))
    table = pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "updated_at": pa.array(stamps, pa.string()).cast(TIMESTAMP),
            resource.deletes: pa.repeat(True, len(ids)),
        }
    )
    return table, _newest(table, "updated_at", state, key="deleted_at")


def _newest(rows: pa.Table, column: str, state: Mapping[str, Any], key: str = "") -> str | None:
    """The later of the column's newest value and the state's (ISO 8601, UTC)."""
    before = state.get(key or column)
    if rows.num_rows == 0:
        return before
    newest = pc.max(rows[column]).as_py()
    if newest is None:
        return before
    text = newest.astimezone(UTC).isoformat()
    if before and datetime.fromisoformat(before) >= newest:
        return str(before)
    return str(text)


def _columns(schema: pa.Schema, records: list[tuple[Any, ...]]) -> pa.Table:
    """Rows of one page as Arrow columns of the schema (timestamps parsed from ISO 8601)."""
    columns = list(zip(*records, strict=True)) if records else [() for _ in schema]
    arrays = []
    for f, values in zip(schema, columns, strict=True):
        if pa.types.is_timestamp(f.type):
            arrays.append(pa.array(values, pa.string()).cast(f.type))
        else:
            arrays.append(pa.array(values, f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def _money(value: Any) -> float | None:
    return None if value is None or value == "" else float(value)


def _json(value: Any) -> str:
    return orjson.dumps(value if value is not None else []).decode()


def _customer(c: Mapping[str, Any]) -> tuple[Any, ...]:
    address = c.get("default_address") or {}
    consent = c.get("email_marketing_consent") or {}
    return (
        c["id"],
        c.get("email"),
        c.get("phone"),
        c.get("first_name"),
        c.get("last_name"),
        address.get("country_code"),
        consent.get("state") == "subscribed",
        c.get("orders_count"),
        _money(c.get("total_spent")),
        c.get("created_at"),
        c.get("updated_at"),
    )


def _order(o: Mapping[str, Any]) -> tuple[Any, ...]:
    refunds = o.get("refunds") or []
    refunded = sum(
        float(t.get("amount") or 0)
        for r in refunds
        for t in r.get("transactions") or []
        if t.get("kind", "refund") == "refund" and t.get("status", "success") == "success"
    )
    customer = o.get("customer") or {}
    return (
        o["id"],
        customer.get("id"),
        o.get("email"),
        o.get("phone"),
        o.get("name"),
        o.get("currency"),
        _money(o.get("total_price")),
        round(refunded, 2),
        o.get("financial_status"),
        o.get("cancelled_at"),
        o.get("processed_at"),
        o.get("created_at"),
        o.get("updated_at"),
        _json(o.get("line_items")),
        _json(refunds),
    )


def _product(p: Mapping[str, Any]) -> tuple[Any, ...]:
    return (
        p["id"],
        p.get("title"),
        p.get("handle"),
        p.get("vendor"),
        p.get("product_type"),
        p.get("status"),
        p.get("created_at"),
        p.get("updated_at"),
        _json(p.get("variants")),
    )


FLATTEN: Mapping[str, Callable[[Mapping[str, Any]], tuple[Any, ...]]] = {
    "customers": _customer,
    "orders": _order,
    "products": _product,
}
