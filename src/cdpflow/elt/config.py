"""The pipeline file: read and checked whole, so a bad key fails at load naming file and key.

The common keys are checked here; the keys of a source type by its module (cdpflow.elt.registry).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from cdpflow.cron import cron_problem
from cdpflow.declared import (
    FAMILIES,
    NAME,
    DeclarationError,
    read_declaration,
    write_declaration,
)
from cdpflow.elt.registry import TYPES, source_type
from cdpflow.roles import ROLES
from cdpflow.secrets import SecretsStore
from cdpflow.settings import Settings

log = logging.getLogger(__name__)
FAMILY = next(f for f in FAMILIES if f.prefix == "elt")
DEFAULT_SCHEDULE = "@daily"
# declared column types (`columns:`) and the Arrow type a value must cast to
COLUMN_TYPES: Mapping[str, pa.DataType] = {
    "string": pa.string(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}
COMMON_KEYS = frozenset({"type", "schedule", "resources", "description"})
COMMON_RESOURCE_KEYS = frozenset(
    {"name", "primary_key", "cursor", "deletes", "columns", "role", "fields"}
)


@dataclass(frozen=True)
class Check:
    """What a type's checks get: the file (for errors) and CDPFLOW_HOME (for relative paths)."""

    path: Path
    home: Path

    def fail(self, key: str | None, problem: str) -> DeclarationError:
        return DeclarationError(self.path, key, problem)

    def secret_name(self, key: str, value: Any) -> str:
        """A key that names a secret: a name, never the secret's value."""
        if not isinstance(value, str) or not NAME.fullmatch(value):
            raise self.fail(
                key,
                "must name a secret (lower-case letters, digits, - and _; store it with "
                f"`cdpflow secrets set NAME`), got {'a non-name value' if value else repr(value)}",
            )
        return value


@dataclass(frozen=True)
class Source:
    """What a type's `extract` may use besides the pipeline: the settings (endpoints, timeouts,
    API versions) and the secrets store its file names secrets from."""

    settings: Settings
    secrets: SecretsStore


@dataclass(frozen=True)
class Resource:
    """One source table and the lake table `<pipeline>__<name>` it lands in."""

    name: str
    primary_key: tuple[str, ...]
    cursor: str | None = None  # the newest value wins a primary-key tie
    deletes: str | None = None  # a true value in this column deletes the row's key
    columns: Mapping[str, pa.DataType] = field(default_factory=dict)  # declared schema
    options: Mapping[str, Any] = field(default_factory=dict)  # the type's own keys, checked
    role: str | None = None  # orders | customers (ROLES)
    fields: Mapping[str, str] = field(default_factory=dict)  # the role's field -> source column


@dataclass(frozen=True)
class Pipeline:
    name: str
    path: Path
    type: str
    schedule: str
    resources: tuple[Resource, ...]
    description: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)  # the type's own keys, checked

    def table(self, resource: Resource) -> str:
        return f"{self.name}__{resource.name}"

    @property
    def tables(self) -> tuple[str, ...]:
        return tuple(self.table(r) for r in self.resources)


def load_pipeline(settings: Settings, name: str) -> Pipeline:
    path = FAMILY.path(settings, name)
    return parse_pipeline(name, path, read_declaration(path), settings.home)


def declared_pipelines(settings: Settings) -> list[Pipeline]:
    """Every pipeline file that reads; a broken one is left out (its own DAG and `cdpflow run`
    report it), so it does not stop the jobs that only read pipelines' tables."""
    pipelines = []
    for name in FAMILY.names(settings):
        try:
            pipelines.append(load_pipeline(settings, name))
        except DeclarationError as err:
            log.warning("pipeline `%s` left out: %s", name, err)
    return pipelines


def role_tables(settings: Settings, role: str) -> list[tuple[str, Mapping[str, str]]]:
    """(lake table, field -> source column) of every resource declaring `role`."""
    return [
        (pipeline.table(r), r.fields)
        for pipeline in declared_pipelines(settings)
        for r in pipeline.resources
        if r.role == role
    ]


def parse_pipeline(name: str, path: Path, data: Mapping[str, Any], home: Path) -> Pipeline:
    check = Check(path, home)
    kind = data.get("type")
    if kind not in TYPES:
        raise check.fail("type", f"must be one of {', '.join(sorted(TYPES))}, got {kind!r}")
    module = source_type(kind)
    allowed = COMMON_KEYS | module.PIPELINE_KEYS
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise check.fail(unknown[0], f"unknown key for type {kind}; allowed: {_list(allowed)}")
    schedule = data.get("schedule", DEFAULT_SCHEDULE)
    if not isinstance(schedule, str) or cron_problem(schedule):
        why = cron_problem(schedule) if isinstance(schedule, str) else "must be a string"
        raise check.fail("schedule", f"not a cron expression or preset ({why}), got {schedule!r}")
    options = module.check_pipeline(data, check)
    raw = data.get("resources")
    defaults = {}
    if hasattr(module, "default_resources"):
        defaults = {r["name"]: r for r in module.default_resources(options)}
        if raw is None:
            raw = list(defaults.values())
    if isinstance(raw, Mapping):  # `resources: {customers: {...}}` names them by key
        raw = [{"name": k, **(v or {})} for k, v in raw.items()]
    if not isinstance(raw, list) or not raw:
        raise check.fail("resources", "must be a non-empty list (or mapping) of resources")
    if defaults:  # a listed default resource keeps the keys the file does not give
        raw = [_with_defaults(item, defaults) for item in raw]
    resources = [_resource(item, f"resources[{i}]", module, check) for i, item in enumerate(raw)]
    names = [r.name for r in resources]
    doubled = sorted({n for n in names if names.count(n) > 1})
    if doubled:
        raise check.fail("resources", f"resource `{doubled[0]}` is declared twice")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise check.fail("description", f"must be a string, got {description!r}")
    return Pipeline(name, path, kind, schedule, tuple(resources), description, options)


def _with_defaults(item: Any, defaults: Mapping[str, Mapping[str, Any]]) -> Any:
    """A resource of a type with default resources (shopify), named alone (`orders`) or with
    some keys of its own: the default's keys, then the file's."""
    if isinstance(item, str) and item in defaults:
        return dict(defaults[item])
    if isinstance(item, Mapping) and item.get("name") in defaults:
        return {**defaults[item["name"]], **item}
    return item


def _resource(item: Any, key: str, module: Any, check: Check) -> Resource:
    if not isinstance(item, Mapping):
        raise check.fail(
            key, f"must be a mapping with at least `name` and `primary_key`, got {item!r}"
        )
    allowed = COMMON_RESOURCE_KEYS | module.RESOURCE_KEYS
    unknown = sorted(set(item) - allowed)
    if unknown:
        raise check.fail(f"{key}.{unknown[0]}", f"unknown key; allowed: {_list(allowed)}")
    name = item.get("name")
    if not isinstance(name, str) or not NAME.fullmatch(name) or "__" in name:
        raise check.fail(
            f"{key}.name", f"must be lower-case letters, digits, - and _ (no __), got {name!r}"
        )
    pk = item.get("primary_key")
    pk = [pk] if isinstance(pk, str) else pk
    if not isinstance(pk, list) or not pk or not all(isinstance(c, str) for c in pk):
        raise check.fail(
            f"{key}.primary_key", f"must be a column name or a list of them, got {pk!r}"
        )
    for option in ("cursor", "deletes"):
        if item.get(option) is not None and not isinstance(item[option], str):
            raise check.fail(f"{key}.{option}", f"must be a column name, got {item[option]!r}")
    declared = item.get("columns") or {}
    if not isinstance(declared, Mapping):
        raise check.fail(f"{key}.columns", f"must map column names to types, got {declared!r}")
    columns: dict[str, pa.DataType] = {}
    for column, type_name in declared.items():
        if type_name not in COLUMN_TYPES:
            raise check.fail(
                f"{key}.columns.{column}",
                f"must be one of {', '.join(COLUMN_TYPES)}, got {type_name!r}",
            )
        columns[str(column)] = COLUMN_TYPES[type_name]
    options = module.check_resource(item, key, check)
    role, fields = _role(item, key, check)
    return Resource(
        name,
        tuple(pk),
        item.get("cursor"),
        item.get("deletes"),
        columns,
        dict(options),
        role,
        fields,
    )


def _role(item: Mapping[str, Any], key: str, check: Check) -> tuple[str | None, dict[str, str]]:
    """The resource's role and its fields' source columns (defaults completed)."""
    role = item.get("role")
    given = item.get("fields")
    if role is None:
        if given is not None:
            raise check.fail(f"{key}.fields", f"needs a `role` ({_list(frozenset(ROLES))})")
        return None, {}
    if role not in ROLES:
        raise check.fail(f"{key}.role", f"must be one of {_list(frozenset(ROLES))}, got {role!r}")
    if given is not None and not isinstance(given, Mapping):
        raise check.fail(f"{key}.fields", f"must map {role} fields to columns, got {given!r}")
    fields = dict(ROLES[role])
    for name, column in (given or {}).items():
        if name not in fields:
            raise check.fail(
                f"{key}.fields.{name}",
                f"not a field of role {role}; fields: {', '.join(ROLES[role])}",
            )
        if not isinstance(column, str) or not column:
            raise check.fail(f"{key}.fields.{name}", f"must be a column name, got {column!r}")
        fields[name] = column
    return role, fields


def _list(keys: frozenset[str]) -> str:
    return ", ".join(sorted(keys))


def write_pipeline(settings: Settings, name: str, data: Mapping[str, Any]) -> Pipeline:
    """Check `data` as the file of pipeline `name`, then write it atomically; nothing is
    written when a key is bad (DeclarationError naming it)."""
    path = FAMILY.path(settings, name)
    if not NAME.fullmatch(name):
        raise DeclarationError(
            path, None, f"the name must be lower-case letters, digits, - and _, got {name!r}"
        )
    pipeline = parse_pipeline(name, path, data, settings.home)
    write_declaration(path, data)
    return pipeline
