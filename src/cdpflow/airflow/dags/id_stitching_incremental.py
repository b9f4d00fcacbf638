"""The id_stitching_incremental DAG: wires cdpflow.jobs.id_stitching_incremental."""

from cdpflow.airflow.dag_factory import build_dag

dag = build_dag("id_stitching_incremental")
