"""The dbt project read without dbt: each model's tags, refs and layer from its SQL, a mart's
lake partition from its YAML's config.meta, and the order a job's models are built in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from cdpflow.dbt import models
from cdpflow.dbt.models import Model, marts, models_of, project_models, project_seeds, seeds_of
from cdpflow.jobs import JOBS
from cdpflow.jobs.analytics import analytics_jobs


def clear_caches() -> None:
    for cached in (project_models, marts, project_seeds):
        cached.cache_clear()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A small project of its own in place of the bundled one (the readers cache per process)."""
    root = tmp_path / "project"
    files = {
        "seeds/channels.csv": "source,channel\ngoogle,Organic Search\n",
        "models/staging/stg_events.sql": "select * from {{ source('lake', 'core_events') }}",
        "models/intermediate/int_sessionized.sql": (
            '{{ config(tags=["events_unified_view"]) }}\n'
            "select * from {{ ref('stg_events') }} join {{ ref( \"channels\" ) }} using (source)\n"
            "union all select * from {{ref('stg_events')}}"
        ),
        "models/marts/sessions.sql": (
            "{{ config(materialized='incremental', tags=['events_unified_view', 'nightly']) }}\n"
            "select * from {{ ref('int_sessionized') }}"
        ),
        "models/marts/sessions.yml": yaml.safe_dump(
            {
                "models": [
                    {"name": "sessions", "config": {"meta": {"lake_partition": "session_date"}}}
                ]
            }
        ),
        "models/marts/customer_360.sql": (
            "{{ config(tags=['events_unified_view']) }}\nselect * from {{ ref('sessions') }}"
        ),
        "models/marts/customer_360.yml": yaml.safe_dump(
            {"models": [{"name": "customer_360", "config": {"materialized": "table"}}]}
        ),
        "models/marts/retention.sql": (
            "{{ config(tags=['retention']) }}\nselect * from {{ ref('sessions') }}"
        ),
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    monkeypatch.setattr(models, "PROJECT_DIR", root)
    clear_caches()
    yield root
    clear_caches()


def test_each_model_is_read_from_its_sql_and_yaml(project: Path) -> None:
    assert project_models() == {
        "customer_360": Model("customer_360", "marts", ("events_unified_view",), ("sessions",)),
        "int_sessionized": Model(
            "int_sessionized", "intermediate", ("events_unified_view",), ("stg_events", "channels")
        ),
        "retention": Model("retention", "marts", ("retention",), ("sessions",)),
        "sessions": Model(
            "sessions",
            "marts",
            ("events_unified_view", "nightly"),
            ("int_sessionized",),
            "session_date",
        ),
        "stg_events": Model("stg_events", "staging", (), ()),
    }
    assert marts() == {"customer_360": None, "retention": None, "sessions": "session_date"}
    assert project_seeds() == {"channels": project / "seeds" / "channels.csv"}


def test_a_job_builds_its_tagged_models_upstream_first(project: Path) -> None:
    assert [m.name for m in models_of("events_unified_view")] == [
        "int_sessionized",
        "sessions",
        "customer_360",
    ]
    assert [m.name for m in models_of("retention")] == ["retention"]
    assert models_of("campaign") == []
    assert seeds_of(["int_sessionized", "sessions"]) == ["channels"]
    assert seeds_of(["customer_360"]) == []


def test_every_bundled_mart_is_built_by_a_job_and_every_tag_is_one() -> None:
    """A tag that is no DAG id, or a mart no job is tagged on, leaves a model nobody builds."""
    assert set(analytics_jobs()) <= set(JOBS)
    unbuilt = [m.name for m in project_models().values() if m.layer == "marts" and not m.tags]
    assert unbuilt == []


@pytest.mark.parametrize("job", ["attribution", "campaign", "events_unified_view", "retention"])
def test_bundled_models_come_after_the_models_of_their_job_they_read(job: str) -> None:
    order = [m.name for m in models_of(job)]
    assert order, f"{job} builds no model"
    for position, model in enumerate(models_of(job)):
        assert job in model.tags
        assert all(order.index(r) < position for r in model.refs if r in order), model


def test_each_partitioned_mart_declares_its_day_column_in_its_yaml() -> None:
    partitioned = {mart: column for mart, column in marts().items() if column}
    assert partitioned == {
        "page_views": "event_date",
        "sessions": "session_date",
        "unique_events": "event_date",
    }
    for mart, column in partitioned.items():
        path = models.PROJECT_DIR / "models" / "marts" / f"{mart}.yml"
        (model,) = yaml.safe_load(path.read_text())["models"]
        assert column in [c["name"] for c in model["columns"]], mart
