"""Running Superset for cdpflow: its own virtual environment (Superset pins DuckDB < 2, Flask and
SQLAlchemy versions that conflict with Airflow and dbt), SQLite metadata under
$CDPFLOW_HOME/superset and an admin whose password lives in the secrets store."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cdpflow.errors import TerminalError
from cdpflow.secrets import open_secrets
from cdpflow.settings import Settings

SUPERSET_VERSION = "6.1.0"
SUPERSET_PASSWORD_SECRET = "superset_password"
SUPERSET_SECRET_KEY = "superset_secret_key"
DEFAULT_USERNAME = "admin"
DEFAULT_EMAIL = "admin@localhost.localdomain"
# What `make superset` installs; the same pins the first use of `cdpflow superset` installs.
REQUIREMENTS = (
    f"apache-superset=={SUPERSET_VERSION}",
    "duckdb-engine>=0.17",
    "duckdb>=1.4.2,<2",
    "flask-caching<2.4",
    "cachetools",  # imported by Superset 6.1 (db_engine_specs.aws_iam), not declared by it
    "rich",
)

CONFIG_TEMPLATE = '''\
"""Written by `cdpflow superset`; rewritten on each start."""
import os

SECRET_KEY = os.environ["CDPFLOW_SUPERSET_SECRET_KEY"]
SQLALCHEMY_DATABASE_URI = {metadata_url!r}
DATA_DIR = {data_dir!r}
SQLLAB_CTAS_NO_LIMIT = True
FEATURE_FLAGS = {{"ALERT_REPORTS": False}}
WTF_CSRF_ENABLED = True
TALISMAN_ENABLED = False
'''


def superset_venv(version: str = SUPERSET_VERSION) -> Path:
    """Where `make superset` puts Superset's own venv (SUPERSET_VENV overrides, as there)."""
    override = os.environ.get("SUPERSET_VENV")
    if override:
        return Path(override)
    return Path.home() / ".cache" / "cdpflow" / f"superset-{version}"


@dataclass(frozen=True)
class Credentials:
    """The Superset login the DAGs use; `password` is never shown (see `__repr__`)."""

    username: str
    email: str
    password: str

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, email={self.email!r}, password=***)"


def superset_credentials(settings: Settings) -> Credentials:
    """SUPERSET_USERNAME / SUPERSET_USER_EMAIL / SUPERSET_PASSWORD; without a password, the one
    generated once and kept in the secrets store (`cdpflow secrets get superset_password`)."""
    password = settings.superset_password or open_secrets(settings).get_or_create(
        SUPERSET_PASSWORD_SECRET
    )
    return Credentials(
        settings.superset_username or DEFAULT_USERNAME,
        settings.superset_user_email or DEFAULT_EMAIL,
        password,
    )


def superset_home(settings: Settings) -> Path:
    return settings.home / "superset"


def superset_environment(settings: Settings, venv: Path) -> dict[str, str]:
    """Environment for `superset` commands: the config under $CDPFLOW_HOME/superset (SQLite
    metadata) and a secret key made once and kept in the secrets store."""
    home = superset_home(settings)
    home.mkdir(parents=True, exist_ok=True)
    config = home / "superset_config.py"
    config.write_text(
        CONFIG_TEMPLATE.format(
            metadata_url=f"sqlite:///{home / 'superset.db'}", data_dir=str(home / "data")
        )
    )
    env = dict(os.environ)
    env.update(
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        SUPERSET_CONFIG_PATH=str(config),
        SUPERSET_HOME=str(home),
        CDPFLOW_SUPERSET_SECRET_KEY=open_secrets(settings).get_or_create(SUPERSET_SECRET_KEY, 42),
        FLASK_APP="superset.app:create_app()",
        CDPFLOW_HOME=str(settings.home),
    )
    env.pop("PYTHONPATH", None)  # Superset's venv must not see cdpflow's packages
    return env


def install_superset(venv: Path, say: Callable[[str], None]) -> None:
    """Create Superset's venv (a few minutes, from the package registry)."""
    say(f"Installing Apache Superset {SUPERSET_VERSION} into {venv} (takes a few minutes)...")
    try:
        subprocess.run(["python3", "-m", "venv", str(venv)], check=True)
        pip = str(venv / "bin" / "pip")
        subprocess.run([pip, "install", "--quiet", "--upgrade", "pip"], check=True)
        subprocess.run([pip, "install", "--quiet", *REQUIREMENTS], check=True)
    except (OSError, subprocess.CalledProcessError) as err:
        raise TerminalError(
            f"Installing Superset into {venv} failed ({err}); try `make superset`."
        ) from err
    say("Superset installed.")


def prepare_superset(
    settings: Settings, venv: Path, say: Callable[[str], None] = print
) -> dict[str, str]:
    """Migrate the metadata database, make sure the admin exists with the current password, set
    up roles; returns the environment to run the server with. Safe to repeat."""
    env = superset_environment(settings, venv)
    creds = superset_credentials(settings)
    binary = str(venv / "bin" / "superset")

    def superset(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([binary, *args], env=env, capture_output=True, text=True, check=False)

    marker = superset_home(settings) / f".migrated-{SUPERSET_VERSION}"
    if not marker.exists():
        say("Preparing Superset's metadata database (first start takes a minute or two)...")
    for step in (("db", "upgrade"), ("init",)) if not marker.exists() else (("db", "upgrade"),):
        done = superset(*step)
        if done.returncode != 0:
            raise TerminalError(f"`superset {' '.join(step)}` failed:\n{done.stderr[-2000:]}")
    marker.touch()
    created = superset(
        "fab", "create-admin", "--username", creds.username, "--firstname", "cdpflow",
        "--lastname", "admin", "--email", creds.email, "--password", creds.password,
    )  # fmt: skip
    if created.returncode != 0:
        raise TerminalError(f"Creating the Superset admin failed:\n{created.stderr[-2000:]}")
    reset = superset(
        "fab", "reset-password", "--username", creds.username, "--password", creds.password
    )
    if reset.returncode != 0:
        raise TerminalError(
            f"Setting the Superset admin's password failed:\n{reset.stderr[-2000:]}"
        )
    return env


def server_command(venv: Path, host: str, port: int) -> list[str]:
    """Superset's web server (gunicorn, as Superset's docs run it) on `host:port`."""
    return [
        str(venv / "bin" / "gunicorn"),
        "--bind", f"{host}:{port}", "--workers", "1", "--threads", "4", "--timeout", "120",
        "superset.app:create_app()",
    ]  # fmt: skip
