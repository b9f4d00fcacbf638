"""No line's content can stop events_incremental: odd times, odd ids and odd shapes are
quarantined with their reason, and the runs after them still work (review C1, M2, L2-L4)."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from support.events import GOOD_EVT
from support.events import blotout as _blotout
from support.events import track as _track
from support.lake import LATER

from cdpflow.engine import duckdb_events, fast_flatten
from cdpflow.jobs.events_incremental import run
from cdpflow.lake.raw import Received
from cdpflow.lake.tables import DataFile, TableStore

T = datetime(2026, 11, 20, 13, 5, tzinfo=UTC)
NEXT_HOUR = T + timedelta(hours=1)


POISON = [
    ({"sentAt": "infinity"}, "sentAt `infinity`"),
    ({"timestamp": "infinity"}, "timestamp `infinity`"),
    ({"timestamp": "-infinity", "sentAt": "2026-11-20T13:04:00Z"}, "timestamp `-infinity`"),
    ({"originalTimestamp": "infinity", "sentAt": "2026-11-20T13:04:00Z"}, "originalTimestamp"),
    ({"timestamp": "10000-01-01T00:00:00Z"}, "`10000-01-01T00:00:00Z`"),
    ({"timestamp": "99999-01-01T00:00:00Z"}, "`99999-01-01T00:00:00Z`"),
    ({"timestamp": "-0100-01-01T00:00:00Z"}, "`-0100-01-01T00:00:00Z`"),
    ({"timestamp": "0001-01-01 (BC)"}, "`0001-01-01 (BC)`"),
    ({"timestamp": "NaN"}, "`NaN`"),
    ({"timestamp": 1e300}, "timestamp `1e+300`"),
    ({"sentAt": "0001-01-01T00:00:00Z"}, "sentAt `0001-01-01T00:00:00Z`"),
    # both times are sane, the corrected one is not: 2026 - (2099 - 2026)
    (
        {"timestamp": "2026-11-20T13:00:00Z", "sentAt": "2099-01-01T00:00:00Z"},
        "corrected by sentAt `2099-01-01T00:00:00Z`",
    ),
]


@pytest.mark.parametrize(("fields", "reason"), POISON, ids=[p[1] for p in POISON])
def test_an_impossible_time_is_quarantined_and_later_runs_still_work(
    settings, land, query, fields, reason
) -> None:
    land([Received(T, "web", _track("bad", **fields)), Received(T, "web", _track("good"))])
    result = run(settings, now=LATER)
    assert (result.read, result.written, result.quarantined) == (2, 1, 1)
    (bad,) = query("SELECT reason_code, reason, event_id FROM quarantine_events")
    assert bad["reason_code"] == "invalid_timestamp" and reason in bad["reason"], bad

    land([Received(NEXT_HOUR, "web", _track("later"))])
    assert run(settings, now=LATER).written == 1
    ids = {r["event_id"] for r in query("SELECT event_id FROM core_events")}
    assert ids == {"good", "later"}


def test_a_batch_envelope_sent_at_of_infinity_quarantines_its_items(settings, land, query) -> None:
    envelope = {"batch": [_track("b-1"), _track("b-2")], "sentAt": "infinity"}
    land([Received(T, "web", envelope), Received(T, "web", _track("good"))])
    result = run(settings, now=LATER)
    assert (result.read, result.written, result.quarantined) == (3, 1, 2)
    codes = {r["reason_code"] for r in query("SELECT reason_code FROM quarantine_events")}
    assert codes == {"invalid_timestamp"}


def test_a_received_at_out_of_range_is_quarantined(settings, land, lake, query) -> None:
    """A line imported from elsewhere carries its own receive time."""
    line = {"_cdp": {"received_at": "99999-01-01T00:00:00Z", "source": "web"}, **_track("bad")}
    lake.write_bytes(
        "raw/events/received_date=2026-11-20/received_hour=13/web-import-1.jsonl.gz",
        gzip.compress(orjson.dumps(line) + b"\n"),
    )
    land([Received(T, "web", _track("good"))])
    result = run(settings, now=LATER)
    assert (result.written, result.quarantined) == (1, 1)
    (bad,) = query("SELECT * FROM quarantine_events")
    assert bad["reason_code"] == "invalid_timestamp" and "`99999-01-01T00:00:00Z`" in bad["reason"]
    assert bad["received_date"].isoformat() == "2026-11-20"  # its raw hour's


def test_a_blotout_evt_is_quarantined_with_its_value(settings, land, query) -> None:
    payload = {
        "meta": {},
        "events": [
            {"mid": "b-1", "evn": "x", "evt": "infinity", "userid": "u"},
            {"mid": "b-2", "evn": "x", "evt": 1e300, "userid": "u"},
            {"mid": "b-3", "evn": "x", "evt": 1763643900000, "userid": "u"},
        ],
    }
    land([Received(T, "web", payload)])
    result = run(settings, now=LATER)
    assert (result.written, result.quarantined) == (1, 2)
    reasons = sorted(r["reason"] for r in query("SELECT reason FROM quarantine_events"))
    assert "`1e+300`" in reasons[0] and "`infinity`" in reasons[1]


def test_an_event_time_far_after_its_receipt_is_the_receive_time(settings, land, query) -> None:
    land(
        [
            Received(T, "web", _track("future", timestamp="2030-06-01T00:00:00Z")),
            Received(T, "web", _track("soon", timestamp="2026-11-21T12:00:00Z")),
            Received(T, "web", {"meta": {}, "events": [_blotout("bf", 1_900_000_000_000)]}),
        ]
    )
    assert run(settings, now=LATER).written == 3
    rows = {r["event_id"]: r for r in query("SELECT * FROM core_events")}
    assert rows["future"]["event_time"] == T and rows["bf"]["event_time"] == T
    assert rows["future"]["event_date"].isoformat() == "2026-11-20"
    # within the tolerance of a day: kept as the client said
    assert rows["soon"]["event_time"] == datetime(2026, 11, 21, 12, tzinfo=UTC)


def test_a_lake_holding_an_odd_event_date_partition_does_not_stop_later_runs(
    settings, land, lake, query
) -> None:
    """An older version wrote such partitions (`event_date=10000-01-01`, `infinity`)."""
    land([Received(T, "web", _track("good"))])
    run(settings, now=LATER)
    tables = TableStore(lake)
    base = tables.current("core_events")
    assert base is not None
    odd = [
        DataFile(f.path, f.rows, f.bytes, "2026-11-19T01", {"event_date": value})
        for value in ("10000-01-01", "infinity", "0101-01-01 (BC)")
        for f in base.files
    ]
    tables.commit("core_events", base, operation="test", add=odd, remove=lambda f: False)
    land([Received(NEXT_HOUR, "web", _track("later"))])
    assert run(settings, now=LATER).written == 1


def test_a_line_whose_content_fails_the_flatten_is_quarantined_alone(
    settings, land, query, monkeypatch
) -> None:
    """Whatever a future rule gets wrong about a value, the other lines are still written."""
    original = duckdb_events.flatten_sql

    def fragile(lines: str, max_event_bytes: int) -> str:  # a cast that fails on one line
        return (
            f"SELECT * FROM ({original(lines, max_event_bytes)}) "
            f"WHERE CASE WHEN contains(raw_file, 'web') AND event_id = 'm-13' "
            f"THEN CAST(event_id AS INTEGER) > 0 ELSE true END"
        )

    monkeypatch.setattr(duckdb_events, "flatten_sql", fragile)
    # These plain messages would take the compiled fast path, which never runs the statement.
    monkeypatch.setattr(fast_flatten, "available", False)
    land(Received(T, "web", _track(f"m-{i}")) for i in range(40))
    result = run(settings, now=LATER)
    assert (result.read, result.written, result.quarantined) == (40, 39, 1)
    (bad,) = query("SELECT * FROM quarantine_events")
    assert bad["reason_code"] == "unprocessable" and "m-13" in bad["raw"]
    assert "could not be flattened" in bad["reason"] and bad["source"] == "web"
    assert bad["received_date"].isoformat() == "2026-11-20"


def test_each_line_is_read_as_the_endpoint_it_came_to_says(settings, land, query) -> None:
    """A message's own top-level `batch` or `events` does not make it an envelope (review M2)."""
    land(
        [
            Received(T, "web", _track("v-5", batch=[]), format="segment_message"),
            Received(T, "web", _track("v-8", batch=[_track("x-1")]), format="segment_message"),
            Received(T, "web", _track("v-9", events=[_blotout("y", 1)]), format="segment_message"),
            Received(T, "web", {"batch": [_track("v-1")], "events": [1]}, format="segment_batch"),
            Received(
                T,
                "web",
                {"meta": {}, "events": [_blotout("b-1", GOOD_EVT)], "batch": [1]},
                format="blotout",
            ),
            Received(T, "web", _track("v-10", batch=[_track("x-2")]), format="segment"),
            Received(T, "web", {"batch": [_track("v-11")]}, format="segment"),
            Received(T, "web", {"batch": {"not": "an array"}}, format="segment_batch"),
            Received(T, "web", {"batch": [_track("v-12")]}),  # an older line: no format
        ]
    )
    result = run(settings, now=LATER)
    assert result.read == result.written + result.duplicates + result.quarantined
    landed = sorted(r["event_id"] for r in query("SELECT event_id FROM core_events"))
    assert landed == ["b-1", "v-1", "v-10", "v-11", "v-12", "v-5", "v-8", "v-9"]
    (bad,) = query("SELECT reason_code, reason FROM quarantine_events")
    assert bad["reason_code"] == "unknown_format"
    assert bad["reason"] == "a batch envelope, but `batch` is not an array"


NOT_STRINGS = [12345, 1.5, True, False, 0, {}, [], [None, None], {"0": "x"}]


@pytest.mark.parametrize("value", NOT_STRINGS, ids=[orjson.dumps(v).decode() for v in NOT_STRINGS])
@pytest.mark.parametrize("field", ["messageId", "anonymousId", "userId", "previousId", "groupId"])
def test_a_segment_id_that_is_not_a_string_is_refused(settings, land, query, field, value) -> None:
    message = _track("bad", **{"userId": "u-1", field: value})
    land([Received(T, "web", message), Received(T, "web", {"batch": [message]})])
    land([Received(T, "web", _track("good"))])
    result = run(settings, now=LATER)
    assert (result.written, result.quarantined) == (1, 2)
    rows = query("SELECT reason_code, reason FROM quarantine_events")
    text = orjson.dumps(value).decode()
    assert {(r["reason_code"], r["reason"]) for r in rows} == {
        ("wrong_type", f"{field} must be a string, not `{text}`")
    }


@pytest.mark.parametrize("value", NOT_STRINGS, ids=[orjson.dumps(v).decode() for v in NOT_STRINGS])
@pytest.mark.parametrize("field", ["mid", "evn", "userid"])
def test_a_blotout_id_that_is_not_a_string_is_refused(settings, land, query, field, value) -> None:
    bad = {**_blotout("bad", GOOD_EVT), field: value}
    land([Received(T, "web", {"meta": {}, "events": [bad, _blotout("good", GOOD_EVT)]})])
    result = run(settings, now=LATER)
    assert (result.written, result.quarantined) == (1, 1)
    (row,) = query("SELECT reason_code, reason FROM quarantine_events")
    assert row["reason_code"] == "wrong_type" and row["reason"].startswith(f"{field} must be")


def test_string_ids_with_escapes_are_read_as_sent(settings, land, query) -> None:
    land([Received(T, "web", _track('m "1"\\é', anonymousId="ä\n", userId="12345"))])
    assert run(settings, now=LATER).written == 1
    (row,) = query("SELECT event_id, anonymous_id, user_id FROM core_events")
    assert row == {"event_id": 'm "1"\\é', "anonymous_id": "ä\n", "user_id": "12345"}


def _padded(message_id: str, size: int, **fields: object) -> dict:
    """A track message of exactly `size` bytes as orjson writes it."""
    message = _track(message_id, properties={"pad": "", **fields})
    message["properties"]["pad"] = "x" * (size - len(orjson.dumps(message)))
    assert len(orjson.dumps(message)) == size
    return message


def test_the_job_measures_an_event_as_the_collector_does(settings, land, query) -> None:
    """orjson's size plus the stored User-Agent (review L3): DuckDB writes 1e20 as
    100000000000000000000.0, which made an accepted 32 kB item `too_large` in the job."""
    limit = settings.max_event_bytes
    numbers = _padded("numbers", limit, n=[1e20] * 1_200)
    agent = "Mozilla/5.0 " + "x" * 88
    with_agent = _padded("agent-fits", limit - len(agent))
    over = _padded("agent-over", limit - len(agent) + 1)
    blotout = {**_blotout("b-numbers", GOOD_EVT), "additionalData": {"n": [1e20] * 1_200}}
    blotout["additionalData"]["pad"] = "x" * (limit - len(orjson.dumps(blotout)) - 9)
    assert len(orjson.dumps(blotout)) == limit
    land(
        [
            Received(T, "web", {"batch": [numbers]}, format="segment_batch"),
            Received(T, "web", numbers | {"messageId": "single"}, format="segment_message"),
            Received(T, "web", {"batch": [with_agent, over]}, user_agent=agent),
            Received(T, "web", {"meta": {}, "events": [blotout]}, format="blotout"),
        ]
    )
    result = run(settings, now=LATER)
    written = {r["event_id"] for r in query("SELECT event_id FROM core_events")}
    assert written == {"numbers", "single", "agent-fits", "b-numbers"}
    (bad,) = query("SELECT event_id, reason FROM quarantine_events")
    assert bad["event_id"] == "agent-over" and f"is {limit + 1} bytes" in bad["reason"]
    assert result.quarantined == 1


def test_write_keys_inside_items_are_kept_neither_in_core_events_nor_quarantine(
    settings, land, query
) -> None:
    """An older collector kept a batch item's or a Blotout event's writeKey (review L2)."""
    key = "wk_" + "S3cr3t" * 6
    good = _track("good", writeKey=key, properties={"writeKey": key, "sku": "A"})
    bad = _track("bad", writeKey=key, properties=["sku"])  # wrong_type: quarantined
    payload = {
        "meta": {"writeKey": key},
        "events": [{**_blotout("b-bad", "soon"), "writeKey": key}, _blotout("b-good", GOOD_EVT)],
    }
    land(
        [
            Received(T, "web", {"batch": [good, bad]}),
            Received(T, "web", payload),
            Received(T, "web", {"meta": {"writeKey": key}, "events": {}}),  # unknown_format
        ]
    )
    result = run(settings, now=LATER)
    assert (result.written, result.quarantined) == (2, 3)
    stored = query("SELECT * FROM core_events") + query("SELECT * FROM quarantine_events")
    assert key not in orjson.dumps(stored, default=str).decode()
    (row,) = query("SELECT properties FROM core_events WHERE event_id = 'good'")
    assert orjson.loads(row["properties"]) == {"sku": "A"}
