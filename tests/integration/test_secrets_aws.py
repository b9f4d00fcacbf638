"""The Airflow admin password in AWS Secrets Manager (a local server enforcing its contract)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fakes.secrets_manager import SecretsManager

from cdpflow.airflow.runtime import airflow_environment
from cdpflow.errors import TerminalError
from cdpflow.jobs import one_time_setup
from cdpflow.secrets import admin_secrets, open_secrets
from cdpflow.settings import load_settings


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDCDPFLOWTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-real-secret")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))


def _settings(tmp_path: Path, url: str, region: str = "eu-central-1"):
    return load_settings(
        env={
            "CDPFLOW_SECRETS_BACKEND": "aws",
            "AWS_REGION": region,
            "CDPFLOW_AWS_SECRETS_ENDPOINT": url,
        },
        home=tmp_path / "cdp",
    )


def test_admin_password_is_generated_once_into_secrets_manager(aws_env, tmp_path: Path) -> None:
    with SecretsManager("AKIDCDPFLOWTEST", "eu-central-1") as aws:
        settings = _settings(tmp_path, aws.url)
        env = airflow_environment(settings)
        password = aws.secrets["airflow_password"]
        assert len(password) >= 24
        passwords = Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]).read_text()
        assert password in passwords
        assert open_secrets(settings).get("airflow_password") is None  # not in the file store
        airflow_environment(settings)
        assert aws.secrets["airflow_password"] == password
        assert aws.calls.count("CreateSecret") == 1
        setup = one_time_setup.run(settings)  # finds the password in AWS: nothing to generate
        assert not any("Airflow admin password" in action for action in setup.actions)
        assert aws.calls.count("CreateSecret") == 1
        shown = subprocess.run(
            [sys.executable, "-m", "cdpflow.cli.main", "secrets", "get", "airflow_password"],
            env={
                **_cli_env(),
                "CDPFLOW_HOME": str(settings.home),
                "CDPFLOW_SECRETS_BACKEND": "aws",
                "AWS_REGION": "eu-central-1",
                "CDPFLOW_AWS_SECRETS_ENDPOINT": aws.url,
            },
            capture_output=True,
            text=True,
        )
        assert shown.returncode == 0, shown.stderr
        assert shown.stdout.strip() == password


def test_a_store_in_another_region_is_refused_with_a_clear_error(aws_env, tmp_path: Path) -> None:
    with SecretsManager("AKIDCDPFLOWTEST", "eu-central-1") as aws:
        store = admin_secrets(_settings(tmp_path, aws.url, region="us-west-2"))
        with pytest.raises(TerminalError, match=r"us-west-2.*InvalidSignatureException"):
            store.get_or_create("airflow_password")
        assert aws.secrets == {}


def _cli_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CDPFLOW_")}
