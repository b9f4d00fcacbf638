"""Offline (ELT) tables as identity observations: identifiers on one record are linked.

Each declared source is a CSV or Parquet file (or a glob of them); a file is read again only
when its size or modification time changed since the run that last read it.
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


def pending_files(config: IdentityConfig, done: dict[str, str]) -> list[OfflineFile]:
    """Declared files that are new or changed since they were last read (missing ones skip)."""
    out = []
    for source in config.sources:
        for name in sorted(glob.glob(str(source.path))):
            path = Path(name)
            stat = path.stat()
            fingerprint = f"{stat.st_size}-{stat.st_mtime_ns}"
            if done.get(str(path)) != fingerprint:
                out.append(OfflineFile(source, path, fingerprint))
    return out


def read_observations(files: list[OfflineFile], first_record: int) -> pa.Table:
    """One record per row of each file, numbered from `first_record`."""
    parts = []
    record = first_record
    for f in files:
        table = _read(f)
        n = table.num_rows
        if n == 0:
            continue
        if f.source.seen_at:
            seen = _timestamps(table[f.source.seen_at])
            mtime = datetime.fromtimestamp(f.path.stat().st_mtime, UTC)
            seen = pc.fill_null(seen, pa.scalar(mtime, TS))
        else:
            mtime = datetime.fromtimestamp(f.path.stat().st_mtime, UTC)
            seen = pa.array([mtime] * n, TS)
        records = pa.array(np.arange(record, record + n, dtype=np.int64))
        record += n
        for column, types in f.source.columns.items():
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
                            "source": pa.array([f.source.name] * n, pa.string()),
                        },
                        schema=OBSERVATIONS,
                    )
                )
    if not parts:
        return OBSERVATIONS.empty_table()
    table = pa.concat_tables(parts)
    return table.filter(pc.is_valid(table["identifier_value"]))


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
