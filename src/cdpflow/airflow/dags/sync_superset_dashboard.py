"""The sync_superset_dashboard DAG: wires cdpflow.jobs.sync_superset_dashboard."""

from cdpflow.airflow.dag_factory import build_dag

dag = build_dag("sync_superset_dashboard")
