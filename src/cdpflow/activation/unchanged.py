"""The members a run need not look at: in the segment, acknowledged, fields unchanged.

A day-to-day sync of a million people changes a few thousand. Making a Python `Person` and a
fingerprint for each of the others costs most of the run, so this finds them in one DuckDB query
(`cdpflow.engine.duckdb_activation.unchanged_pairs`) instead: the same fingerprint as
`Person.fingerprint` (SHA-256 of the sorted-key JSON of the
fields sent, the first non-blank email and phone trimmed) for the rows where SQL gives exactly the
same text as Python. Those are the plain rows: string columns, values without JSON escapes or
control characters, an email and phone without surrounding whitespace in the first list element.
Every other row (and everyone when a column is not text) takes the Python way of `select_people`
and `plan_sync`, so this only ever saves work, never decides differently.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

DETAILS = ("first_name", "last_name", "country", "city", "state", "zip")  # Person's other fields


def latest_index(state: pa.Table) -> np.ndarray:
    """The index of each person's latest row of activation_state (rows are in commit order),
    ascending."""
    order = pa.array(np.arange(state.num_rows, dtype=np.int64))
    latest = (
        state.select(["global_user_id"])
        .append_column("row", order)
        .group_by("global_user_id", use_threads=False)
        .aggregate([("row", "max")])
    )
    return np.sort(latest["row_max"].to_numpy())


def latest_rows(state: pa.Table) -> pa.Table:
    """Each person's latest row of activation_state."""
    latest = latest_index(state)
    return state if len(latest) == state.num_rows else state.take(latest)


@dataclass(frozen=True)
class Unchanged:
    """Where the unchanged members are: a mask over the segment's rows and one over the state's."""

    rows: pa.ChunkedArray
    members: np.ndarray


def unchanged_rows(
    rows: pa.Table, state: pa.Table, fields: Sequence[str], consent_field: str | None
) -> Unchanged:
    """True in both masks where the person is a member in `state` (latest rows) with the
    fingerprint their row of `rows` (segment_members of the segment) gives now."""
    present = set(rows.column_names)
    picked = [n for n in DETAILS if n in fields and n in present]
    columns = ["global_user_id", *(c for c in ("emails", "phones") if c in present), *picked]
    if "global_user_id" not in present or not rows.num_rows or not state.num_rows:
        return _none(rows, state)
    if not _plain_types(rows, columns, consent_field):
        return _none(rows, state)
    segment = rows.select([*columns, *([consent_field] if consent_field else [])])
    segment = segment.append_column("_row", pa.array(np.arange(rows.num_rows, dtype=np.int64)))
    members = state.select(["global_user_id", "fingerprint", "status"])
    members = members.append_column("_idx", pa.array(np.arange(state.num_rows, dtype=np.int64)))
    with_duplicates = pc.count_distinct(rows["global_user_id"]).as_py() < rows.num_rows
    # here, not at import: DAG files import this package while Airflow parses
    from cdpflow.engine.duckdb_activation import unchanged_pairs

    found = unchanged_pairs(
        segment, members, fields, picked, present, consent_field, with_duplicates
    )
    mask = np.zeros(rows.num_rows, dtype=bool)
    mask[found.column(0).to_numpy()] = True
    in_state = np.zeros(state.num_rows, dtype=bool)
    in_state[found.column(1).to_numpy()] = True
    return Unchanged(pa.chunked_array([pa.array(mask)]), in_state)


def _plain_types(rows: pa.Table, columns: list[str], consent_field: str | None) -> bool:
    """Only text (and a boolean consent) has the same JSON in SQL as in Python."""
    schema = rows.schema
    for name in columns:
        kind = schema.field(name).type
        if name in ("emails", "phones"):
            if not (pa.types.is_list(kind) and pa.types.is_string(kind.value_type)):
                return False
        elif not pa.types.is_string(kind):
            return False
    if consent_field and consent_field in schema.names:
        return pa.types.is_boolean(schema.field(consent_field).type)
    return consent_field is None


def _none(rows: pa.Table, state: pa.Table) -> Unchanged:
    nothing = pa.chunked_array([pa.array(np.zeros(rows.num_rows, dtype=bool))])
    return Unchanged(nothing, np.zeros(state.num_rows, dtype=bool))
