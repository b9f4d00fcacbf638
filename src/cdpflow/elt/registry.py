"""The source types a pipeline file may name, each a module of this package (see the package
docstring for what a type module provides); one line per type."""

from __future__ import annotations

import importlib
from types import ModuleType

TYPES: dict[str, str] = {
    "files": "cdpflow.elt.files",
    "postgres": "cdpflow.elt.postgres",
    "shopify": "cdpflow.elt.shopify",
    "airbyte": "cdpflow.elt.airbyte",
}


def source_type(name: str) -> ModuleType:
    """The module of type `name` (KeyError when none is registered)."""
    return importlib.import_module(TYPES[name])
