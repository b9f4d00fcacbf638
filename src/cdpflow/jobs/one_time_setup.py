"""one_time_setup: what a fresh deployment needs, created once; a second run changes nothing.

Creates the lake layout, the empty tables (so queries and dashboards work before the first
data), a commented `cdpflow.yaml` listing every setting, the secrets store entries (the Airflow
admin password), and backfills raw data already present.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import yaml

from cdpflow.events.schema import CORE_EVENTS_COLUMNS, QUARANTINE_COLUMNS
from cdpflow.jobs import Interval, events_incremental, job_lock
from cdpflow.lake.raw import RAW_EVENTS
from cdpflow.lake.storage import Lake
from cdpflow.lake.tables import TableStore
from cdpflow.secrets import AIRFLOW_PASSWORD, admin_secrets, describe_store
from cdpflow.settings import SETTINGS, Settings

log = logging.getLogger(__name__)
TABLES = {
    events_incremental.CORE_EVENTS: CORE_EVENTS_COLUMNS,
    events_incremental.QUARANTINE_EVENTS: QUARANTINE_COLUMNS,
}


@dataclass
class SetupResult:
    actions: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if not self.actions:
            return "one_time_setup: already set up; nothing changed."
        return "one_time_setup:\n" + "\n".join(f"  - {a}" for a in self.actions)


def config_template(settings: Settings) -> str:
    """A `cdpflow.yaml` that documents every setting, all commented out at their defaults."""
    lines = [
        "# cdpflow settings. Later layers win: this file < environment variables < Airflow",
        "# Variables. Uncomment a line to change a value; `cdpflow config` shows the result.",
        "",
    ]
    for s in SETTINGS:
        default = s.default if s.default is not None else settings.value_of(s.key)
        lines.append(f"# {s.doc}")
        lines.append(f"# {s.key}: {_yaml_scalar(str(default))}")
    return "\n".join(lines) + "\n"


def _yaml_scalar(text: str) -> str:
    """`text` as YAML that reads back as it, so that uncommenting a line keeps its default: a
    value YAML reads otherwise (`*/30 * * * *`, `*`: an alias; empty: null) in double quotes."""
    try:
        plain = yaml.safe_load(text) if text else None
    except yaml.YAMLError:
        plain = None
    return text if plain is not None else json.dumps(text)


def run(
    settings: Settings,
    interval: Interval | None = None,
    *,
    now: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SetupResult:
    """Create what is missing; backfill raw events that were never processed."""
    result = SetupResult()
    lake = Lake(settings.lake_url)
    tables = TableStore(lake)
    if not lake.exists(RAW_EVENTS):
        lake.makedirs(RAW_EVENTS)
        result.actions.append(f"created the raw landing zone {lake.uri(RAW_EVENTS)}")
    config = settings.home / "cdpflow.yaml"
    if not config.exists():
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(config_template(settings))
        result.actions.append(f"wrote {config} (every setting, commented, at its default)")
    secrets = admin_secrets(settings)
    if secrets.get(AIRFLOW_PASSWORD) is None:
        secrets.get_or_create(AIRFLOW_PASSWORD)
        result.actions.append(
            f"generated the Airflow admin password into {describe_store(secrets)} "
            f"(`cdpflow secrets get {AIRFLOW_PASSWORD}`)"
        )
    with job_lock(settings, "events_incremental"):
        for name, columns in TABLES.items():
            if tables.current(name) is None:
                tables.commit(name, None, operation="one_time_setup", columns=columns)
                result.actions.append(f"created the empty table {name}")
    backfill = events_incremental.run(settings, interval, now=now, progress=progress)
    if backfill.hours:
        result.actions.append(f"backfilled raw data: {backfill.summary()}")
    log.info(result.summary())
    return result
