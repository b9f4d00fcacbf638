"""Where the validation rules of each payload format (`events/quarantine.py`) find a field among
the columns of a flatten statement. Both engines' statements name their columns the same way
(`s_` + a Segment field, `b_` + a Blotout field), so this is declared once; an engine passes the
few expressions its dialect writes differently."""

from __future__ import annotations

from dataclasses import dataclass, field

from cdpflow.events import blotout, segment


@dataclass(frozen=True)
class RuleColumns:
    """The SQL of a field's value as the checks read it, of its text as messages quote it, of
    a time's text and parsed time, of the other placeholders of messages, and of the JSON type
    of the fields that must be objects (where the engine tells types apart in a column)."""

    values: dict[str, str]
    texts: dict[str, str]
    times: dict[str, tuple[str, str]]
    fills: dict[str, str]
    objects: dict[str, str] = field(default_factory=dict)


def columns_of(prefix: str, paths: dict[str, str]) -> dict[str, str]:
    return {path: f"{prefix}{name}" for name, path in paths.items()}


RECEIVED_TIME = ("received_text", "received_ts")


def segment_columns(corrected_text: str, objects: dict[str, str] | None = None) -> RuleColumns:
    """A Segment message's fields; `corrected_text` renders the skew-corrected time as text."""
    return RuleColumns(
        values={
            **columns_of("s_", segment.MESSAGE_PATHS),
            "type": "type_",
            "timestamp": "coalesce(s_original_timestamp, s_timestamp)",
            "sentAt": "coalesce(s_sent_at, envelope_sent_at)",
            "properties.revenue": "coalesce(s_prop_revenue, s_prop_total)",
            "receivedAt": "received_text",
        },
        texts={"type": "s_type"},
        times={
            "timestamp": ("coalesce(s_original_timestamp, s_timestamp)", "client_ts"),
            "sentAt": ("coalesce(s_sent_at, envelope_sent_at)", "sent_ts"),
            "receivedAt": RECEIVED_TIME,
        },
        fills={
            "name": "CASE WHEN s_original_timestamp IS NOT NULL THEN 'originalTimestamp' "
            "ELSE 'timestamp' END",
            "sent_at": "left(coalesce(s_sent_at, envelope_sent_at), 64)",
            "corrected": corrected_text,
        },
        objects=objects or {},
    )


def blotout_columns(objects: dict[str, str] | None = None) -> RuleColumns:
    """A Blotout event's fields and its additionalData."""
    return RuleColumns(
        values={
            **columns_of("b_", blotout.EVENT_PATHS),
            "visitor id": "coalesce(b_userid, visitor_id)",
            **{f"additionalData.{p}": f"b_{n}" for n, p in blotout.DATA_PATHS.items()},
            "receivedAt": "received_text",
        },
        texts={},
        times={"evt": ("b_evt", "evt_ms"), "receivedAt": RECEIVED_TIME},
        fills={},
        objects=objects or {},
    )
