"""The channels' HTTP client: the shared retry layer (`cdpflow.http`) worded for destinations.

A refused credential names the destination and its secret; exhausted retries say that
acknowledged batches are kept, as a re-run of the sync resumes from them.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from cdpflow.http import CredentialRefused, RetryingHttp, response_detail
from cdpflow.http import ServiceUnavailable as ChannelUnavailable

__all__ = ["ChannelHttp", "ChannelUnavailable", "CredentialRefused", "channel_detail"]


class ChannelHttp(RetryingHttp):
    """Requests to one channel for one destination."""

    def __init__(
        self,
        destination: str,
        secret_name: str,
        base_url: str,
        headers: dict[str, str],
        *,
        attempts: int = 6,
        max_wait_seconds: float = 60.0,
        throttled: Callable[[httpx.Response], bool] | None = None,
        credential_refused: Callable[[httpx.Response], bool] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        timeout: float = 60.0,
    ) -> None:
        self.destination = destination
        super().__init__(
            f"Destination `{destination}`",
            "the channel",
            secret_name,
            base_url,
            headers,
            attempts=attempts,
            max_wait_seconds=max_wait_seconds,
            throttled=throttled,
            credential_refused=credential_refused,
            resume="Acknowledged batches are kept; re-run to resume.",
            sleep=sleep,
            timeout=timeout,
        )


def channel_detail(response: httpx.Response) -> str:
    return response_detail(response)
