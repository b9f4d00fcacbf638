"""The derived_views DAG: wires cdpflow.jobs.derived_views."""

from cdpflow.airflow.dag_factory import build_dag

dag = build_dag("derived_views")
