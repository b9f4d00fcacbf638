"""Airflow wiring: the DAG factory and the DAGs folder (`cdpflow dags-folder`)."""
