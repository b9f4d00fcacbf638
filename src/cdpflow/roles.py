"""The roles an offline table can play for the analytics (`role: orders`, `role: customers` in an
ELT pipeline file): each role's standard fields, where the analytics find them, and a table
playing one. Shared by the ELT pipelines (which declare roles), the analytics job (which exposes
each role as one relation of the standard fields, `lake.offline_orders` and
`lake.offline_customers`, the union of every table declaring it) and the engine (which writes
that relation's SQL).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# What a resource may be to the rest of cdpflow (`role:`): its standard fields, each with the
# source column it is read from unless `fields:` says otherwise (Shopify's landed columns).
# Orders count as purchases in conversions and customer_360; customers give customer_360 its
# names, country and consent.
ROLES: Mapping[str, Mapping[str, str]] = {
    "orders": {
        "order_id": "id",
        "customer_id": "customer_id",
        "email": "email",
        "phone": "phone",
        "total": "total_price",
        "refunded": "total_refunded",
        "currency": "currency",
        "status": "financial_status",
        "ordered_at": "processed_at",
        "cancelled_at": "cancelled_at",
    },
    "customers": {
        "customer_id": "id",
        "email": "email",
        "phone": "phone",
        "first_name": "first_name",
        "last_name": "last_name",
        "country": "country_code",
        "accepts_marketing": "accepts_marketing",
    },
}

# the lake source of each role, as the dbt project names it (staging/__sources.yml)
ROLE_SOURCES = {"orders": "offline_orders", "customers": "offline_customers"}
# the key field of each role: a table without its column cannot play the role
KEY_FIELD = {"orders": "order_id", "customers": "customer_id"}


@dataclass(frozen=True)
class RoleTable:
    """One lake table playing a role: its field -> source column, and the identifier type its
    customer_id has in identities (from the identity mapping; None when it names none)."""

    table: str
    fields: Mapping[str, str]
    customer_id_type: str | None = None
