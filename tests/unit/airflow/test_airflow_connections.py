"""An Airflow Connection turned into the URL delete_idle_db_connections takes."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from cdpflow.airflow.connections import ConnectionNotUsable, job_options, postgres_url
from cdpflow.settings import load_settings


def lookup(**fields):
    conn = SimpleNamespace(
        conn_type="postgres", host="db.internal", port=5432, login="janitor",
        password="p@ss/word", schema="app", extra_dejson={},
    )  # fmt: skip
    for name, value in fields.items():
        setattr(conn, name, value)
    return lambda conn_id: conn


def test_connection_fields_become_a_url_the_settings_accept(tmp_path):
    url = postgres_url("warehouse", get_connection=lookup(extra_dejson={"sslmode": "require"}))
    assert url == "postgresql://janitor:p%40ss%2Fword@db.internal:5432/app?sslmode=require"
    assert load_settings(env={"CDPFLOW_IDLE_DB_URL": url}, home=tmp_path).idle_db_url == url


def test_airflow_only_extras_are_left_out():
    url = postgres_url("warehouse", get_connection=lookup(extra_dejson={"cursor": "dictcursor"}))
    assert "cursor" not in url


def test_a_connection_of_another_type_is_refused():
    with pytest.raises(ConnectionNotUsable, match=r"`warehouse`.*`mysql`"):
        postgres_url("warehouse", get_connection=lookup(conn_type="mysql"))


def test_the_idle_connections_job_gets_the_connections_url(tmp_path):
    settings = load_settings(env={"CDPFLOW_IDLE_DB_CONN_ID": "warehouse"}, home=tmp_path)
    options = job_options("delete_idle_db_connections", settings, get_connection=lookup())
    assert options == {"db_url": "postgresql://janitor:p%40ss%2Fword@db.internal:5432/app"}
    assert job_options("compression", settings, get_connection=lookup()) == {}
    unset = load_settings(env={}, home=tmp_path)
    assert job_options("delete_idle_db_connections", unset, get_connection=lookup()) == {}
