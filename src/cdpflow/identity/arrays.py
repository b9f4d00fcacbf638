"""Small vectorized helpers over Arrow and numpy arrays shared by the identity modules."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cdpflow.identity.ids import SEP
from cdpflow.identity.schema import TS

NO_TIME = np.iinfo(np.int64).max


def keys_of(
    types: pa.ChunkedArray | pa.Array, values: pa.ChunkedArray | pa.Array
) -> pa.ChunkedArray:
    joined = pc.binary_join_element_wise(types, values, SEP)
    return joined if isinstance(joined, pa.ChunkedArray) else pa.chunked_array([joined])


def intern(values: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, pa.Array]:
    """Integer ids of string values, and the strings by id."""
    if isinstance(values, pa.Array):
        values = pa.chunked_array([values])
    if values.num_chunks == 0:
        return np.zeros(0, dtype=np.int64), pa.array([], values.type)
    encoded = pc.dictionary_encode(values)  # one dictionary shared by all chunks
    indices = [c.indices.to_numpy(zero_copy_only=False) for c in encoded.chunks]
    return np.concatenate(indices), encoded.chunks[0].dictionary


def index_in(values: pa.ChunkedArray | pa.Array, names: pa.Array) -> np.ndarray:
    found = pc.index_in(values, value_set=names)
    if isinstance(found, pa.ChunkedArray):
        found = found.combine_chunks() if found.num_chunks else pa.array([], pa.int32())
    return found.to_numpy(zero_copy_only=False).astype(np.int64)


def ranked(values: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, pa.Array]:
    """Ids of string values in sorted order (so the smallest id is the smallest string)."""
    uniq = pc.unique(values.fill_null(""))
    uniq = uniq.take(pc.sort_indices(uniq))
    idx = pc.index_in(values.fill_null(""), value_set=uniq)
    if isinstance(idx, pa.ChunkedArray):
        idx = idx.combine_chunks()
    return idx.to_numpy(zero_copy_only=False).astype(np.int64), uniq


def distinct(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values (numpy's hash-based unique is slower on large int arrays)."""
    ordered = np.sort(values)
    return ordered[np.r_[True, ordered[1:] != ordered[:-1]]] if len(ordered) else ordered


def earliest(
    group: np.ndarray, first: np.ndarray, last: np.ndarray, src: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per group: (group, row of its earliest sighting, min first, max last, its source)."""
    order = np.lexsort((src, first, group))
    g = group[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    rep = order[starts]
    return g[starts], rep, first[rep], np.maximum.reduceat(last[order], starts), src[rep]


def canonical(keys: pa.Array, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) ordered so that the smaller key string comes first."""
    swap = pc.greater(keys.take(a), keys.take(b)).to_numpy(zero_copy_only=False)
    return np.where(swap, b, a), np.where(swap, a, b)


def micros(column: pa.ChunkedArray | pa.Array, fill: int = NO_TIME) -> np.ndarray:
    as_int = pc.cast(column, pa.int64()).fill_null(fill)
    if isinstance(as_int, pa.ChunkedArray):
        as_int = as_int.combine_chunks() if as_int.num_chunks else pa.array([], pa.int64())
    return as_int.to_numpy(zero_copy_only=False)


def timestamps(micros: np.ndarray) -> pa.Array:
    return pa.array(micros, pa.int64()).cast(TS)
