"""The identity graph: identifiers seen together are one person, with one stable global_user_id.

Pure: Arrow tables in, Arrow tables out, no I/O. Identifiers are interned to integers and the
people are the connected components of the links between them (scipy's csgraph), so the same
code serves a full build of millions of identifiers and the small piece an incremental run loads.

A person's id is derived from its earliest identifier by (first_seen_at, identifier_type,
identifier_value): so ids never change unless the membership does, a merge keeps the id of the
person first seen earliest, and a rebuild from scratch computes the very ids that incremental
runs kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from cdpflow.identity.arrays import (
    NO_TIME,
    distinct,
    earliest,
    index_in,
    intern,
    micros,
    ranked,
    timestamps,
)
from cdpflow.identity.ids import SEP, person_ids
from cdpflow.identity.prepare import SIGHTINGS, Prepared
from cdpflow.identity.schema import (
    IDENTITIES,
    IDENTITY_CONFLICTS,
    IDENTITY_EDGES,
    IDENTITY_MERGES,
    LINK_ENDS,
    TS,
)

ID_BATCH = 1 << 20  # person ids hashed per batch
CapFor = Callable[[str], "int | None"]
# (left, right, n) -> (components, label of each of the n nodes): the people of a link list.
# The engine supplies it (scipy in one process, a DataFrame algorithm on Spark); every other
# rule of the graph stays here, so engines agree on everything but how components are found.
Components = Callable[[np.ndarray, np.ndarray, int], "tuple[int, np.ndarray]"]


def scipy_components(left: np.ndarray, right: np.ndarray, n: int) -> tuple[int, np.ndarray]:
    """Connected components of the undirected links `left[i]`-`right[i]` among `n` nodes."""
    graph = coo_matrix((np.ones(len(left), dtype=np.int8), (left, right)), shape=(n, n)).tocsr()
    n_comp, labels = connected_components(graph, directed=False)
    return int(n_comp), labels


@dataclass(frozen=True)
class StitchResult:
    """The identities of every identifier the run loaded or saw, and what changed."""

    identities: pa.Table  # IDENTITIES, one row per identifier in scope
    new_edges: pa.Table  # IDENTITY_EDGES never seen before
    merges: pa.Table  # IDENTITY_MERGES
    conflicts: pa.Table  # IDENTITY_CONFLICTS: identifiers newly held out
    components: int  # people in scope


def stitch(
    old_identities: pa.Table,
    old_edges: pa.Table,
    new: Prepared,
    cap_for: CapFor,
    now: datetime,
    components: Components = scipy_components,
) -> StitchResult:
    """Connect identifiers into people.

    Args:
        old_identities: stored rows of every identifier in scope: those `new` touches and all
            members of their people (empty for a full build).
        old_edges: stored links (LINK_ENDS, or whole IDENTITY_EDGES rows) with an end in
            `old_identities`.
        new: this run's sightings and links.
        cap_for: the most identifiers of a type one identifier may link to (None: no limit).
        now: when merges and conflicts are recorded.
        components: how the engine finds connected components.

    Returns:
        Identities for every identifier of `old_identities` and `new.sightings`; the same
        result, row for row, whether built from scratch or from earlier runs' state.
    """
    old = old_identities.select(IDENTITIES.names).cast(IDENTITIES)
    nodes = pa.concat_tables(
        [old.select(SIGHTINGS.names), new.sightings.select(SIGHTINGS.names).cast(SIGHTINGS)]
    )
    edges = pa.concat_tables(
        [
            old_edges.select(LINK_ENDS.names).cast(LINK_ENDS),
            new.pairs.select(LINK_ENDS.names).cast(LINK_ENDS),
        ]
    )
    n_old, n_old_edges = old.num_rows, old_edges.num_rows
    if nodes.num_rows == 0:
        empty = IDENTITIES.empty_table()
        return StitchResult(
            empty, IDENTITY_EDGES.empty_table(), IDENTITY_MERGES.empty_table(),
            IDENTITY_CONFLICTS.empty_table(), 0,
        )  # fmt: skip

    # Every identifier, of a row or at the end of a link, becomes an integer key.
    n_nodes, n_edges = nodes.num_rows, edges.num_rows
    _release()  # what reading the input left in Arrow's pool
    keys = Keys(
        [nodes["identifier_type"], edges["left_type"], edges["right_type"]],
        [nodes["identifier_value"], edges["left_value"], edges["right_value"]],
    )
    _release()  # the interning's intermediates
    idx = keys.of_rows
    n = len(keys.key_type)
    nk, el, er = idx[:n_nodes], idx[n_nodes : n_nodes + n_edges], idx[n_nodes + n_edges :]
    del idx

    # One row per identifier: its earliest sighting (and that one's source), its latest.
    present = np.zeros(n, dtype=bool)
    present[nk] = True
    # Each identifier once (always so in a full build): the rows serve as they are, and only
    # first_seen_at is needed; the latest sighting and the sources are computed only otherwise.
    as_given = int(present.sum()) == n_nodes
    first_k = np.full(n, NO_TIME, dtype=np.int64)
    if as_given:
        rows, row_key = np.arange(n_nodes), nk
        first_k[row_key] = micros(nodes["first_seen_at"])
    else:
        first = micros(nodes["first_seen_at"])
        last = micros(nodes["last_seen_at"], fill=0)
        src_idx, sources = ranked(nodes["source"])
        row_key, rows, first_r, last_r, src_r = earliest(nk, first, last, src_idx)
        del first, last, src_idx
        first_k[row_key] = first_r

    key_type, type_names = keys.key_type, keys.type_names

    old_id_k = np.full(n if n_old else 0, -1, dtype=np.int64)
    old_gu_idx, old_gus = intern(old["global_user_id"].fill_null(""))
    old_held_k = np.zeros(n if n_old else 0, dtype=bool)
    if n_old:
        old_id_k[nk[:n_old]] = old_gu_idx
        old_held_k[nk[:n_old]] = old["held_out"].fill_null(False).to_numpy(zero_copy_only=False)
    del old_gu_idx

    # Distinct links (self links dropped), and those this run sees first.
    lo, hi = np.minimum(el, er), np.maximum(el, er)
    code = lo.astype(np.int64) * n + hi
    ok = lo != hi
    del lo, hi
    uniq = distinct(code[ok])
    la, rb = (uniq // n).astype(np.int32), (uniq % n).astype(np.int32)
    del uniq
    fresh = ok[n_old_edges:]
    if n_old_edges:
        fresh = fresh & ~np.isin(code[n_old_edges:], distinct(code[:n_old_edges]))
    del code, ok
    new_edges = new.pairs.select(IDENTITY_EDGES.names).cast(IDENTITY_EDGES)
    if not fresh.all():
        new_edges = new_edges.filter(pa.array(fresh))

    # Guards: an identifier linked to more identifiers of a capped type is held out.
    held = np.zeros(n, dtype=bool)
    over: list[tuple[np.ndarray, int, np.ndarray, int]] = []  # (keys, type, counts, cap)
    type_la, type_rb = key_type[la], key_type[rb]
    for t, name in sorted(enumerate(type_names.to_pylist()), key=lambda x: x[1]):
        cap = cap_for(name)
        if cap is None:
            continue
        counts = np.bincount(la[type_rb == t], minlength=n) + np.bincount(
            rb[type_la == t], minlength=n
        )
        above = np.flatnonzero((counts > cap) & present & ~held)
        over.append((above, t, counts[above], cap))
        held[above] = True
        del counts
    del type_la, type_rb, key_type
    _release()  # before the components' peak

    # People: connected components over the links between identifiers not held out.
    use = present[la] & present[rb] & ~held[la] & ~held[rb]
    left, right = la[use], rb[use]
    del use, la, rb
    n_comp, labels = components(left, right, n)
    del left, right

    comps, anchors = component_anchors(labels, n_comp, row_key, first_k, keys)
    batches = range(0, len(anchors), ID_BATCH)  # bounds the memory of the anchors' strings
    comp_ids = pa.concat_arrays(
        [pa.array([], pa.string())]
        + [person_ids(keys.strings(anchors[i : i + ID_BATCH])) for i in batches]
    )
    comp_pos = np.full(n_comp, -1, dtype=np.int64)
    comp_pos[comps] = np.arange(len(comps))
    gu_pos = comp_pos[labels]  # position in comp_ids of each key's person
    del keys, comps, anchors, comp_pos  # the interned strings: the largest arrays left
    _release()

    def column(name: str) -> pa.ChunkedArray:
        return nodes[name] if as_given else nodes[name].take(rows)

    identities = pa.table(
        {
            "identifier_type": column("identifier_type"),
            "identifier_value": column("identifier_value"),
            "global_user_id": comp_ids.take(gu_pos[row_key]),
            "first_seen_at": column("first_seen_at") if as_given else timestamps(first_r),
            "last_seen_at": column("last_seen_at") if as_given else timestamps(last_r),
            "source": column("source") if as_given else sources.take(src_r),
            "held_out": pa.array(held[row_key]),
        },
        schema=IDENTITIES,
    )
    merges = _merges(row_key, labels, n_comp, first_k, old_id_k, old_gus, comp_ids, gu_pos, now)
    newly = held[row_key] & ~old_held_k[row_key] if n_old else held[row_key]
    keys_newly, rows_newly = row_key[newly], rows[newly]
    over_type, over_count, over_cap = _over_caps(over, keys_newly)
    conflicts = pa.table(
        {
            "identifier_type": nodes["identifier_type"].take(rows_newly),
            "identifier_value": nodes["identifier_value"].take(rows_newly),
            "reason": pa.array(["too_many_links"] * len(rows_newly), pa.string()),
            "linked_type": type_names.take(over_type),
            "linked_count": pa.array(over_count, pa.int64()),
            "cap": pa.array(over_cap, pa.int64()),
            "detected_at": pa.array([now] * len(rows_newly), TS),
        },
        schema=IDENTITY_CONFLICTS,
    )
    return StitchResult(identities, new_edges, merges, conflicts, len(comp_ids))


def _release() -> None:
    """Hand the buffers Arrow freed back to the system: its allocator keeps them for reuse,
    which on a full build would add hundreds of MiB to the peak."""
    pa.default_memory_pool().release_unused()


def _over_caps(
    over: list[tuple[np.ndarray, int, np.ndarray, int]], keys: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(type, count, cap) of the cap each of `keys` (all held out) went over."""
    if not over:
        return (np.zeros(0, dtype=np.int64),) * 3
    held = np.concatenate([o[0] for o in over])
    info = [np.concatenate([np.full(len(o[0]), o[i]) if i != 2 else o[2] for o in over])
            for i in (1, 2, 3)]  # fmt: skip
    order = np.argsort(held)
    at = order[np.searchsorted(held[order], keys)]
    return info[0][at].astype(np.int64), info[1][at].astype(np.int64), info[2][at].astype(np.int64)


def component_anchors(
    labels: np.ndarray, n_comp: int, p: np.ndarray, first_k: np.ndarray, keys: Keys
) -> tuple[np.ndarray, np.ndarray]:
    """(component, key) of each component's earliest identifier: by first_seen, then key."""
    if len(p) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    lab = labels[p]
    earliest = np.full(n_comp, NO_TIME, dtype=np.int64)
    np.minimum.at(earliest, lab, first_k[p])
    cand = p[first_k[p] == earliest[lab]]
    cand_lab = labels[cand]
    counts = np.bincount(cand_lab, minlength=n_comp)
    single = counts[cand_lab] == 1
    comps, anchor = [cand_lab[single]], [cand[single]]
    tied = cand[~single]
    if len(tied):
        rank = np.empty(len(tied), dtype=np.int64)
        rank[pc.sort_indices(keys.strings(tied)).to_numpy()] = np.arange(len(tied))
        order = np.lexsort((rank, labels[tied]))
        t_lab = labels[tied][order]
        starts = np.r_[True, t_lab[1:] != t_lab[:-1]]
        comps.append(t_lab[starts])
        anchor.append(tied[order][starts])
    return np.concatenate(comps), np.concatenate(anchor)


def _merges(
    p: np.ndarray,
    labels: np.ndarray,
    n_comp: int,
    first_k: np.ndarray,
    old_id_k: np.ndarray,
    old_gus: pa.Array,
    comp_ids: pa.Array,
    gu_k_pos: np.ndarray,
    now: datetime,
) -> pa.Table:
    """Old ids that no longer exist, each with the id of its earliest member's person now."""
    if len(old_id_k) == 0:  # nothing stored before
        return IDENTITY_MERGES.empty_table()
    had = p[old_id_k[p] >= 0]
    if len(had) == 0:
        return IDENTITY_MERGES.empty_table()
    gone = pc.invert(pc.is_in(old_gus, value_set=comp_ids)).to_numpy(zero_copy_only=False)
    had = had[gone[old_id_k[had]]]
    if len(had) == 0:
        return IDENTITY_MERGES.empty_table()
    order = np.lexsort((first_k[had], old_id_k[had]))
    ids = old_id_k[had][order]
    starts = np.r_[True, ids[1:] != ids[:-1]]
    earliest = had[order][starts]
    # A merge joins two people who existed; otherwise an earlier sighting moved the anchor.
    with_old = p[old_id_k[p] >= 0]
    width = int(old_id_k.max()) + 1
    person_and_old_id = distinct(labels[with_old].astype(np.int64) * width + old_id_k[with_old])
    people_per_comp = np.bincount(person_and_old_id // width, minlength=n_comp)
    merged = people_per_comp[labels[earliest]] > 1
    return pa.table(
        {
            "absorbed_id": old_gus.take(ids[starts]),
            "surviving_id": comp_ids.take(gu_k_pos[earliest]),
            "merged_at": pa.array([now] * len(earliest), TS),
            "reason": pa.array(np.where(merged, "merge", "late_data").tolist(), pa.string()),
        },
        schema=IDENTITY_MERGES,
    )


class Keys:
    """Integer keys of (type, value) identifiers, without building a string per row.

    Values are interned once; a value seen under one type (nearly all) is its own key, and the
    few (value, type) combinations beyond a value's first type get keys after those.
    """

    def __init__(self, types: list[pa.ChunkedArray], values: list[pa.ChunkedArray]) -> None:
        chunks = [c for column in types for c in column.chunks]
        self.type_names = pc.unique(pa.chunked_array(chunks, pa.string()))
        type_idx = np.concatenate(
            [np.zeros(0, dtype=np.int32)]
            + [index_in(t, self.type_names).astype(np.int32) for t in types]
        )
        value_idx, self.values = intern(
            pa.chunked_array([c for column in values for c in column.chunks], pa.string())
        )
        n_values = len(self.values)
        first_type = np.zeros(n_values, dtype=np.int32)
        first_type[value_idx] = type_idx
        other = np.flatnonzero(type_idx != first_type[value_idx])
        self.of_rows = value_idx
        self.key_type = first_type
        self.key_value = np.arange(n_values, dtype=np.int64)
        if len(other):
            width = len(self.type_names)
            codes = value_idx[other].astype(np.int64) * width + type_idx[other]
            extra, inverse = np.unique(codes, return_inverse=True)
            self.of_rows[other] = n_values + inverse
            self.key_type = np.concatenate([first_type, extra % width])
            self.key_value = np.concatenate([self.key_value, extra // width])

    def strings(self, keys: np.ndarray) -> pa.Array:
        """`type<SEP>value` of each key."""
        return pc.binary_join_element_wise(
            self.type_names.take(self.key_type[keys]), self.values.take(self.key_value[keys]), SEP
        )
