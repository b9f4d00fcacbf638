"""The identity tables' columns: the contract the unified view and activation read."""

from __future__ import annotations

import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")

# One row per identifier: which person it belongs to.
IDENTITIES = pa.schema(
    [
        ("identifier_type", pa.string()),  # anonymous_id, user_id, email, phone, <map provider>...
        ("identifier_value", pa.string()),  # normalized (email lower-cased, phone E.164)
        ("global_user_id", pa.string()),  # gu_<16 hex>: the person
        ("first_seen_at", TS),
        ("last_seen_at", TS),
        ("source", pa.string()),  # where it was first seen: events:<source> or an offline source
        ("held_out", pa.bool_()),  # linked to too many identifiers: kept out of merges
    ]
)

# One row per pair of identifiers seen together on one event or record (left < right).
IDENTITY_EDGES = pa.schema(
    [
        ("left_type", pa.string()),
        ("left_value", pa.string()),
        ("right_type", pa.string()),
        ("right_value", pa.string()),
        ("first_seen_at", TS),
        ("source", pa.string()),
    ]
)

# The two identifiers of a link: all the graph needs of the stored links.
LINK_ENDS = pa.schema(list(IDENTITY_EDGES)[:4])

# One row per global_user_id that stopped existing: whose id it became, and when.
IDENTITY_MERGES = pa.schema(
    [
        ("absorbed_id", pa.string()),
        ("surviving_id", pa.string()),
        ("merged_at", TS),
        ("reason", pa.string()),  # merge: two people joined; late_data: an earlier sighting
    ]
)

# One row per identifier kept from linking people: junk values and over-linked identifiers.
IDENTITY_CONFLICTS = pa.schema(
    [
        ("identifier_type", pa.string()),
        ("identifier_value", pa.string()),
        ("reason", pa.string()),  # junk_value or too_many_links
        ("linked_type", pa.string()),  # too_many_links: the type over its cap
        ("linked_count", pa.int64()),  # links to that type (junk_value: records it was on)
        ("cap", pa.int64()),
        ("detected_at", TS),
    ]
)
