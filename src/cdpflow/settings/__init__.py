"""One typed Settings object, built once at the edge (CLI, DAG parse, collector start).

Layers, later wins: defaults, `$CDPFLOW_HOME/cdpflow.yaml`, environment variables, and Airflow
Variables when running under Airflow. Every value is parsed at load, so a bad one fails there,
naming the key and the value, instead of deep inside a job. A value that may be a secret (of an
unknown key, a key named like a password or token, or one that looks generated) is never shown
in such an error, only its length (`hidden_value`).

Each setting is declared once, as a field made by `setting(...)` (cdpflow.settings.declare): its
key, its default as a user would write it, its parser and its documentation. The fields are
grouped by topic in the modules `Settings` is assembled from (deployment, pipeline, operations,
identity, idle_connections, sources_and_channels); `SETTINGS` is derived from them, so the
registry and the dataclass cannot disagree, and `Settings(home=...)` built directly holds the
documented defaults.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from cdpflow.errors import ConfigError
from cdpflow.settings.declare import Setting, declared
from cdpflow.settings.deployment import DeploymentSettings
from cdpflow.settings.identity import IdentitySettings
from cdpflow.settings.idle_connections import IdleConnectionSettings
from cdpflow.settings.mask import MASK, hidden_value, mask_url, may_be_secret
from cdpflow.settings.operations import OperationsSettings
from cdpflow.settings.parse import CLICK_IDS, ENGINES
from cdpflow.settings.pipeline import PipelineSettings
from cdpflow.settings.sources_and_channels import (
    ActivationSettings,
    CollectorSettings,
    EltSettings,
)

__all__ = [
    "CLICK_IDS",
    "ENGINES",
    "MASK",
    "SETTINGS",
    "Setting",
    "Settings",
    "load_settings",
    "mask_url",
    "written",
]


@dataclass(frozen=True)
class _Home:
    """The first field of Settings: it has no default, so it comes before every declared one."""

    home: Path


# A dataclass lists the fields of its bases from the last base to the first, so the bases are
# named in reverse: the fields (and `cdpflow config`'s rows) run from DeploymentSettings to
# EltSettings.
@dataclass(frozen=True)
class Settings(
    EltSettings,
    ActivationSettings,
    CollectorSettings,
    IdleConnectionSettings,
    IdentitySettings,
    OperationsSettings,
    PipelineSettings,
    DeploymentSettings,
    _Home,
):
    """The effective configuration of one deployment. Build with `load_settings`."""

    origins: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.lake_url:  # the documented default: the lake under the home
            object.__setattr__(self, "lake_url", str(Path(self.home) / "lake"))

    @property
    def work_dir(self) -> Path:
        """Local scratch space (engine spill files, staging); never part of the lake."""
        return self.home / "work"

    def value_of(self, key: str) -> Any:
        return getattr(self, _BY_KEY[key].attr)

    def describe(self) -> list[tuple[str, str, str]]:
        """(key, shown value, origin) for every setting, with secrets masked."""
        rows = [("CDPFLOW_HOME", str(self.home), self.origins.get("CDPFLOW_HOME", "default"))]
        for s in SETTINGS:
            rows.append((s.key, _shown(s, self.value_of(s.key)), self.origins.get(s.key, "")))
        return rows


SETTINGS: tuple[Setting, ...] = declared(Settings)
_BY_KEY = {s.key: s for s in SETTINGS}
_BY_ATTR = {s.attr: s for s in SETTINGS}


def written(value: Any) -> str:
    """A parsed value as a user would write it again (an environment variable's text)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, Mapping):  # key=value pairs
        return ",".join(
            f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in value.items()
        )
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _shown(setting: Setting, value: Any) -> str:
    if setting.secret:
        return MASK if value else ""
    text = str(value) if isinstance(value, (bool, datetime)) else written(value)
    if "://" in text:
        return mask_url(text)
    return text


def load_settings(
    env: Mapping[str, str] | None = None,
    airflow_variables: Mapping[str, str | None] | None = None,
    home: str | Path | None = None,
) -> Settings:
    """Build the effective settings.

    Args:
        env: environment to read (defaults to `os.environ`); only documented keys are read.
        airflow_variables: Variables fetched by the Airflow edge; `None` values are ignored.
        home: overrides `$CDPFLOW_HOME`.

    Raises:
        ConfigError: a value does not parse, naming the key and the value.
    """
    env = os.environ if env is None else env
    home_origin = "argument" if home else ("env" if env.get("CDPFLOW_HOME") else "default")
    home_path = Path(home or env.get("CDPFLOW_HOME") or "cdpflow_home").expanduser().resolve()

    raw: dict[str, Any] = {s.key: s.default for s in SETTINGS}
    origins = {s.key: "default" for s in SETTINGS}
    origins["CDPFLOW_HOME"] = home_origin
    raw["CDPFLOW_LAKE_URL"] = str(home_path / "lake")

    config_file = home_path / "cdpflow.yaml"
    for key, value in _read_yaml(config_file).items():
        raw[key], origins[key] = value, config_file.name
    for s in SETTINGS:
        if s.key in env:
            raw[s.key], origins[s.key] = env[s.key], "env"
    for key, value in (airflow_variables or {}).items():
        if key in _BY_KEY and value is not None:
            raw[key], origins[key] = value, "airflow variable"

    values = {s.attr: _parse(s, raw[s.key]) for s in SETTINGS}
    return Settings(home=home_path, origins=origins, **values)


def _parse(setting: Setting, raw: Any) -> Any:
    try:
        return setting.parse(setting.key, raw)
    except ConfigError as err:
        if not (setting.secret or may_be_secret(setting.key, raw)):
            raise
        shown = hidden_value(raw)
        expected = err.expected.replace(str(raw), shown) if str(raw) else err.expected
        raise ConfigError(err.key, shown, expected) from None  # no chained message with it


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(str(path), "(file)", f"valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(str(path), type(data).__name__, "a mapping of setting names to values")
    out: dict[str, Any] = {}
    for name, value in data.items():
        setting = _BY_KEY.get(str(name)) or _BY_ATTR.get(str(name).lower())
        if setting is None:
            raise ConfigError(  # a typo'd name may hold a password: its value is not shown
                f"{path.name}: {name}",
                hidden_value(value),
                "a known setting name (see `cdpflow config` for the list)",
            )
        out[setting.key] = value
    return out
