"""Read raw landing files as bounded chunks of lines, ready for an engine.

Lines become an Arrow string column without a Python object per line: newline offsets are found
with NumPy and the decompressed buffer becomes the column's data buffer. Memory stays near
`chunk_bytes` whatever the size of the input.
"""

from __future__ import annotations

import queue
import threading
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import numpy as np
import pyarrow as pa
from isal import igzip, isal_zlib

from cdpflow.lake.raw import RawFile
from cdpflow.lake.storage import Lake

_BLOCK = 8 << 20
_MAX_STRING_BYTES = (1 << 31) - 1  # of one Arrow string array (32-bit offsets)
# isal's stubs declare IsalError as an instance; it is the class of its decompression errors.
_GZIP_ERRORS = (OSError, EOFError, zlib.error, cast(type[Exception], isal_zlib.IsalError))
T = TypeVar("T")
LINES_SCHEMA = pa.schema(
    [
        ("raw_hour", pa.string()),
        ("raw_file", pa.string()),
        ("line_no", pa.int64()),
        ("line", pa.string()),
    ]
)


@dataclass
class _Piece:
    file: RawFile
    first_line: int
    data: memoryview  # whole lines, each ending in a newline
    ends: np.ndarray  # offset after each line's newline
    _braces: int | None = None

    def split(self, lines: int) -> tuple[_Piece, _Piece]:
        """The first `lines` lines, and the rest (views of the same buffer)."""
        cut = int(self.ends[lines - 1])
        head = _Piece(self.file, self.first_line, self.data[:cut], self.ends[:lines])
        tail = _Piece(self.file, self.first_line + lines, self.data[cut:], self.ends[lines:] - cut)
        return head, tail

    def _density(self, object_bytes: int) -> float:
        """How much a byte of this piece weighs: 1, plus `object_bytes` times the piece's
        average of `{` per byte (counted once, by one scan of the piece)."""
        if not object_bytes or not len(self.data):
            return 1.0
        if self._braces is None:
            self._braces = int(np.count_nonzero(np.frombuffer(self.data, dtype=np.uint8) == 123))
        return 1.0 + object_bytes * self._braces / len(self.data)

    def weight(self, object_bytes: int) -> float:
        """The weight of all the piece's lines (see `line_weights`)."""
        return len(self.data) * self._density(object_bytes)

    def line_weights(self, object_bytes: int) -> np.ndarray:
        """Each line's bytes, plus `object_bytes` per JSON object in it (counted as the
        piece's average of `{` per byte)."""
        sizes = np.diff(self.ends, prepend=0)
        if not object_bytes or not len(self.data):
            return sizes
        return sizes * self._density(object_bytes)

    def run_after(
        self, lines: int, object_bytes: int, run_lines: float, run_weight: float
    ) -> tuple[float, float]:
        """The current run's (lines, weight) after this piece's lines are added (`_run_after`
        without a weight per line)."""
        count = len(self.ends)
        room = int(lines - run_lines)
        if count < room:
            return run_lines + count, run_weight + self.weight(object_bytes)
        rest = (count - room) % lines
        if not rest:
            return 0, 0.0
        tail_bytes = int(self.ends[-1]) - int(self.ends[count - rest - 1])
        return rest, tail_bytes * self._density(object_bytes)


def read_line_chunks(
    lake: Lake,
    files: Iterable[RawFile],
    chunk_bytes: int,
    vector_limit: tuple[int, int, int] | None = None,
) -> Iterator[tuple[pa.Table, int]]:
    """Yield (lines table, decompressed bytes) chunks of about `chunk_bytes` each.

    `vector_limit` (lines, weight, object_bytes) also cuts a chunk where a run of `lines`
    lines from its start, or from the end of the previous such run, would weigh more than
    `weight`: a line weighs its bytes plus `object_bytes` per JSON object in it. An engine
    that works on `lines` rows at a time (DuckDB's vectors) holds one run's parse at once,
    whose size grows with the lines' length and their items, not only with the chunk's bytes.
    """
    pieces: list[_Piece] = []
    size = 0
    run_lines = run_weight = 0.0  # the current run of the chunk being filled
    for piece in _pieces(lake, files, chunk_bytes):
        while vector_limit is not None and len(piece.ends):
            lines, weight, object_bytes = vector_limit
            if run_weight + piece.weight(object_bytes) <= weight:
                # The chunk's current run and the whole piece together fit one run's weight,
                # so no run can be too heavy: no weights per line to add up (most pieces).
                run_lines, run_weight = piece.run_after(lines, object_bytes, run_lines, run_weight)
                break
            weights = piece.line_weights(object_bytes)
            cut = _run_cut(weights, lines, weight, run_lines, run_weight)
            if cut is None:  # the whole piece fits the chunk's runs
                run_lines, run_weight = _run_after(weights, lines, run_lines, run_weight)
                break
            if cut == 0 and not pieces:
                cut = 1  # a line heavier than a run on its own goes alone
            if cut:
                head, piece = piece.split(cut)
                pieces.append(head)
                size += len(head.data)
            yield _table(pieces), size
            pieces, size, run_lines, run_weight = [], 0, 0, 0.0
        if not len(piece.ends):
            continue
        pieces.append(piece)
        size += len(piece.data)
        if size >= chunk_bytes:
            yield _table(pieces), size
            pieces, size, run_lines, run_weight = [], 0, 0, 0.0
    if pieces:
        yield _table(pieces), size


def _run_cut(
    weights: np.ndarray, lines: int, limit: float, run_lines: float, run_weight: float
) -> int | None:
    """How many of a piece's lines fit before a run of `lines` lines would weigh more than
    `limit`, given the current run's lines and weight; None when they all fit."""
    start = 0
    while start < len(weights):
        room = int(lines - run_lines)
        part = np.cumsum(weights[start : start + room]) + run_weight
        over = int(np.searchsorted(part, limit, side="right"))
        if over < len(part):
            return start + over
        start += len(part)
        run_lines, run_weight = 0, 0.0
    return None


def _run_after(
    weights: np.ndarray, lines: int, run_lines: float, run_weight: float
) -> tuple[float, float]:
    """The current run's (lines, weight) after a piece's lines are added."""
    room = int(lines - run_lines)
    if len(weights) < room:
        return run_lines + len(weights), run_weight + float(weights.sum())
    rest = (len(weights) - room) % lines
    return rest, float(weights[len(weights) - rest :].sum()) if rest else 0.0


def _pieces(lake: Lake, files: Iterable[RawFile], chunk_bytes: int) -> Iterator[_Piece]:
    """Whole-line pieces of each file, at most about `chunk_bytes` each."""
    for raw_file in files:
        line_no = 1
        blocks = _blocks(lake, raw_file)
        buffer: list[bytes] = []
        buffered = 0
        while True:
            block = next(blocks, b"")
            if block:
                buffer.append(block)
                buffered += len(block)
            if buffered >= chunk_bytes or (not block and buffered):
                data = buffer[0] if len(buffer) == 1 else b"".join(buffer)  # a small file
                cut = data.rfind(b"\n") + 1 if block else len(data)
                whole, carry = memoryview(data)[:cut], data[cut:]
                if cut and data[cut - 1] != 10:
                    whole = memoryview(data + b"\n")  # a last line without its newline
                if cut:
                    ends = np.flatnonzero(np.frombuffer(whole, dtype=np.uint8) == 10) + 1
                    yield _Piece(raw_file, line_no, whole, ends)
                    line_no += len(ends)
                buffer, buffered = [carry] if carry else [], len(carry)
            if not block:
                break


def _blocks(lake: Lake, raw_file: RawFile) -> Iterator[bytes]:
    """A raw file's decompressed bytes, in blocks; of a damaged file, what could be read and
    then a line that says so (quarantined)."""
    with lake.open(raw_file.path, "rb") as handle, igzip.GzipFile(fileobj=handle) as gz:
        while True:
            try:
                block = gz.read(_BLOCK)
            except _GZIP_ERRORS as err:
                yield f"\n\x00unreadable gzip data: {err}\n".encode()
                return
            if not block:
                return
            yield block


def count_lines(lake: Lake, path: str) -> int:
    """Lines (received messages) in one raw file; a damaged tail counts what could be read."""
    lines = 0
    last = b"\n"
    with lake.open(path, "rb") as handle, igzip.GzipFile(fileobj=handle) as gz:
        while True:
            try:
                block = gz.read(_BLOCK)
            except _GZIP_ERRORS:
                block = b""
            if not block:
                break
            lines += block.count(b"\n")
            last = block[-1:]
    return lines + (last != b"\n")


def _table(pieces: list[_Piece]) -> pa.Table:
    """The chunk's lines: each piece's decompressed buffer itself (not a copy) as a chunk of
    `line`; the other columns are built for the whole chunk at once (a raw file of a small
    hour is one piece, so work per piece is work per file)."""
    counts = np.array([len(piece.ends) for piece in pieces], dtype=np.int64)
    total = int(counts.sum())
    starts = np.cumsum(counts) - counts  # each piece's first row
    firsts = np.array([piece.first_line for piece in pieces], dtype=np.int64)
    line_nos = np.arange(total, dtype=np.int64) + np.repeat(firsts - starts, counts)
    columns = [
        _repeated_texts([piece.file.hour for piece in pieces], counts),
        _repeated_texts([piece.file.path for piece in pieces], counts),
        pa.Array.from_buffers(pa.int64(), total, [None, pa.py_buffer(line_nos)]),
        _lines_column(pieces),
    ]
    return pa.Table.from_arrays(columns, schema=LINES_SCHEMA)


def _repeated_texts(texts: list[str], counts: np.ndarray) -> pa.Array:
    """Each of `texts` `counts` times, in order. Columns are built from buffers, never from
    Python objects: for those (`pa.scalar`, `pa.array`) pyarrow first imports pandas to see
    whether they are pandas', a quarter of a worker process's start (bench/README.md)."""
    encoded = [text.encode() for text in texts]
    sizes = np.array([len(e) for e in encoded], dtype=np.int64)
    if len(texts) > 1 and int(sizes @ counts) > _MAX_STRING_BYTES:  # a chunk of tiny lines
        return pa.chunked_array(
            [_repeated_texts(texts[i : i + 1], counts[i : i + 1]) for i in range(len(texts))]
        )
    lengths = np.repeat(sizes, counts)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    data = b"".join(e * int(n) for e, n in zip(encoded, counts.tolist(), strict=True))
    return pa.StringArray.from_buffers(
        len(lengths), pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data)
    )


def _lines_column(pieces: list[_Piece]) -> pa.ChunkedArray:
    """One string per line (each keeps its trailing newline, which JSON parsers ignore), a
    chunk per piece, checked as UTF-8 all at once; a piece that is not is repaired."""
    arrays = [_lines_array(piece.data, piece.ends) for piece in pieces]
    column = pa.chunked_array(arrays, pa.string())
    try:
        column.validate(full=True)
        return column
    except pa.ArrowInvalid:
        return pa.chunked_array(
            [_valid_lines(a, piece) for a, piece in zip(arrays, pieces, strict=True)],
            pa.string(),
        )


def _lines_array(data: memoryview, ends: np.ndarray) -> pa.Array:
    offsets = np.zeros(len(ends) + 1, dtype=np.int32)
    offsets[1:] = ends
    return pa.StringArray.from_buffers(len(ends), pa.py_buffer(offsets), pa.py_buffer(data))


def _valid_lines(array: pa.Array, piece: _Piece) -> pa.Array:
    try:
        array.validate(full=True)
        return array
    except pa.ArrowInvalid:
        return _repair_utf8(bytes(piece.data), piece.ends)


def _repair_utf8(data: bytes, ends: np.ndarray) -> pa.Array:
    """Keep every line; one that is not UTF-8 is made unparseable so it is quarantined."""
    out = []
    start = 0
    for end in ends.tolist():
        chunk = data[start:end]
        try:
            out.append(chunk.decode("utf-8"))
        except UnicodeDecodeError:
            out.append("\x00not UTF-8\x00 " + chunk.decode("utf-8", errors="replace"))
        start = end
    return pa.array(out, pa.string())


def prefetch(chunks: Iterator[T], depth: int = 1) -> Iterator[T]:
    """Produce the next chunk in a thread while the caller works on this one.

    Decompression releases the GIL, so reading overlaps the engine's work on the other core.
    """
    done = object()
    slots: queue.Queue[Any] = queue.Queue(maxsize=depth)

    def produce() -> None:
        try:
            for chunk in chunks:
                slots.put(chunk)
        except BaseException as err:  # handed to the consumer, raised there
            slots.put(_Failure(err))
            return
        slots.put(done)

    worker = threading.Thread(target=produce, name="raw-reader", daemon=True)
    worker.start()
    while (item := slots.get()) is not done:
        if isinstance(item, _Failure):
            raise item.error
        yield item
    worker.join()


@dataclass
class _Failure:
    error: BaseException
