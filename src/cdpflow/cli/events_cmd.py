"""`cdpflow import-events` and `cdpflow generate-sample`: put raw events into the landing zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from cdpflow.cli.context import Context
from cdpflow.cli.progress import progress_bar
from cdpflow.lake.importer import import_events, parse_time
from cdpflow.lake.raw import FORMATS, RawWriter, Received
from cdpflow.lake.storage import Lake


@click.command("import-events")
@click.argument("file", type=click.Path(allow_dash=True))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="auto",
    show_default=True,
    help="Payload format of every line; auto detects it per line.",
)
@click.option(
    "--source", default="import", show_default=True, help="Source name recorded with each message."
)
@click.pass_obj
def import_events_cmd(obj: Context, file: str, fmt: str, source: str) -> None:
    """Land a JSON-lines FILE (optionally gzip'd; - for stdin) into the raw zone."""
    settings = obj.settings
    result = import_events(Lake(settings.lake_url), file, fmt, source)
    click.echo(
        f"Landed {result.messages:,} message(s) in {len(result.files)} file(s) over "
        f"{len(result.hours)} received hour(s). Next: cdpflow run events_incremental"
    )


@click.command("generate-sample")
@click.option("--days", type=click.IntRange(1, 3650), default=14, show_default=True)
@click.option("--visitors", type=click.IntRange(1), default=500, show_default=True)
@click.option("--seed", type=int, default=42, show_default=True)
@click.option(
    "--end",
    "end_text",
    default=None,
    help="End of the traffic (ISO, UTC); default: the start of the current hour.",
)
@click.option(
    "--duplicate-rate",
    type=click.FloatRange(0, 1),
    default=0.01,
    show_default=True,
    help="Share of messages re-sent, as SDKs do on retry.",
)
@click.option(
    "--dirty-rate",
    type=click.FloatRange(0, 1),
    default=0.001,
    show_default=True,
    help="Share of extra malformed messages.",
)
@click.option(
    "--shop-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Where the shop export CSVs go (default: $CDPFLOW_HOME/imports/shop).",
)
@click.pass_obj
def generate_sample(
    obj: Context,
    days: int,
    visitors: int,
    seed: int,
    end_text: str | None,
    duplicate_rate: float,
    dirty_rate: float,
    shop_dir: Path | None,
) -> None:
    """Generate realistic storefront traffic (Segment and Blotout) and a shop export."""
    from cdpflow.sample import SampleSpec, generate_events, generate_shop_export

    settings = obj.settings
    end = parse_time(end_text) if end_text else None
    if end_text and end is None:
        raise click.BadParameter(f"`{end_text}` is not an ISO date-time", param_hint="--end")
    end = end or datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    spec = SampleSpec(
        days=days,
        visitors=visitors,
        seed=seed,
        end=end,
        duplicate_rate=duplicate_rate,
        dirty_rate=dirty_rate,
    )
    lake = Lake(settings.lake_url)
    start = end - timedelta(days=days)
    span = (end - start).total_seconds()
    with progress_bar("generating traffic", unit="count") as update, RawWriter(lake) as writer:
        for number, raw in enumerate(generate_events(spec)):
            writer.write(Received(raw.received_at, raw.source, raw.message))
            if number % 20_000 == 0:
                update(int((raw.received_at - start).total_seconds()), int(span))
    result = writer.result
    out = shop_dir or settings.home / "imports" / "shop"
    counts = generate_shop_export(spec, out)
    click.echo(
        f"Landed {result.messages:,} raw message(s) over {len(result.hours)} received hour(s) "
        f"({start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M} UTC) in {settings.lake_url}/raw/events"
    )
    shown = ", ".join(f"{name} ({rows:,} rows)" for name, rows in sorted(counts.items()))
    click.echo(f"Shop export: {shown} in {out}")


COMMANDS = [import_events_cmd, generate_sample]
