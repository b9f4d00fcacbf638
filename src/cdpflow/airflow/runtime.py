"""Running Airflow for cdpflow: the embedded default (SQLite, standalone) and its admin login."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from cdpflow.airflow.declared import prepare_dags_folder
from cdpflow.secrets import AIRFLOW_PASSWORD, admin_secrets
from cdpflow.settings import Settings

ADMIN = "admin"


def airflow_environment(settings: Settings, port: int = 8080) -> dict[str, str]:
    """Environment for `airflow` commands: cdpflow's DAGs, SQLite under CDPFLOW_HOME, examples
    off, the admin login whose password lives in the secrets store, and DAGs that run as soon
    as they appear (Airflow pauses new DAGs by default; an explicit setting wins)."""
    home = settings.home / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    passwords = home / "passwords.json"
    password = admin_secrets(settings).get_or_create(AIRFLOW_PASSWORD)
    fd = os.open(passwords, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({ADMIN: password}, handle)
    bin_dir = str(Path(sys.executable).parent)
    env = dict(os.environ)
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",  # standalone spawns `airflow` by name
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(prepare_dags_folder(settings)),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=f"{ADMIN}:admin",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(passwords),
        AIRFLOW__API__PORT=str(port),
        CDPFLOW_HOME=str(settings.home),
    )
    env.setdefault("AIRFLOW__API__HOST", "127.0.0.1")  # one machine: not on the network unasked
    env.setdefault("AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION", "False")
    return env
