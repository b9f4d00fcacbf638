"""Which identifiers count, and how offline tables declare theirs: the identity mapping.

The mapping is a YAML file (`CDPFLOW_ID_MAPPING_FILE`, else `$CDPFLOW_HOME/identity.yaml`, else
the built-in mapping of the sample shop export):

```yaml
sources:                      # offline (ELT) tables; identifiers on one record are linked
  - name: shop_customers
    path: imports/shop/customers.csv      # relative to CDPFLOW_HOME; .csv or .parquet
    seen_at: created_at                   # when the record was true (default: file time)
    columns:                              # column -> identifier type (or a list of types)
      customer_id: [shop_customer_id, user_id]
      email: email
      phone: phone
  - table: crm__contacts                  # or a lake table (an ELT pipeline's), instead of path
    columns: {contact_id: crm_contact_id, email: email}
map_providers: {shopify: shop_customer_id}  # Blotout map_id provider -> identifier type
caps: {user_id: 10, email: 5}             # max links to one type before an id is held out
blocklist: [guest@shop.example]           # values that never link people
```

The storefront logs shoppers in with their shop customer id (Segment `userId`, Blotout
`persona_id`), and Blotout reports it again as `map_id` of provider `shopify`: so by default the
export's `customer_id` is both a `shop_customer_id` and a `user_id`, and shopify map ids are
`shop_customer_id`s.

A pipeline of type shopify brings its own entries for its customers and orders tables, unless
the mapping already names those tables (`cdpflow.elt.identity_sources`, which the jobs use to
load the mapping a deployment has).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cdpflow.errors import ConfigError
from cdpflow.settings import Settings

UNCAPPED_TYPES = frozenset({"anonymous_id", "gclid", "fbclid", "msclkid", "ttclid"})
_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_TABLE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,126}$")


@dataclass(frozen=True)
class OfflineSource:
    """One offline table: where it is (a file path or glob, or a lake table) and which column
    holds which identifier types."""

    name: str
    path: Path | None
    columns: Mapping[str, tuple[str, ...]]
    seen_at: str | None = None
    table: str | None = None  # a lake table, e.g. an ELT pipeline's `shop__customers`


@dataclass(frozen=True)
class IdentityConfig:
    """Everything the stitching needs to know besides the data."""

    sources: tuple[OfflineSource, ...] = ()
    map_providers: Mapping[str, str] = field(default_factory=dict)
    click_ids: tuple[str, ...] = ()
    blocklist: frozenset[str] = frozenset()
    caps: Mapping[str, int | None] = field(default_factory=dict)
    default_cap: int = 10

    def cap_for(self, identifier_type: str) -> int | None:
        """Most identifiers of this type one identifier may link to; None for no limit."""
        if identifier_type in self.caps:
            return self.caps[identifier_type]
        return None if identifier_type in UNCAPPED_TYPES else self.default_cap

    def map_type(self, provider: str) -> str:
        """Identifier type of a Blotout map id from `provider` (the provider's own name)."""
        key = re.sub(r"[^a-z0-9_]+", "_", provider.strip().lower()).strip("_")
        return self.map_providers.get(key) or key or "map_id"


DEFAULT_MAPPING: dict[str, Any] = {
    "sources": [
        {
            "name": "shop_customers",
            "path": "imports/shop/customers.csv",
            "seen_at": "created_at",
            "columns": {
                "customer_id": ["shop_customer_id", "user_id"],
                "email": "email",
                "phone": "phone",
            },
        },
        {
            "name": "shop_orders",
            "path": "imports/shop/orders.csv",
            "seen_at": "created_at",
            "columns": {"customer_id": ["shop_customer_id", "user_id"], "email": "email"},
        },
    ],
    "map_providers": {"shopify": "shop_customer_id"},
}


def load_identity_config(settings: Settings) -> IdentityConfig:
    """The identity mapping the deployment's file (or the built-in default) declares; the entries
    shopify pipelines bring are added by `cdpflow.elt.identity_sources.identity_config`.

    Raises:
        ConfigError: the mapping file is missing or malformed, naming the entry.
    """
    if settings.id_mapping_file:
        path = Path(settings.id_mapping_file)
        if not path.is_absolute():
            path = settings.home / path
        if not path.exists():
            raise ConfigError("CDPFLOW_ID_MAPPING_FILE", str(path), "an existing YAML file")
        raw = _read(path)
    elif (settings.home / "identity.yaml").exists():
        raw = _read(settings.home / "identity.yaml")
    else:
        raw = DEFAULT_MAPPING
    return parse_identity_config(raw, settings)


def parse_identity_config(raw: Mapping[str, Any], settings: Settings) -> IdentityConfig:
    unknown = set(raw) - {"sources", "map_providers", "caps", "blocklist"}
    if unknown:
        name = sorted(unknown)[0]
        raise ConfigError(
            f"identity mapping: {name}",
            raw[name],
            "a known key (sources, map_providers, caps, blocklist)",
        )
    sources = [
        _source(entry, f"identity mapping: sources[{i}]", settings)
        for i, entry in enumerate(raw.get("sources") or [])
    ]
    names = [s.name for s in sources]
    doubled = sorted({n for n in names if names.count(n) > 1})
    if doubled:
        raise ConfigError("identity mapping: sources", doubled[0], "each source named once")
    providers = {}
    for provider, t in dict(raw.get("map_providers") or {}).items():
        _check_type(f"identity mapping: map_providers.{provider}", t)
        providers[str(provider).strip().lower()] = str(t)
    caps: dict[str, int | None] = {}
    for t, cap in dict(raw.get("caps") or {}).items():
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
            raise ConfigError(f"identity mapping: caps.{t}", cap, "a whole number >= 1, or null")
        caps[str(t)] = cap
    blocklist = frozenset(str(v) for v in (raw.get("blocklist") or ())) | frozenset(
        settings.id_blocklist
    )
    return IdentityConfig(
        sources=tuple(sources),
        map_providers=providers,
        click_ids=settings.id_click_ids,
        blocklist=blocklist,
        caps=caps,
        default_cap=settings.id_max_links,
    )


def _source(entry: Any, where: str, settings: Settings) -> OfflineSource:
    """One `sources` entry: a file (`path`) or a lake table (`table`), and its `columns`."""
    if not isinstance(entry, Mapping) or not entry.get("columns"):
        raise ConfigError(where, entry, "a mapping with `path` or `table`, and `columns`")
    unknown = sorted(set(entry) - {"name", "path", "table", "seen_at", "columns"})
    if unknown:
        raise ConfigError(
            f"{where}.{unknown[0]}", entry[unknown[0]], "one of name, path, table, seen_at, columns"
        )
    if bool(entry.get("path")) == bool(entry.get("table")):
        raise ConfigError(
            where, entry, "exactly one of `path` (a file or glob) or `table` (a lake table)"
        )
    if not isinstance(entry["columns"], Mapping):
        raise ConfigError(f"{where}.columns", entry["columns"], "a mapping column -> type(s)")
    columns = {}
    for column, types in dict(entry["columns"]).items():
        listed = (types,) if isinstance(types, str) else tuple(types or ())
        if not listed:
            raise ConfigError(f"{where}.columns.{column}", types, "an identifier type or a list")
        for t in listed:
            _check_type(f"{where}.columns.{column}", t)
        columns[str(column)] = tuple(str(t) for t in listed)
    seen_at = str(entry["seen_at"]) if entry.get("seen_at") else None
    if entry.get("table"):
        table = entry["table"]
        if not isinstance(table, str) or not _TABLE.match(table):
            raise ConfigError(f"{where}.table", table, "a lake table name such as shop__customers")
        return OfflineSource(str(entry.get("name") or table), None, columns, seen_at, table=table)
    path = Path(str(entry["path"])).expanduser()
    return OfflineSource(
        name=str(entry.get("name") or path.stem),
        path=path if path.is_absolute() else settings.home / path,
        columns=columns,
        seen_at=seen_at,
    )


def _check_type(where: str, value: Any) -> None:
    if not isinstance(value, str) or not _TYPE.match(value):
        raise ConfigError(where, value, "an identifier type such as `email` (a-z, 0-9, _)")


def _read(path: Path) -> Mapping[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(str(path), "(file)", f"valid YAML: {err}") from err
    if not isinstance(data, Mapping):
        raise ConfigError(str(path), type(data).__name__, "a mapping with `sources`")
    return data
