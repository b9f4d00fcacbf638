"""The delete_idle_db_connections DAG: wires cdpflow.jobs.delete_idle_db_connections."""

from cdpflow.airflow.dag_factory import build_dag

dag = build_dag("delete_idle_db_connections")
