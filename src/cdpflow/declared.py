"""Declared files: what a user adds as one YAML file each and gets one DAG each for.

An ELT pipeline is `$CDPFLOW_HOME/pipelines/<name>.yml` and runs as DAG `elt_<name>`; an
activation destination is `$CDPFLOW_HOME/destinations/<name>.yml` and runs as
`activation_<name>`. A `Family` names the folder, the DAG id prefix and the two functions its
package provides: one that reads a file into the DAG's schedule (raising `DeclarationError`
naming the file and the key) and the job itself. The CLI (`cdpflow run elt_shop`) and Airflow
(cdpflow.airflow.declared) find jobs through `job_function`, so a declared job runs the same way
with or without Airflow.
"""

from __future__ import annotations

import importlib
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from cdpflow.errors import TerminalError
from cdpflow.settings import Settings

# a name is part of a DAG id, a file name and lake table names (`<pipeline>__<resource>`)
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")


class DeclarationError(TerminalError):
    """A declared file that cannot be used: names the file, the key (a dotted path, list items
    by index, as `resources[1].primary_key`) and what is allowed there."""

    def __init__(self, path: Path, key: str | None, problem: str) -> None:
        self.path = path
        self.key = key
        self.problem = problem
        where = f"`{key}` in {path}" if key else str(path)
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class Family:
    """One kind of declared file. `spec` and `job` are "module:function" so reading the
    families costs no imports: `spec(settings, name)` returns the DAG's
    cdpflow.airflow.dag_factory.DagSpec; `job(settings, interval, *, name, **options)` runs it."""

    prefix: str  # DAG ids are `<prefix>_<name>`
    folder: str  # under CDPFLOW_HOME
    noun: str  # what one file is, for messages: "pipeline", "destination"
    spec: str
    job: str

    def directory(self, settings: Settings) -> Path:
        return settings.home / self.folder

    def path(self, settings: Settings, name: str) -> Path:
        return self.directory(settings) / f"{name}.yml"

    def names(self, settings: Settings) -> list[str]:
        """The declared names, from the file names (a file whose name cannot be one is listed
        by `misnamed`, not silently skipped)."""
        return [p.stem for p in self._files(settings) if NAME.fullmatch(p.stem)]

    def misnamed(self, settings: Settings) -> list[Path]:
        return [p for p in self._files(settings) if not NAME.fullmatch(p.stem)]

    def _files(self, settings: Settings) -> list[Path]:
        folder = self.directory(settings)
        return sorted(folder.glob("*.yml")) if folder.is_dir() else []

    def dag_id(self, name: str) -> str:
        return f"{self.prefix}_{name}"


# The declared families of this release; each package adds its own line.
FAMILIES: tuple[Family, ...] = (
    Family("elt", "pipelines", "pipeline", "cdpflow.elt.dag:dag_spec", "cdpflow.elt.job:run"),
    Family(
        "activation",
        "destinations",
        "destination",
        "cdpflow.activation.dag:dag_spec",
        "cdpflow.activation.job:run",
    ),
)


def family_of(dag_id: str, families: tuple[Family, ...] | None = None) -> tuple[Family, str]:
    """The family and name behind a declared DAG id; KeyError when it is none."""
    for family in FAMILIES if families is None else families:
        head = f"{family.prefix}_"
        if dag_id.startswith(head) and NAME.fullmatch(dag_id[len(head) :]):
            return family, dag_id[len(head) :]
    raise KeyError(dag_id)


def declared_dag_ids(settings: Settings, families: tuple[Family, ...] | None = None) -> list[str]:
    """The DAG ids of every declared file that exists now (broken or not)."""
    chosen = FAMILIES if families is None else families
    return [f.dag_id(name) for f in chosen for name in f.names(settings)]


def load_function(spec: str) -> Callable[..., Any]:
    """The function named by "module:function"."""
    module, _, attribute = spec.partition(":")
    function: Callable[..., Any] = getattr(importlib.import_module(module), attribute)
    return function


def declared_job(
    dag_id: str, settings: Settings, families: tuple[Family, ...] | None = None
) -> Callable[..., Any]:
    """The `run(settings, interval, **options)` of a declared DAG id whose file exists."""
    family, name = family_of(dag_id, families)
    path = family.path(settings, name)
    if not path.exists():
        raise TerminalError(
            f"No {family.noun} `{name}`: {path} does not exist "
            f"(declared: {', '.join(family.names(settings)) or 'none'})."
        )
    return partial(load_function(family.job), name=name)


def read_declaration(path: Path) -> dict[str, Any]:
    """A declared file's top-level mapping; YAML errors name the file and the line."""
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise DeclarationError(path, None, "the file does not exist") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err)
        raise DeclarationError(path, None, f"not valid YAML{line}: {problem}") from None
    if not isinstance(data, Mapping):
        raise DeclarationError(path, None, "must be a mapping of keys to values")
    return dict(data)


def write_declaration(path: Path, data: Mapping[str, Any]) -> None:
    """Write a declared file atomically (a reader, or an Airflow parse, sees all of it or none)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, staged = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        yaml.safe_dump(dict(data), handle, sort_keys=False)
    os.replace(staged, path)
