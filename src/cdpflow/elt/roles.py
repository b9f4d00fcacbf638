"""The ELT tables that play a role for the analytics (`role: orders`, `role: customers`): where
each role's standard fields are read from, and how its customer ids are typed in identities.

The analytics job exposes each role as one relation of the standard fields (`lake.offline_orders`,
`lake.offline_customers`), the union of every table declaring it, so the dbt models read one shape
whatever the source; a role no table declares is an empty relation of the same columns.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from cdpflow.elt.config import ROLES, role_tables
from cdpflow.errors import ConfigError
from cdpflow.identity.config import load_identity_config
from cdpflow.settings import Settings

log = logging.getLogger(__name__)
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


def role_sources(settings: Settings) -> dict[str, list[RoleTable]]:
    """Every role with the tables declaring it (an empty list when none does)."""
    try:
        sources = load_identity_config(settings).sources
    except ConfigError as err:
        log.warning("offline orders and customers match people by email and phone only: %s", err)
        sources = ()
    types = {
        (s.table, column): ts[0] for s in sources if s.table for column, ts in s.columns.items()
    }
    out: dict[str, list[RoleTable]] = {}
    for role in ROLES:
        out[role] = [
            RoleTable(table, fields, types.get((table, fields["customer_id"])))
            for table, fields in role_tables(settings, role)
        ]
    return out
