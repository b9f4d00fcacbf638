"""The models of the bundled dbt project, read from its files without importing dbt.

Airflow parses DAG files often and must not do work then, so the per-model tasks come from this
cheap reading of the SQL files (their `tags` and `ref`s) and of the marts' YAML (which marts are
published to the lake, partitioned by which day column) rather than from a dbt parse.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

PROJECT_DIR = Path(__file__).parent / "project"
_TAGS = re.compile(r"tags\s*=\s*\[([^\]]*)\]")
_REF = re.compile(r"ref\(\s*['\"]([A-Za-z0-9_]+)['\"]\s*\)")


@dataclass(frozen=True)
class Model:
    name: str
    layer: str  # staging, intermediate or marts
    tags: tuple[str, ...]
    refs: tuple[str, ...]
    # marts only: the day column its lake table is partitioned by (config.meta.lake_partition in
    # its YAML); None: one file, rewritten whole
    lake_partition: str | None = None


@cache
def project_models() -> dict[str, Model]:
    """Every model of the project by name."""
    models = {}
    for path in sorted((PROJECT_DIR / "models").rglob("*.sql")):
        text = path.read_text()
        match = _TAGS.search(text)
        tags = tuple(re.findall(r"['\"]([^'\"]+)['\"]", match.group(1))) if match else ()
        refs = tuple(dict.fromkeys(_REF.findall(text)))
        layer = path.relative_to(PROJECT_DIR / "models").parts[0]
        partition = _lake_partition(path.with_suffix(".yml")) if layer == "marts" else None
        models[path.stem] = Model(path.stem, layer, tags, refs, partition)
    return models


def _lake_partition(properties: Path) -> str | None:
    if not properties.exists():
        return None
    (model,) = yaml.safe_load(properties.read_text())["models"]
    return ((model.get("config") or {}).get("meta") or {}).get("lake_partition")


@cache
def marts() -> dict[str, str | None]:
    """The models published to the lake as tables, each with its partition column (or None)."""
    return {m.name: m.lake_partition for m in project_models().values() if m.layer == "marts"}


@cache
def project_seeds() -> dict[str, Path]:
    """Every seed (a CSV the project loads as a table) by name."""
    return {path.stem: path for path in sorted((PROJECT_DIR / "seeds").glob("*.csv"))}


def seeds_of(models: Iterable[str]) -> list[str]:
    """The seeds `models` read."""
    seeds = project_seeds()
    known = project_models()
    return sorted({ref for m in models for ref in known[m].refs if ref in seeds})


def models_of(job: str) -> list[Model]:
    """The models a job builds (tagged with its DAG id), upstream first."""
    models = project_models()
    chosen = {name for name, m in models.items() if job in m.tags}
    ordered: list[Model] = []
    done: set[str] = set()

    def visit(name: str) -> None:
        if name in done:
            return
        done.add(name)
        for ref in models[name].refs:
            if ref in chosen:
                visit(ref)
        ordered.append(models[name])

    for name in sorted(chosen):
        visit(name)
    return ordered
