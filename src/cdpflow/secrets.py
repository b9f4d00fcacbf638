"""The secrets store: generated credentials (the Airflow admin password) kept out of the repo.

The default store is a JSON file under CDPFLOW_HOME that only its owner can read. With
CDPFLOW_SECRETS_BACKEND=aws the Airflow admin password lives in AWS Secrets Manager instead (region
AWS_REGION). Values never reach logs: callers print them only when a user asks
(`cdpflow secrets get NAME`).
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from cdpflow.errors import TerminalError, TransientError
from cdpflow.settings import Settings

AIRFLOW_PASSWORD = "airflow_password"  # the Airflow admin's password, made at first need


class SecretsStore(ABC):
    """Named secrets, read and written; a generated secret is made from the two."""

    @abstractmethod
    def get(self, name: str) -> str | None: ...

    @abstractmethod
    def put(self, name: str, value: str) -> None: ...

    def get_or_create(self, name: str, length: int = 24) -> str:
        """The secret `name`, generated (URL-safe random) and stored on first use."""
        value = self.get(name)
        if value is None:
            value = secrets.token_urlsafe(length)
            self.put(name, value)
        return value


class FileSecretsStore(SecretsStore):
    """Secrets in `<home>/secrets.json`, mode 0600, replaced atomically on every change."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> dict[str, str]:
        if not self.path.exists():
            return {}
        mode = stat.S_IMODE(self.path.stat().st_mode)
        if mode & 0o077:
            raise TerminalError(
                f"{self.path} is readable by others (mode {mode:o}); run `chmod 600 {self.path}`."
            )
        data = json.loads(self.path.read_text() or "{}")
        return {str(k): str(v) for k, v in data.items()}

    def get(self, name: str) -> str | None:
        return self._read().get(name)

    def items(self) -> dict[str, str]:
        """Every stored secret by name (for registries kept here, such as collector sources)."""
        return self._read()

    def put(self, name: str, value: str) -> None:
        self.put_many({name: value})

    def put_many(self, values: dict[str, str]) -> None:
        """Set several secrets in one atomic replace of the file."""
        data = self._read()
        data.update(values)
        self._write(data)

    def delete(self, *names: str) -> None:
        """Remove secrets (those that exist) in one atomic replace of the file."""
        data = self._read()
        if any(name in data for name in names):
            self._write({k: v for k, v in data.items() if k not in names})

    def _write(self, data: dict[str, str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)


class AwsSecretsStore(SecretsStore):
    """Secrets in AWS Secrets Manager, one secret per name, as plain SecretString values."""

    def __init__(self, region: str, endpoint_url: str | None = None, client: Any = None) -> None:
        self.region = region
        if client is None:
            try:
                import boto3
            except ImportError as err:
                raise TerminalError(
                    "CDPFLOW_SECRETS_BACKEND=aws needs boto3: pip install 'cdpflow[aws]'."
                ) from err
            client = boto3.session.Session().client(
                "secretsmanager", region_name=region, endpoint_url=endpoint_url or None
            )
        self.client = client

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any] | None:
        import botocore.exceptions

        try:
            return dict(getattr(self.client, operation)(**kwargs))
        except botocore.exceptions.ClientError as err:
            code = err.response.get("Error", {}).get("Code", "")
            if code == "ResourceNotFoundException":
                return None
            if code in ("ThrottlingException", "InternalServiceError"):
                raise TransientError(f"AWS Secrets Manager: {code}; retry later.") from err
            raise TerminalError(f"AWS Secrets Manager ({self.region}) refused: {code}.") from err
        except botocore.exceptions.BotoCoreError as err:
            raise TransientError(f"AWS Secrets Manager could not be reached: {err}") from err

    def get(self, name: str) -> str | None:
        answer = self._call("get_secret_value", SecretId=name)
        return None if answer is None else str(answer["SecretString"])

    def put(self, name: str, value: str) -> None:
        if self._call("put_secret_value", SecretId=name, SecretString=value) is None:
            self._call("create_secret", Name=name, SecretString=value)


def open_secrets(settings: Settings) -> FileSecretsStore:
    """The file store: generated keys such as collector sources (read every second) live here."""
    return FileSecretsStore(settings.home / "secrets.json")


def admin_secrets(settings: Settings) -> SecretsStore:
    """Where the Airflow admin password is kept: the file store, or AWS Secrets Manager."""
    if settings.secrets_backend == "aws":
        return AwsSecretsStore(settings.aws_region, settings.aws_secrets_endpoint or None)
    return open_secrets(settings)


def describe_store(store: SecretsStore) -> str:
    if isinstance(store, AwsSecretsStore):
        return f"AWS Secrets Manager ({store.region})"
    return str(getattr(store, "path", store))
