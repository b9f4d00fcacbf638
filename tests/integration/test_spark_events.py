"""events_incremental on Spark equals DuckDB's, row for row: the same core_events and the same
quarantine rows and reasons for the same raw input (sample traffic, batches, Blotout, hostile
lines), across two runs so a later hour is deduplicated against what the first one wrote."""

from __future__ import annotations

import gzip
import shutil
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from support.events import GOOD_EVT
from support.events import blotout as _blotout
from support.events import track as _track
from support.identity import IDENTITY_TABLES
from support.lake import LATER, lake_query
from support.spark import require_spark

from cdpflow.jobs import events_incremental, id_stitching_incremental
from cdpflow.lake.raw import RawWriter, Received, hour_dir
from cdpflow.lake.storage import Lake
from cdpflow.sample.generator import generate_events
from cdpflow.sample.model import SampleSpec
from cdpflow.settings import Settings, load_settings

require_spark()

SPARK_CONF = {"spark.sql.shuffle.partitions": "2"}
T = datetime(2026, 11, 20, 13, 5, tzinfo=UTC)
KEY = "wk_" + "S3cr3t" * 6


def _hostile() -> list[Received]:
    """Received bodies the DuckDB tests quarantine or treat specially, one reason each."""
    page = "https://shop.test/p?utm_source=news%20letter&gclid=abc+1#top"
    bodies: list[tuple[object, str]] = [
        (_track("t-inf", timestamp="infinity"), "auto"),
        (_track("t-10000", timestamp="10000-01-01T00:00:00Z"), "auto"),
        (_track("t-nan", timestamp="NaN"), "auto"),
        (_track("t-sent", sentAt="0001-01-01T00:00:00Z"), "auto"),
        (_track("t-skew", timestamp="2026-11-20T13:00:00Z", sentAt="2099-01-01T00:00:00Z"), "auto"),
        (_track("t-future", timestamp="2030-06-01T00:00:00Z"), "auto"),
        (_track("t-skewed", sentAt="2026-11-20T13:04:30Z"), "auto"),
        (_track(12345), "auto"),
        (_track("t-anon", anonymousId={"0": "x"}), "auto"),
        (_track("t-user", userId=True), "auto"),
        (_track(""), "auto"),
        (_track("t-noevent", event=None), "auto"),
        (_track("t-type", type="Purchase"), "auto"),
        ({**_track("t-alias"), "type": "alias"}, "auto"),
        (_track("t-props", properties=["sku"]), "auto"),
        (_track("t-rev", properties={"revenue": "lots"}), "auto"),
        (_track('m "1"\\é', anonymousId="ä\n", userId="12345"), "auto"),
        (
            _track("t-page", type="page", name=None, properties={"url": page, "revenue": 49.90}),
            "auto",
        ),
        (_track("t-key", writeKey=KEY, properties={"writeKey": KEY, "sku": "A"}), "auto"),
        (_track("t-big", properties={"pad": "x" * 40_000}), "auto"),
        (
            {
                "batch": [
                    _track("b-1"),
                    "a string",
                    12,
                    -3,
                    1.5,
                    None,
                    [1],
                    _track("b-key", writeKey=KEY, properties=["x"]),
                ],
                "sentAt": "2026-11-20T13:04:30Z",
            },
            "segment_batch",
        ),
        ({"batch": {"not": "an array"}}, "segment_batch"),
        ({"batch": [_track("b-2")], "sentAt": "infinity"}, "auto"),
        (_track("v-8", batch=[_track("x-1")]), "segment_message"),
        (
            {
                "meta": {"writeKey": KEY, "referrer": "https://ref.test/"},
                "events": [
                    _blotout("bo-1", GOOD_EVT, scrn=page),
                    _blotout("bo-inf", "infinity"),
                    _blotout("bo-late", 1_900_000_000_000),
                    _blotout(True, GOOD_EVT),
                    _blotout("bo-data", GOOD_EVT, additionalData="text"),
                    _blotout("bo-noid", GOOD_EVT, userid=None),
                    {**_blotout("bo-key", "soon"), "writeKey": KEY},
                    _blotout(
                        "bo-tx",
                        GOOD_EVT,
                        evn="transaction",
                        additionalData={
                            "transaction_id": "o-1",
                            "transaction_total": 19.5,
                            "transaction_currency": "eur",
                        },
                    ),
                    _blotout(
                        "bo-persona",
                        GOOD_EVT,
                        evn="persona",
                        additionalData={"persona_id": "cus_1", "persona_email": " Jane@Shop.TEST "},
                    ),
                    7,
                ],
            },
            "blotout",
        ),
        ({"meta": {"writeKey": KEY}, "events": {}}, "auto"),
        ({"hello": "world"}, "auto"),
        ("this is not json {", "auto"),
    ]
    return [Received(T, "web", body, format=fmt) for body, fmt in bodies]


def _imported_lines() -> bytes:
    """Lines of an imported raw file: no collector metadata, or odd metadata, or no JSON."""
    lines = [
        orjson.dumps(
            {
                "_cdp": {"received_at": "99999-01-01T00:00:00Z", "source": "web"},
                **_track("i-received"),
            }
        ),
        orjson.dumps(
            {"_cdp": {"received_at": "2026-11-20T13:10:00Z", "source": "imp"}, **_track("i-ok")}
        ),
        b"[1, 2]",
        b"not json at all",
        b"   ",
        b'{"type": "track", "messageId": "i-trunc"',
    ]
    return gzip.compress(b"\n".join(lines) + b"\n")


def _sample() -> list[Received]:
    spec = SampleSpec(days=1, visitors=25, seed=7, duplicate_rate=0.05, dirty_rate=0.05)
    return [Received(m.received_at, m.source, m.message) for m in generate_events(spec)]


def _later(first: list[Received]) -> list[Received]:
    """A later hour: SDK retries of events the first run wrote, and new events."""
    at = max(r.received_at for r in first) + timedelta(hours=1)
    retried = [replace(r, received_at=at) for r in first[:20]]
    return retried + [
        Received(at, "web", _track(f"n-{i}", timestamp=at.isoformat())) for i in range(5)
    ]


def _land(source: Lake, items: list[Received], *lakes: Lake) -> None:
    """Land `items` once and copy the raw zone into `lakes`: both engines read the same files
    (a raw file's name is random, and quarantine rows name their file)."""
    with RawWriter(source) as writer:
        for item in items:
            writer.write(item)
    for lake in lakes:
        shutil.copytree(source.full("raw"), lake.full("raw"), dirs_exist_ok=True)


def _settings(home: Path, engine: str) -> Settings:
    settings = load_settings(env={}, home=home)
    return replace(settings, engine=engine, spark_master="local[2]", spark_conf=SPARK_CONF)


def _rows(settings: Settings, sql: str) -> set[str]:
    return {repr(tuple(row.values())) for row in lake_query(settings, sql)}


def test_spark_flattens_and_quarantines_as_duckdb_does(tmp_path: Path) -> None:
    duck, spark = _settings(tmp_path / "duck", "duckdb"), _settings(tmp_path / "spark", "spark")
    source = Lake(_settings(tmp_path / "source", "duckdb").lake_url)
    lakes = [Lake(s.lake_url) for s in (duck, spark)]
    first = _sample() + _hostile()
    source.write_bytes(f"{hour_dir(T)}/web-import-1.jsonl.gz", _imported_lines())
    _land(source, first, *lakes)
    for settings in (duck, spark):
        events_incremental.run(settings, now=LATER)
    _land(source, _later(first), *lakes)
    for settings in (duck, spark):
        events_incremental.run(settings, now=LATER)

    events = "SELECT * FROM core_events"
    assert _rows(spark, events) == _rows(duck, events)
    # quarantined_at is when the job ran
    quarantined = "SELECT * EXCLUDE (quarantined_at) FROM quarantine_events"
    assert _rows(spark, quarantined) == _rows(duck, quarantined)

    # the comparison covers what it claims: sample traffic, every reason, the dedup
    codes = {
        r["reason_code"] for r in lake_query(spark, "SELECT reason_code FROM quarantine_events")
    }
    assert codes == {"invalid_json", "unknown_format", "not_an_object", "missing_id",
                     "invalid_timestamp", "missing_field", "wrong_type", "too_large"}  # fmt: skip
    formats = lake_query(
        spark, "SELECT payload_format, count(*) AS n FROM core_events GROUP BY 1 ORDER BY 1"
    )
    assert [r["payload_format"] for r in formats] == ["blotout", "segment"]
    assert all(r["n"] > 10 for r in formats)
    (dups,) = lake_query(spark, "SELECT count(*) - count(DISTINCT event_id) AS n FROM core_events")
    assert dups == {"n": 0}
    stored = orjson.dumps(
        lake_query(spark, events) + lake_query(spark, quarantined), default=str
    ).decode()
    assert KEY not in stored


def test_duckdb_then_spark_equals_either_engine_throughout(tmp_path: Path) -> None:
    """A deployment that switches engines between hours: the first half of the sample's hours
    on DuckDB, the rest (with SDK retries of the first half's events) on Spark, gives the
    tables six hours on one engine give, for events and the identity graph alike."""
    sample = sorted(_sample(), key=lambda r: r.received_at)
    hours = sorted({r.received_at.replace(minute=0, second=0, microsecond=0) for r in sample})
    cut = hours[len(hours) // 2]
    halves = [r for r in sample if r.received_at < cut], [r for r in sample if r.received_at >= cut]
    halves[1].extend(replace(r, received_at=halves[1][0].received_at) for r in halves[0][:15])
    homes = {name: _settings(tmp_path / name, "duckdb") for name in ("mixed", "duck", "spark")}
    source = Lake(_settings(tmp_path / "source", "duckdb").lake_url)
    plan = {"mixed": ("duckdb", "spark"), "duck": ("duckdb", "duckdb"), "spark": ("spark", "spark")}
    for half, items in enumerate(halves):
        _land(source, items, *(Lake(s.lake_url) for s in homes.values()))
        for name, settings in homes.items():
            on = replace(settings, engine=plan[name][half])
            events_incremental.run(on, now=LATER)
            id_stitching_incremental.run(on, now=LATER)
    tables = ["SELECT * FROM core_events",
              "SELECT * EXCLUDE (quarantined_at) FROM quarantine_events",
              *(f"SELECT * FROM {t}" for t in IDENTITY_TABLES)]  # fmt: skip
    for sql in tables:
        expected = _rows(homes["duck"], sql)
        assert _rows(homes["mixed"], sql) == expected, sql
        assert _rows(homes["spark"], sql) == expected, sql
    (dups,) = lake_query(
        homes["mixed"], "SELECT count(*) - count(DISTINCT event_id) AS n FROM core_events"
    )
    assert dups == {"n": 0}  # the retries on Spark were deduplicated against DuckDB's files


def _nested(depth: int) -> str:
    """JSON text of objects nested `depth` deep (deeper than orjson writes: 254 levels)."""
    return '{"level":' * depth + '"leaf"' + "}" * depth


def _unflattenable_lines() -> bytes:
    """A raw file written by another tool (the raw data one_time_setup backfills): good lines,
    and two whose content makes Spark's flatten raise. One has a `_cdp.size` of BIGINT's
    maximum (a writer's "unknown"), which the stored User-Agent's bytes overflow; the other,
    written before the collector capped nesting, keeps an older SDK's writeKey in
    properties nested 300 levels deep, which the writeKey removal cannot write back."""
    meta = {"received_at": "2026-11-20T13:06:00Z", "source": "imp", "user_agent": "Mozilla/5.0"}
    lines = [orjson.dumps({"_cdp": meta, **_track(f"g-{i}")}) for i in range(10)]
    sized = {"_cdp": {**meta, "size": 2**63 - 1, "format": "segment_message"}, **_track("big")}
    lines[3] = orjson.dumps(sized)
    deep = orjson.dumps({"_cdp": meta, **_track("deep")})
    tree = b'{"writeKey":"' + KEY.encode() + b'","tree":' + _nested(300).encode() + b"}"
    lines[7] = deep[:-1] + b',"properties":' + tree + b"}"
    return gzip.compress(b"\n".join(lines) + b"\n")


def test_a_line_whose_content_fails_the_spark_flatten_is_quarantined_alone(
    tmp_path: Path,
) -> None:
    """As on DuckDB: the run completes, each such line is quarantined as `unprocessable` with
    the error quoted, and every other line of the file is written."""
    duck, spark = _settings(tmp_path / "duck", "duckdb"), _settings(tmp_path / "spark", "spark")
    for settings in (duck, spark):
        Lake(settings.lake_url).write_bytes(
            f"{hour_dir(T)}/imp-import-1.jsonl.gz", _unflattenable_lines()
        )
    result = events_incremental.run(spark, now=LATER)
    assert (result.read, result.written, result.quarantined) == (10, 8, 2)
    written = {r["event_id"] for r in lake_query(spark, "SELECT event_id FROM core_events")}
    assert written == {f"g-{i}" for i in range(10)} - {"g-3", "g-7"}
    rows = lake_query(spark, "SELECT * FROM quarantine_events ORDER BY line_no")
    assert [(r["line_no"], r["reason_code"], r["source"]) for r in rows] == [
        (4, "unprocessable", "imp"),
        (8, "unprocessable", "imp"),
    ]
    assert rows[0]["reason"].startswith("the line could not be flattened: [ARITHMETIC_OVERFLOW]")
    assert rows[1]["reason"] == (
        "the line could not be flattened: TypeError: Recursion limit reached"
    )
    assert '"messageId":"big"' in rows[0]["raw"]
    assert all(r["received_date"].isoformat() == "2026-11-20" for r in rows)  # the raw hour's

    # DuckDB quarantines the overflowing line the same way (its own error quoted); it can
    # remove the deep line's writeKey, so it keeps that event
    events_incremental.run(duck, now=LATER)
    (duck_row,) = lake_query(
        duck, "SELECT * FROM quarantine_events WHERE reason_code = 'unprocessable'"
    )
    assert duck_row["raw"] == rows[0]["raw"] and duck_row["source"] == "imp"
    kept = lake_query(duck, "SELECT event_id, properties FROM core_events")
    assert {r["event_id"] for r in kept} == written | {"deep"}
    assert KEY not in orjson.dumps(kept).decode()
    same = "SELECT * EXCLUDE (quarantined_at, reason) FROM quarantine_events WHERE line_no = 4"
    assert _rows(spark, same) == _rows(duck, same)
