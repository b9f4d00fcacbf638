"""`cdpflow report`: the overview of the lake as one HTML file that opens anywhere."""

from __future__ import annotations

from pathlib import Path

import click

from cdpflow.cli.context import Context
from cdpflow.report import build_report, render_html


@click.command("report")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("report.html"),
    show_default=True,
    help="Where to write the HTML file.",
)
@click.option(
    "--days",
    type=click.IntRange(min=1),
    default=28,
    show_default=True,
    help="Days covered, ending at the latest session day in the lake.",
)
@click.pass_obj
def report(obj: Context, out: Path, days: int) -> None:
    """Write a self-contained HTML report (no server, no network) of the lake's marts."""
    document = render_html(build_report(obj.settings, days))
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    partial.write_text(document, encoding="utf-8")
    partial.replace(out)  # a reader never opens a half-written report
    click.echo(str(out.resolve()))


COMMANDS = [report]
