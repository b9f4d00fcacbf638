"""The campaign DAG: wires cdpflow.jobs.campaign, one task per dbt model."""

from cdpflow.airflow.dag_factory import build_dag

dag = build_dag("campaign")
