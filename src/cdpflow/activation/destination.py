"""A destination file, `$CDPFLOW_HOME/destinations/<name>.yml`: read, checked key by key, written.

Every key is checked when the file is read (at DAG parse and at the start of a run), so a typo
fails naming the file and the key instead of half-way through a sync. Secrets are named, never
held: `secret: hook_key` refers to an entry of the secrets store.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cdpflow.cron import cron_problem
from cdpflow.declared import FAMILIES, NAME, DeclarationError, read_declaration
from cdpflow.settings import Settings

DESTINATIONS = next(f for f in FAMILIES if f.prefix == "activation")
TYPES = ("webhook", "klaviyo", "meta_custom_audience")
MODES = ("mirror", "upsert")
FIELDS = ("email", "phone", "first_name", "last_name", "country", "city", "state", "zip")
# the key naming the secret, and the channel's own keys, per type
SECRET_KEY = {"webhook": "secret", "klaviyo": "key_secret", "meta_custom_audience": "token_secret"}
CHANNEL_KEYS: Mapping[str, tuple[str, ...]] = {
    "webhook": ("url", "secret", "batch_size"),
    "klaviyo": ("list", "list_id", "key_secret"),
    "meta_custom_audience": (
        "ad_account", "audience", "audience_id", "customer_file_source", "token_secret",
    ),
}  # fmt: skip
CUSTOMER_FILE_SOURCES = (
    "USER_PROVIDED_ONLY", "PARTNER_PROVIDED_ONLY", "BOTH_USER_AND_PARTNER_PROVIDED",
)  # fmt: skip
COMMON_KEYS = (
    "type",
    "segment",
    "mode",
    "fields",
    "consent_field",
    "schedule",
    "max_removal_share",
    "api_base_url",
)
DEFAULT_BASE_URL: dict[str, str] = {
    "klaviyo": "https://a.klaviyo.com",
    "meta_custom_audience": "https://graph.facebook.com",
}  # per type


@dataclass(frozen=True)
class Destination:
    """One destination as its file declares it, every key checked."""

    name: str
    path: Path
    type: str
    segment: str
    secret: str  # the name of the secret in the secrets store, never its value
    mode: str = "mirror"
    fields: tuple[str, ...] = FIELDS
    consent_field: str | None = None
    schedule: str | None = None  # None: after each update of segment_members
    max_removal_share: float = 0.2
    api_base_url: str = ""
    target: Mapping[str, Any] = field(default_factory=dict)  # the channel's own keys

    @property
    def dag_id(self) -> str:
        return DESTINATIONS.dag_id(self.name)

    @property
    def base_url(self) -> str:
        return (self.api_base_url or DEFAULT_BASE_URL.get(self.type, "")).rstrip("/")


def load_destination(settings: Settings, name: str) -> Destination:
    """The destination `name`, checked; DeclarationError names the file and the key."""
    path = DESTINATIONS.path(settings, name)
    return parse_destination(name, path, read_declaration(path))


def parse_destination(name: str, path: Path, data: Mapping[str, Any]) -> Destination:
    def fail(key: str | None, problem: str) -> DeclarationError:
        return DeclarationError(path, key, problem)

    kind = data.get("type")
    if kind not in TYPES:
        raise fail("type", f"is `{kind}`; use one of {', '.join(TYPES)}")
    allowed = set(COMMON_KEYS) | set(CHANNEL_KEYS[kind])
    for key in data:
        if key not in allowed:
            raise fail(
                str(key), f"is not a key of a {kind} destination ({', '.join(sorted(allowed))})"
            )
    segment = data.get("segment")
    if not isinstance(segment, str) or not segment.strip():
        raise fail("segment", "is required: the name of a segment in segment_members")
    mode = data.get("mode", "mirror")
    if mode not in MODES:
        raise fail("mode", f"is `{mode}`; use mirror (leavers removed) or upsert (only adds)")
    fields = data.get("fields", list(FIELDS))
    if not isinstance(fields, list) or not fields or any(f not in FIELDS for f in fields):
        raise fail("fields", f"must be a list of some of {', '.join(FIELDS)}")
    consent = data.get("consent_field")
    if consent is not None and (not isinstance(consent, str) or not NAME.fullmatch(consent)):
        raise fail("consent_field", "must name a boolean column of segment_members, like consent")
    schedule = data.get("schedule")
    if schedule is not None:
        problem = cron_problem(str(schedule)) if isinstance(schedule, str) else "not text"
        if problem:
            raise fail(
                "schedule", f"must be a cron expression or preset such as @hourly ({problem})"
            )
    share = data.get("max_removal_share", 0.2)
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
        raise fail("max_removal_share", f"is `{share}`; use a share between 0 and 1, like 0.2")
    base_url = data.get("api_base_url", "")
    if base_url and not (
        isinstance(base_url, str) and base_url.startswith(("http://", "https://"))
    ):
        raise fail("api_base_url", "must be an http:// or https:// URL")
    secret_key = SECRET_KEY[kind]
    secret = data.get(secret_key)
    if not isinstance(secret, str) or not secret.strip():
        raise fail(secret_key, "is required: the name of a secret (`cdpflow secrets set NAME`)")
    target = {k: data[k] for k in CHANNEL_KEYS[kind] if k in data and k != secret_key}
    _check_target(kind, target, fail)
    if kind == "meta_custom_audience":
        if not {"email", "phone"} & set(fields):
            raise fail("fields", "must include email or phone: Meta matches people by them")
        if "audience_id" not in target:
            target.setdefault("audience", segment.strip())  # default: named after the segment
    return Destination(
        name=name,
        path=path,
        type=kind,
        segment=segment.strip(),
        secret=secret.strip(),
        mode=mode,
        fields=tuple(fields),
        consent_field=consent,
        schedule=schedule,
        max_removal_share=float(share),
        api_base_url=base_url or "",
        target=target,
    )


def _check_target(kind: str, target: dict[str, Any], fail: Any) -> None:
    if kind == "webhook":
        url = target.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise fail("url", "is required: the http:// or https:// URL batches are POSTed to")
        size = target.get("batch_size", 500)
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 10_000:
            raise fail("batch_size", f"is `{size}`; use a whole number from 1 to 10000")
    if kind == "klaviyo":
        named, by_id = target.get("list"), target.get("list_id")
        if (named is None) == (by_id is None):
            raise fail(
                "list", "name the Klaviyo list: `list` (by name, created if missing) or `list_id`"
            )
        key = "list" if by_id is None else "list_id"
        if not isinstance(target[key], str) or not target[key].strip():
            raise fail(key, "must be non-empty text")
    if kind == "meta_custom_audience":
        _check_meta_target(target, fail)


def _check_meta_target(target: dict[str, Any], fail: Any) -> None:
    account = target.get("ad_account")
    if not isinstance(account, str) or not re.fullmatch(r"act_\d+", account):
        raise fail(
            "ad_account", f"is `{account}`; use the ad account id with its prefix, like act_123"
        )
    named, by_id = target.get("audience"), target.get("audience_id")
    if named is not None and by_id is not None:
        raise fail(
            "audience",
            "name the Custom Audience once: `audience` (by name, created if missing) or "
            "`audience_id`",
        )
    if named is not None and (not isinstance(named, str) or not named.strip()):
        raise fail("audience", "must be non-empty text")
    if by_id is not None and not re.fullmatch(r"\d+", str(by_id)):
        raise fail("audience_id", f"is `{by_id}`; use the audience's numeric id")
    source = target.get("customer_file_source", "USER_PROVIDED_ONLY")
    if source not in CUSTOMER_FILE_SOURCES:
        raise fail(
            "customer_file_source", f"is `{source}`; use one of {', '.join(CUSTOMER_FILE_SOURCES)}"
        )


def write_destination(settings: Settings, name: str, data: Mapping[str, Any]) -> Destination:
    """Check `data` as the file `name` and write it atomically; returns the destination."""
    path = DESTINATIONS.path(settings, name)
    if not NAME.fullmatch(name):
        raise DeclarationError(path, None, "the name must be lowercase letters, digits, - and _")
    destination = parse_destination(name, path, data)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, staged = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        yaml.safe_dump(dict(data), handle, sort_keys=False)
    os.replace(staged, path)
    return destination
