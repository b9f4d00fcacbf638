"""What the ELT pipelines tell identity stitching: a shopify pipeline's customers and orders
tables as identity mapping entries, added to the deployment's mapping for the tables it does not
name. Shopify's ids are `shopify_customer_id`s, and Blotout map ids of provider `shopify` are too
unless the mapping maps that provider itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from cdpflow.elt.config import Pipeline, declared_pipelines
from cdpflow.identity.config import IdentityConfig, OfflineSource, load_identity_config
from cdpflow.settings import Settings

SHOPIFY_TYPE = "shopify_customer_id"
# What a shopify pipeline's tables say about identity: resource -> (seen_at, column -> types)
SHOPIFY_MAPPING: Mapping[str, tuple[str, Mapping[str, tuple[str, ...]]]] = {
    "customers": (
        "created_at",
        {"id": (SHOPIFY_TYPE,), "email": ("email",), "phone": ("phone",)},
    ),
    "orders": ("created_at", {"email": ("email",), "customer_id": (SHOPIFY_TYPE,)}),
}


def identity_config(settings: Settings) -> IdentityConfig:
    """The effective identity mapping of a deployment: its mapping file's, with the entries its
    declared shopify pipelines bring.

    Raises:
        ConfigError: the mapping file is missing or malformed, naming the entry.
    """
    return with_pipeline_sources(load_identity_config(settings), declared_pipelines(settings))


def with_pipeline_sources(config: IdentityConfig, pipelines: Iterable[Pipeline]) -> IdentityConfig:
    """`config` plus the entries of shopify pipelines for the tables it does not name."""
    named = {s.table for s in config.sources if s.table}
    added = [s for s in shopify_sources(pipelines) if s.table not in named]
    if not added:
        return config
    providers = dict(config.map_providers)
    providers.setdefault("shopify", SHOPIFY_TYPE)
    return replace(config, sources=(*config.sources, *added), map_providers=providers)


def shopify_sources(pipelines: Iterable[Pipeline]) -> list[OfflineSource]:
    """The identity mapping of each shopify pipeline's customers and orders tables."""
    out = []
    for pipeline in pipelines:
        if pipeline.type != "shopify":
            continue
        for resource in pipeline.resources:
            if resource.name not in SHOPIFY_MAPPING:
                continue
            seen_at, columns = SHOPIFY_MAPPING[resource.name]
            table = pipeline.table(resource)
            out.append(OfflineSource(table, None, dict(columns), seen_at, table=table))
    return out
