"""Hand-made raw messages for the events_incremental tests: a valid Segment track and a Blotout
event, each changed by keyword (a None value drops the field)."""

from __future__ import annotations

GOOD_EVT = 1_763_643_900_000  # 2026-11-20T13:05:00Z in Blotout's epoch milliseconds


def track(message_id: object, **overrides: object) -> dict:
    message = {
        "type": "track",
        "event": "Product Viewed",
        "messageId": message_id,
        "anonymousId": "anon-1",
        "timestamp": "2026-11-20T13:04:00.000Z",
    }
    message.update(overrides)
    return {k: v for k, v in message.items() if v is not None}


def blotout(mid: object, evt: object, **fields: object) -> dict:
    return {"mid": mid, "evn": "x", "evt": evt, "userid": "u", **fields}
