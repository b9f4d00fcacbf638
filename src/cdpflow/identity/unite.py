"""The common incremental case without the links: new links that only join whole stored people.

`graph.stitch` recomputes the touched people from every link they have, because a link can also
split a person: when an identifier crosses its cap it is held out and its links stop merging.
Without that, people only ever grow by union: a new link joins the people of its two ends (or
adds a new identifier to one), and each stored person stays whole. So the people after a run
are the connected components of the stored people (one node each) and the new identifiers,
joined by the new links, and each gets the id of its earliest identifier by the same rule as
`stitch`. That needs the touched people's rows and only the touched identifiers' own links (to
tell new links from known ones and to count them against the caps), not the links of every
member, and no component search over them.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cdpflow.identity.arrays import distinct, earliest, intern, micros, ranked, timestamps
from cdpflow.identity.changes import Recomputed
from cdpflow.identity.graph import (
    CapFor,
    Components,
    Keys,
    StitchResult,
    component_anchors,
    scipy_components,
    stitch,
)
from cdpflow.identity.ids import person_ids
from cdpflow.identity.prepare import SIGHTINGS, Prepared
from cdpflow.identity.schema import (
    IDENTITIES,
    IDENTITY_CONFLICTS,
    IDENTITY_EDGES,
    IDENTITY_MERGES,
    LINK_ENDS,
    TS,
)


def unite(
    members: pa.Table,
    links: pa.Table,
    new: Prepared,
    cap_for: CapFor,
    now: datetime,
    components: Components = scipy_components,
) -> Recomputed | None:
    """The people after `new`, when its links only join stored people: the same result as
    `stitch` over the touched people and all their links.

    Args:
        members: stored rows of every member of the people `new.sightings` touch.
        links: stored links (LINK_ENDS) with an end among `new.sightings`' identifiers.
        new: this run's sightings and links.
        cap_for: the most identifiers of a type one identifier may link to (None: no limit).
        now: when merges are recorded.
        components: how the engine finds connected components (see `graph.Components`).

    Returns:
        The result with the rows that changed; None when a new link has a held-out end or takes
        an identifier over a cap: people may split then, and only `stitch` over all their links
        is right.
    """
    old = members.select(IDENTITIES.names).cast(IDENTITIES)
    sightings = new.sightings.select(SIGHTINGS.names).cast(SIGHTINGS)
    pairs = new.pairs.select(IDENTITY_EDGES.names).cast(IDENTITY_EDGES)
    links = links.select(LINK_ENDS.names).cast(LINK_ENDS)
    nodes = pa.concat_tables([old.select(SIGHTINGS.names), sightings])
    n_old, n_nodes, n_pairs = old.num_rows, nodes.num_rows, pairs.num_rows
    if n_nodes == 0:  # nothing to join: the empty result
        empty = stitch(old, links, new, cap_for, now, components)
        return Recomputed(empty, old.slice(0, 0), 0, united=True)
    ends = [(nodes, "identifier"), (pairs, "left"), (pairs, "right"), (links, "left")]
    ends.append((links, "right"))
    keys = Keys([t[f"{e}_type"] for t, e in ends], [t[f"{e}_value"] for t, e in ends])
    idx = keys.of_rows
    n = len(keys.key_type)
    nk = idx[:n_nodes]
    pl, pr = idx[n_nodes : n_nodes + n_pairs], idx[n_nodes + n_pairs : n_nodes + 2 * n_pairs]
    offset = n_nodes + 2 * n_pairs
    ll, lr = idx[offset : offset + links.num_rows], idx[offset + links.num_rows :]

    stored_row = np.full(n, -1, dtype=np.int64)  # each stored identifier's row in `old`
    stored_row[nk[:n_old]] = np.arange(n_old)
    held = np.zeros(n, dtype=bool)
    held[nk[:n_old]] = old["held_out"].fill_null(False).to_numpy(zero_copy_only=False)
    person_idx, old_ids = intern(old["global_user_id"].fill_null(""))
    n_people = len(old_ids)

    # New links: those not stored already. A held-out end means a person may have to split.
    stored = distinct(_codes(ll, lr, n))
    fresh = ~np.isin(_codes(pl, pr, n), stored)
    fl, fr = pl[fresh], pr[fresh]
    if held[fl].any() or held[fr].any():
        return None
    linked = np.union1d(fl, fr)
    if _crosses_cap(np.concatenate([ll, fl]), np.concatenate([lr, fr]), n, keys, cap_for, linked):
        return None

    # One node per stored person and per new identifier; the new links join them.
    node = np.full(n, -1, dtype=np.int64)
    node[nk[:n_old]] = person_idx
    new_keys = nk[n_old:][stored_row[nk[n_old:]] < 0]  # sightings hold each identifier once
    node[new_keys] = n_people + np.arange(len(new_keys))
    n_graph = n_people + len(new_keys)
    n_comp, node_comp = components(node[fl], node[fr], n_graph)

    # One row per identifier: its earliest sighting (and that one's source), its latest.
    src_idx, sources = ranked(nodes["source"])
    row_key, rows, first_r, last_r, src_r = earliest(
        nk, micros(nodes["first_seen_at"]), micros(nodes["last_seen_at"], fill=0), src_idx
    )
    labels = np.full(n, -1, dtype=np.int64)
    labels[row_key] = node_comp[node[row_key]]
    first_k = np.zeros(n, dtype=np.int64)
    first_k[row_key] = first_r
    comps, anchor = component_anchors(labels, n_comp, row_key, first_k, keys)
    comp_ids = pa.concat_arrays([pa.array([], pa.string()), person_ids(keys.strings(anchor))])
    comp_pos = np.full(n_comp, -1, dtype=np.int64)
    comp_pos[comps] = np.arange(len(comps))

    identities = pa.table(
        {
            "identifier_type": nodes["identifier_type"].take(rows),
            "identifier_value": nodes["identifier_value"].take(rows),
            "global_user_id": comp_ids.take(comp_pos[labels[row_key]]),
            "first_seen_at": timestamps(first_r),
            "last_seen_at": timestamps(last_r),
            "source": sources.take(src_r),
            "held_out": pa.array(held[row_key]),
        },
        schema=IDENTITIES,
    )
    person_comp = node_comp[:n_people]
    new_ids = comp_ids.take(comp_pos[person_comp])
    merges = _merges(old_ids, new_ids, person_comp, n_comp, now)
    stitched = StitchResult(
        identities,
        pairs.filter(pa.array(fresh)),
        merges,
        IDENTITY_CONFLICTS.empty_table(),
        len(comps),
    )

    # The rows to write: new identifiers, and stored ones whose person got another id or whose
    # sightings moved (as `changes.changed_rows` would find, without matching keys again).
    at = stored_row[row_key]
    was = at >= 0
    same = np.zeros(len(row_key), dtype=bool)
    if n_old:
        at = np.where(was, at, 0)
        moved = pc.not_equal(old_ids, new_ids).to_numpy(zero_copy_only=False)
        same = (
            was
            & (first_r == micros(old["first_seen_at"])[at])
            & (last_r == micros(old["last_seen_at"], fill=-1)[at])
            & (src_r == src_idx[:n_old][at])
            & old["source"].is_valid().to_numpy(zero_copy_only=False)[at]
            & ~moved[person_idx[at]]
        )
    changed = identities.filter(pa.array(~same))
    return Recomputed(stitched, changed, int((~was).sum()), united=True)


def _codes(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """One integer per undirected link."""
    return np.minimum(a, b).astype(np.int64) * n + np.maximum(a, b)


def _crosses_cap(
    left: np.ndarray,
    right: np.ndarray,
    n: int,
    keys: Keys,
    cap_for: CapFor,
    ends: np.ndarray,
) -> bool:
    """Whether one of `ends` links to more identifiers of a capped type than its cap allows.

    `left`/`right` are every link of `ends` (stored ones may come twice: once per end loaded).
    """
    unique = distinct(_codes(left, right, n))
    a, b = unique // n, unique % n
    type_a, type_b = keys.key_type[a], keys.key_type[b]
    for t, name in enumerate(keys.type_names.to_pylist()):
        cap = cap_for(name)
        if cap is None:
            continue
        counts = np.bincount(a[type_b == t], minlength=n) + np.bincount(b[type_a == t], minlength=n)
        if (counts[ends] > cap).any():
            return True
    return False


def _merges(
    old_ids: pa.Array, new_ids: pa.Array, person_comp: np.ndarray, n_comp: int, now: datetime
) -> pa.Table:
    """Stored ids whose person now has another id: joined with another person, or re-anchored
    by an earlier sighting."""
    gone = np.flatnonzero(pc.not_equal(old_ids, new_ids).to_numpy(zero_copy_only=False))
    if len(gone) == 0:
        return IDENTITY_MERGES.empty_table()
    joined = np.bincount(person_comp, minlength=n_comp)[person_comp[gone]] > 1
    return pa.table(
        {
            "absorbed_id": old_ids.take(gone),
            "surviving_id": new_ids.take(gone),
            "merged_at": pa.array([now] * len(gone), TS),
            "reason": pa.array(np.where(joined, "merge", "late_data").tolist(), pa.string()),
        },
        schema=IDENTITY_MERGES,
    )
