"""The cleanup_temp_tables DAG: wires cdpflow.jobs.cleanup_temp_tables."""

from cdpflow.airflow.dag_factory import build_dag

dag = build_dag("cleanup_temp_tables")
