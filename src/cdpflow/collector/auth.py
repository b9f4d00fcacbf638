"""Sources and their write keys: `source:<name>` entries of the secrets store, never the repo.

One key authenticates a source on every endpoint (Segment / RudderStack write key, Blotout
token). Keys are looked up by their SHA-256 and compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time

from cdpflow.errors import TerminalError
from cdpflow.secrets import FileSecretsStore

PREFIX = "source:"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def add_source(store: FileSecretsStore, name: str) -> str:
    """Create source `name` with a new random write key, and return the key."""
    if not _NAME.match(name):
        raise TerminalError(
            f"Source name `{name}` is not allowed; use 1-64 letters, digits, `_`, `.` or `-`, "
            "starting with a letter or digit."
        )
    if store.get(PREFIX + name) is not None:
        raise TerminalError(
            f"Source `{name}` exists already; its key is unchanged. Pick another name."
        )
    key = secrets.token_urlsafe(24)
    store.put(PREFIX + name, key)
    return key


def _entries(store: FileSecretsStore) -> dict[str, str]:
    return store.items()


def list_sources(store: FileSecretsStore) -> list[str]:
    """Source names (never their keys), sorted."""
    return sorted(n.removeprefix(PREFIX) for n in _entries(store) if n.startswith(PREFIX))


class SourceRegistry:
    """Write key -> source name, re-read from the store when an unknown key shows up."""

    def __init__(self, store: FileSecretsStore, reload_seconds: float = 1.0) -> None:
        self.store = store
        self.reload_seconds = reload_seconds
        self._by_digest: dict[bytes, tuple[str, str]] = {}
        self._loaded_at = float("-inf")
        self._load()

    def _load(self) -> None:
        self._loaded_at = time.monotonic()
        self._by_digest = {
            _digest(key): (name.removeprefix(PREFIX), key)
            for name, key in _entries(self.store).items()
            if name.startswith(PREFIX)
        }

    def source_of(self, key: str | None) -> str | None:
        """The name of the source whose key is `key`; None for an unknown key."""
        if not key:
            return None
        found = self._by_digest.get(_digest(key))
        if found is None and time.monotonic() - self._loaded_at >= self.reload_seconds:
            self._load()  # a source added while the collector runs
            found = self._by_digest.get(_digest(key))
        if found is None or not hmac.compare_digest(found[1].encode(), key.encode()):
            return None
        return found[0]
