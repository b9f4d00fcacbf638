"""The one_time_setup DAG: wires cdpflow.jobs.one_time_setup."""

from cdpflow.airflow.dag_factory import build_dag

dag = build_dag("one_time_setup")
