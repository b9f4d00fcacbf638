from __future__ import annotations

import gzip
import stat
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from cdpflow.lake.importer import import_events, to_received
from cdpflow.lake.raw import RawWriter, Received, list_raw_hours
from cdpflow.lake.raw_reader import RawFile, read_line_chunks
from cdpflow.lake.storage import Lake

T = datetime(2026, 11, 20, 13, 5, tzinfo=UTC)


def _lines(lake: Lake, rel: str) -> list[dict]:
    with lake.open(rel) as handle, gzip.GzipFile(fileobj=handle) as gz:
        return [orjson.loads(line) for line in gz]


def test_messages_land_in_the_hour_they_were_received(lake: Lake) -> None:
    with RawWriter(lake) as writer:
        writer.write(Received(T, "web", {"type": "track", "event": "A"}, ip="203.0.113.5"))
        writer.write(Received(T.replace(hour=15), "web", {"type": "track", "event": "B"}))
    hours = list_raw_hours(lake)
    assert [h.key for h in hours] == ["2026-11-20T13", "2026-11-20T15"]
    path = hours[0].files[0][0]
    assert path.startswith("raw/events/received_date=2026-11-20/received_hour=13/web-")
    (line,) = _lines(lake, path)
    assert line["_cdp"]["received_at"] == "2026-11-20T13:05:00.000Z"
    assert line["_cdp"]["source"] == "web" and line["_cdp"]["ip"] == "203.0.113.5"
    assert line["event"] == "A"


def test_a_failed_landing_publishes_nothing(lake: Lake) -> None:
    with pytest.raises(RuntimeError), RawWriter(lake) as writer:
        writer.write(Received(T, "web", {"type": "track"}))
        raise RuntimeError("disk gone")
    assert list_raw_hours(lake) == []
    assert [p for p, _ in lake.walk_files("raw")] == []


def test_a_message_cannot_forge_its_receive_metadata(lake: Lake) -> None:
    forged = {"_cdp": {"received_at": "1999-01-01T00:00:00Z"}, "type": "track"}
    with RawWriter(lake) as writer:
        writer.write(Received(T, "web", forged))
    (line,) = _lines(lake, list_raw_hours(lake)[0].files[0][0])
    assert line["_cdp"]["received_at"] == "2026-11-20T13:05:00.000Z"


def test_a_clients_raw_key_is_dropped_but_a_reimported_unreadable_line_keeps_its_text(
    lake: Lake,
) -> None:
    with RawWriter(lake) as writer:
        writer.write(Received(T, "web", {"batch": [{"type": "track"}], "_raw": "x"}))
        writer.write(Received(T, "web", "{not json"))
    client, unreadable = _lines(lake, list_raw_hours(lake)[0].files[0][0])
    assert "_raw" not in client and client["batch"] == [{"type": "track"}]
    again = to_received(orjson.dumps(unreadable), "auto", "import", T)
    assert again.message == "{not json" and again.source == "web"
    assert stat.S_IMODE(Path(lake.full("raw")).stat().st_mode) == 0o700


def test_import_keeps_received_at_of_warehouse_exports(tmp_path: Path, lake: Lake) -> None:
    source = tmp_path / "export.jsonl"
    source.write_text(
        '{"type":"track","event":"Old","receivedAt":"2024-03-01T10:15:00.000Z"}\n'
        "this is not json\n"
        "\n"
        '{"meta":{},"events":[]}\n'
    )
    result = import_events(lake, source, source="segment-export")
    assert result.messages == 3
    keys = {h.key for h in list_raw_hours(lake)}
    assert "2024-03-01T10" in keys
    texts = [line for h in list_raw_hours(lake) for p, _ in h.files for line in _lines(lake, p)]
    assert {"_cdp", "_raw"} <= set(next(t for t in texts if "_raw" in t))
    assert next(t for t in texts if "_raw" in t)["_raw"] == "this is not json"


def test_import_reads_gzip_and_forces_a_format(tmp_path: Path) -> None:
    line = to_received(b'{"events": [], "meta": {}}', "segment", "x", T)
    assert line.format == "segment" and line.received_at == T
    path = tmp_path / "e.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"type":"page","messageId":"m"}\n'))
    lake = Lake(str(tmp_path / "lake"))
    assert import_events(lake, path).messages == 1


def test_reader_numbers_lines_across_chunks_and_keeps_a_last_line_without_newline(
    lake: Lake,
) -> None:
    body = b"".join(b'{"n":%d}\n' % i for i in range(1, 5000)) + b'{"n":5000}'
    with lake.atomic_writer("raw/events/f.jsonl.gz") as handle:
        handle.write(gzip.compress(body))
    chunks = list(read_line_chunks(lake, [RawFile("raw/events/f.jsonl.gz", "h")], 10_000))
    assert len(chunks) > 1
    rows = [row for table, _ in chunks for row in table.to_pylist()]
    assert [r["line_no"] for r in rows] == list(range(1, 5001))
    assert all(orjson.loads(r["line"])["n"] == r["line_no"] for r in rows)


@pytest.mark.parametrize("string_bytes", [None, 40])
def test_reader_gives_each_line_of_a_chunk_of_many_files_its_own_file_and_number(
    lake: Lake, monkeypatch: pytest.MonkeyPatch, string_bytes: int | None
) -> None:
    """A chunk of several files' lines names each line's own hour, file and line number; also
    when their names would not fit one string array (made small here), as a chunk of millions
    of tiny lines would not."""
    from cdpflow.lake import raw_reader

    if string_bytes:
        monkeypatch.setattr(raw_reader, "_MAX_STRING_BYTES", string_bytes)
    files = []
    for i, count in enumerate([3, 1, 2]):
        rel = f"raw/events/h{i}/f{i}.jsonl.gz"
        body = b"".join(b'{"f":%d,"n":%d}\n' % (i, n) for n in range(1, count + 1))
        with lake.atomic_writer(rel) as handle:
            handle.write(gzip.compress(body))
        files.append(RawFile(rel, f"2026-11-20T1{i}"))
    ((table, _),) = list(read_line_chunks(lake, files, 1 << 20))
    got = [
        (r["raw_hour"], r["raw_file"], r["line_no"], orjson.loads(r["line"]))
        for r in table.to_pylist()
    ]
    assert got == [
        (f.hour, f.path, n, {"f": i, "n": n})
        for i, (f, count) in enumerate(zip(files, [3, 1, 2], strict=True))
        for n in range(1, count + 1)
    ]


def test_reader_keeps_lines_that_are_not_utf8_or_truncated_gzip(lake: Lake) -> None:
    with lake.atomic_writer("raw/events/bad.jsonl.gz") as handle:
        handle.write(gzip.compress(b'{"ok":1}\n{"bad":"\xff\xfe"}\n'))
    with lake.atomic_writer("raw/events/cut.jsonl.gz") as handle:
        handle.write(gzip.compress(b'{"ok":2}\n' * 1000)[:-30])
    files = [RawFile("raw/events/bad.jsonl.gz", "h"), RawFile("raw/events/cut.jsonl.gz", "h")]
    rows = [r for t, _ in read_line_chunks(lake, files, 1 << 20) for r in t.to_pylist()]
    bad = [r for r in rows if r["raw_file"].endswith("bad.jsonl.gz")]
    assert len(bad) == 2 and "not UTF-8" in bad[1]["line"]
    cut = [r["line"] for r in rows if r["raw_file"].endswith("cut.jsonl.gz")]
    assert any("unreadable gzip data" in line for line in cut)


def _write_lines(lake: Lake, rel: str, lines: list[bytes]) -> RawFile:
    with lake.atomic_writer(rel) as handle:
        handle.write(gzip.compress(b"".join(line + b"\n" for line in lines)))
    return RawFile(rel, "h")


def test_reader_cuts_chunks_where_a_vector_of_long_lines_would_weigh_too_much(
    lake: Lake,
) -> None:
    long_line = b'{"batch":[' + b",".join([b'{"k":"' + b"x" * 90 + b'"}'] * 10) + b"]}"
    short = [b'{"n":%d}' % i for i in range(40)]
    files = [
        _write_lines(lake, "raw/events/long.jsonl.gz", [long_line] * 9),
        _write_lines(lake, "raw/events/short.jsonl.gz", short),
    ]
    # runs of 4 lines may weigh 2,500: two long lines (1,000 bytes + 5 per object each) fit,
    # three do not; the short lines (at most 10 bytes) never reach it
    chunks = list(read_line_chunks(lake, files, 1 << 20, (4, 2500, 5)))
    sizes = [table.num_rows for table, _ in chunks]
    assert sizes == [2, 2, 2, 2, 1 + 40]
    rows = [row for table, _ in chunks for row in table.to_pylist()]
    assert [r["line_no"] for r in rows] == list(range(1, 10)) + list(range(1, 41))
    assert [r["line"] for r in rows] == [line.decode() + "\n" for line in [long_line] * 9 + short]


def test_reader_gives_a_line_heavier_than_a_vector_a_chunk_of_its_own(lake: Lake) -> None:
    lines = [b'{"a":1}', b'{"big":"' + b"y" * 5000 + b'"}', b'{"b":2}']
    files = [_write_lines(lake, "raw/events/f.jsonl.gz", lines)]
    chunks = list(read_line_chunks(lake, files, 1 << 20, (2048, 1000, 5)))
    assert [[r["line_no"] for r in t.to_pylist()] for t, _ in chunks] == [[1], [2], [3]]
