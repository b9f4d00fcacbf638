"""Person ids: `gu_` and a 64-bit hash of the person's earliest identifier.

The hash is part of the stored data's contract: changing it changes every id.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

SEP = "\x1f"  # between type and value in an identifier key; sorts below every printable char


def person_id(identifier_type: str, identifier_value: str) -> str:
    """The global_user_id of a person whose earliest identifier is this one."""
    return str(person_ids(pa.array([f"{identifier_type}{SEP}{identifier_value}"]))[0])


def person_ids(keys: pa.Array) -> pa.Array:
    """`gu_` + 16 hex digits of a 64-bit hash of each `type<SEP>value` key, vectorized.

    The hash (splitmix64 over the key's UTF-8 bytes, 8 at a time) is part of the stored data's
    contract: changing it changes every id.
    """
    hashed = _hash64(keys)
    n = len(hashed)
    out = np.empty((n, 19), dtype=np.uint8)
    out[:, :3] = np.frombuffer(b"gu_", dtype=np.uint8)
    out[:, 3:] = _HEX_PAIRS[hashed.astype(">u8").view(np.uint8).reshape(n, 8)].reshape(n, 16)
    fixed = pa.FixedSizeBinaryArray.from_buffers(pa.binary(19), n, [None, pa.py_buffer(out)])
    return fixed.cast(pa.binary()).cast(pa.string())


_HEX_PAIRS = np.array([list(f"{i:02x}".encode()) for i in range(256)], dtype=np.uint8)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1, _MIX2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray) -> np.ndarray:
    x = x + _GOLDEN
    x = (x ^ (x >> np.uint64(30))) * _MIX1
    x = (x ^ (x >> np.uint64(27))) * _MIX2
    return x ^ (x >> np.uint64(31))  # type: ignore[no-any-return]


def _hash64(keys: pa.Array) -> np.ndarray:
    strings = keys.cast(pa.string())
    strings = pa.concat_arrays([strings]) if strings.offset else strings
    n = len(strings)
    offsets = np.frombuffer(strings.buffers()[1], dtype=np.int32, count=n + 1)
    raw = strings.buffers()[2]
    data = np.zeros((raw.size if raw is not None else 0) + 8, dtype=np.uint8)
    if raw is not None:
        data[: raw.size] = np.frombuffer(raw, dtype=np.uint8)
    # The 8 bytes starting at every offset, as one little-endian word (an unaligned view).
    words = np.ndarray(shape=(len(data) - 7,), dtype="<u8", buffer=data, strides=(1,))
    start = offsets[:-1].astype(np.int64)
    length = (offsets[1:] - offsets[:-1]).astype(np.int64)
    hashed = _mix(length.astype(np.uint64))
    active = np.flatnonzero(length > 0)
    at = 0
    while len(active):
        word = words[start[active] + at]
        rest = length[active] - at
        short = rest < 8
        if short.any():
            word[short] &= (np.uint64(1) << (np.uint64(8) * rest[short].astype(np.uint64))) - 1
        hashed[active] = _mix(hashed[active] ^ word)
        at += 8
        active = active[length[active] > at]
    return hashed
