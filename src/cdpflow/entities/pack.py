"""The predefined shop pack: segments and a purchase funnel written into $CDPFLOW_HOME/entities
once a pipeline of type shopify (or one declaring customers and orders) exists in
$CDPFLOW_HOME/pipelines.

Each pack file is written once: $CDPFLOW_HOME/state/predefined_entities.json records every name
the pack has handled, so a file the user edited is never rewritten and one they deleted never
comes back. A name the user already had a file for is recorded and left alone.
Event names are Segment's e-commerce spec; Blotout's equivalents (add-to-cart,
initiate-checkout, transaction) count too. Blotout has no product-view event (its page loads
are page events), so the funnel's first step is Segment's Product Viewed alone.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import yaml

from cdpflow.entities.files import entity_folder, existing_file, write_atomically
from cdpflow.settings import Settings

log = logging.getLogger(__name__)
MARK = "# predefined by cdpflow (shop pack): edit or delete freely; it is never rewritten.\n"
STATE_FILE = "predefined_entities.json"
SHOP_RESOURCES = {"customers", "orders"}  # a pipeline declaring both is a shop

VIEWED = ["Product Viewed"]
ADDED = ["Product Added", "add-to-cart"]
CHECKOUT = ["Checkout Started", "initiate-checkout"]
ORDERED = ["Order Completed", "transaction"]


def _did(names: list[str], **extra: object) -> dict[str, object]:
    """A behaviour over any of `names` (Segment's name and Blotout's)."""
    return {"event": "*", "where": {"event_name": {"in": names}}, **extra}


def _step(label: str, names: list[str]) -> dict[str, object]:
    return {"event": "*", "name": label, "where": {"event_name": {"in": names}}}


PACK: dict[str, dict[str, object]] = {
    "buyers": {
        "kind": "segment",
        "description": "Ordered at least once",
        "conditions": [_did(ORDERED)],
    },
    "repeat_buyers": {
        "kind": "segment",
        "description": "Ordered at least twice",
        "conditions": [_did(ORDERED, count={"at_least": 2})],
    },
    "high_value_customers": {
        "kind": "segment",
        "description": "The top decile of customers by revenue",
        # the 90th percentile, not ntile(10): people tied at the edge are all in, every run
        "sql": (
            "select global_user_id from customer_360 where revenue > 0 and revenue >= "
            "(select quantile_cont(revenue, 0.9) from customer_360 where revenue > 0)"
        ),
    },
    "lapsed_customers": {
        "kind": "segment",
        "description": "Ordered before, but not in the last 90 days",
        "conditions": [_did(ORDERED), {"not": _did(ORDERED, within_days=90)}],
    },
    "cart_abandoners": {
        "kind": "segment",
        "description": "Added a product in the last 7 days and ordered nothing since",
        "sql": (
            "select global_user_id from unique_events where global_user_id is not null "
            "group by global_user_id having "
            "max(event_time) filter (where lower(event_name) in ('product added', 'add-to-cart')) "
            ">= now() - interval 7 day and coalesce(max(event_time) filter (where "
            "lower(event_name) in ('order completed', 'transaction')), timestamptz '1970-01-01') "
            "< max(event_time) filter (where lower(event_name) in ('product added', 'add-to-cart'))"
        ),
    },
    "browsed_never_bought": {
        "kind": "segment",
        "description": "Viewed a product, never ordered",
        "conditions": [_did(VIEWED), {"not": _did(ORDERED)}],
    },
    "purchase": {
        "kind": "funnel",
        "description": "Product viewed, added, checkout, order within 7 days",
        "steps": [
            _step("Product Viewed", VIEWED),
            _step("Product Added", ADDED),
            _step("Checkout Started", CHECKOUT),
            _step("Order Completed", ORDERED),
        ],
        "window_days": 7,
        "order": "sequential",
    },
}


def shop_pipeline(settings: Settings) -> Path | None:
    """The first pipeline file of type shopify, or declaring resources named customers and
    orders; reads only its top-level `type` and its resources' names."""
    folder = settings.home / "pipelines"
    if not folder.is_dir():
        return None
    for path in sorted(folder.iterdir()):
        if path.suffix not in (".yml", ".yaml") or not path.is_file():
            continue
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue  # the pipeline's own job reports a broken file
        if isinstance(raw, dict) and (
            raw.get("type") == "shopify" or _resource_names(raw) >= SHOP_RESOURCES
        ):
            return path
    return None


def _resource_names(pipeline: dict[str, object]) -> set[str]:
    """The names of a pipeline file's resources, as a list of mappings or a mapping by name."""
    resources = pipeline.get("resources")
    if isinstance(resources, dict):
        return {str(name) for name in resources}
    if isinstance(resources, list):
        return {str(r["name"]) for r in resources if isinstance(r, dict) and "name" in r}
    return set()


def pack_text(name: str) -> str:
    body = {"kind": PACK[name]["kind"], "name": name}
    body.update({k: v for k, v in PACK[name].items() if k != "kind"})
    return MARK + yaml.safe_dump(body, sort_keys=False, allow_unicode=True)


def state_path(settings: Settings) -> Path:
    return settings.home / "state" / STATE_FILE


def handled(settings: Settings) -> dict[str, str]:
    """name -> what the pack did with it (written, or kept: the user had a file already)."""
    path = state_path(settings)
    if not path.exists():
        return {}
    data: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    return data


def install_pack(settings: Settings) -> list[str]:
    """Write the pack's files not handled before, if a shop pipeline exists; the names written."""
    if shop_pipeline(settings) is None:
        return []
    record = handled(settings)
    folder = entity_folder(settings)
    written = []
    for name in PACK:
        if name in record:
            continue
        if existing_file(settings, name) is not None:
            record[name] = "kept"
            continue
        write_atomically(folder / f"{name}.yml", pack_text(name))
        record[name] = "written"
        written.append(name)
    write_atomically(state_path(settings), json.dumps(record, indent=2, sort_keys=True))
    if written:
        log.info("wrote the predefined shop entities %s", ", ".join(written))
    return written
