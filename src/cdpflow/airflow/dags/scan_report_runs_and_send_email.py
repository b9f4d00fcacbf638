"""The scan_report_runs_and_send_email DAG: wires cdpflow.jobs.scan_report_runs_and_send_email."""

from cdpflow.airflow.dag_factory import build_dag

dag = build_dag("scan_report_runs_and_send_email")
