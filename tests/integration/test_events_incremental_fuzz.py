"""Property: whatever a client sends, events_incremental completes and accounts for every event
(`read = written + duplicates + quarantined`), and the run after it still works (review C1)."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from cdpflow.jobs.events_incremental import run
from cdpflow.lake.raw import RawWriter, Received
from cdpflow.lake.storage import Lake
from cdpflow.settings import load_settings

T = datetime(2026, 11, 20, 13, 5, tzinfo=UTC)
LATER = datetime(2030, 1, 1, tzinfo=UTC)
NEXT = {"type": "track", "event": "E", "messageId": "next", "anonymousId": "a",
        "timestamp": "2026-11-20T14:00:00Z"}  # fmt: skip

ODD_TIMES = st.sampled_from(
    [
        "infinity", "-infinity", "NaN", "10000-01-01T00:00:00Z", "294247-01-10T04:00:54Z",
        "-0100-01-01T00:00:00Z", "0001-01-01 (BC)", "0000-01-01T00:00:00Z", "1970-01-01",
        "2026-11-20T13:04:00Z", "2026-11-20T13:04:00.123456789+14:00", "2099-12-31T23:59:59Z",
        "epoch", "today", "", "2026-02-30T00:00:00Z", "2026-11-20 13:04", "now",
    ]
)  # fmt: skip
ODD_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
NUMBERS = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, -1, 1e308, -1e308, 1e20, 5e-324, 1763643900000, 2**53 + 1]),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, ODD_TEXT, ODD_TIMES)
JUNK = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(ODD_TEXT, inner, max_size=3)
    ),
    max_leaves=8,
)
IDS = st.one_of(st.sampled_from(["m-1", "m-2", "m-3", "a", ""]), JUNK)


def _field(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A field's value: usually a plausible one, sometimes junk, sometimes absent (None)."""
    return st.one_of(values, JUNK, st.none())


SEGMENT_FIELDS = {
    "type": st.sampled_from(["track", "page", "identify", "alias", "group", "TRACK"]),
    "event": ODD_TEXT,
    "messageId": IDS,
    "anonymousId": IDS,
    "userId": IDS,
    "previousId": IDS,
    "timestamp": ODD_TIMES,
    "originalTimestamp": ODD_TIMES,
    "sentAt": ODD_TIMES,
    "receivedAt": ODD_TIMES,
    "properties": st.dictionaries(ODD_TEXT, JUNK, max_size=3),
    "traits": st.dictionaries(st.sampled_from(["email", "phone"]), JUNK),
    "context": st.fixed_dictionaries({}, optional={"page": JUNK, "ip": JUNK}),
    "batch": JUNK,
    "events": JUNK,
    "writeKey": JUNK,
}
BLOTOUT_FIELDS = {
    "mid": IDS,
    "evn": st.sampled_from(["sdk_start", "persona", "transaction", "map_id", "x"]),
    "evt": st.one_of(NUMBERS, ODD_TIMES),
    "userid": IDS,
    "scrn": ODD_TEXT,
    "additionalData": JUNK,
}


def _hostile(valid: dict[str, Any], fields: dict[str, st.SearchStrategy[Any]]) -> Any:
    """A valid message with one to three fields given hostile values (None drops the field),
    so most examples get past the first rules to the times, ids and sizes."""
    keys = st.lists(st.sampled_from(sorted(fields)), min_size=1, max_size=3, unique=True)
    changes = keys.flatmap(
        lambda chosen: st.fixed_dictionaries(
            {k: st.one_of(fields[k], JUNK, st.none()) for k in chosen}
        )
    )
    return changes.map(
        lambda changed: {k: v for k, v in {**valid, **changed}.items() if v is not None}
    )


SEGMENT = _hostile(
    {
        "type": "track",
        "event": "E",
        "messageId": "m-1",
        "anonymousId": "a",
        "timestamp": "2026-11-20T13:04:00Z",
    },
    SEGMENT_FIELDS,
)
BLOTOUT_EVENT = _hostile(
    {"mid": "b-1", "evn": "x", "evt": 1763643900000, "userid": "u"}, BLOTOUT_FIELDS
)
LINES = st.one_of(
    st.tuples(st.just("segment_message"), SEGMENT),
    st.tuples(
        st.just("segment_batch"),
        st.fixed_dictionaries(
            {"batch": st.lists(st.one_of(SEGMENT, JUNK), max_size=4)},
            optional={"sentAt": _field(ODD_TIMES)},
        ),
    ),
    st.tuples(
        st.just("blotout"),
        st.fixed_dictionaries(
            {"events": st.lists(st.one_of(BLOTOUT_EVENT, JUNK), max_size=4)},
            optional={"meta": JUNK},
        ),
    ),
    st.tuples(st.sampled_from(["auto", "segment"]), st.one_of(SEGMENT, JUNK)),
)


@hypothesis_settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(LINES, min_size=1, max_size=8))
def test_every_run_completes_and_accounts_for_every_event(lines: list[tuple[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as home:
        settings = load_settings(env={}, home=Path(home))
        lake = Lake(settings.lake_url)
        with RawWriter(lake) as writer:
            for fmt, body in lines:
                message = body if isinstance(body, dict) else str(body)
                writer.write(Received(T, "web", message, user_agent="UA", format=fmt))
        result = run(settings, now=LATER)
        assert result.read == result.written + result.duplicates + result.quarantined

        with RawWriter(lake) as writer:  # the next hour, after whatever the first one held
            writer.write(Received(T + timedelta(hours=1), "web", NEXT))
        after = run(settings, now=LATER)
        assert after.read == 1 and after.written + after.duplicates == 1
