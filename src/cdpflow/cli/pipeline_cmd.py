"""`cdpflow pipeline add|list|remove`: the ELT pipeline files and their DAGs (`elt_<name>`)."""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from typing import Any

import click

from cdpflow.airflow.declared import sync_declared_dags
from cdpflow.cli.context import Context
from cdpflow.cli.declared_files import new_file, remove_file
from cdpflow.cli.output import echo_table
from cdpflow.declared import NAME, DeclarationError
from cdpflow.elt.config import FAMILY, Check, load_pipeline, parse_pipeline, write_pipeline
from cdpflow.elt.registry import TYPES
from cdpflow.elt.status import pipeline_status
from cdpflow.errors import CdpflowError
from cdpflow.lake.storage import Lake
from cdpflow.lake.tables import TableStore
from cdpflow.secrets import open_secrets

# flag (its click parameter name) -> the file key it sets, at the top level or in the resource
PIPELINE_FLAGS = (
    "schedule",
    "description",
    "url",
    "password_secret",
    "shop",
    "token_secret",
    "api_base_url",
    "connection_id",
    "client_id_secret",
    "client_secret_secret",
)
RESOURCE_FLAGS = ("table", "query", "path", "format", "primary_key", "cursor")
_GLOB = re.compile(r"[*?\[\]{}]")


def pipeline_file(name: str, kind: str, flags: Mapping[str, Any]) -> dict[str, Any]:
    """The file's mapping for `cdpflow pipeline add NAME --type KIND` and its flags: each flag
    is the key of the same name (dashes as underscores); the resource flags make one resource,
    named by `resource` or after its table or path. A shopify shop's token secret defaults to
    `<name>_token`."""
    data: dict[str, Any] = {"type": kind}
    data.update({k: flags[k] for k in PIPELINE_FLAGS if flags.get(k) is not None})
    if kind == "shopify" and "token_secret" not in data:
        data["token_secret"] = f"{name}_token"
    resource: dict[str, Any] = {k: flags[k] for k in RESOURCE_FLAGS if flags.get(k) is not None}
    if isinstance(resource.get("primary_key"), str):
        keys = [k.strip() for k in resource["primary_key"].split(",") if k.strip()]
        resource["primary_key"] = keys[0] if len(keys) == 1 else keys
    if resource:
        data["resources"] = {flags.get("resource") or _resource_name(name, resource): resource}
    return data


def _resource_name(pipeline: str, resource: Mapping[str, Any]) -> str:
    """`public.contacts` -> contacts, `exports/orders-*.csv` -> orders, `exports/*.csv` ->
    exports; else the pipeline's name."""
    candidates = []
    if isinstance(resource.get("table"), str):
        candidates.append(resource["table"].rpartition(".")[2])
    if isinstance(resource.get("path"), str):
        parts = [p for p in re.split(r"[/\\]", resource["path"].split("://")[-1]) if p]
        for part in reversed(parts):
            candidates.append(_GLOB.sub("", part.split(".")[0]).strip("-_"))
    candidates.append(pipeline)
    for candidate in candidates:
        cleaned = re.sub(r"_+", "_", re.sub(r"[^a-z0-9_-]", "_", candidate.lower())).strip("_-")
        if cleaned:
            return cleaned
    return pipeline


@click.group("pipeline")
def pipeline_group() -> None:
    """ELT pipelines: an offline source declared once, each its own DAG elt_NAME."""


@pipeline_group.command("add")
@click.argument("name")
@click.option("--type", "kind", type=click.Choice(sorted(TYPES)), required=True)
@click.option("--schedule", help="A cron expression or preset (default @daily).")
@click.option("--description", help="Shown as the DAG's description.")
@click.option("--force", is_flag=True, help="Replace an existing file of that name.")
@click.option("--resource", help="The resource's name (default: from the table or path).")
@click.option("--table", help="postgres: schema.name of the table to read.")
@click.option("--query", help="postgres: a SELECT to read instead of a table.")
@click.option("--cursor", help="The column whose newest value wins; postgres reads past it.")
@click.option("--primary-key", help="Column(s), comma-separated (postgres: from the catalog).")
@click.option("--path", help="files, airbyte: a glob, local (under CDPFLOW_HOME) or a URL.")
@click.option("--format", help="files, airbyte: csv, parquet or jsonl (default: the suffix).")
@click.option("--url", help="postgres: postgresql://user@host:port/db; airbyte: the API.")
@click.option("--password-secret", help="postgres: the secret holding the password.")
@click.option("--shop", help="shopify: the shop's domain, as my-shop.myshopify.com.")
@click.option("--token-secret", help="shopify: the secret holding the token (NAME_token).")
@click.option("--api-base-url", help="shopify: another endpoint (proxies, tests).")
@click.option("--connection-id", help="airbyte: the existing connection to sync.")
@click.option("--client-id-secret", help="airbyte: the secret holding the client id.")
@click.option("--client-secret-secret", help="airbyte: the secret holding the client secret.")
@click.pass_obj
def add(obj: Context, name: str, kind: str, force: bool, **flags: Any) -> None:
    """Write $CDPFLOW_HOME/pipelines/NAME.yml and create DAG elt_NAME.

    A secret the file names that the secrets store lacks is asked for (hidden; read from
    standard input when it is not a terminal) and stored under that name."""
    settings = obj.settings
    if not NAME.fullmatch(name):
        raise click.BadParameter(
            "lower-case letters, digits, - and _ (it names the DAG and the tables)",
            param_hint="NAME",
        )
    path = new_file(settings, FAMILY, name, force=force)
    data = pipeline_file(name, kind, flags)
    catalog_key = kind == "postgres" and "table" in flags_of(data) and not flags["primary_key"]
    try:
        parse_pipeline(name, path, data, settings.home)
    except DeclarationError as err:
        if not (catalog_key and err.key == "resources[0].primary_key"):
            raise _flag_error(err) from None
    store = open_secrets(settings)
    for key, secret in data.items():
        if key.endswith("_secret") and isinstance(secret, str) and store.get(secret) is None:
            _ask_secret(store, secret)
    if catalog_key:
        _primary_key_from_catalog(obj, name, data)
    try:
        pipeline = write_pipeline(settings, name, data)
    except DeclarationError as err:
        raise _flag_error(err) from None
    sync_declared_dags(settings)
    dag_id = FAMILY.dag_id(name)
    click.echo(f"Wrote {path}; DAG {dag_id} (tables {', '.join(pipeline.tables)}).")
    click.echo(f"Try `cdpflow run {dag_id} --dry-run`, then `cdpflow run {dag_id}`.")


def flags_of(data: Mapping[str, Any]) -> dict[str, Any]:
    """The one resource `pipeline_file` made (empty when none)."""
    resources = data.get("resources") or {}
    return dict(next(iter(resources.values()))) if resources else {}


def _primary_key_from_catalog(obj: Context, name: str, data: dict[str, Any]) -> None:
    from cdpflow.elt.postgres import catalog_primary_key, check_pipeline

    resource = flags_of(data)
    path = FAMILY.path(obj.settings, name)
    try:
        options = check_pipeline(data, Check(path, obj.settings.home))
        keys = catalog_primary_key(name, options, open_secrets(obj.settings), resource["table"])
    except DeclarationError as err:
        raise _flag_error(err) from None
    except CdpflowError as err:
        secret = data.get("password_secret")
        fixes = "the URL" + (f" or the secret (`cdpflow secrets set {secret}`)" if secret else "")
        raise click.ClickException(
            f"Could not read the primary key of `{resource['table']}`: "
            f"{getattr(err, 'detail', err)} Fix {fixes}, or pass --primary-key to add the "
            "pipeline without asking the database; nothing written."
        ) from None
    if not keys:
        raise click.ClickException(
            f"Table `{resource['table']}` has no primary key in PostgreSQL; pass --primary-key "
            "with the column(s) that identify a row; nothing written."
        )
    resource["primary_key"] = keys[0] if len(keys) == 1 else keys
    click.echo(f"Primary key of {resource['table']} (from PostgreSQL): {', '.join(keys)}.")
    resources = data["resources"]
    resources[next(iter(resources))] = resource


def _ask_secret(store: Any, secret: str) -> None:
    """The value is read without echo and never printed, only its length."""
    if sys.stdin.isatty():
        value = click.prompt(f"Value of secret {secret}", hide_input=True)
    else:
        value = sys.stdin.readline().rstrip("\r\n")
    if not value:
        raise click.ClickException(
            f"No value given for secret `{secret}`; nothing written. Store it with "
            f"`cdpflow secrets set {secret}` and run the command again."
        )
    store.put(secret, value)
    click.echo(f"Stored secret `{secret}` ({len(value)} characters).")


def _flag_error(err: DeclarationError) -> click.ClickException:
    """A file key's problem, told as the flag that set it."""
    key = err.key or ""
    field = key.split(".", 1)[1] if key.startswith("resources[0].") else key
    flag = {
        "name": "--resource",
        "resources": "--table, --query or --path",
        "resources[0]": "--table or --query",
        "type": "",
    }.get(field, f"--{field.replace('_', '-')}" if field else "")
    hint = f" (option {flag})" if flag else ""
    return click.ClickException(f"`{key or 'name'}`: {err.problem}{hint}; nothing written.")


@pipeline_group.command("list")
@click.pass_obj
def list_pipelines(obj: Context) -> None:
    """Name, type, schedule, last run, rows and incremental state of every pipeline."""
    settings = obj.settings
    names = FAMILY.names(settings)
    misnamed = FAMILY.misnamed(settings)
    if not names and not misnamed:
        click.echo(f"No pipelines in {FAMILY.directory(settings)}.")
        return
    tables = TableStore(Lake(settings.lake_url))
    rows = [("NAME", "TYPE", "SCHEDULE", "LAST RUN", "ROWS", "STATE")]
    for name in names:
        try:
            pipeline = load_pipeline(settings, name)
        except DeclarationError as err:
            where = f"`{err.key}`: " if err.key else ""
            rows.append((name, "broken", "", "", "", f"{where}{err.problem}"))
            continue
        status = pipeline_status(tables, pipeline)
        rows.append(
            (name, pipeline.type, pipeline.schedule, status.last_run, f"{status.rows:,}",
             status.state)
        )  # fmt: skip
    for path in misnamed:
        rows.append((path.stem, "broken", "", "", "", "file name is not a pipeline name"))
    echo_table(rows)


@pipeline_group.command("remove")
@click.argument("name")
@click.pass_obj
def remove(obj: Context, name: str) -> None:
    """Remove the file; its DAG disappears at the next parse. Its lake tables stay."""
    settings = obj.settings
    path = remove_file(settings, FAMILY, name)
    lake = Lake(settings.lake_url)
    kept = [t for t in TableStore(lake).names() if t.startswith(f"{name}__")]
    click.echo(f"Removed {path}; DAG {FAMILY.dag_id(name)} disappears at Airflow's next parse.")
    if kept:
        click.echo(
            f"Its tables stay in the lake ({', '.join(kept)}) and can still be queried; "
            "cdpflow has no command that drops a table: delete its folder under "
            f"{lake.uri('')} to drop it. Secrets the file named stay in the secrets store."
        )


COMMANDS = [pipeline_group]
