"""How secret values are shown: never as they are."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

MASK = "********"
_SECRET_NAME = re.compile(r"PASSW|PWD|TOKEN|CREDENTIAL|(^|_)(SECRET|KEY)$", re.IGNORECASE)
_GENERATED = re.compile(r"(?=\S*[a-z])(?=\S*[A-Z])(?=\S*\d)\S{12,}")


def hidden_value(value: Any) -> str:
    """How a value that may be a secret appears in an error: its length only."""
    return f"<{len(str(value))} characters, hidden>"


def may_be_secret(key: str, value: Any) -> bool:
    """A key named like a secret, or a value like a generated one (12+ characters without
    spaces that mix upper case, lower case and digits): a password pasted into the wrong key."""
    return bool(_SECRET_NAME.search(key) or _GENERATED.fullmatch(str(value).strip()))


def mask_url(url: str) -> str:
    """Hide the password part of a URL's userinfo, which must never reach logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username}:{MASK}@{host}"))
