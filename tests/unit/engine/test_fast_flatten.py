"""The compiled fast path (cdpflow.engine.fast_flatten) gives exactly the flatten statement's
rows for the lines it takes, and leaves every other line to the statement."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from cdpflow.engine import fast_flatten
from cdpflow.engine.duckdb_common import connect
from cdpflow.engine.duckdb_events import EventsWorker
from cdpflow.lake.raw_reader import RawFile, read_line_chunks
from cdpflow.lake.storage import Lake

MAX_EVENT_BYTES = 32768
PAGE_VIEW = {
    "_cdp": {"received_at": "2024-03-11T00:05:36.144Z", "source": "web", "size": 725},
    "type": "page",
    "messageId": "ajs-next-878dca83f556407d111fd377babb57d8",
    "anonymousId": "259dd0ab-56c8-41bd-9e1c-afb343301544",
    "timestamp": "2024-03-11T00:05:35.159Z",
    "properties": {
        "path": "/",
        "referrer": "https://www.google.com/",
        "search": "",
        "title": "Example Shop – Home",
        "url": "https://shop.example.com/",
        "price": 28.0,
        "revenue": 49.9,
    },
    "context": {
        "library": {"name": "analytics.js", "version": "npm:next-1.70.0"},
        "page": {
            "path": "/",
            "title": "Example Shop – Home",
            "url": "https://shop.example.com/?utm_source=google&utm_term=merino+hoodie&gclid=Cj0",
        },
        "campaign": {"medium": "cpc"},
        "traits": {"email": "  Ana@Example.COM "},
        "userAgent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/124.0.0.0 Safari/537.36",
        "ip": "198.51.100.99",
        "sessionId": 1710115587974,
    },
    "integrations": {},
    "sentAt": "2024-03-11T00:05:35.306Z",
}


BLOTOUT = {
    "_cdp": {"received_at": "2024-03-11T00:06:58.363Z", "source": "blotout", "size": 1538},
    "meta": {
        "sdkv": "0.10.2",
        "user_agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) Safari/605.1.15",
        "referrer": "https://www.google.com/",
        "page_title": "Organic Cotton Tee – Example Shop",
        "search": "?utm_source=google&utm_medium=cpc&gclid=Cj0KCQ",
    },
    "events": [
        {
            "mid": "c2RrX3N0YXJ0-4b92255f175a8e65-932.0060",
            "evn": "sdk_start",
            "evt": 1710115587974,
            "scrn": "https://shop.example.com/products/tee?utm_source=google",
            "session_id": "1710115587974",
            "userid": "63133bade6703488131e87e9cf5b30a8",
            "additionalData": {"path": "/products/tee"},
        },
        {
            "mid": "dHJhbnNhY3Rpb24=-1",
            "evn": "transaction",
            "evt": 1710115617235,
            "userid": "63133bade6703488131e87e9cf5b30a8",
            "additionalData": {"transaction_id": "T-1", "transaction_total": 56.0,
                               "transaction_currency": "usd"},
        },
        {
            "mid": "cGVyc29uYQ==-2",
            "evn": "persona",
            "evt": 1710115617236,
            "userid": "63133bade6703488131e87e9cf5b30a8",
            "additionalData": {"persona_id": "c-7", "persona_email": " Bo@Example.com"},
        },
    ],
}  # fmt: skip


def _line(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EventsWorker]:
    root = tmp_path_factory.mktemp("fast")
    con = connect(config={"threads": 1})
    yield EventsWorker(con, Lake(str(root / "lake")), 1 << 20, MAX_EVENT_BYTES, 500_000_000)
    con.close()


def _flatten_both_ways(worker: EventsWorker, lines: list[str]) -> tuple[list, list, int]:
    """(the statement's rows, the rows with the fast path, the lines the fast path took)."""
    raw = "raw/events/t.jsonl.gz"
    with worker.lake.atomic_writer(raw) as handle:
        handle.write(gzip.compress("".join(line + "\n" for line in lines).encode()))
    files = [RawFile(raw, "2024-03-11T00")]
    chunk = pa.concat_tables(table for table, _ in read_line_chunks(worker.lake, files, 1 << 20))
    taken = fast_flatten.split(chunk, MAX_EVENT_BYTES)[1].true_count
    tables = []
    for fast in (False, True):
        worker.fast_path = fast
        table = f"t_{int(fast)}"
        worker.flatten(table, files, Path(worker.lake.full("keys.parquet")))
        tables.append(
            worker.con.execute(f"SELECT * FROM {table} ORDER BY line_no, item_index").fetchall()
        )
    return tables[0], tables[1], taken


def test_the_fast_path_is_built() -> None:
    """`make setup` compiles it; without it every line would quietly take the slow path."""
    assert fast_flatten.available


def test_plain_messages_take_the_fast_path_with_the_statements_rows(
    worker: EventsWorker,
) -> None:
    track = {**PAGE_VIEW, "type": "Track", "event": "Order Completed", "messageId": "m-2"}
    track["properties"] = {"order_id": 1001, "total": "129.95", "currency": "eur"}
    identify = {**PAGE_VIEW, "type": "identify", "messageId": "m-3", "userId": "u-1"}
    identify["traits"] = {"email": "ana@example.com", "phone": " +1 555 0100 "}
    batch = {
        "_cdp": {"received_at": "2024-03-11T00:05:55.943Z", "source": "ios", "size": 4898},
        "batch": [{k: v for k, v in track.items() if k != "_cdp"}, {**identify, "_cdp": 1}],
        "sentAt": "2024-03-11T00:05:55.100Z",
    }
    lines = [_line(PAGE_VIEW), _line(track), _line(identify), _line(BLOTOUT), _line(batch)]
    by_statement, by_fast_path, taken = _flatten_both_ways(worker, lines)
    assert taken == 5 and len(by_fast_path) == 8
    assert by_fast_path == by_statement
    names = [column[0] for column in worker.con.execute("DESCRIBE t_1").fetchall()]
    row = dict(zip(names, by_fast_path[0], strict=True))
    assert row["utm_source"] == "google" and row["utm_term"] == "merino hoodie"
    assert row["utm_medium"] == "cpc" and row["email"] == "ana@example.com"
    assert row["path"] == "/" and row["session_id"] == "1710115587974"


@pytest.mark.parametrize(
    ("change", "text"),
    [
        ({"messageId": "ESCAPED"}, '"a\\"b"'),  # an escape: unescaped by the statement
        ({"properties": {"price": "PRICE"}}, "1.50"),  # written back as 1.5
        ({"properties": {"price": "PRICE"}}, "1e2"),  # written back as 100.0
        ({"properties": {"name": "NAME"}}, '"caf\\u00e9"'),  # written back as café
        ({"properties": {"writeKey": "secret"}}, None),  # removed by the statement
        ({"context": {"page": {"url": "https://x.example/?utm_source=a%20b"}}}, None),
        ({"timestamp": "2024-02-30T00:00:00Z"}, None),  # quarantined
        ({"timestamp": "2024-03-11 00:05:35"}, None),  # another form DuckDB reads
        ({"_cdp": {"received_at": "2024-03-11T00:05:36Z", "source": "web"}}, None),  # no size
        ({"context": {"traits": {"email": "ÁNA@example.com"}}}, None),  # lower() of Unicode
        ({"context": {"traits": {"phone": "\u00a0"}}}, None),  # trim() takes Unicode spaces
        ({"traits": {"phone": "+1 555 0100\u3000"}}, None),
        ({"batch": [{"type": "track"}]}, None),
        ({"anonymousId": 5}, None),  # wrong_type
    ],
)
def test_other_lines_are_left_to_the_statement(
    worker: EventsWorker, change: dict[str, Any], text: str | None
) -> None:
    """`text` replaces the one placeholder string of `change` in the line."""
    line = _line({**PAGE_VIEW, **change})
    if text is not None:
        line = line.replace(next(f'"{v}"' for v in ("ESCAPED", "PRICE", "NAME") if v in line), text)
    by_statement, by_fast_path, taken = _flatten_both_ways(worker, [line])
    assert taken == 0
    assert by_fast_path == by_statement


def test_a_repeated_key_is_left_to_the_statement(worker: EventsWorker) -> None:
    """DuckDB takes the first of repeated keys; the fast path does not guess."""
    line = _line(PAGE_VIEW).replace('"type":"page"', '"type":"page","type":"track"')
    by_statement, by_fast_path, taken = _flatten_both_ways(worker, [line])
    assert taken == 0 and by_fast_path == by_statement


PLAIN_TIMES = st.sampled_from(
    [
        "2024-03-11T00:05:35.159Z", "2024-03-11T00:05:35Z", "2024-03-11T02:05:35.1+02:00",
        "2024-03-10T19:05:35.123456-05:00", "2024-03-12T00:05:35.000Z", "2024-02-29T23:59:59Z",
        "2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z", "2024-03-09T00:05:35Z",
    ]
)  # fmt: skip
ODD_TIMES = st.sampled_from(
    [
        "1999-12-31T23:59:59Z", "2100-01-01T00:00:00.000001Z", "2024-03-11T00:05:35.1234567Z",
        "2024-03-11t00:05:35z", "", "2023-02-29T00:00:00Z", "2024-13-01T00:00:00Z",
        "2024-03-11T24:00:00Z", "2024-03-11 00:05:35", "1710115587974",
    ]
)  # fmt: skip
PLAIN_TEXT = st.one_of(
    st.sampled_from(["", " ", "a", "Ab C+d", "ünï – x", "x y", "é" * 7, "A" * 13, "  p  "]),
    st.text(
        alphabet=st.characters(
            codec="utf-8", exclude_categories=["Cs", "Cc"], exclude_characters='"\\'
        ),
        max_size=14,
    ),
)
ODD_TEXT = st.sampled_from(['q"q', "\\", "x\ty", "line\n", "writeKey", "\x01"])
URLS = st.sampled_from(
    [
        "https://shop.example.com/p/q?utm_source=a+b&gclid=X1#frag",
        "https://shop.example.com/p?fbclid=F&utm_campaign=&msclkid=M&ttclid=T&utm_content=c",
        "HTTPS://Shop.Example/Path?utm_medium=x", "https://h", "https://h?", "https://h#x?y",
        "mailto:a@b", "/relative?utm_source=s", "shop.example.com/x?xutm_source=1&utm_source=2",
        "https://h/?utm_term=one&utm_term=two", "https://h/a?q", "", "1http://x/y",
        "https://h/p?utm_source=%41",
    ]
)  # fmt: skip
PLAIN_NUMBERS = st.one_of(
    st.integers(min_value=-(10**15), max_value=10**15),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.sampled_from([28.0, 49.9, 0.0, 1.5, 0.001, 123456789.125, 1e14]),
)
ODD_NUMBERS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.sampled_from([-0.0, 0.00001, 1e15, 1e16, 1e300, 5e-324]),
)
SCALARS = st.one_of(st.none(), st.booleans(), PLAIN_NUMBERS, PLAIN_TEXT, URLS)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(PLAIN_TEXT, inner, max_size=3),
    max_leaves=6,
)
PROPERTIES = st.fixed_dictionaries(
    {},
    optional={
        **{k: st.one_of(PLAIN_TEXT, URLS, st.none()) for k in ("url", "path", "referrer",
                                                               "title", "search", "name")},
        "email": st.sampled_from(["a@b.c", " Ana@Example.COM ", ""]),
        **{k: st.one_of(st.sampled_from(["1001", "A-1", ""]), st.integers(0, 10**12))
           for k in ("order_id", "orderId", "transaction_id")},
        **{k: st.one_of(PLAIN_NUMBERS, st.sampled_from(["129.95", "-3", "7.", "", "x"]))
           for k in ("revenue", "total", "value")},
        "currency": st.sampled_from(["usd", "EUR", "", "Gbp"]),
        "price": PLAIN_NUMBERS,
        "items": VALUES,
    },
)  # fmt: skip
CONTEXT = st.fixed_dictionaries(
    {},
    optional={
        "page": st.fixed_dictionaries(
            {},
            optional={
                "url": URLS, "path": PLAIN_TEXT, "referrer": URLS, "title": PLAIN_TEXT,
                "search": st.sampled_from(["", "?utm_source=news&utm_medium=email", "?gclid=G"]),
            },
        ),
        "campaign": st.fixed_dictionaries(
            {}, optional={k: PLAIN_TEXT for k in ("source", "medium", "name", "term")}
        ),
        "traits": st.fixed_dictionaries(
            {}, optional={"email": st.sampled_from(["x@y.z", "  X@Y.Z"]), "phone": PLAIN_TEXT}
        ),
        "userAgent": PLAIN_TEXT,
        "ip": st.sampled_from(["198.51.100.9", "2001:db8::1", ""]),
        "sessionId": st.one_of(PLAIN_TEXT, st.integers(0, 2**62)),
        "library": VALUES,
    },
)  # fmt: skip
PLAIN_MESSAGES = st.fixed_dictionaries(
    {
        "_cdp": st.fixed_dictionaries(
            {"received_at": PLAIN_TIMES, "size": st.integers(0, 30000)},
            optional={
                "source": st.sampled_from(["web", "ios", ""]),
                "user_agent": PLAIN_TEXT,
                "ip": st.sampled_from(["203.0.113.7", ""]),
                "format": st.sampled_from(["segment_message", "segment"]),
            },
        ),
        "type": st.sampled_from(["track", "page", "screen", "identify", "alias", "group", "Page"]),
        "messageId": st.sampled_from(["m-1", "ajs-2", "A" * 20]),
        "anonymousId": st.sampled_from(["a-1", "anon"]),
        "timestamp": PLAIN_TIMES,
    },
    optional={
        "userId": st.sampled_from(["u-1", "", "Ünï"]),
        "previousId": st.sampled_from(["p-1", ""]),
        "groupId": st.just("g-1"),
        "event": PLAIN_TEXT,
        "name": PLAIN_TEXT,
        "originalTimestamp": PLAIN_TIMES,
        "sentAt": PLAIN_TIMES,
        "properties": st.one_of(PROPERTIES, st.none()),
        "traits": st.fixed_dictionaries(
            {}, optional={"email": st.sampled_from(["t@u.v", ""]), "phone": PLAIN_TEXT}
        ),
        "context": CONTEXT,
        "integrations": VALUES,
    },
)  # fmt: skip
# What may go wrong with one field: another type, an odd time or text, a number the JSON
# writer would write differently, a key that makes the line something else.
ODD_VALUES = st.one_of(ODD_TIMES, ODD_TEXT, ODD_NUMBERS, VALUES, st.none(), st.booleans())
FIELDS = st.sampled_from(
    ["type", "messageId", "anonymousId", "userId", "previousId", "event", "name", "timestamp",
     "originalTimestamp", "sentAt", "properties", "traits", "context", "_cdp", "batch", "_raw"]
)  # fmt: skip
NESTED = st.sampled_from(
    [("properties", "revenue"), ("properties", "url"), ("properties", "price"),
     ("properties", "writeKey"), ("context", "page"), ("context", "sessionId"),
     ("context", "userAgent"), ("_cdp", "size"), ("_cdp", "received_at"), ("_cdp", "format"),
     ("traits", "email")]
)  # fmt: skip


@st.composite
def messages(draw: st.DrawFn) -> dict[str, Any]:
    """A plain message, then up to two fields made odd."""
    message = draw(PLAIN_MESSAGES)
    for _ in range(draw(st.integers(0, 2))):
        if draw(st.booleans()):
            message[draw(FIELDS)] = draw(ODD_VALUES)
        else:
            outer, inner = draw(NESTED)
            if not isinstance(message.get(outer), dict):
                message[outer] = {}
            message[outer][inner] = draw(ODD_VALUES)
    return message


MILLIS = st.one_of(
    st.integers(946684800000, 4102444800000),
    st.sampled_from([1710115587974, 946684799999, 4102444800001, 1710115587974.5, "1710115587974",
                     "17101.5", "x", 1.7101155879745e12]),
)  # fmt: skip
BLOTOUT_DATA = st.fixed_dictionaries(
    {},
    optional={
        "path": st.one_of(PLAIN_TEXT, st.none()),
        "transaction_id": st.one_of(st.sampled_from(["T-1", ""]), st.integers(0, 10**9)),
        "transaction_total": st.one_of(PLAIN_NUMBERS, st.sampled_from(["12.5", "x", ""])),
        "transaction_currency": st.sampled_from(["usd", "EUR", "", "€"]),
        "persona_id": st.sampled_from(["p-1", ""]),
        "persona_email": st.sampled_from([" Bo@Example.com", "bo@example.com", "", "Ünï@x.y"]),
        "persona_number": PLAIN_TEXT,
        "map_id": st.sampled_from(["m-9", ""]),
        "map_provider": st.sampled_from(["shopify", ""]),
        "extra": VALUES,
    },
)  # fmt: skip
BLOTOUT_EVENTS = st.fixed_dictionaries(
    {
        "mid": st.sampled_from(["c2Rr-1", "mid-2", ""]),
        "evn": st.sampled_from(["sdk_start", "persona", "transaction", "map_id", "visibility"]),
        "evt": MILLIS,
    },
    optional={
        "scrn": URLS,
        "session_id": st.one_of(PLAIN_TEXT, st.integers(0, 2**50)),
        "userid": st.sampled_from(["63133bade6703488131e87e9cf5b30a8", ""]),
        "additionalData": st.one_of(BLOTOUT_DATA, st.none()),
        "screen": VALUES,
    },
)  # fmt: skip


def _envelope(source: str, formats: list[str], **more: st.SearchStrategy[Any]) -> Any:
    """The collector's `_cdp` of a payload."""
    return st.fixed_dictionaries(
        {"received_at": PLAIN_TIMES},
        optional={
            "source": st.sampled_from([source, ""]),
            "size": st.integers(0, 30000),
            "user_agent": PLAIN_TEXT,
            "ip": st.sampled_from(["203.0.113.7", ""]),
            "format": st.sampled_from(formats),
            **more,
        },
    )


BLOTOUT_PAYLOADS = st.fixed_dictionaries(
    {
        "_cdp": _envelope("blotout", ["blotout"], visitor_id=st.sampled_from(["v-1", ""])),
        "meta": st.fixed_dictionaries(
            {},
            optional={
                "user_agent": PLAIN_TEXT, "referrer": URLS, "page_title": PLAIN_TEXT,
                "search": st.sampled_from(["", "?utm_source=g&gclid=C+1", "?x"]),
                "sdkv": st.just("0.10.2"), "tz_offset": st.integers(-720, 720),
            },
        ),
        "events": st.lists(BLOTOUT_EVENTS, max_size=4),
    },
)  # fmt: skip
BATCHES = st.fixed_dictionaries(
    {
        "_cdp": _envelope("ios", ["segment_batch", "segment"]),
        "batch": st.lists(
            PLAIN_MESSAGES.map(lambda m: {k: v for k, v in m.items() if k != "_cdp"}),
            max_size=4,
        ),
    },
    optional={"sentAt": PLAIN_TIMES, "context": CONTEXT},
)
NESTED_ITEMS = st.sampled_from(
    ["mid", "evn", "evt", "scrn", "userid", "additionalData", "type", "messageId", "sentAt",
     "timestamp", "properties", "anonymousId"]
)  # fmt: skip


@st.composite
def payloads(draw: st.DrawFn) -> dict[str, Any]:
    """A plain Blotout payload or batch envelope, then up to two fields made odd (of the line
    or of one of its items)."""
    payload = draw(st.one_of(BLOTOUT_PAYLOADS, BATCHES))
    items = payload.get("events", payload.get("batch"))
    for _ in range(draw(st.integers(0, 2))):
        if items and draw(st.booleans()):
            items[draw(st.integers(0, len(items) - 1))][draw(NESTED_ITEMS)] = draw(ODD_VALUES)
        elif draw(st.booleans()):
            payload[draw(st.sampled_from(["meta", "_cdp", "sentAt", "events", "batch"]))] = draw(
                ODD_VALUES
            )
        elif isinstance(payload["_cdp"], dict):
            payload["_cdp"][draw(st.sampled_from(["received_at", "visitor_id", "format"]))] = draw(
                ODD_VALUES
            )
    return payload


FORMS = st.sampled_from([(",", ":"), (", ", ": ")])


@hypothesis_settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    drawn=st.lists(
        st.tuples(
            st.one_of(messages(), messages(), payloads()),
            FORMS,
            st.sampled_from([False, False, True]),
        ),
        min_size=1,
        max_size=12,
    ),
)
def test_the_fast_path_gives_the_statements_rows_whatever_the_message(
    worker: EventsWorker, drawn: list[tuple[dict[str, Any], Any, bool]]
) -> None:
    lines = [
        json.dumps(message, separators=separators, ensure_ascii=ascii_only)
        for message, separators, ascii_only in drawn
    ]
    by_statement, by_fast_path, _ = _flatten_both_ways(worker, lines)
    assert by_fast_path == by_statement
