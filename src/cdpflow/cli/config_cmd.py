"""`cdpflow config`: the effective settings, where each came from, secrets masked."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from cdpflow.cli.context import Context


@click.command("config")
@click.pass_obj
def config(obj: Context) -> None:
    """Print the effective settings (secrets masked) and where each value came from."""
    settings = obj.settings
    table = Table("setting", "value", "from", box=None, pad_edge=False)
    for key, value, origin in settings.describe():
        table.add_row(key, value, origin)
    Console(width=200).print(table)


COMMANDS = [config]
