"""Keeps one DAG file per declared file (ELT pipelines, activation destinations) in cdpflow's
DAGs folder, so a file added or removed by hand gets or loses its DAG; defines no DAG itself."""

from cdpflow.airflow.dag_factory import airflow_settings
from cdpflow.airflow.declared import sync_declared_dags

sync_declared_dags(airflow_settings())
