"""Retries and broken bodies: the traffic a collector must dedupe or quarantine.

Copies go through orjson (fast and deep), so a consumer mutating one body never alters another.
"""

from __future__ import annotations

import random
from typing import Any

import orjson

from cdpflow.sample.model import SOURCE_BLOTOUT, SOURCE_IOS

DIRTY_KINDS = ("truncated", "no_id", "bad_timestamp", "list_properties", "oversized")
BAD_TIMESTAMPS = (
    "2024-02-30T25:61:00Z", "yesterday", "not a date", "NaN", "0000-00-00T00:00:00.000Z", "",
)  # fmt: skip
BAD_EVT = ("NaN", "17150abc", "", "yesterday")
SEGMENT_MAX_BYTES = 32 * 1024
_FILLER = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. "


def copy(body: dict[str, Any]) -> dict[str, Any]:
    """A deep copy; identical JSON."""
    out: dict[str, Any] = orjson.loads(orjson.dumps(body))
    return out


def retry_delay_ms(rng: random.Random) -> int:
    """SDK retry backoff: a few seconds, sometimes minutes."""
    return rng.randint(2_000, 30_000) if rng.random() < 0.7 else rng.randint(30_000, 300_000)


def dirty(rng: random.Random, source: str, template: dict[str, Any]) -> dict[str, Any] | str:
    """A malformed body made from a page-like body of the same source, with fresh ids."""
    kind = rng.choice(DIRTY_KINDS)
    if source == SOURCE_BLOTOUT:
        body = copy(template)
        body["events"] = body["events"][:1]
        msg = body["events"][0]
        msg["mid"] = f"{msg['mid'].split('-', 1)[0]}-{rng.getrandbits(64):016x}-0.0"
        id_key, time_key, props_key = "mid", "evt", "additionalData"
    elif source == SOURCE_IOS:
        msg = copy(template)
        msg["messageId"] = f"{rng.getrandbits(128):032X}"
        body = {"batch": [msg], "sentAt": msg["timestamp"]}
        id_key, time_key, props_key = "messageId", "timestamp", "properties"
    else:
        body = msg = copy(template)
        msg["messageId"] = f"ajs-next-{rng.getrandbits(128):032x}"
        id_key, time_key, props_key = "messageId", "timestamp", "properties"

    if kind == "truncated":
        raw = orjson.dumps(body)
        return raw[: rng.randint(1, len(raw) - 1)].decode("utf-8", errors="ignore")
    if kind == "no_id":
        del msg[id_key]
    elif kind == "bad_timestamp":
        msg[time_key] = rng.choice(BAD_EVT if time_key == "evt" else BAD_TIMESTAMPS)
    elif kind == "list_properties":
        msg[props_key] = [msg.get(props_key) or {}]
    else:  # oversized: a runaway property, e.g. a serialized DOM or a base64 image
        size = rng.randint(SEGMENT_MAX_BYTES + 1024, SEGMENT_MAX_BYTES + 16_384)
        text = (_FILLER * (size // len(_FILLER) + 1))[:size]
        props = msg.get(props_key)
        msg[props_key] = {**(props if isinstance(props, dict) else {}), "description": text}
    return body
