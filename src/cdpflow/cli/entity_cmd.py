"""`cdpflow entity add|list|show|preview|remove`: the segment and funnel files entity_creation
materializes."""

from __future__ import annotations

from datetime import UTC, datetime

import click
import pyarrow as pa
import pyarrow.compute as pc

from cdpflow.cli.context import Context
from cdpflow.cli.output import echo_table
from cdpflow.entities.compile import EVENTS, PEOPLE, Compiler
from cdpflow.entities.files import entity_folder, existing_file, write_atomically
from cdpflow.entities.folder import Loaded, check_references, load_folder, references
from cdpflow.entities.pack import handled, pack_text
from cdpflow.entities.parse import parse_entity
from cdpflow.entities.spec import Entity, EntityError, Funnel, Segment
from cdpflow.entities.tables import FUNNEL_STEPS, SEGMENT_SIZES, EntityTables
from cdpflow.jobs.entity_creation import JOB, lake_schema, preview
from cdpflow.lake.storage import Lake
from cdpflow.lake.tables import TableStore
from cdpflow.settings import Settings


@click.group("entity")
def entity_group() -> None:
    """Segments and funnels: files in $CDPFLOW_HOME/entities, materialized by entity_creation."""


def _unknown(settings: Settings, name: str) -> click.ClickException:
    loaded = load_folder(entity_folder(settings))
    known = ", ".join(sorted([*loaded.entities, *loaded.errors])) or "none"
    return click.ClickException(f"No entity `{name}` in {entity_folder(settings)} ({known}).")


@entity_group.command("add")
@click.argument("name")
@click.option(
    "--file",
    "source",
    type=click.Path(dir_okay=False, allow_dash=True),
    default="-",
    help="The entity's YAML; default: read from stdin.",
)
@click.option("--force", is_flag=True, help="Replace an existing entity of that name.")
@click.pass_obj
def add(obj: Context, name: str, source: str, force: bool) -> None:
    """Check an entity file and write it as $CDPFLOW_HOME/entities/NAME.yml."""
    settings = obj.settings
    existing = existing_file(settings, name)
    if existing is not None and not force:
        raise click.ClickException(f"{existing} exists; edit it, or pass --force to replace it.")
    label = "stdin" if source == "-" else source
    try:
        with click.open_file(source, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as err:
        raise click.ClickException(f"Cannot read {label}: {err}") from None
    try:
        entity = parse_entity(text, label, name)
        _check_against_folder(settings, entity)
        note = _check_against_lake(settings, entity)
    except EntityError as err:
        raise click.ClickException(f"{err}; nothing written.") from None
    target = existing or entity_folder(settings) / f"{name}.yml"
    write_atomically(target, text)
    click.echo(f"Wrote {target} ({entity.kind}).")
    if note:
        click.echo(note)
    click.echo(f"Try `cdpflow entity preview {name}`; `cdpflow run {JOB} --only {name}`.")


def _check_against_folder(settings: Settings, entity: Entity) -> None:
    """The in_segment references of `entity`, as the job checks them with the folder's others."""
    loaded = load_folder(entity_folder(settings))
    loaded.entities.pop(entity.name, None)
    loaded.errors.pop(entity.name, None)
    loaded.entities[entity.name] = entity
    problems = check_references(loaded.segments, loaded.funnels, loaded.errors)
    if entity.name in problems:
        raise problems[entity.name]


def _check_against_lake(settings: Settings, entity: Entity) -> str:
    """Compile `entity` against the lake's tables as the job will (unknown columns, operators
    that do not fit a column's type); a note instead when the marts are not built yet."""
    schema = lake_schema(TableStore(Lake(settings.lake_url)))
    missing = [t for t in (PEOPLE, EVENTS) if t not in schema]
    if missing:
        return (
            f"Not checked against the lake: {', '.join(missing)} not built yet; "
            f"{JOB} reports what does not fit."
        )
    loaded = load_folder(entity_folder(settings))
    segments = {**loaded.segments}
    if isinstance(entity, Segment):
        segments[entity.name] = entity
    compiler = Compiler(schema, datetime.now(UTC), segments)
    if isinstance(entity, Segment):
        compiler.segment_sql(entity)
    else:
        compiler.funnel_sql(entity)
    return ""


@entity_group.command("list")
@click.pass_obj
def list_entities(obj: Context) -> None:
    """Name, kind, origin, description and last figures of every entity; broken ones say why."""
    settings = obj.settings
    loaded = load_folder(entity_folder(settings))
    if not loaded.entities and not loaded.errors:
        click.echo(f"No entities in {entity_folder(settings)}.")
        return
    sizes, entries = _last_figures(settings)
    rows = [("NAME", "KIND", "ORIGIN", "LAST", "DESCRIPTION")]
    for name in sorted([*loaded.entities, *loaded.errors]):
        origin = _origin(settings, name)
        if name in loaded.errors:
            rows.append((name, "broken", origin, "", str(loaded.errors[name])))
            continue
        entity = loaded.entities[name]
        figures = sizes if isinstance(entity, Segment) else entries
        rows.append((name, entity.kind, origin, figures.get(name, "not run"), entity.description))
    echo_table(rows)


def _origin(settings: Settings, name: str) -> str:
    """predefined (the shop pack wrote it), `predefined, edited`, or user."""
    if handled(settings).get(name) != "written":
        return "user"
    path = existing_file(settings, name)
    if path is not None and path.read_text(encoding="utf-8") != pack_text(name):
        return "predefined, edited"
    return "predefined"


def _last_figures(settings: Settings) -> tuple[dict[str, str], dict[str, str]]:
    """Per segment its size on the last day of segment_sizes; per funnel the people who
    entered and converted, summed over funnel_steps' entry days."""
    store = EntityTables(Lake(settings.lake_url))
    sizes: dict[str, str] = {}
    for row in store.read(SEGMENT_SIZES).sort_by([("day", "ascending")]).to_pylist():
        sizes[row["segment"]] = f"{row['size']:,} on {row['day']}"
    entries: dict[str, str] = {}
    steps = store.read(FUNNEL_STEPS)
    for name in pc.unique(steps["funnel"]).to_pylist():
        rows = steps.filter(pc.equal(steps["funnel"], name))
        per_step = rows.group_by("step").aggregate([("users", "sum")]).sort_by("step")
        users: pa.ChunkedArray = per_step["users_sum"]
        entries[name] = f"{users[0].as_py():,} entered, {users[-1].as_py():,} converted"
    return sizes, entries


@entity_group.command("show")
@click.argument("name")
@click.option("--sql", "with_sql", is_flag=True, help="Also print the SQL it compiles to.")
@click.pass_obj
def show(obj: Context, name: str, with_sql: bool) -> None:
    """Print the entity's file (and with --sql the query entity_creation runs for it)."""
    settings = obj.settings
    path = existing_file(settings, name)
    if path is None:
        raise _unknown(settings, name)
    click.echo(f"# {path}")
    click.echo(path.read_text(encoding="utf-8").rstrip("\n"))
    if not with_sql:
        return
    loaded = load_folder(entity_folder(settings))
    try:
        sql = _compiled(settings, loaded, name)
    except EntityError as err:
        raise click.ClickException(str(err)) from None
    click.echo(f"\n-- the SQL {JOB} runs for {name} (DuckDB)")
    click.echo(sql)


def _compiled(settings: Settings, loaded: Loaded, name: str) -> str:
    if name in loaded.errors:
        raise loaded.errors[name]
    compiler = Compiler(
        lake_schema(TableStore(Lake(settings.lake_url))), datetime.now(UTC), loaded.segments
    )
    entity = loaded.entities[name]
    if isinstance(entity, Funnel):
        return compiler.funnel_sql(entity)
    return compiler.segment_sql(entity)


@entity_group.command("preview")
@click.argument("name")
@click.pass_obj
def preview_entity(obj: Context, name: str) -> None:
    """Size and ten sample people (a funnel: people per step) from the current marts; writes
    nothing."""
    settings = obj.settings
    if existing_file(settings, name) is None:
        raise _unknown(settings, name)
    try:
        seen = preview(settings, name)
    except EntityError as err:
        raise click.ClickException(str(err)) from None
    if seen.kind == "segment":
        click.echo(f"{name}: {seen.size:,} people")
        for person in seen.sample:
            emails = ", ".join(person["emails"] or [])  # type: ignore[arg-type]
            click.echo(f"  {person['global_user_id']}  {emails}".rstrip())
        if seen.size > len(seen.sample):
            click.echo(f"  ... and {seen.size - len(seen.sample):,} more")
        return
    click.echo(f"{name}: {seen.size:,} people entered step 1")
    for step, label, users in seen.steps:
        share = f"{users / seen.size:.1%}" if seen.size else "-"
        click.echo(f"  {step}. {label}: {users:,} ({share} of step 1)")


@entity_group.command("remove")
@click.argument("name")
@click.pass_obj
def remove(obj: Context, name: str) -> None:
    """Delete the entity's file; its rows leave the entity tables at the next entity_creation
    run (segment members exit). A predefined entity is not recreated."""
    settings = obj.settings
    path = existing_file(settings, name)
    if path is None:
        raise _unknown(settings, name)
    loaded = load_folder(entity_folder(settings))
    path.unlink()
    click.echo(f"Removed {path}; its rows leave the entity tables at the next {JOB} run.")
    if handled(settings).get(name):
        click.echo("It came with the shop pack, which does not recreate it.")
    users = sorted(
        other
        for other, segment in loaded.segments.items()
        if any(ref.segment == name for ref in references(segment.root))
    )
    if users:
        click.echo(f"Segments that refer to it are broken until edited: {', '.join(users)}.")


COMMANDS = [entity_group]
