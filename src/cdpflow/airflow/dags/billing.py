"""The billing DAG: wires cdpflow.jobs.billing."""

from cdpflow.airflow.dag_factory import build_dag

dag = build_dag("billing")
