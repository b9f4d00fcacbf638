"""`cdpflow sql` and `cdpflow tables`: look into the lake by table name."""

from __future__ import annotations

import csv
import sys
from typing import Any

import click
import orjson
import pyarrow as pa
from rich.console import Console
from rich.table import Table

from cdpflow.cli.context import Context
from cdpflow.engine import open_query_engine
from cdpflow.lake.storage import Lake
from cdpflow.lake.tables import TableStore


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def render(result: pa.Table, fmt: str) -> None:
    rows = result.to_pylist()
    if fmt == "json":
        out = orjson.dumps(rows, default=str, option=orjson.OPT_INDENT_2 | orjson.OPT_NAIVE_UTC)
        sys.stdout.write(out.decode() + "\n")
    elif fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(result.column_names)
        for row in rows:
            writer.writerow([_cell(v) for v in row.values()])
    else:
        table = Table(*result.column_names, box=None, pad_edge=False)
        for row in rows:
            table.add_row(*(_cell(v) for v in row.values()))
        Console(width=max(120, Console().width)).print(table)
        click.echo(f"({len(rows):,} row{'s' if len(rows) != 1 else ''})", err=True)


@click.command("sql")
@click.argument("query")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
@click.pass_obj
def sql(obj: Context, query: str, fmt: str) -> None:
    """Run QUERY over the lake; tables are visible by name (e.g. core_events)."""
    settings = obj.settings
    lake = Lake(settings.lake_url)
    engine = open_query_engine(settings, lake)
    try:
        result = engine.query(query, TableStore(lake))
    finally:
        engine.close()
    render(result, fmt)


@click.command("tables")
@click.pass_obj
def tables(obj: Context) -> None:
    """List lake tables with their rows, files, size and version."""
    settings = obj.settings
    store = TableStore(Lake(settings.lake_url))
    table = Table("table", "rows", "files", "MB", "version", "committed", box=None, pad_edge=False)
    for name in store.names():
        snap = store.get(name)
        table.add_row(
            name,
            f"{snap.rows:,}",
            str(len(snap.files)),
            f"{snap.total_bytes / 1e6:.1f}",
            str(snap.version),
            snap.committed_at,
        )
    Console(width=160).print(table)


COMMANDS = [sql, tables]
