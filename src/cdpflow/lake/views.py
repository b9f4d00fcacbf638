"""Derived views: SQL files users keep in $CDPFLOW_HOME/views, and the lake's record of them.

The derived_views job checks each file against the current tables and records the ones that
work in `_views/views.json` in the lake; every query through the engine (`cdpflow sql`, jobs,
BI syncs) then sees them by name. The record is replaced whole and atomically.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import orjson

from cdpflow.lake.storage import Lake

CATALOG = "_views/views.json"
VIEW_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class ViewFile:
    """One `<name>.sql` file: the view `name` is its SELECT."""

    name: str
    file: str
    sql: str


def read_view_files(folder: Path) -> tuple[list[ViewFile], list[tuple[str, str]]]:
    """The view files of `folder` in name order, and (file, problem) for those that cannot be
    views at all (a bad name, an empty file, more than one statement)."""
    views, problems = [], []
    for path in sorted(folder.glob("*.sql")) if folder.is_dir() else []:
        sql = path.read_text(encoding="utf-8").strip().rstrip(";").strip()
        if not VIEW_NAME.match(path.stem):
            problems.append((path.name, "a view name must be letters, digits and _"))
        elif not sql:
            problems.append((path.name, "the file is empty"))
        elif ";" in _without_strings(sql):
            problems.append((path.name, "a view file holds one SELECT statement"))
        else:
            views.append(ViewFile(path.stem, path.name, sql))
    return views, problems


def _without_strings(sql: str) -> str:
    return re.sub(r"'(?:[^']|'')*'|--[^\n]*", "", sql)


def load_catalog(lake: Lake) -> list[ViewFile]:
    """The views the last derived_views run recorded, in the order they can be created."""
    if not lake.exists(CATALOG):
        return []
    return [ViewFile(**v) for v in orjson.loads(lake.read_bytes(CATALOG))["views"]]


def save_catalog(lake: Lake, views: list[ViewFile]) -> None:
    data = {"views": [{"name": v.name, "file": v.file, "sql": v.sql} for v in views]}
    lake.write_bytes(CATALOG, orjson.dumps(data, option=orjson.OPT_INDENT_2))
