"""The attribution DAG: wires cdpflow.jobs.attribution, one task per dbt model."""

from cdpflow.airflow.dag_factory import build_dag

dag = build_dag("attribution")
