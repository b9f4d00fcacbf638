"""A small client for Superset's REST API v1: login, CSRF, databases, datasets, import bundles
and chart data.

Mutating calls need a CSRF token *and* the session cookie it was issued with, so one
`requests.Session` carries both. Errors name SUPERSET_BASE_URL and what to check; the password
is never part of a message.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import requests

from cdpflow.errors import TerminalError, TransientError
from cdpflow.superset.runtime import Credentials

TIMEOUT_SECONDS = 60


class SupersetError(TerminalError):
    """Superset refused a request: the message carries its status and reason."""

    def __init__(self, message: str, status: int = 0, reason: str = "") -> None:
        self.status = status
        self.reason = reason
        super().__init__(message)


class SupersetUnreachable(TransientError):
    """Superset did not answer (down, starting, wrong SUPERSET_BASE_URL)."""


class SupersetClient:
    """One logged-in session against `base_url`."""

    def __init__(self, base_url: str, credentials: Credentials) -> None:
        if not base_url:
            raise TerminalError(
                "SUPERSET_BASE_URL is not set: start Superset with `cdpflow superset` "
                "and set SUPERSET_BASE_URL to its URL (e.g. http://localhost:8088)."
            )
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.headers["Referer"] = self.base_url
        # with `Accept: */*` Superset answers a failed command (an import's validation errors)
        # with its HTML error page instead of the JSON naming the reason
        self.session.headers["Accept"] = "application/json"
        self._login(credentials)

    def _login(self, credentials: Credentials) -> None:
        try:
            reply = self.session.post(
                f"{self.base_url}/api/v1/security/login",
                json={
                    "username": credentials.username,
                    "password": credentials.password,
                    "provider": "db",
                    "refresh": False,
                },
                timeout=TIMEOUT_SECONDS,
            )
        except requests.RequestException as err:
            raise SupersetUnreachable(
                f"Superset at SUPERSET_BASE_URL={self.base_url} did not answer "
                f"({type(err).__name__}); check that it runs (`cdpflow superset`) and that "
                "SUPERSET_BASE_URL points at it."
            ) from None
        if reply.status_code == 401:
            raise SupersetError(
                f"Superset at SUPERSET_BASE_URL={self.base_url} refused the login of user "
                f"`{credentials.username}`: check SUPERSET_USERNAME and SUPERSET_PASSWORD "
                "(unset, the password is `cdpflow secrets get superset_password`).",
                401,
            )
        if reply.status_code != 200 or "access_token" not in _json(reply):
            raise SupersetError(
                f"Superset at SUPERSET_BASE_URL={self.base_url} answered the login with HTTP "
                f"{reply.status_code}; check that SUPERSET_BASE_URL is Superset's URL.",
                reply.status_code,
            )
        self.session.headers["Authorization"] = f"Bearer {_json(reply)['access_token']}"
        token = self.request("GET", "/api/v1/security/csrf_token/")["result"]
        self.session.headers["X-CSRFToken"] = token

    def request(self, method: str, path: str, *, ok: tuple[int, ...] = (), **kwargs: Any) -> Any:
        """The JSON answer of one call; a status outside 2xx (and `ok`) raises SupersetError
        with Superset's own message."""
        try:
            reply = self.session.request(
                method, f"{self.base_url}{path}", timeout=TIMEOUT_SECONDS, **kwargs
            )
        except requests.RequestException as err:
            raise SupersetUnreachable(
                f"Superset at SUPERSET_BASE_URL={self.base_url} stopped answering during "
                f"{method} {path.split('?')[0]} ({type(err).__name__}); check that it runs."
            ) from None
        if not (200 <= reply.status_code < 300 or reply.status_code in ok):
            reason = superset_reason(reply)
            raise SupersetError(
                f"Superset {method} {path.split('?')[0]} failed with HTTP {reply.status_code}: "
                f"{reason}",
                reply.status_code,
                reason,
            )
        return _json(reply) if reply.content else {}

    def rows(self, resource: str, filters: list[dict[str, Any]] | None = None) -> list[Any]:
        """Every row of `/api/v1/<resource>/` matching `filters`, page by page."""
        rows: list[Any] = []
        page = 0
        while True:
            query: dict[str, Any] = {"page": page, "page_size": 100}
            if filters:
                query["filters"] = filters
            answer = self.request("GET", f"/api/v1/{resource}/?q={rison(query)}")
            rows.extend(answer.get("result", []))
            if len(rows) >= answer.get("count", 0) or not answer.get("result"):
                return rows
            page += 1

    # databases
    def databases(self) -> list[dict[str, Any]]:
        return self.rows("database")

    def database(self, pk: int) -> dict[str, Any]:
        return dict(self.request("GET", f"/api/v1/database/{pk}")["result"])

    def create_database(self, name: str, uri: str, extra: dict[str, Any], uuid: str) -> int:
        answer = self.request(
            "POST",
            "/api/v1/database/",
            json={
                "database_name": name,
                "sqlalchemy_uri": uri,
                "expose_in_sqllab": True,
                "extra": json.dumps(extra),  # Superset wants a JSON string here
                "uuid": uuid,
            },
        )
        return int(answer["id"])

    # datasets
    def datasets(self, database_id: int) -> list[dict[str, Any]]:
        return self.rows("dataset", [{"col": "database", "opr": "rel_o_m", "value": database_id}])

    def dataset(self, pk: int) -> dict[str, Any]:
        return dict(self.request("GET", f"/api/v1/dataset/{pk}")["result"])

    def create_dataset(self, database_id: int, table: str, sql: str, uuid: str) -> int:
        answer = self.request(
            "POST",
            "/api/v1/dataset/",
            json={"database": database_id, "table_name": table, "sql": sql, "uuid": uuid},
        )
        return int(answer["id"])

    def update_dataset(self, pk: int, **fields: Any) -> None:
        self.request("PUT", f"/api/v1/dataset/{pk}?override_columns=false", json=fields)

    def refresh_dataset(self, pk: int) -> None:
        """Re-read the dataset's columns from its table or SQL."""
        self.request("PUT", f"/api/v1/dataset/{pk}/refresh")

    def delete_dataset(self, pk: int) -> None:
        self.request("DELETE", f"/api/v1/dataset/{pk}")

    # bundles and chart data
    def import_bundle(self, kind: str, name: str, data: bytes, overwrite: bool) -> None:
        """Import an export bundle (zip) through `/api/v1/<kind>/import/`."""
        self.request(
            "POST",
            f"/api/v1/{kind}/import/",
            files={"formData": (name, data, "application/zip")},
            data={"overwrite": "true" if overwrite else "false"},
        )

    def export_bundle(self, kind: str, ids: list[int]) -> bytes:
        reply = self.session.get(
            f"{self.base_url}/api/v1/{kind}/export/?q={rison(ids)}", timeout=TIMEOUT_SECONDS
        )
        if reply.status_code != 200:
            raise SupersetError(f"Superset export of {kind} {ids} failed: HTTP {reply.status_code}")
        return reply.content

    def chart_data(self, chart_id: int) -> list[dict[str, Any]]:
        """The query results of a chart's saved query context (one entry per query)."""
        answer = self.request("GET", f"/api/v1/chart/{chart_id}/data/?format=json&type=full")
        return list(answer["result"])


def superset_reason(reply: requests.Response) -> str:
    """Superset's own explanation of a failed call, as one line."""
    try:
        body = reply.json()
    except ValueError:
        return reply.text[:300] or reply.reason
    if isinstance(body, dict):
        if body.get("errors"):
            return "; ".join(_describe(e) for e in body["errors"])[:2000]
        if "message" in body:
            message = body["message"]
            return message if isinstance(message, str) else json.dumps(message)[:2000]
    return json.dumps(body)[:2000]


def _describe(error: Any) -> str:
    if not isinstance(error, dict):
        return str(error)
    text = str(error.get("message", ""))
    extra = error.get("extra") or {}
    details = [
        f"{path}: {msg}"
        for path, msg in extra.items()
        if isinstance(msg, dict | list | str) and path.endswith(".yaml")
    ]
    details = [detail for detail in details if detail not in text]  # often repeated there
    return f"{text} ({'; '.join(details)})" if details else text


def rison(value: Any) -> str:
    """`value` in Rison, the URL-friendly JSON Superset's list and export queries take
    (URL-quoted)."""
    return quote(_rison(value), safe="")


def _rison(value: Any) -> str:
    if value is True or value is False:
        return "!t" if value else "!f"
    if value is None:
        return "!n"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return "'" + value.replace("!", "!!").replace("'", "!'") + "'"
    if isinstance(value, dict):
        return "(" + ",".join(f"{k}:{_rison(v)}" for k, v in value.items()) + ")"
    return "!(" + ",".join(_rison(v) for v in value) + ")"


def _json(reply: requests.Response) -> Any:
    try:
        return reply.json()
    except ValueError:
        return {}
