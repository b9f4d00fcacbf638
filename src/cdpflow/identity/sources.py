"""Offline (ELT) tables as identity observations: identifiers on one record are linked.

A declared source is a CSV or Parquet file (or a glob of them), read again only when its size or
modification time changed since the run that last read it; or a lake table (an ELT pipeline's
`shop__customers`), read only when its snapshot version changed, and then only the rows loaded
since the last read (`_loaded_at` later than the newest one read: an ELT merge keeps the
`_loaded_at` of the rows it did not change). Re-reading a row is harmless: the graph only
gains what it did not have.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from cdpflow.errors import TerminalError
from cdpflow.identity.config import IdentityConfig, OfflineSource
from cdpflow.identity.prepare import OBSERVATIONS
from cdpflow.identity.schema import TS
from cdpflow.lake.merge_on_read import read_table
from cdpflow.lake.tables import Snapshot, TableStore

LOADED_AT = "_loaded_at"  # what an ELT merge stamps every row with (cdpflow.elt.land)
TABLE_KEY = "table:"  # read-state keys of table sources, beside file paths


class OfflineSourceError(TerminalError):
    """A declared offline source cannot be read as declared."""

    def __init__(self, source: str, path: Path, detail: str) -> None:
        self.source = source
        self.path = path
        super().__init__(
            f"Identity source `{source}` ({path}): {detail}. Fix the file or the mapping "
            "(CDPFLOW_ID_MAPPING_FILE); nothing of this run was published."
        )


@dataclass(frozen=True)
class OfflineFile:
    source: OfflineSource
    path: Path
    fingerprint: str


@dataclass(frozen=True)
class OfflineTable:
    """A table source whose snapshot changed: its rows loaded after `since` are to be read."""

    source: OfflineSource
    snapshot: Snapshot
    since: datetime | None
    fingerprint: str  # `v<version>@<newest _loaded_at read>`

    @property
    def key(self) -> str:
        return f"{TABLE_KEY}{self.snapshot.table}"


def pending_files(config: IdentityConfig, done: dict[str, str]) -> list[OfflineFile]:
    """Declared files that are new or changed since they were last read (missing ones skip)."""
    out = []
    for source in config.sources:
        if source.path is None:
            continue
        for name in sorted(glob.glob(str(source.path))):
            path = Path(name)
            stat = path.stat()
            fingerprint = f"{stat.st_size}-{stat.st_mtime_ns}"
            if done.get(str(path)) != fingerprint:
                out.append(OfflineFile(source, path, fingerprint))
    return out


def pending_tables(
    config: IdentityConfig, done: dict[str, str], tables: TableStore
) -> list[OfflineTable]:
    """Declared lake tables whose snapshot is not the one last read (missing tables skip)."""
    out = []
    for source in config.sources:
        if source.table is None:
            continue
        snapshot = tables.current(source.table)
        if snapshot is None:
            continue
        before = done.get(f"{TABLE_KEY}{source.table}", "")
        version, _, newest = before.partition("@")
        if version == f"v{snapshot.version}":
            continue
        since = datetime.fromisoformat(newest) if newest else None
        out.append(OfflineTable(source, snapshot, since, f"v{snapshot.version}@{newest}"))
    return out


def read_observations(
    files: list[OfflineFile],
    first_record: int,
    table_reads: list[OfflineTable] | None = None,
    tables: TableStore | None = None,
) -> tuple[pa.Table, dict[str, str]]:
    """One record per row of each file and of each table's new rows, numbered from
    `first_record`; and the read state of the tables read (key -> fingerprint)."""
    parts = []
    record = first_record
    sources: list[tuple[OfflineSource, pa.Table, pa.ChunkedArray | pa.Array]] = []
    for f in files:
        table = _read(f)
        mtime = datetime.fromtimestamp(f.path.stat().st_mtime, UTC)
        sources.append((f.source, table, pa.array([mtime] * table.num_rows, TS)))
    state = {}
    for pending in table_reads or []:
        assert tables is not None
        table, newest = _read_table(pending, tables)
        state[pending.key] = f"v{pending.snapshot.version}@{newest.isoformat() if newest else ''}"
        sources.append((pending.source, table, table[LOADED_AT]))
    for source, table, default_seen in sources:
        n = table.num_rows
        if n == 0:
            continue
        if source.seen_at:
            seen = _timestamps(table[source.seen_at])
            seen = pc.coalesce(seen, default_seen.cast(TS))
        else:
            seen = default_seen.cast(TS)
        records = pa.array(np.arange(record, record + n, dtype=np.int64))
        record += n
        for column, types in source.columns.items():
            values = table[column].cast(pa.string())
            for t in types:
                parts.append(
                    pa.table(
                        {
                            "record": records,
                            "identifier_type": pa.array([t] * n, pa.string()),
                            "identifier_value": values,
                            "first_seen_at": seen,
                            "last_seen_at": seen,
                            "source": pa.array([source.name] * n, pa.string()),
                        },
                        schema=OBSERVATIONS,
                    )
                )
    if not parts:
        return OBSERVATIONS.empty_table(), state
    table = pa.concat_tables(parts)
    return table.filter(pc.is_valid(table["identifier_value"])), state


def _read_table(t: OfflineTable, tables: TableStore) -> tuple[pa.Table, datetime | None]:
    """The table's rows loaded after `t.since` (all of them without `_loaded_at`, whose time
    then defaults to the snapshot's), the declared columns only; and the newest `_loaded_at`."""
    source, snapshot = t.source, t.snapshot
    wanted = list(dict.fromkeys([*source.columns, *([source.seen_at] if source.seen_at else [])]))
    if not snapshot.files:
        empty = {c: pa.array([], pa.string()) for c in wanted}
        return pa.table({**empty, LOADED_AT: pa.array([], TS)}), None
    names = [c for c, _ in snapshot.columns]
    missing = [c for c in wanted if c not in names]
    where = Path(snapshot.table)
    if missing:
        raise OfflineSourceError(
            source.name, where, f"no column `{missing[0]}` (columns: {', '.join(names)})"
        )
    has_loaded_at = LOADED_AT in names
    try:
        rows = read_table(tables.lake, snapshot, [*wanted, *([LOADED_AT] if has_loaded_at else [])])
    except (pa.ArrowInvalid, OSError) as err:
        raise OfflineSourceError(source.name, where, f"unreadable ({err})") from err
    if not has_loaded_at:
        committed = datetime.fromisoformat(snapshot.committed_at)
        stamp = pa.array([committed] * rows.num_rows, TS)
        return rows.select(wanted).append_column(LOADED_AT, stamp), None
    loaded = rows[LOADED_AT].cast(TS)
    newest = pc.max(loaded).as_py()
    if t.since is not None:
        rows = rows.filter(pc.greater(loaded, pa.scalar(t.since, TS)))
    out = rows.select(wanted)
    return out.append_column(LOADED_AT, rows[LOADED_AT].cast(TS)), newest


def _read(f: OfflineFile) -> pa.Table:
    wanted = list(f.source.columns) + ([f.source.seen_at] if f.source.seen_at else [])
    try:
        if f.path.suffix.lower() == ".parquet":
            table = pq.read_table(f.path)
        else:
            table = pa_csv.read_csv(
                f.path,
                convert_options=pa_csv.ConvertOptions(
                    column_types={c: pa.string() for c in wanted}
                ),
            )
    except (pa.ArrowInvalid, OSError) as err:
        raise OfflineSourceError(f.source.name, f.path, f"unreadable ({err})") from err
    missing = [c for c in wanted if c not in table.column_names]
    if missing:
        raise OfflineSourceError(
            f.source.name,
            f.path,
            f"no column `{missing[0]}` (columns: {', '.join(table.column_names)})",
        )
    return table.select(list(dict.fromkeys(wanted)))


def _timestamps(column: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_timestamp(column.type):
        return column.cast(TS)
    text = pc.utf8_trim_whitespace(column.cast(pa.string()))
    out = []
    for chunk in text.chunks:
        parsed = [_parse(v) for v in chunk.to_pylist()]
        out.append(pa.array(parsed, TS))
    return pa.chunked_array(out, TS)


def _parse(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
