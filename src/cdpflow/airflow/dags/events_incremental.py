"""The events_incremental DAG: wires cdpflow.jobs.events_incremental."""

from cdpflow.airflow.dag_factory import build_dag

dag = build_dag("events_incremental")
