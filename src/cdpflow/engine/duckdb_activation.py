"""activation_state and segment diffs in DuckDB: the reads that make a day-to-day sync cost what
changed (`cdpflow.activation.live_state` and `cdpflow.activation.unchanged` say why). Activation
runs on DuckDB whatever the batch engine: a destination's state is one machine's data."""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import numpy as np
import pyarrow as pa

from cdpflow.engine.duckdb_common import connect, literal
from cdpflow.lake.storage import Lake

# A value JSON writes as it is (no escapes); an email or phone that str.strip() leaves as it is.
RAW = r'[^\x00-\x1f"\\\x7f]*'
EDGE = r"[!#-\[\]-~]"  # printable ASCII other than space, quote and backslash
TRIMMED = f"{EDGE}({RAW}{EDGE})?"
LISTED = ("email", "phone")  # the first non-blank element of the emails / phones lists


def latest_live_rows(lake: Lake, uris: Sequence[str]) -> pa.Table:
    """Each person's latest state row unless `removed`: global_user_id, fingerprint, status and
    where the row is (`file`, an index into `uris`, and `row` in it), in commit order."""
    rows = " UNION ALL ".join(
        f"SELECT {i}::INTEGER AS file, file_row_number AS row, global_user_id, fingerprint, "
        f"status FROM read_parquet({literal(uri)}, file_row_number = true)"
        for i, uri in enumerate(uris)
    )
    sql = f"""
        SELECT global_user_id, fingerprint, status, file, row FROM (
            SELECT * FROM ({rows})
            QUALIFY row_number() OVER (PARTITION BY global_user_id ORDER BY file DESC,
                                                                      row DESC) = 1
        ) WHERE status <> 'removed' ORDER BY file, row
    """
    with _connect(lake) as con:
        return con.sql(sql).to_arrow_table()


def rows_at(lake: Lake, uris: Sequence[str], wanted: pa.Table, columns: Sequence[str]) -> pa.Table:
    """`columns` of the state rows at the (`file`, `row`) places of `wanted`."""
    files = np.unique(wanted["file"].to_numpy())
    rows = " UNION ALL ".join(
        f"SELECT {', '.join(columns)} FROM read_parquet({literal(uris[i])}, "
        f"file_row_number = true) WHERE file_row_number IN "
        f"(SELECT row FROM wanted WHERE file = {int(i)})"
        for i in files
    )
    with _connect(lake) as con:
        con.register("wanted", wanted)
        return con.sql(rows).to_arrow_table()


def unchanged_pairs(
    segment: pa.Table,
    members: pa.Table,
    fields: Sequence[str],
    picked: Sequence[str],
    present: set[str],
    consent_field: str | None,
    with_duplicates: bool,
) -> pa.Table:
    """(`_row` of `segment`, `_idx` of `members`) of each person who is a member with the
    fingerprint their segment row gives now, among the rows SQL fingerprints as Python does."""
    value = {name: f'"{name}"' for name in picked}
    plain = [f"({value[n]} IS NULL OR regexp_full_match({value[n]}, $raw))" for n in picked]
    for name, column in (("email", "emails"), ("phone", "phones")):
        if column in present:  # matching needs them even when the fields sent leave them out
            value[name] = f"{column}[1]"
            plain.append(
                f"({column} IS NULL OR len({column}) = 0 OR "
                f"coalesce(regexp_full_match({column}[1], $trimmed), false))"
            )
    if consent_field:
        plain.append(f'"{consent_field}" IS TRUE')
    matchable = " OR ".join(f"{value[n]} IS NOT NULL" for n in LISTED if n in value) or "false"
    parts = ", ".join(
        f"""CASE WHEN {value[n]} IS NOT NULL THEN '"{n}":"' || {value[n]} || '"' END"""
        for n in sorted(fields)
        if n in value
    )
    fingerprint = f"left(sha256('{{' || concat_ws(',', {parts or 'NULL'}) || '}}'), 32)"
    source = "segment"
    if with_duplicates:  # a person twice: neither of their rows is matched here
        source = """(SELECT * FROM segment
                     QUALIFY count(*) OVER (PARTITION BY global_user_id) = 1)"""
    sql = f"""
        SELECT s._row, m._idx FROM {source} s JOIN members m ON m.global_user_id = s.global_user_id
        WHERE m.status = 'member' AND ({matchable})
          AND {" AND ".join(plain)} AND m.fingerprint = {fingerprint}
    """
    with connect() as con:
        con.register("segment", segment)
        con.register("members", members)
        return con.sql(sql, params={"raw": RAW, "trimmed": TRIMMED}).to_arrow_table()


def _connect(lake: Lake) -> duckdb.DuckDBPyConnection:
    con = connect()
    if not lake.is_local:
        con.register_filesystem(lake.fs)
    return con
