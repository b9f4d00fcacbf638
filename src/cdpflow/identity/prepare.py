"""Observations (identifiers seen together on one record) reduced to sightings and links. Pure."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cdpflow.identity.arrays import (
    canonical,
    earliest,
    intern,
    keys_of,
    micros,
    ranked,
    timestamps,
)
from cdpflow.identity.ids import SEP
from cdpflow.identity.normalize import junk_mask, normalize_values
from cdpflow.identity.schema import IDENTITIES, IDENTITY_EDGES, TS

# Records of identifiers seen together: one event or one offline row (or a group of them).
OBSERVATIONS = pa.schema(
    [
        ("record", pa.int64()),
        ("identifier_type", pa.string()),
        ("identifier_value", pa.string()),
        ("first_seen_at", TS),
        ("last_seen_at", TS),
        ("source", pa.string()),
    ]
)
SIGHTINGS = pa.schema([f for f in IDENTITIES if f.name not in ("global_user_id", "held_out")])
JUNK = pa.schema(
    [("identifier_type", pa.string()), ("identifier_value", pa.string()), ("records", pa.int64())]
)


@dataclass(frozen=True)
class Prepared:
    """Observations reduced to what the graph needs: one row per identifier, one per link."""

    sightings: pa.Table  # SIGHTINGS
    pairs: pa.Table  # IDENTITY_EDGES, left key < right key
    junk: pa.Table  # JUNK: values dropped because they would link strangers


def prepare(observations: pa.Table, blocklist: frozenset[str] = frozenset()) -> Prepared:
    """Normalize values, drop junk, and reduce records to sightings and pairwise links."""
    obs = observations.select(OBSERVATIONS.names).cast(OBSERVATIONS)
    values = normalize_values(obs["identifier_type"], obs["identifier_value"])
    junk = junk_mask(values, blocklist)
    shown = pc.coalesce(values, pc.utf8_trim_whitespace(obs["identifier_value"]))
    dropped = pa.table({"identifier_type": obs["identifier_type"], "identifier_value": shown})
    reported = pc.and_(junk, pc.fill_null(pc.not_equal(shown, ""), False))
    dropped = dropped.filter(reported)
    junk_table = (
        dropped.group_by(["identifier_type", "identifier_value"])
        .aggregate([("identifier_value", "count")])
        .rename_columns(JUNK.names)
        .cast(JUNK)
    )
    obs = obs.set_column(2, "identifier_value", values).filter(pc.invert(junk))
    if obs.num_rows == 0:
        return Prepared(SIGHTINGS.empty_table(), IDENTITY_EDGES.empty_table(), junk_table)

    key_idx, keys = intern(keys_of(obs["identifier_type"], obs["identifier_value"]))
    first = micros(obs["first_seen_at"])
    last = micros(obs["last_seen_at"], fill=0)
    src_idx, sources = ranked(obs["source"])

    groups, rep, g_first, g_last, g_src = earliest(key_idx, first, last, src_idx)
    sightings = pa.table(
        {
            "identifier_type": obs["identifier_type"].take(rep),
            "identifier_value": obs["identifier_value"].take(rep),
            "first_seen_at": timestamps(g_first),
            "last_seen_at": timestamps(g_last),
            "source": sources.take(g_src),
        },
        schema=SIGHTINGS,
    )

    # Every two identifiers of one record are linked: rows i and i+d of one record, sorted.
    record = obs["record"].to_numpy()
    order = np.lexsort((key_idx, record))
    rec, key, f_sorted = record[order], key_idx[order], first[order]
    keep = np.r_[True, (rec[1:] != rec[:-1]) | (key[1:] != key[:-1])]
    rec, key, rows, f_sorted = rec[keep], key[keep], order[keep], f_sorted[keep]
    left: list[np.ndarray] = []
    right: list[np.ndarray] = []
    d = 1
    while d < len(rec):
        same = np.flatnonzero(rec[d:] == rec[:-d])
        if len(same) == 0:
            break
        left.append(same)
        right.append(same + d)
        d += 1
    if not left:
        return Prepared(sightings, IDENTITY_EDGES.empty_table(), junk_table)
    li, ri = np.concatenate(left), np.concatenate(right)
    a, b = key[li], key[ri]
    # A record's identifiers share its times; the link is seen when the record is.
    p_first = np.minimum(f_sorted[li], f_sorted[ri])
    p_src = np.minimum(src_idx[rows[li]], src_idx[rows[ri]])
    lo, hi = canonical(keys, a, b)
    code = lo.astype(np.int64) * len(keys) + hi
    _, p_rep, p_first_min, _, p_src_min = earliest(code, p_first, p_first, p_src)
    lo, hi = lo[p_rep], hi[p_rep]
    pairs = _pairs_table(keys, lo, hi, p_first_min, sources.take(p_src_min))
    del groups
    return Prepared(sightings, pairs, junk_table)


def _pairs_table(
    keys: pa.Array, lo: np.ndarray, hi: np.ndarray, first: np.ndarray, source: pa.Array
) -> pa.Table:
    left = pc.split_pattern(keys.take(lo), SEP, max_splits=1)
    right = pc.split_pattern(keys.take(hi), SEP, max_splits=1)
    return pa.table(
        {
            "left_type": pc.list_element(left, 0),
            "left_value": pc.list_element(left, 1),
            "right_type": pc.list_element(right, 0),
            "right_value": pc.list_element(right, 1),
            "first_seen_at": timestamps(first),
            "source": source,
        },
        schema=IDENTITY_EDGES,
    )
