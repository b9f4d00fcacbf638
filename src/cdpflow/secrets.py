"""The secrets store: generated credentials (the Airflow admin password) kept out of the repo.

The default store is a JSON file under CDPFLOW_HOME that only its owner can read. Values never
reach logs: callers print them only when a user asks (`cdpflow secrets get NAME`).
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from pathlib import Path

from cdpflow.errors import TerminalError
from cdpflow.settings import Settings

AIRFLOW_PASSWORD = "airflow_password"  # the Airflow admin's password, made at first need


class FileSecretsStore:
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
        data = self._read()
        data[name] = value
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)

    def get_or_create(self, name: str, length: int = 24) -> str:
        """The secret `name`, generated (URL-safe random) and stored on first use."""
        value = self.get(name)
        if value is None:
            value = secrets.token_urlsafe(length)
            self.put(name, value)
        return value


def open_secrets(settings: Settings) -> FileSecretsStore:
    return FileSecretsStore(settings.home / "secrets.json")
