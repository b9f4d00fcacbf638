"""Type `files`: CSV, Parquet or JSON lines from a local path or any fsspec URL, new or changed
files only.

A resource's state is the fingerprint (size and modification time or ETag) of each file already
read; a run reads the files whose fingerprint is new, in path order, so the later of two files
wins a primary-key tie when there is no cursor.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from cdpflow.elt.config import Check, Pipeline, Resource, Source
from cdpflow.errors import TerminalError

PIPELINE_KEYS: frozenset[str] = frozenset()
RESOURCE_KEYS = frozenset({"path", "format"})
FORMATS = ("csv", "parquet", "jsonl")


class UnreadableFileError(TerminalError):
    def __init__(self, pipeline: str, resource: str, path: str, detail: str) -> None:
        super().__init__(
            f"Pipeline `{pipeline}` resource `{resource}`: {path} is not readable "
            f"({detail}); nothing was committed."
        )


def check_pipeline(data: Mapping[str, Any], check: Check) -> dict[str, Any]:
    return {}


def check_resource(item: Mapping[str, Any], key: str, check: Check) -> dict[str, Any]:
    path = item.get("path")
    if not isinstance(path, str) or not path:
        raise check.fail(
            f"{key}.path", f"a files resource needs a path or glob (local or URL), got {path!r}"
        )
    if "://" not in path and not Path(path).is_absolute():
        path = str(check.home / path)  # relative paths are under CDPFLOW_HOME
    fmt = item.get("format") or _format_of(path)
    if fmt not in FORMATS:
        raise check.fail(f"{key}.format", f"must be one of {', '.join(FORMATS)}, got {fmt!r}")
    return {"path": path, "format": fmt}


def extract(
    pipeline: Pipeline,
    resource: Resource,
    state: Mapping[str, Any],
    source: Source,
    emit: Callable[[pa.Table], None],
) -> dict[str, Any]:
    """Emits the rows of the new or changed files (as one table, so that columns inferred
    differently per file are promoted together) and returns the state recording them as read."""
    fs, _, paths = fsspec.get_fs_token_paths(resource.options["path"])
    read: dict[str, str] = dict(state.get("files", {}))
    text = [c for c, t in resource.columns.items() if pa.types.is_string(t)]
    parts = []
    for path in sorted(paths):
        fingerprint = _fingerprint(fs.info(path))
        if read.get(path) == fingerprint:
            continue
        try:
            parts.append(_read(fs.cat_file(path), resource.options["format"], text))
        except (pa.ArrowInvalid, OSError, ValueError) as err:
            raise UnreadableFileError(pipeline.name, resource.name, path, str(err)) from err
        read[path] = fingerprint
    if parts:
        emit(pa.concat_tables(parts, promote_options="permissive"))
    return {"files": dict(sorted(read.items()))}


def _format_of(path: str) -> str | None:
    suffix = path.rsplit(".", 1)[-1].lower()
    return {"csv": "csv", "parquet": "parquet", "jsonl": "jsonl", "ndjson": "jsonl"}.get(suffix)


def _fingerprint(info: Mapping[str, Any]) -> str:
    stamp = info.get("ETag") or info.get("mtime") or info.get("LastModified") or info.get("created")
    return f"{info.get('size')}:{stamp}"


def _read(data: bytes, fmt: str, text: list[str]) -> pa.Table:
    """The file's rows; CSV columns declared `string` are read as written (an empty cell is
    null, as in every other column), since inference would make a phone number `+12125550100`
    or an id `007` a number and lose its form."""
    if fmt == "parquet":
        return pq.read_table(io.BytesIO(data))
    if fmt == "jsonl":
        return pa_json.read_json(io.BytesIO(data))
    as_text = pa_csv.ConvertOptions(column_types=dict.fromkeys(text, pa.string()))
    rows = pa_csv.read_csv(io.BytesIO(data), convert_options=as_text)
    for column in text:
        if column in rows.column_names:
            values = rows[column]
            empty_to_null = pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)
            rows = rows.set_column(rows.column_names.index(column), column, empty_to_null)
    return rows
