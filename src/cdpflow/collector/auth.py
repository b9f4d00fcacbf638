"""Sources and their write keys: `source:<name>` entries of the secrets store, never the repo.

One key authenticates a source on every endpoint (Segment / RudderStack write key, Blotout
token). Keys are looked up by their SHA-256 and compared in constant time. A rotated source's
previous key stays valid until the time kept with it under `source-previous:<name>`
(`<unix time> <key>`). The registry notices a changed store on the next request (it stats the
file each time), so a removed key stops working, and a new one works, at once.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import time

from cdpflow.errors import TerminalError
from cdpflow.secrets import FileSecretsStore

PREFIX = "source:"
PREVIOUS = "source-previous:"  # a rotated source's old key: `<valid until, unix time> <key>`
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
    key = _new_key()
    store.put(PREFIX + name, key)
    return key


def _new_key() -> str:
    return secrets.token_urlsafe(24)


def _require(store: FileSecretsStore, name: str) -> None:
    if store.get(PREFIX + name) is None:
        known = ", ".join(list_sources(store)) or "none yet"
        raise TerminalError(f"There is no source `{name}` (sources: {known}).")


def remove_source(store: FileSecretsStore, name: str) -> None:
    """Delete source `name` and any previous key it kept: both stop working at once."""
    _require(store, name)
    store.delete(PREFIX + name, PREVIOUS + name)


def rotate_source(store: FileSecretsStore, name: str, grace_seconds: float) -> str:
    """Give source `name` a new key, and return it; the old one works `grace_seconds` more."""
    _require(store, name)
    old = store.get(PREFIX + name)
    key = _new_key()
    if grace_seconds > 0 and old:
        until = time.time() + grace_seconds
        store.put_many({PREFIX + name: key, PREVIOUS + name: f"{until:.0f} {old}"})
    else:
        store.put(PREFIX + name, key)
        store.delete(PREVIOUS + name)
    return key


def _entries(store: FileSecretsStore) -> dict[str, str]:
    return store.items()


def list_sources(store: FileSecretsStore) -> list[str]:
    """Source names (never their keys), sorted."""
    return sorted(n.removeprefix(PREFIX) for n in _entries(store) if n.startswith(PREFIX))


class SourceRegistry:
    """Write key -> source name, re-read whenever the store file changed (one stat a request)."""

    def __init__(self, store: FileSecretsStore) -> None:
        self.store = store
        # digest -> (source, key, valid until: unix time, inf for a current key)
        self._by_digest: dict[bytes, tuple[str, str, float]] = {}
        self._version: tuple[int, int, int] | None = None
        self._load()

    def _store_version(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.store.path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _load(self) -> None:
        version = self._store_version()
        by_digest: dict[bytes, tuple[str, str, float]] = {}
        entries = _entries(self.store)
        for name, value in entries.items():
            if name.startswith(PREVIOUS):
                until, _, key = value.partition(" ")
                try:
                    by_digest[_digest(key)] = (name.removeprefix(PREVIOUS), key, float(until))
                except ValueError:
                    continue  # not one we wrote; never a valid key
        for name, key in entries.items():  # a current key wins over an equal previous one
            if name.startswith(PREFIX):
                by_digest[_digest(key)] = (name.removeprefix(PREFIX), key, float("inf"))
        self._by_digest = by_digest
        self._version = version

    def source_of(self, key: str | None) -> str | None:
        """The name of the source whose key is `key`; None for an unknown or expired key."""
        if not key:
            return None
        if self._store_version() != self._version:
            self._load()  # a source added, removed or rotated while the collector runs
        found = self._by_digest.get(_digest(key))
        if found is None or not hmac.compare_digest(found[1].encode(), key.encode()):
            return None
        if found[2] != float("inf") and time.time() >= found[2]:
            return None
        return found[0]
