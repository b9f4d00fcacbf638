"""What a run changed: the recomputed identities that differ from the stored ones.

A run recomputes whole people, but most of their identifiers come out as they were stored;
only the others need writing (see `lake.merge_on_read`: the fewer rows the delta holds, the less
each run rewrites and the later it has to be folded into the base).
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from cdpflow.identity.arrays import keys_of
from cdpflow.identity.graph import StitchResult
from cdpflow.identity.schema import IDENTITIES


@dataclass(frozen=True)
class Recomputed:
    """The touched people recomputed, and what of them differs from the stored rows."""

    stitched: StitchResult
    changed: pa.Table  # IDENTITIES rows to write
    added: int  # of which identifiers not stored before
    united: bool  # joined whole stored people by the new links, without loading their links


def recomputed(stored: pa.Table, stitched: StitchResult) -> Recomputed:
    """`stitch`'s result over the `stored` people, with the rows that changed."""
    changed, added = changed_rows(stored, stitched.identities)
    return Recomputed(stitched, changed, added, united=False)


def changed_rows(stored: pa.Table, recomputed: pa.Table) -> tuple[pa.Table, int]:
    """Rows of `recomputed` that are new or differ from `stored` in any column, and how many of
    them are new identifiers."""
    recomputed = recomputed.select(IDENTITIES.names).cast(IDENTITIES)
    if stored.num_rows == 0:  # a full build: every row is new (and matching them costs seconds)
        return recomputed, recomputed.num_rows
    stored = stored.select(IDENTITIES.names).cast(IDENTITIES)
    where = pc.index_in(
        keys_of(recomputed["identifier_type"], recomputed["identifier_value"]),
        value_set=keys_of(stored["identifier_type"], stored["identifier_value"]).combine_chunks(),
    )
    where = where.combine_chunks() if isinstance(where, pa.ChunkedArray) else where
    is_new = pc.is_null(where)
    before = stored.take(where.fill_null(0))
    differs = is_new
    for name in IDENTITIES.names[2:]:
        a, b = recomputed[name].combine_chunks(), before[name].combine_chunks()
        same = pc.or_kleene(
            pc.fill_null(pc.equal(a, b), False), pc.and_(pc.is_null(a), pc.is_null(b))
        )
        differs = pc.or_(differs, pc.invert(same))
    return recomputed.filter(differs), int(pc.sum(is_new).as_py() or 0)
