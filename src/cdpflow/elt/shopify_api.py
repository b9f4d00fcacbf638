"""The Shopify Admin REST API client of the `shopify` pipeline: requests, pages, pacing, errors.

Its own module because how Shopify is asked (and how it answers when it is busy or refuses) is
independent of what the pipeline lands: `shopify` maps the resources' items to columns and
keeps the incremental state; this reads the pages.

Requests are what Shopify documents for the REST Admin API: `GET https://{shop}/admin/api/
{version}/{resource}.json` (the version is CDPFLOW_SHOPIFY_API_VERSION), the access token in
`X-Shopify-Access-Token`, `limit=250`, cursor pagination by the `Link` header (`rel="next"`
carries `page_info`; a request with `page_info` may add only `limit` and `fields`, so the
filters go in the first request only).

Rate limits: the REST Admin API is a leaky bucket per app and shop; every answer says how full
it is (`X-Shopify-Shop-Api-Call-Limit: 32/40`). Near the top the client waits for the bucket to
drain before asking again; a 429 is retried after its `Retry-After`, 5xx with backoff
(`cdpflow.http`). A refused token (401/403) fails at once naming the pipeline and the secret.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson

from cdpflow.elt.config import Pipeline, Source
from cdpflow.errors import TerminalError
from cdpflow.http import RetryingHttp, response_detail

PAGE_SIZE = 250  # Shopify's maximum `limit`
# Shopify's buckets drain in 20 s whatever the plan (40 at 2/s, 80 at 4/s, 400 at 20/s)
BUCKET_DRAIN_SECONDS = 20.0
BUCKET_HEADROOM = 0.8  # above this share of the bucket, wait before the next request
_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')
_sleep = time.sleep  # one place for tests to watch the waits


class ShopifyRefused(TerminalError):
    """Shopify answered a 4xx that no retry fixes (an unknown API version, a refused filter)."""


class MalformedPage(TerminalError):
    def __init__(self, pipeline: str, resource: str, endpoint: str, page: int, detail: str) -> None:
        super().__init__(
            f"Pipeline `{pipeline}` resource `{resource}`: page {page} of {endpoint} is "
            f"malformed ({detail}); nothing was committed. Re-run once the shop answers "
            "correctly."
        )


class ShopifyApi:
    """The pages of one resource of one shop, with the retries, pacing and errors of the
    module docstring."""

    def __init__(self, pipeline: Pipeline, resource: str, source: Source, token: str) -> None:
        self.pipeline = pipeline.name
        self.resource = resource
        self.prefix = f"/admin/api/{source.settings.shopify_api_version}"
        self.version = source.settings.shopify_api_version
        self.http = RetryingHttp(
            f"Pipeline `{pipeline.name}`",
            "Shopify",
            pipeline.options["token_secret"],
            pipeline.options["api_base_url"].rstrip("/"),
            {"X-Shopify-Access-Token": token, "Accept": "application/json"},
            attempts=source.settings.elt_http_attempts,
            pace=pace_bucket,
            resume="Nothing was committed; re-run to resume.",
            sleep=lambda seconds: _sleep(seconds),
        )

    def pages(self, endpoint: str, params: Mapping[str, str]) -> Iterator[list[dict[str, Any]]]:
        """Each page's items of `endpoint`.json, following `Link: <…page_info=…>; rel="next"`."""
        query: dict[str, str] = {"limit": str(PAGE_SIZE), **params}
        page = 0
        while True:
            page += 1
            response = self.http.request("GET", f"{self.prefix}/{endpoint}.json", params=query)
            if response.status_code >= 400:
                raise self._refused(response)
            yield self._items(response, endpoint, page)
            page_info = _next_page_info(response.headers.get("Link", ""))
            if page_info is None:
                return
            query = {"limit": str(PAGE_SIZE), "page_info": page_info}

    def _items(self, response: httpx.Response, endpoint: str, page: int) -> list[dict[str, Any]]:
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError as err:
            raise MalformedPage(
                self.pipeline, self.resource, f"{endpoint}.json", page, f"not JSON: {err}"
            ) from err
        items = body.get(endpoint) if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise MalformedPage(
                self.pipeline,
                self.resource,
                f"{endpoint}.json",
                page,
                f"no `{endpoint}` list in the answer",
            )
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("id"), int):
                raise MalformedPage(
                    self.pipeline,
                    self.resource,
                    f"{endpoint}.json",
                    page,
                    f"item {i + 1} has no integer `id`",
                )
        return items

    def _refused(self, response: httpx.Response) -> ShopifyRefused:
        hint = (
            f" Is CDPFLOW_SHOPIFY_API_VERSION={self.version} a version Shopify still serves, "
            "and the shop right?"
            if response.status_code == 404
            else ""
        )
        return ShopifyRefused(
            f"Pipeline `{self.pipeline}` resource `{self.resource}`: Shopify refused the "
            f"request (HTTP {response.status_code}: {response_detail(response)}); nothing was "
            f"committed.{hint}"
        )


def pace_bucket(response: httpx.Response, sleep: Callable[[float], None]) -> None:
    """Near the top of the leaky bucket, wait until it has drained below the headroom."""
    used, _, size = response.headers.get("X-Shopify-Shop-Api-Call-Limit", "").partition("/")
    try:
        filled, capacity = float(used), float(size)
    except ValueError:
        return
    if capacity <= 0 or filled < capacity * BUCKET_HEADROOM:
        return
    leak_per_second = capacity / BUCKET_DRAIN_SECONDS
    sleep((filled - capacity * BUCKET_HEADROOM + 1) / leak_per_second)


def _next_page_info(link: str) -> str | None:
    match = _NEXT.search(link)
    if not match:
        return None
    values = parse_qs(urlsplit(match.group(1)).query).get("page_info")
    return values[0] if values else None
