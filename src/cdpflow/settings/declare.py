"""How a setting is declared: once, as a dataclass field that carries its registry row.

`setting(...)` makes the field (its default is the documented default parsed, as loading would
parse it) and stores the `Setting` row in the field's metadata; `declared` reads the rows back in
field order. So the registry and the dataclass cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

_SPEC = "cdpflow_setting"


@dataclass(frozen=True)
class Setting:
    """How one key is named, defaulted, parsed and shown."""

    key: str
    default: Any  # as a user would write it; None: derived at load (the lake under the home)
    parse: Callable[[str, Any], Any]
    doc: str
    secret: bool = False
    attr: str = ""  # the Settings field, filled in from the declaration


def setting(
    key: str,
    default: Any,
    parser: Callable[[str, Any], Any],
    doc: str,
    *,
    secret: bool = False,
    in_repr: bool = True,
) -> Any:
    """Declare a Settings field: its default is `default` parsed, as `load_settings` would.

    `secret` masks the value wherever it is shown; `in_repr=False` keeps a value that is shown
    masked (a URL with a password) out of the dataclass repr.
    """
    spec = Setting(key, default, parser, doc, secret)
    metadata = {_SPEC: spec}
    shown = in_repr and not secret
    if default is None:
        return field(default="", repr=shown, metadata=metadata)
    value = parser(key, default)
    if isinstance(value, Mapping | list | dict):
        return field(default_factory=lambda: parser(key, default), repr=shown, metadata=metadata)
    return field(default=value, repr=shown, metadata=metadata)


def declared(cls: type) -> tuple[Setting, ...]:
    """The settings declared as fields of dataclass `cls`, in field order, each naming its field."""
    return tuple(
        replace(f.metadata[_SPEC], attr=f.name) for f in fields(cls) if _SPEC in f.metadata
    )
