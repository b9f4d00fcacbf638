"""The columns of `core_events` and `quarantine_events`: the contract every engine writes to."""

from __future__ import annotations

# (column, type) in the order users see them. Types are SQL types every engine understands.
CORE_EVENTS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("event_id", "VARCHAR"),
    ("event_type", "VARCHAR"),  # track, page, screen, identify, alias, group
    ("event_name", "VARCHAR"),
    ("event_time", "TIMESTAMP WITH TIME ZONE"),  # client time corrected for clock skew
    ("received_at", "TIMESTAMP WITH TIME ZONE"),
    ("sent_at", "TIMESTAMP WITH TIME ZONE"),
    ("anonymous_id", "VARCHAR"),
    ("user_id", "VARCHAR"),
    ("previous_id", "VARCHAR"),
    ("group_id", "VARCHAR"),
    ("session_id", "VARCHAR"),
    ("url", "VARCHAR"),
    ("path", "VARCHAR"),
    ("referrer", "VARCHAR"),
    ("page_title", "VARCHAR"),
    ("utm_source", "VARCHAR"),
    ("utm_medium", "VARCHAR"),
    ("utm_campaign", "VARCHAR"),
    ("utm_term", "VARCHAR"),
    ("utm_content", "VARCHAR"),
    ("gclid", "VARCHAR"),
    ("fbclid", "VARCHAR"),
    ("msclkid", "VARCHAR"),
    ("ttclid", "VARCHAR"),
    ("email", "VARCHAR"),  # trimmed, lower-cased
    ("phone", "VARCHAR"),
    ("map_id", "VARCHAR"),  # Blotout map_id events: this visitor is `map_id` in `map_provider`
    ("map_provider", "VARCHAR"),
    ("order_id", "VARCHAR"),
    ("revenue", "DOUBLE"),
    ("currency", "VARCHAR"),
    ("properties", "JSON"),
    ("traits", "JSON"),
    ("user_agent", "VARCHAR"),
    ("ip", "VARCHAR"),
    ("source", "VARCHAR"),
    ("payload_format", "VARCHAR"),  # segment or blotout
    ("event_date", "DATE"),  # UTC date of event_time; the partition
)

QUARANTINE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("reason_code", "VARCHAR"),
    ("reason", "VARCHAR"),
    ("raw", "VARCHAR"),  # the line, or the batch item / Blotout event, as received
    ("event_id", "VARCHAR"),
    ("source", "VARCHAR"),
    ("received_at", "TIMESTAMP WITH TIME ZONE"),
    ("raw_file", "VARCHAR"),
    ("line_no", "BIGINT"),
    ("item_index", "BIGINT"),  # position inside a batch or Blotout payload; 0 for the line
    ("quarantined_at", "TIMESTAMP WITH TIME ZONE"),
    ("received_date", "DATE"),  # the partition
)

# The layout of core_events' and quarantine_events' files, whichever engine writes them: hours
# are written together, one file per (partition value, run of raw hours), until a file holds
# about a row group. A file costs about 5 ms to write, publish and list whatever its rows, which
# a backfill of small hours (a few hundred events each) paid thousands of times. Engines read it
# at write time (tests lower it).
FILE_ROWS = 122_880

# Where the collector's receive metadata sits in a landed line (see cdpflow.collector.landing).
LANDED_PATHS = {
    "received_at": "_cdp.received_at",
    "source": "_cdp.source",
    "forced_format": "_cdp.format",
    "meta_ip": "_cdp.ip",
    "meta_user_agent": "_cdp.user_agent",
    "visitor_id": "_cdp.visitor_id",
    "size": "_cdp.size",
    "landed_text": "_raw",
}
