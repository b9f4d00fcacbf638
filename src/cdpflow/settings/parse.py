"""Value parsers of settings: each takes (key, raw value) and returns the typed value or raises a
ConfigError naming the key, the value as it may be shown, and what was expected."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cdpflow.cron import cron_problem
from cdpflow.errors import ConfigError
from cdpflow.events.names import CLICK_IDS
from cdpflow.settings.mask import MASK, mask_url

ENGINES = ("duckdb", "spark")  # the batch engines cdpflow.engine.ENGINES registers


def stripped(key: str, raw: Any) -> str:
    return "" if raw is None else str(raw).strip()


def cron(key: str, raw: Any) -> str:
    text = stripped(key, raw)
    problem = cron_problem(text)
    if problem:
        raise ConfigError(key, raw, f"a cron expression or preset such as @daily ({problem})")
    return text


def whole_number(minimum: int, unit: str) -> Callable[[str, Any], int]:
    def parse(key: str, raw: Any) -> int:
        text = stripped(key, raw).replace("_", "")
        if isinstance(raw, bool) or not re.fullmatch(r"[+-]?\d+", text):
            raise ConfigError(key, raw, f"a whole number of {unit}")
        value = int(text)
        if value < minimum:
            raise ConfigError(key, raw, f"a whole number of {unit}, at least {minimum}")
        return value

    return parse


def timestamp(key: str, raw: Any) -> datetime:
    if isinstance(raw, datetime):
        return raw
    try:
        return datetime.fromisoformat(stripped(key, raw))
    except ValueError as err:
        raise ConfigError(key, raw, "a date and time like `1977-10-01 00:00:00`") from err


def email(key: str, raw: Any) -> str:
    text = stripped(key, raw)
    addresses = [a.strip() for a in text.split(",") if a.strip()]
    for address in addresses:
        if not re.fullmatch(r"[^@\s]+@[^@\s]+", address):
            raise ConfigError(key, raw, "an email address (or a comma-separated list of them)")
    return ", ".join(addresses)


def price(key: str, raw: Any) -> float:
    text = stripped(key, raw)
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value < 0:
        raise ConfigError(key, raw, "a price in USD, such as `0.023`")
    return value


def prices(key: str, raw: Any) -> dict[str, float]:
    if isinstance(raw, Mapping):
        pairs = [(str(k), v) for k, v in raw.items()]
    else:
        pairs = [tuple(p.split("=", 1)) for p in stripped(key, raw).split(",") if p.strip()]  # type: ignore[misc]
    out = {}
    for pair in pairs:
        if len(pair) != 2:
            expected = "instance=price pairs such as `m4.large=0.10,r5.xlarge=0.252`"
            raise ConfigError(key, raw, expected)
        out[str(pair[0]).strip()] = price(key, pair[1])
    return out


def spark_conf(key: str, raw: Any) -> dict[str, str]:
    """`spark.key=value` pairs, comma-separated (or a mapping from a settings file)."""
    if isinstance(raw, Mapping):
        pairs = [(str(k), str(v)) for k, v in raw.items()]
    else:
        pairs = [tuple(p.split("=", 1)) for p in str(raw).split(",") if p.strip()]  # type: ignore[misc]
    out = {}
    for pair in pairs:
        name = str(pair[0]).strip()
        if len(pair) != 2 or not name.startswith("spark.") or not str(pair[1]).strip():
            expected = "spark.*=value pairs such as `spark.executor.memory=4g`"
            raise ConfigError(key, raw, expected)
        out[name] = str(pair[1]).strip()
    return out


def cost_tag(key: str, raw: Any) -> str:
    text = stripped(key, raw)
    if text and not re.fullmatch(r"[^=\s]+=[^=]*", text):
        raise ConfigError(key, raw, "a cost allocation tag as `key=value`, such as `app=cdpflow`")
    return text


def one_of(*allowed: str) -> Callable[[str, Any], str]:
    def parse(key: str, raw: Any) -> str:
        text = stripped(key, raw).lower()
        if text not in allowed:
            raise ConfigError(key, raw, "one of: " + ", ".join(allowed))
        return text

    return parse


def http_url(key: str, raw: Any) -> str:
    text = stripped(key, raw)
    if text and not re.match(r"^https?://[^/\s]+", text):
        raise ConfigError(key, raw, "an http(s) URL such as `http://localhost:8088`")
    return text.rstrip("/")


def engine_name(key: str, raw: Any) -> str:
    text = stripped(key, raw).lower()
    if text not in ENGINES:
        raise ConfigError(key, raw, "one of: " + ", ".join(ENGINES))
    return text


def click_ids(key: str, raw: Any) -> tuple[str, ...]:
    text = stripped(key, raw).lower()
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    if any(n not in CLICK_IDS for n in names):
        raise ConfigError(key, raw, "a comma-separated list of: " + ", ".join(CLICK_IDS))
    return names


def matching(pattern: str, expected: str) -> Callable[[str, Any], str]:
    """A parser of text that must match `pattern` whole."""

    def parse(key: str, raw: Any) -> str:
        text = stripped(key, raw)
        if not re.fullmatch(pattern, text):
            raise ConfigError(key, raw, expected)
        return text

    return parse


graph_api_version = matching(r"v\d+\.\d+", "a Graph API version like v25.0")


def values(key: str, raw: Any) -> tuple[str, ...]:
    if isinstance(raw, list | tuple):
        return tuple(str(v).strip() for v in raw if str(v).strip())
    return tuple(v.strip() for v in stripped(key, raw).split(",") if v.strip())


def optional_path(key: str, raw: Any) -> str:
    text = stripped(key, raw)
    return str(Path(text).expanduser()) if text else ""


def lake_url(key: str, raw: Any) -> str:
    text = stripped(key, raw)
    if not text:
        raise ConfigError(key, raw, "a local path or an fsspec URL such as s3://bucket/lake")
    if "://" in text and not text.startswith("file://"):
        return text.rstrip("/")
    return str(Path(text.removeprefix("file://")).expanduser().resolve())


_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


def boolean(key: str, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = stripped(key, raw).lower()
    if text not in _TRUE + _FALSE:
        raise ConfigError(key, raw, "one of: true, false, yes, no, 1, 0")
    return text in _TRUE


def minutes(key: str, raw: Any) -> float:
    text = stripped(key, raw).replace("_", "")
    if isinstance(raw, bool) or not re.fullmatch(r"\d+(\.\d*)?|\.\d+", text) or float(text) <= 0:
        raise ConfigError(key, raw, "a number of minutes above 0, such as `30` or `0.5`")
    return float(text)


def postgres_url(key: str, raw: Any) -> str:
    text = stripped(key, raw)
    if not text:
        return ""
    expected = "a PostgreSQL URL such as `postgresql://user:password@host:5432/dbname`"
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError as err:
        shown = re.sub(r"(://[^:/@]*:)[^@]*@", rf"\g<1>{MASK}@", text)
        raise ConfigError(key, shown, expected) from err
    if parts.scheme not in ("postgresql", "postgres"):
        raise ConfigError(key, mask_url(text), expected)
    if re.search(r"(^|&)password=", parts.query):
        raise ConfigError(key, "(hidden)", "the password in the user part, where it is masked")
    return text


# Shopify's dated quarterly versions (`2025-10`: January, April, July, October)
shopify_api_version = matching(
    r"20\d\d-(01|04|07|10)", "a Shopify API version such as `2025-10` (YYYY-01/04/07/10)"
)
