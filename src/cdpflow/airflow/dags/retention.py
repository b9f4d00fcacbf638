"""The retention DAG: wires cdpflow.jobs.retention, one task per dbt model."""

from cdpflow.airflow.dag_factory import build_dag

dag = build_dag("retention")
