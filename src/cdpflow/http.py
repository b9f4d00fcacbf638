"""One HTTP retry layer for every remote API cdpflow calls (channels, ELT sources), over httpx.

Throttling (429, and an API's own throttle codes in a 400 body, as Meta sends them) and server
faults (5xx, a dropped connection) are retried with exponential backoff, waiting at least what
the API asked for (`Retry-After` in seconds, or the reset of an exhausted `RateLimit-*` window).
A refused credential (401, 403) is terminal at once and names who uses it and the secret, never
its value. Errors carry the method and path only: query strings and headers (where tokens live)
stay out of messages and logs.
"""

from __future__ import annotations

import functools
import logging
import random
import ssl
import time
from collections.abc import Callable
from typing import Any

import httpx

from cdpflow.errors import TerminalError, TransientError

log = logging.getLogger(__name__)


class CredentialRefused(TerminalError):
    """The API refused the credential: retrying cannot help until the secret is fixed."""

    def __init__(self, subject: str, service: str, secret: str, status: int, detail: str) -> None:
        self.subject = subject
        self.secret = secret
        super().__init__(
            f"{subject}: {service} refused the credential in secret `{secret}` (HTTP {status}: "
            f"{detail}). Store the right one with `cdpflow secrets set {secret}` and re-run."
        )


class ServiceUnavailable(TransientError):
    """Retries ran out on throttling or server faults; a later run picks up where this stopped."""


class RetryingHttp:
    """Requests to one API on behalf of one `subject` (``Destination `crm` ``, ``Pipeline
    `shop` ``), retried as the module docstring says.

    `throttled(response)` tells an API-specific throttle apart from an ordinary 4xx;
    `credential_refused(response)` tells a bad credential (Meta answers 400 code 190);
    `pace(response)` runs after every answer that is returned, to slow down before the API
    refuses (it gets the sleep function); `resume` ends the message of exhausted retries.
    """

    def __init__(
        self,
        subject: str,
        service: str,
        secret_name: str,
        base_url: str,
        headers: dict[str, str],
        *,
        attempts: int = 6,
        max_wait_seconds: float = 60.0,
        throttled: Callable[[httpx.Response], bool] | None = None,
        credential_refused: Callable[[httpx.Response], bool] | None = None,
        pace: Callable[[httpx.Response, Callable[[float], None]], None] | None = None,
        resume: str = "Re-run to resume.",
        sleep: Callable[[float], None] = time.sleep,
        timeout: float = 60.0,
    ) -> None:
        self.subject = subject
        self.service = service
        self.secret_name = secret_name
        self.attempts = attempts
        self.max_wait_seconds = max_wait_seconds
        self.throttled = throttled or (lambda r: False)
        self.credential_refused = credential_refused or (lambda r: r.status_code in (401, 403))
        self.pace = pace or respect_ratelimit_window
        self.resume = resume
        self.sleep = sleep
        self.client = httpx.Client(
            base_url=base_url, headers=headers, timeout=timeout, verify=_tls_context()
        )
        self.retries = 0  # requests repeated, over this client's life
        self.requests = 0

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> RetryingHttp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The API's answer to the request: a success or a 4xx the caller reads (a rejected row
        or batch); throttling and faults are retried here.

        Raises:
            CredentialRefused: 401/403 (or the API's credential error).
            ServiceUnavailable: still throttled or failing after every attempt.
        """
        last = ""
        shown = path.split("?", 1)[0]  # a query may hold a token: never shown
        for attempt in range(1, self.attempts + 1):
            self.requests += 1
            try:
                response = self.client.request(method, path, **kwargs)
            except httpx.TransportError as err:
                last = f"{type(err).__name__}"
                wait = self._backoff(attempt)
            else:
                if self.credential_refused(response):
                    raise CredentialRefused(
                        self.subject,
                        self.service,
                        self.secret_name,
                        response.status_code,
                        response_detail(response),
                    )
                retry = response.status_code == 429 or response.status_code >= 500
                if not (retry or self.throttled(response)):
                    self.pace(response, self._sleep_capped)
                    return response
                last = f"HTTP {response.status_code} {response_detail(response)}"
                wait = max(self._backoff(attempt), _asked_wait(response))
            if attempt == self.attempts:
                break
            wait = min(wait, self.max_wait_seconds)
            log.warning(
                "%s: %s %s answered %s; retry %d in %.1fs",
                self.subject, method, shown, last, attempt, wait,
            )  # fmt: skip
            self.retries += 1
            self.sleep(wait)
        raise ServiceUnavailable(
            f"{self.subject}: {method} {shown} still failing after {self.attempts} attempts "
            f"({last}). {self.resume}"
        )

    def _sleep_capped(self, seconds: float) -> None:
        self.sleep(min(seconds, self.max_wait_seconds))

    def _backoff(self, attempt: int) -> float:
        return float(
            min(0.5 * 1.5 ** (attempt - 1), self.max_wait_seconds) * random.uniform(0.5, 1)
        )


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One verifying TLS context per process: building one (loading the CA bundle) costs
    about 0.1 s, which a job paying it per resource or per destination would repeat."""
    return httpx.create_ssl_context()


def respect_ratelimit_window(response: httpx.Response, sleep: Callable[[float], None]) -> None:
    """An exhausted steady window (`RateLimit-Remaining: 0`): wait out its reset now rather
    than be refused on the next call."""
    if response.headers.get("RateLimit-Remaining") == "0":
        reset = seconds_header(response.headers.get("RateLimit-Reset"))
        if reset:
            sleep(reset)


def _asked_wait(response: httpx.Response) -> float:
    return seconds_header(response.headers.get("Retry-After")) or 0.0


def seconds_header(text: str | None) -> float | None:
    try:
        return max(0.0, float(text)) if text is not None else None
    except ValueError:
        return None


def response_detail(response: httpx.Response) -> str:
    """The API's own error text, short (JSON:API `errors[0].detail`, Graph `error.message`,
    Shopify's `errors` string or field map)."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            first = errors[0]
            return str(first.get("detail") or first.get("title") or first.get("code"))[:200]
        if isinstance(errors, str):
            return errors[:200]
        if isinstance(errors, dict):
            return "; ".join(f"{k}: {v}" for k, v in errors.items())[:200]
        error = body.get("error")
        if isinstance(error, dict):
            return f"{error.get('message')} (code {error.get('code')})"[:200]
        if isinstance(error, str):
            return error[:200]
    return str(body)[:200]
