"""The activation_stats DAG: wires cdpflow.jobs.activation_stats."""

from cdpflow.airflow.dag_factory import build_dag

dag = build_dag("activation_stats")
