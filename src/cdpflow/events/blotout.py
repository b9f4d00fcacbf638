"""The Blotout payload (the Blotout SDK's `{meta, events}`): where each field is, as plain data.

Each map is {name: JSON path}; the engine reads every path of a map in one parse, naming the
value `b_<name>` (META_PATHS: `bo_<name>`). Ids and names in STRING_FIELDS must be JSON strings.
"""

from __future__ import annotations

# The envelope's `meta`, read with the line and shared by its events.
META_PATHS = {
    "bo_user_agent": "meta.user_agent",
    "bo_referrer": "meta.referrer",
    "bo_page_title": "meta.page_title",
    "bo_search": "meta.search",
}
EVENT_PATHS = {
    "mid": "mid",
    "evn": "evn",
    "evt": "evt",
    "scrn": "scrn",
    "session_id": "session_id",
    "userid": "userid",
    "data": "additionalData",
}
# Read from an event's `additionalData` object.
DATA_PATHS = {
    "data_path": "path",
    "transaction_id": "transaction_id",
    "transaction_total": "transaction_total",
    "transaction_currency": "transaction_currency",
    "persona_id": "persona_id",
    "persona_email": "persona_email",
    "persona_number": "persona_number",
    "map_id": "map_id",
    "map_provider": "map_provider",
}
STRING_FIELDS = ("mid", "evn", "userid")
