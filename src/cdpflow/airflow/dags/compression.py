"""The compression DAG: wires cdpflow.jobs.compression."""

from cdpflow.airflow.dag_factory import build_dag

dag = build_dag("compression")
