"""The entity_creation DAG: wires cdpflow.jobs.entity_creation."""

from cdpflow.airflow.dag_factory import build_dag

dag = build_dag("entity_creation")
