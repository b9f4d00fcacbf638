"""The DAG of a pipeline file: its schedule and the lake tables it updates (Asset outlets)."""

from __future__ import annotations

from cdpflow.airflow.dag_factory import DagSpec
from cdpflow.elt.config import load_pipeline
from cdpflow.settings import Settings


def dag_spec(settings: Settings, name: str) -> DagSpec:
    """Reads and checks the file: a bad key raises DeclarationError naming the file and key."""
    pipeline = load_pipeline(settings, name)
    schedule = pipeline.schedule
    description = pipeline.description or (
        f"ELT pipeline `{name}` ({pipeline.type}): {', '.join(pipeline.tables)}."
    )
    return DagSpec(description, lambda s: schedule, pipeline.tables)
