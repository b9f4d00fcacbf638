"""events_incremental end to end on small hand-made payloads: what lands in core_events."""

from __future__ import annotations

import dataclasses
import gzip
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from support.lake import CASES, LATER, lake_query

from cdpflow.engine import duckdb_workers
from cdpflow.engine.duckdb_events_batches import EventsWorkerError
from cdpflow.jobs import Interval
from cdpflow.jobs.events_incremental import run
from cdpflow.lake.raw import RawWriter, Received
from cdpflow.lake.storage import Lake
from cdpflow.lake.tables import TableStore
from cdpflow.sample.generator import generate_events
from cdpflow.sample.model import SampleSpec
from cdpflow.settings import load_settings

T = datetime(2026, 11, 20, 13, 5, tzinfo=UTC)


def _segment(**overrides: object) -> dict:
    message = {
        "type": "track",
        "event": "Product Viewed",
        "messageId": "m-1",
        "anonymousId": "anon-1",
        "timestamp": "2026-11-20T13:04:00.000Z",
        "properties": {"sku": "A"},
    }
    message.update(overrides)
    return {k: v for k, v in message.items() if v is not None}


def _segment_cases() -> list[dict]:
    return [
        orjson.loads(line)
        for line in (CASES / "segment_messages.jsonl").read_text().split("\n")
        if line
    ]


def test_segment_messages_are_flattened(settings, land, query) -> None:
    land(Received(T, "web", m) for m in _segment_cases())
    result = run(settings, now=LATER)
    assert (result.read, result.written, result.quarantined) == (4, 4, 0)
    rows = {r["event_id"]: r for r in query("SELECT * FROM core_events")}

    page = rows["seg-page-1"]
    assert page["event_type"] == "page" and page["event_name"] == "Home"
    # client clock one hour fast: received_at - (sentAt - timestamp)
    assert page["event_time"] == datetime(2026, 11, 20, 13, 4, 58, tzinfo=UTC)
    assert page["received_at"] == T
    assert (page["utm_source"], page["utm_medium"], page["utm_campaign"]) == (
        "newsletter",
        "email",
        "black friday",
    )
    assert page["fbclid"] == "IwAR-1" and page["gclid"] is None
    assert (page["path"], page["referrer"], page["page_title"]) == (
        "/",
        "https://mail.example.net/",
        "Shop",
    )
    assert page["user_agent"] == "Mozilla/5.0 (iPhone)" and page["ip"] == "203.0.113.7"
    assert page["source"] == "web" and page["payload_format"] == "segment"
    assert page["event_date"].isoformat() == "2026-11-20"

    identify = rows["seg-identify-1"]
    assert identify["email"] == "jane.doe@example.com" and identify["phone"] == "+14155550123"
    assert identify["user_id"] == "cus_000123" and identify["utm_source"] == "google"
    assert orjson.loads(identify["traits"])["email"] == "  Jane.Doe@Example.COM "

    order = rows["seg-order-1"]
    assert order["event_name"] == "Order Completed"
    assert (order["order_id"], order["revenue"], order["currency"]) == ("ORD-000123", 59.9, "USD")
    assert (order["msclkid"], order["ttclid"], order["path"]) == ("MS-9", "TT-3", "/thank-you")
    # no sentAt: the client timestamp is taken as it is
    assert order["event_time"] == datetime(2026, 11, 20, 14, 7, tzinfo=UTC)

    alias = rows["seg-alias-1"]
    assert (alias["previous_id"], alias["user_id"], alias["anonymous_id"]) == (
        "anon-1",
        "cus_000123",
        None,
    )


def test_batch_envelopes_are_exploded_with_the_batch_sent_at(settings, land, query) -> None:
    batch = {
        "batch": [
            _segment(messageId="b-1", timestamp="2026-11-20T13:00:00Z"),
            _segment(messageId="b-2", type="screen", name="Cart", timestamp="2026-11-20T13:00:05Z"),
        ],
        "sentAt": "2026-11-20T13:00:10Z",  # the device clock is 10 s behind the server's T
    }
    land([Received(T, "ios", batch)])
    run(settings, now=LATER)
    rows = query("SELECT event_id, event_type, event_name, event_time FROM core_events ORDER BY 1")
    assert [(r["event_id"], r["event_type"], r["event_name"]) for r in rows] == [
        ("b-1", "track", "Product Viewed"),
        ("b-2", "screen", "Cart"),
    ]
    assert rows[0]["event_time"] == T - timedelta(seconds=10)


def test_blotout_payload_is_flattened(settings, land, query) -> None:
    land([Received(T, "blotout", orjson.loads((CASES / "blotout_reference.json").read_bytes()))])
    result = run(settings, now=LATER)
    assert result.written == 4
    rows = {r["event_name"]: r for r in query("SELECT * FROM core_events")}
    start = rows["sdk_start"]
    assert start["event_type"] == "page" and start["payload_format"] == "blotout"
    assert start["event_id"] == "c2RrX3N0YXJ0-8f14e45f-1234.5678"
    assert start["event_time"] == datetime(2021, 3, 2, 9, 26, 11, 392000, tzinfo=UTC)
    assert (start["anonymous_id"], start["session_id"]) == ("visitor-1", "1614677160001")
    assert (start["utm_source"], start["utm_medium"], start["utm_campaign"]) == (
        "google",
        "cpc",
        "spring sale",
    )
    assert start["gclid"] == "Cj0K-example"
    assert (start["path"], start["page_title"], start["referrer"]) == (
        "/checkout",
        "Checkout",
        "https://www.google.com/",
    )
    assert start["user_agent"] == "Mozilla/5.0 (Macintosh)"
    order = rows["transaction"]
    assert (order["order_id"], order["revenue"], order["currency"]) == ("ORD-1001", 99.8, "USD")
    assert (rows["map_id"]["map_id"], rows["map_id"]["map_provider"]) == ("6543210987", "shopify")
    persona = rows["persona"]
    assert persona["event_type"] == "identify" and persona["email"] == "j@domain.com"
    assert (persona["user_id"], persona["phone"]) == ("6543210987", "+14155550123")


def test_blotout_cookie_visitor_id_stands_in_for_a_missing_userid(settings, land, query) -> None:
    payload = {"meta": {}, "events": [{"mid": "x1", "evn": "sdk_start", "evt": 1763643900000}]}
    land([Received(T, "blotout", payload, visitor_id="cookie-visitor")])
    run(settings, now=LATER)
    assert query("SELECT anonymous_id FROM core_events") == [{"anonymous_id": "cookie-visitor"}]


def test_duplicates_keep_the_earliest_received_copy(settings, land, query) -> None:
    land(
        [
            Received(T + timedelta(minutes=5), "web", _segment(properties={"copy": "late"})),
            Received(T, "web", _segment(properties={"copy": "early"})),
        ]
    )
    result = run(settings, now=LATER)
    assert (result.read, result.written, result.duplicates) == (2, 1, 1)
    (row,) = query("SELECT properties, received_at FROM core_events")
    assert orjson.loads(row["properties"]) == {"copy": "early"} and row["received_at"] == T


def test_a_retry_arriving_in_a_later_run_is_not_duplicated(settings, land, query) -> None:
    land([Received(T, "web", _segment())])
    run(settings, now=LATER)
    land([Received(T + timedelta(hours=3), "web", _segment())])  # SDK retry, hours later
    second = run(settings, now=LATER)
    assert (second.read, second.written, second.duplicates) == (1, 0, 1)
    assert query("SELECT count(*) AS n FROM core_events") == [{"n": 1}]
    # and re-running the first hour keeps the first copy, still once
    run(
        settings, Interval(T.replace(minute=0), T.replace(minute=0) + timedelta(hours=1)), now=LATER
    )
    assert query("SELECT count(*) AS n, min(received_at) AS r FROM core_events") == [
        {"n": 1, "r": T}
    ]


def test_rerunning_an_interval_replaces_exactly_its_own_output(settings, land, query, lake) -> None:
    land(Received(T + timedelta(hours=h), "web", _segment(messageId=f"m-{h}")) for h in range(3))
    run(settings, now=LATER)
    checksum = (
        "SELECT count(*) AS n, sum(hash(event_id, event_time, properties)) AS h FROM core_events"
    )
    before = query(checksum)
    store = TableStore(lake)
    files_before = {f.path for f in store.get("core_events").files}
    hour = T.replace(minute=0)
    rerun = run(settings, Interval(hour + timedelta(hours=1), hour + timedelta(hours=2)), now=LATER)
    # small hours share a file, so the hours of hour 14's file are re-run with it, in one commit
    assert rerun.hours == ["2026-11-20T13", "2026-11-20T14", "2026-11-20T15"]
    assert query(checksum) == before
    files_after = {f.path for f in store.get("core_events").files}
    assert len(files_after) == len(files_before) == 1
    assert files_before != files_after
    # the replaced file is gone from disk too: a plain glob of the folder sees no duplicates
    on_disk = [p for p, _ in lake.walk_files("core_events") if p.endswith(".parquet")]
    assert len(on_disk) == 1


def test_nothing_pending_means_nothing_done(settings, land) -> None:
    land([Received(T, "web", _segment())])
    assert run(settings, now=LATER).written == 1
    again = run(settings, now=LATER)
    assert (again.hours, again.read) == ([], 0)
    assert "no raw hours" in again.summary()


def test_the_open_hour_waits_until_it_closes(settings, land, query) -> None:
    land([Received(T, "web", _segment())])
    assert run(settings, now=T + timedelta(minutes=10)).hours == []
    assert run(settings, now=T.replace(minute=0) + timedelta(hours=1)).hours == ["2026-11-20T13"]


def test_files_landing_late_in_a_processed_hour_are_picked_up(settings, land, query) -> None:
    land([Received(T, "web", _segment(messageId="first"))])
    run(settings, now=LATER)
    land([Received(T, "import", _segment(messageId="late"))])
    result = run(settings, now=LATER)
    assert result.hours == ["2026-11-20T13"] and result.written == 2
    assert [r["event_id"] for r in query("SELECT event_id FROM core_events ORDER BY 1")] == [
        "first",
        "late",
    ]


BAD = [
    ("not json {", "invalid_json", "not valid JSON"),
    ({"hello": "world"}, "unknown_format", "not a Segment message"),
    (_segment(messageId=None), "missing_id", "messageId is missing"),
    (_segment(timestamp=None), "missing_timestamp", "timestamp is missing"),
    (_segment(timestamp="yesterday"), "invalid_timestamp", "`yesterday` is not an ISO-8601"),
    (_segment(properties=[1, 2]), "wrong_type", "properties must be an object"),
    (_segment(type="purchase"), "wrong_type", "type `purchase` is not one of"),
    (_segment(anonymousId=None), "missing_field", "anonymousId and userId are both missing"),
    (_segment(event=None), "missing_field", "track call without `event`"),
    (_segment(properties={"revenue": "lots"}), "wrong_type", "`lots` is not a number"),
    (_segment(properties={"blob": "x" * 40_000}), "too_large", "the limit is 32768"),
    ({"batch": [_segment(messageId="ok-1"), 7]}, "not_an_object", "batch item is a JSON"),
    (
        {"meta": {}, "events": [{"mid": "b", "evn": "x", "evt": "soon", "userid": "v"}]},
        "invalid_timestamp",
        "`soon`",
    ),
    (
        {"meta": {}, "events": [{"mid": "b", "evn": "x", "evt": 1763643900000}]},
        "missing_field",
        "no visitor id",
    ),
]


@pytest.mark.parametrize(
    ("message", "code", "reason"), BAD, ids=[b[1] + str(i) for i, b in enumerate(BAD)]
)
def test_bad_input_is_quarantined_with_its_reason(
    settings, land, query, message, code, reason
) -> None:
    land([Received(T, "web", message), Received(T, "web", _segment(messageId="good"))])
    result = run(settings, now=LATER)
    assert result.read == result.written + result.duplicates + result.quarantined
    (bad,) = query("SELECT * FROM quarantine_events")
    assert bad["reason_code"] == code and reason in bad["reason"]
    assert bad["source"] == "web" and bad["raw_file"].startswith(
        "raw/events/received_date=2026-11-20"
    )
    assert bad["received_at"] == T and bad["received_date"].isoformat() == "2026-11-20"
    assert bad["raw"] == _quarantined_raw(settings, message)
    good_ids = {r["event_id"] for r in query("SELECT event_id FROM core_events")}
    assert good_ids == (
        {"good", "ok-1"} if isinstance(message, dict) and "batch" in message else {"good"}
    )


def _quarantined_raw(settings, message) -> str:
    """What quarantine_events.raw must hold for a bad message: the bad item of a batch or a
    Blotout payload as JSON, the text as sent when it is no JSON, otherwise the line exactly as
    the raw zone stores it."""
    if isinstance(message, str):
        return message
    if "batch" in message:
        return orjson.dumps(message["batch"][1]).decode()
    if "events" in message:
        return orjson.dumps(message["events"][0]).decode()
    lake = Lake(settings.lake_url)
    (raw_file,) = [rel for rel, _ in lake.walk_files("raw/events") if rel.endswith(".jsonl.gz")]
    return gzip.decompress(lake.read_bytes(raw_file)).decode().splitlines()[0]


def test_an_event_at_the_size_limit_is_kept(settings, land, query) -> None:
    message = _segment(properties={"blob": ""})
    pad = settings.max_event_bytes - len(orjson.dumps(message))
    message["properties"]["blob"] = "x" * pad
    assert len(orjson.dumps(message)) == settings.max_event_bytes
    land([Received(T, "web", message)])
    assert run(settings, now=LATER).written == 1


def test_a_damaged_raw_file_does_not_stop_the_run(settings, land, lake, query) -> None:
    land([Received(T, "web", _segment())])
    lake.write_bytes(
        "raw/events/received_date=2026-11-20/received_hour=13/x-1.jsonl.gz", b"\x1f\x8bjunk"
    )
    result = run(settings, now=LATER)
    assert result.written == 1 and result.quarantined == 1
    (bad,) = query("SELECT reason_code, raw FROM quarantine_events")
    assert bad["reason_code"] == "invalid_json" and "unreadable gzip data" in bad["raw"]


def test_core_events_is_partitioned_by_event_date(settings, land, lake) -> None:
    land(
        [
            Received(T, "web", _segment(messageId="a", timestamp="2026-11-19T23:59:00Z")),
            Received(T, "web", _segment(messageId="b", timestamp="2026-11-20T00:01:00Z")),
        ]
    )
    run(settings, now=LATER)
    snapshot = TableStore(lake).get("core_events")
    assert sorted(f.partition["event_date"] for f in snapshot.files) == ["2026-11-19", "2026-11-20"]
    assert all(
        f.path.startswith(f"event_date={f.partition['event_date']}/") for f in snapshot.files
    )


def test_flattening_on_worker_processes_gives_the_rows_of_one_process(
    tmp_path, monkeypatch
) -> None:
    spec = SampleSpec(days=2, visitors=60, seed=5, duplicate_rate=0.05, dirty_rate=0.05)
    messages = [Received(m.received_at, m.source, m.message) for m in generate_events(spec)]
    started: list[duckdb_workers._ProcessWorker] = []

    class CountedWorker(duckdb_workers._ProcessWorker):
        def __init__(self, name: str, *args: object) -> None:
            started.append(self)
            super().__init__(name, *args)

    monkeypatch.setattr(duckdb_workers, "_ProcessWorker", CountedWorker)
    tables = {}
    for name, threads, chunk_bytes in (("one_process", 1, 64_000_000), ("workers", 2, 40_000)):
        home = load_settings(env={}, home=tmp_path / name)
        home = dataclasses.replace(home, engine_threads=threads, chunk_bytes=chunk_bytes)
        with RawWriter(Lake(home.lake_url)) as writer:
            for message in messages:
                writer.write(message)
        result = run(home, now=LATER)
        assert result.read == result.written + result.duplicates + result.quarantined
        assert result.duplicates > 0 and result.quarantined > 0
        tables[name] = (
            result.written,
            lake_query(home, "SELECT * FROM core_events ORDER BY event_id"),
            lake_query(
                home,
                # raw file names differ between the two lakes
                "SELECT * EXCLUDE (quarantined_at, raw_file) FROM quarantine_events "
                "ORDER BY raw, item_index",
            ),
        )
    # only the second run used them, and they ended cleanly
    assert [w.name for w in started] == ["cdpflow-events-0", "cdpflow-events-1"]
    assert [w._process.returncode for w in started] == [0, 0]
    assert tables["workers"] == tables["one_process"]


def test_a_worker_killed_mid_run_fails_the_run_naming_it_and_the_next_run_completes(
    tmp_path, monkeypatch
) -> None:
    spec = SampleSpec(days=1, visitors=40, seed=9)
    home = load_settings(env={}, home=tmp_path)
    home = dataclasses.replace(home, engine_threads=2, chunk_bytes=40_000)
    with RawWriter(Lake(home.lake_url)) as writer:
        for m in generate_events(spec):
            writer.write(Received(m.received_at, m.source, m.message))

    class DoomedWorker(duckdb_workers._ProcessWorker):
        def call(self, method: str, *args: object) -> int:
            ticket = super().call(method, *args)
            if method == "write" and self.name.endswith("-1"):
                self._process.kill()  # while it writes the first group
            return ticket

    monkeypatch.setattr(duckdb_workers, "_ProcessWorker", DoomedWorker)
    with pytest.raises(
        EventsWorkerError,
        match=r"nothing of them was committed .*cdpflow-events-1 ended \(exit code -9\)",
    ):
        run(home, now=LATER)
    assert TableStore(Lake(home.lake_url)).current("core_events") is None

    monkeypatch.undo()
    result = run(home, now=LATER)
    assert result.read == result.written + result.duplicates + result.quarantined > 0
    assert lake_query(home, "SELECT count(*) AS n FROM core_events") == [{"n": result.written}]


MAIN_THAT_MUST_NOT_BE_IMPORTED = """
import sys
from datetime import datetime

if __name__ != "__main__":  # what multiprocessing's spawn does in its children
    raise SystemExit("a worker imported the program's main module again")

from cdpflow.jobs.events_incremental import run
from cdpflow.settings import load_settings

result = run(load_settings(home=sys.argv[1]), now=datetime.fromisoformat(sys.argv[2]))
print(result.written, result.duplicates)
"""


def test_workers_do_not_import_the_programs_main_module(tmp_path) -> None:
    """Under Airflow a task's main module is Airflow's CLI: a worker importing it again would
    pay for all of Airflow, in each worker of each run."""
    spec = SampleSpec(days=2, visitors=150, seed=3)
    with RawWriter(Lake(load_settings(env={}, home=tmp_path / "home").lake_url)) as writer:
        for m in generate_events(spec):
            writer.write(Received(m.received_at, m.source, m.message))
    assert sum(p.stat().st_size for p in (tmp_path / "home").rglob("*.jsonl.gz")) > 62_500
    script = tmp_path / "main.py"
    script.write_text(MAIN_THAT_MUST_NOT_BE_IMPORTED)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(sys.path),
        "CDPFLOW_ENGINE_THREADS": "2",
        "CDPFLOW_CHUNK_BYTES": "1_000_000",  # workers from 62.5 kB of raw input
    }
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "home"), LATER.isoformat()],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    written, _ = map(int, done.stdout.split())
    assert written > 0
