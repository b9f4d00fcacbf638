"""How secret values are shown: never as they are."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

MASK = "********"


def mask_url(url: str) -> str:
    """Hide the password part of a URL's userinfo, which must never reach logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username}:{MASK}@{host}"))
