"""A small client of Airbyte's public API (`/v1`): start a connection's sync job, follow it.

Why not the Airflow provider or the `airbyte-api` SDK: `cdpflow run elt_<name>` runs without
Airflow (the provider's hook reads an Airflow Connection; a pipeline names entries of cdpflow's
secrets store), and the behaviour a pipeline needs differs from both in places that matter —
a 409 "sync already running" attaches to the running job instead of failing, a 401 refreshes
the cached token once instead of failing, and `queued` is a waiting state (provider 6.2.0's
`wait_for_job` raises on it). Four endpoints over httpx, which cdpflow already uses, are less
than either dependency.

Auth: with client credentials, a Bearer token from `POST <base>/applications/token`
(form-encoded `grant_type=client_credentials`, as the SDK posts it), cached for its
`expires_in` and fetched anew on a 401; without them, no Authorization header (Airbyte OSS
without auth). Throttling (429), server faults (5xx) and dropped connections are retried with
backoff, waiting at least `Retry-After`. Errors name the pipeline, the URL path and the secrets'
names, never their values.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from cdpflow.errors import TerminalError, TransientError

log = logging.getLogger(__name__)

WAITING = frozenset({"pending", "queued", "running", "incomplete"})
SUCCEEDED = "succeeded"
ENDED_BADLY = frozenset({"failed", "cancelled"})
DEFAULT_TOKEN_SECONDS = 180.0  # Airbyte's reference gives access tokens 3 minutes


@dataclass(frozen=True)
class Credentials:
    """An Airbyte application's client id and secret, and the names of the secrets holding
    them (the names go into messages, the values never)."""

    client_id: str
    client_secret: str
    names: tuple[str, str]

    def __repr__(self) -> str:
        return f"Credentials(names={self.names!r})"


@dataclass(frozen=True)
class Job:
    """One Airbyte job as the public API's JobResponse reports it."""

    id: int
    status: str
    connection_id: str
    rows_synced: int | None = None
    bytes_synced: int | None = None
    duration: str | None = None
    last_updated_at: str | None = None

    @classmethod
    def from_response(cls, body: Mapping[str, Any]) -> Job:
        return cls(
            int(body["jobId"]),
            str(body["status"]),
            str(body.get("connectionId", "")),
            body.get("rowsSynced"),
            body.get("bytesSynced"),
            body.get("duration"),
            body.get("lastUpdatedAt"),
        )

    def facts(self) -> list[str]:
        facts = []
        if self.duration:
            facts.append(f"after {self.duration}")
        if self.rows_synced is not None:
            facts.append(f"{self.rows_synced} rows synced")
        if self.last_updated_at:
            facts.append(f"last updated {self.last_updated_at}")
        return facts

    def describe(self) -> str:
        return f"Airbyte job {self.id} ({', '.join([f'status `{self.status}`', *self.facts()])})"


class AirbyteAuthRefused(TerminalError):
    """Airbyte refused the credentials (or wants some): retrying cannot help."""


class AirbyteRefused(TerminalError):
    """Airbyte refused a request for a reason a retry cannot fix (unknown connection, 4xx)."""


class AirbyteUnavailable(TransientError):
    """Airbyte stayed throttled or faulty through every attempt; a later run tries again."""


class AirbyteClient:
    """Requests to one Airbyte API for one pipeline."""

    def __init__(
        self,
        pipeline: str,
        base_url: str,
        credentials: Credentials | None,
        *,
        attempts: int = 6,
        max_wait_seconds: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        timeout: float = 30.0,
    ) -> None:
        self.pipeline = pipeline
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self.attempts = attempts
        self.max_wait_seconds = max_wait_seconds
        self.sleep = sleep
        self.clock = clock
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout)
        self._token: str | None = None
        self._token_expires = 0.0
        self.tokens_fetched = 0

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> AirbyteClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the endpoints --------------------------------------------------------------------

    def start_sync(self, connection_id: str) -> tuple[Job, bool]:
        """The connection's new sync job, or the one already running (then True)."""
        body = {"connectionId": connection_id, "jobType": "sync"}
        response = self.call("POST", "/jobs", json=body, connection_id=connection_id)
        if response.status_code != 409:
            return Job.from_response(response.json()), False
        running = self.running_job(connection_id)
        if running is not None:
            log.info("%s: a sync is already running: attached to job %d", self.pipeline, running.id)
            return running, True
        # the running job ended between the two calls: start one now
        response = self.call("POST", "/jobs", json=body, connection_id=connection_id)
        if response.status_code == 409:
            raise AirbyteUnavailable(
                f"Pipeline `{self.pipeline}`: Airbyte answered 409 ({_detail(response)}) but "
                f"lists no running sync of connection `{connection_id}`; re-run to try again."
            )
        return Job.from_response(response.json()), False

    def running_job(self, connection_id: str) -> Job | None:
        """The connection's newest sync job that has not ended. Not filtered by
        `status=running`: a job still `pending` or `queued` also makes Airbyte answer 409."""
        params = {
            "connectionId": connection_id,
            "jobType": "sync",
            "orderBy": "createdAt|DESC",
            "limit": 20,
        }
        response = self.call("GET", "/jobs", params=params, connection_id=connection_id)
        jobs = [Job.from_response(j) for j in response.json().get("data") or []]
        waiting = [j for j in jobs if j.status in WAITING]
        return max(waiting, key=lambda j: j.id) if waiting else None

    def job(self, job_id: int) -> Job:
        return Job.from_response(self.call("GET", f"/jobs/{int(job_id)}").json())

    # -- one request ----------------------------------------------------------------------

    def call(
        self, method: str, path: str, *, connection_id: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        """A 2xx answer (or a 409, which the caller reads); everything else raises.

        Raises:
            AirbyteAuthRefused: 401/403 with a fresh token, or 401 without credentials.
            AirbyteRefused: 404 (naming the connection) and other 4xx.
            AirbyteUnavailable: still throttled or failing after every attempt.
        """
        refreshed = False
        while True:
            response = self._send(method, path, **kwargs)
            if response.status_code == 401 and self.credentials and not refreshed:
                self._token = None  # expired or revoked: one fresh token, then it is terminal
                refreshed = True
                continue
            break
        if response.status_code in (401, 403):
            raise self._auth_refused(response)
        if response.status_code == 404:
            what = f"no connection `{connection_id}`" if connection_id else f"no {path}"
            raise AirbyteRefused(
                f"Pipeline `{self.pipeline}`: Airbyte at {self.base_url} has {what} (HTTP 404: "
                f"{_detail(response)}). Fix `connection_id` in the pipeline file."
            )
        if response.status_code >= 400 and response.status_code != 409:
            raise AirbyteRefused(
                f"Pipeline `{self.pipeline}`: Airbyte refused {method} {path} "
                f"(HTTP {response.status_code}: {_detail(response)})."
            )
        return response

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Accept": "application/json"}
        token = self._bearer()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self._retried(method, path, headers=headers, **kwargs)

    def _bearer(self) -> str | None:
        if self.credentials is None:
            return None
        if self._token is None or self.clock() >= self._token_expires:
            response = self._retried(
                "POST",
                "/applications/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": self.credentials.client_id,
                    "client_secret": self.credentials.client_secret,
                },
                headers={"Accept": "application/json"},
            )
            if response.status_code >= 400:
                raise self._auth_refused(response)
            body = response.json()
            lifetime = float(body.get("expires_in") or DEFAULT_TOKEN_SECONDS)
            self._token = str(body["access_token"])
            self._token_expires = self.clock() + lifetime * 0.9  # renew a little early
            self.tokens_fetched += 1
        return self._token

    def _retried(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        last = ""
        for attempt in range(1, self.attempts + 1):
            try:
                response = self.http.request(method, path, **kwargs)
            except httpx.TransportError as err:
                last, wait = type(err).__name__, self._backoff(attempt)
            else:
                if response.status_code != 429 and response.status_code < 500:
                    return response
                last = f"HTTP {response.status_code} {_detail(response)}"
                wait = max(self._backoff(attempt), _retry_after(response))
            if attempt == self.attempts:
                break
            wait = min(wait, self.max_wait_seconds)
            log.warning(
                "%s: Airbyte %s %s answered %s; retry %d in %.1fs",
                self.pipeline, method, path, last, attempt, wait,
            )  # fmt: skip
            self.sleep(wait)
        raise AirbyteUnavailable(
            f"Pipeline `{self.pipeline}`: Airbyte {method} {path} still failing after "
            f"{self.attempts} attempts ({last}); nothing was committed. Re-run later."
        )

    def _backoff(self, attempt: int) -> float:
        return float(min(0.5 * 1.5 ** (attempt - 1), self.max_wait_seconds)) * random.uniform(
            0.5, 1
        )

    def _auth_refused(self, response: httpx.Response) -> AirbyteAuthRefused:
        status = response.status_code
        if self.credentials is None:
            return AirbyteAuthRefused(
                f"Pipeline `{self.pipeline}`: Airbyte at {self.base_url} requires authentication "
                f"(HTTP {status}: {_detail(response)}). Set `client_id_secret` and "
                "`client_secret_secret` in the pipeline file to secrets holding an Airbyte "
                "application's client id and secret."
            )
        id_name, secret_name = self.credentials.names
        return AirbyteAuthRefused(
            f"Pipeline `{self.pipeline}`: Airbyte at {self.base_url} refused the client "
            f"credentials in secrets `{id_name}` and `{secret_name}` (HTTP {status}: "
            f"{_detail(response)}). Store the right ones with `cdpflow secrets set {id_name}` "
            f"and `cdpflow secrets set {secret_name}`, then re-run."
        )


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return 0.0


def _detail(response: httpx.Response) -> str:
    """Airbyte's own error text, short (`message` or `detail` of its problem body)."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(body, dict):
        for key in ("message", "detail", "title", "error"):
            if body.get(key):
                return str(body[key])[:200]
    return str(body)[:200]
