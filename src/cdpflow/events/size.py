"""The size of an event against CDPFLOW_MAX_EVENT_BYTES: one rule for the collector and the job.

An event's size is its compact JSON as orjson writes it, plus the User-Agent stored with it
(the collector keeps the request's header with every event of the line). The collector
measures the parsed event; events_incremental measures an event's JSON text the same way, so
an event the collector accepted is never `too_large` in the job because DuckDB spells a number
longer (`1e20` as `100000000000000000000.0`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson


def event_bytes(event: Mapping[str, Any], user_agent: str | None = None) -> int:
    """The size of `event` stored with `user_agent`; raises orjson.JSONEncodeError when it
    nests deeper than orjson writes."""
    return len(orjson.dumps(event)) + len((user_agent or "").encode())


def event_text_bytes(text: str | None, user_agent: str | None = None) -> int | None:
    """`event_bytes` of an event given as JSON text (a raw line's `_cdp` metadata is not part of
    the event); the text's own length when orjson cannot read it back."""
    if text is None:
        return None
    try:
        event = orjson.loads(text)
    except orjson.JSONDecodeError:
        return len(text.encode()) + len((user_agent or "").encode())
    if isinstance(event, dict):
        event.pop("_cdp", None)
        try:
            return event_bytes(event, user_agent)
        except orjson.JSONEncodeError:
            pass
    return len(text.encode()) + len((user_agent or "").encode())
