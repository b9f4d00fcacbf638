"""The events_unified_view DAG: wires cdpflow.jobs.events_unified_view, one task per dbt model."""

from cdpflow.airflow.dag_factory import build_dag

dag = build_dag("events_unified_view")
