"""A local Airbyte public API server (`/api/public/v1`, as self-managed Airbyte serves it) that
enforces the job lifecycle and auth the reference notes list (airbyte.md), so the airbyte type
is tested against a contract, not a mock.

Enforced: with an application configured, `POST /applications/token` (client credentials,
form-encoded or JSON, `grant_type=client_credentials`; 401 on wrong ones) issues Bearer tokens
that expire after `token_seconds`, and every other endpoint answers 401 without a token or with
an unknown or expired one; without one, no auth (OSS). `POST /jobs` (JSON `{connectionId,
jobType}`; 404 unknown connection, 400 bad jobType, **409 while a job of the connection has not
ended**), `GET /jobs` (connectionId, jobType, status, orderBy, limit, offset; 400 on an unknown
status), `GET /jobs/{id}` (404 unknown), `DELETE /jobs/{id}` (cancel), `GET /health`. A job
walks the plan the test gives its connection, one step per `GET /jobs/{id}` (default pending ->
running -> succeeded, or ending failed / cancelled); when it succeeds, the connection's pending
records are written into its destination folder as an S3-style destination does:
`<stream>/<date>_<epoch ms>_<job>.jsonl` records under `_airbyte_data` (no flattening), or
`.parquet` with the record's fields as columns (root-level flattening), each with
`_airbyte_raw_id` and `_airbyte_extracted_at`. A failed or cancelled job writes nothing.
Faults: `faults` answers the next requests with the given statuses (429 with `Retry-After`).

Standalone, for a demo: `python -m tests.fakes.airbyte --port 8094 --destination /tmp/airbyte`
(prints the connection id; point a pipeline's `url` at http://127.0.0.1:8094/api/public/v1).
"""

from __future__ import annotations

import argparse
import itertools
import re
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from . import channel_server
from .channel_server import running, serve_until_interrupted, url_of

PREFIX = "/api/public/v1"
STATUSES = ("pending", "queued", "running", "incomplete", "failed", "succeeded", "cancelled")
ENDED = frozenset({"failed", "succeeded", "cancelled"})
JOB_TYPES = ("sync", "reset", "refresh", "clear")
JOB_PATH = re.compile(r"^/jobs/(\d+)$")
# the default plan of a job: each status for that many answers about it (its creation counts as
# the first), then the next; the last holds
DEFAULT_PLAN = (("pending", 1), ("running", 2), ("succeeded", 0))


class Refused(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        self.status, self.message, self.headers = status, message, headers or {}


@dataclass
class Connection:
    """A connection, its destination folder, what its next sync writes and how its next job
    goes (`plan`)."""

    id: str
    destination: Path
    # jsonl (records under _airbyte_data) or parquet (flattened); or a format per stream
    format: str | dict[str, str] = "jsonl"
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # per stream
    plan: tuple[tuple[str, int], ...] = DEFAULT_PLAN


@dataclass
class FakeJob:
    id: int
    connection_id: str
    job_type: str
    plan: tuple[tuple[str, int], ...]
    created: datetime
    polls: int = 0
    cancelled: bool = False
    rows: int = 0
    wrote: bool = False

    @property
    def status(self) -> str:
        if self.cancelled:
            return "cancelled"
        seen = 0
        for status, polls in self.plan:
            seen += polls
            if self.polls < seen:
                return status
        return self.plan[-1][0]

    def response(self) -> dict[str, Any]:
        body = {
            "jobId": self.id,
            "status": self.status,
            "jobType": self.job_type,
            "startTime": self.created.isoformat().replace("+00:00", "Z"),
            "connectionId": self.connection_id,
            "lastUpdatedAt": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "duration": f"PT{self.polls}S",
        }
        if self.status in ENDED:
            body |= {"rowsSynced": self.rows, "bytesSynced": self.rows * 100}
        return body


@dataclass
class AirbyteServer:
    """One Airbyte instance: its application (None: no auth), connections, jobs, and what the
    tests read back."""

    client_id: str | None = None
    client_secret: str | None = None
    token_seconds: float = 180.0
    connections: dict[str, Connection] = field(default_factory=dict)
    jobs: dict[int, FakeJob] = field(default_factory=dict)
    tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry (monotonic)
    faults: list[int] = field(default_factory=list)
    retry_after: str = "0"
    token_requests: int = 0
    calls: list[tuple[str, str, int]] = field(default_factory=list)  # method, path, status
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(100))

    def add_connection(self, destination: Path, **kwargs: Any) -> Connection:
        connection = Connection(str(uuid.uuid4()), destination, **kwargs)
        self.connections[connection.id] = connection
        return connection

    def expire_tokens(self) -> None:
        """Every issued token is past its expiry from now on."""
        with self.lock:
            self.tokens = dict.fromkeys(self.tokens, 0.0)

    def count(self, method: str, path: str, status: int | None = None) -> int:
        return sum(1 for m, p, s in self.calls if m == method and p == path and status in (None, s))

    # -- the API ----------------------------------------------------------------------------

    def handle(
        self, method: str, target: str, headers: Any, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(target)
        path = parts.path.removeprefix(PREFIX) if parts.path.startswith(PREFIX) else None
        with self.lock:
            try:
                if self.faults:
                    status = self.faults.pop(0)
                    extra = {"Retry-After": self.retry_after} if status == 429 else {}
                    raise Refused(status, "Too many requests" if status == 429 else "Oops", extra)
                if path is None:
                    raise Refused(404, f"{parts.path} is not under {PREFIX}")
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                if path == "/applications/token" and method == "POST":
                    status, answer = self._token(headers, body)
                else:
                    self._authenticate(headers)
                    status, answer = self._route(method, path, query, headers, body)
            except Refused as err:
                self.calls.append((method, path or parts.path, err.status))
                message = {"message": err.message, "status": err.status}
                return err.status, err.headers, orjson.dumps(message)
            self.calls.append((method, path, status))
            return status, {}, orjson.dumps(answer)

    def _token(self, headers: Any, body: bytes) -> tuple[int, Any]:
        self.token_requests += 1
        kind = (headers.get("Content-Type") or "").split(";")[0].strip()
        if kind == "application/x-www-form-urlencoded":
            form = {k: v[-1] for k, v in parse_qs(body.decode()).items()}
        elif kind == "application/json":
            form = orjson.loads(body or b"{}")
        else:
            raise Refused(415, f"Unsupported content type {kind!r}")
        grant = form.get("grant_type") or form.get("grant-type")
        if grant != "client_credentials":
            raise Refused(400, f"grant_type must be client_credentials, got {grant!r}")
        if self.client_id is None:
            raise Refused(404, "Applications are not enabled on this instance")
        if (form.get("client_id"), form.get("client_secret")) != (
            self.client_id,
            self.client_secret,
        ):
            raise Refused(401, "Invalid client credentials")
        token = secrets.token_urlsafe(24)
        self.tokens[token] = time.monotonic() + self.token_seconds
        answer = {"access_token": token, "token_type": "Bearer", "expires_in": self.token_seconds}
        return 200, answer

    def _authenticate(self, headers: Any) -> None:
        if self.client_id is None:
            return
        auth = headers.get("Authorization") or ""
        if not auth.startswith("Bearer "):
            raise Refused(401, "Missing bearer token")
        expiry = self.tokens.get(auth.removeprefix("Bearer "))
        if expiry is None or expiry <= time.monotonic():
            raise Refused(401, "Invalid or expired token")

    def _route(
        self, method: str, path: str, query: dict[str, str], headers: Any, body: bytes
    ) -> tuple[int, Any]:
        if path == "/health" and method == "GET":
            return 200, {"available": True}
        if path == "/jobs" and method == "POST":
            if (headers.get("Content-Type") or "").split(";")[0].strip() != "application/json":
                raise Refused(415, "Content-Type must be application/json")
            return self._create(orjson.loads(body or b"{}"))
        if path == "/jobs" and method == "GET":
            return self._list(query)
        if (m := JOB_PATH.match(path)) and method in ("GET", "DELETE"):
            job = self.jobs.get(int(m[1]))
            if job is None:
                raise Refused(404, f"Could not find job with id: {m[1]}")
            if method == "DELETE":
                if job.status in ENDED:
                    raise Refused(409, f"Job {job.id} has already ended: {job.status}")
                job.cancelled = True
                return 200, job.response()
            job.polls += 1
            if job.status == "succeeded" and not job.wrote:
                self._write_output(job)
            return 200, job.response()
        raise Refused(404, f"{method} {path} is not an endpoint")

    def _create(self, body: Any) -> tuple[int, Any]:
        connection = self.connections.get(str(body.get("connectionId")))
        if connection is None:
            raise Refused(404, f"Could not find connection with id: {body.get('connectionId')}")
        job_type = body.get("jobType")
        if job_type not in JOB_TYPES:
            raise Refused(400, f"jobType must be one of {', '.join(JOB_TYPES)}, got {job_type!r}")
        if any(
            j.connection_id == connection.id and j.status not in ENDED for j in self.jobs.values()
        ):
            raise Refused(409, f"A sync is already running for: {connection.id}")
        job = FakeJob(next(self._ids), connection.id, job_type, connection.plan, datetime.now(UTC))
        self.jobs[job.id] = job
        return 200, job.response()

    def _list(self, query: dict[str, str]) -> tuple[int, Any]:
        status = query.get("status")
        if status is not None and status not in STATUSES:
            raise Refused(400, f"status must be one of {', '.join(STATUSES)}, got {status!r}")
        jobs = [
            j
            for j in self.jobs.values()
            if query.get("connectionId") in (None, j.connection_id)
            and query.get("jobType") in (None, j.job_type)
            and status in (None, j.status)
        ]
        order = query.get("orderBy", "createdAt|ASC")
        jobs.sort(key=lambda j: j.id, reverse=order.endswith("|DESC"))
        offset, limit = int(query.get("offset", 0)), int(query.get("limit", 20))
        if not 1 <= limit <= 100:
            raise Refused(400, f"limit must be between 1 and 100, got {limit}")
        return 200, {"data": [j.response() for j in jobs[offset : offset + limit]]}

    def _write_output(self, job: FakeJob) -> None:
        connection = self.connections[job.connection_id]
        now = datetime.now(UTC)
        stamp = int(now.timestamp() * 1000)
        for stream, records in connection.records.items():
            folder = connection.destination / stream
            folder.mkdir(parents=True, exist_ok=True)
            ids = [str(uuid.uuid4()) for _ in records]
            fmt = connection.format
            fmt = fmt.get(stream, "jsonl") if isinstance(fmt, dict) else fmt
            name = f"{now:%Y_%m_%d}_{stamp}_{job.id}.{fmt}"
            staged = folder / f".{name}.tmp"
            if fmt == "parquet":  # root-level flattening
                flat = [
                    {"_airbyte_raw_id": i, "_airbyte_extracted_at": stamp, **record}
                    for i, record in zip(ids, records, strict=True)
                ]
                pq.write_table(pa.Table.from_pylist(flat), staged)
            else:  # no flattening: the record is one object
                lines = [
                    {"_airbyte_raw_id": i, "_airbyte_extracted_at": stamp, "_airbyte_data": record}
                    for i, record in zip(ids, records, strict=True)
                ]
                staged.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
            staged.rename(folder / name)  # whole files only, as a destination commits them
            job.rows += len(records)
        connection.records = {}
        job.wrote = True


def serve(state: AirbyteServer, port: int = 0) -> ThreadingHTTPServer:
    server = channel_server.serve(state.handle, "application/json", port)
    state.url = url_of(server) + PREFIX
    return server


@contextmanager
def airbyte_server(**kwargs: Any) -> Iterator[AirbyteServer]:
    state = AirbyteServer(**kwargs)
    with running(serve(state)):
        yield state


DEMO_CUSTOMERS = [
    {"id": 1, "email": "ada@example.com", "updated_at": "2026-11-01T10:00:00Z"},
    {"id": 2, "email": "grace@example.com", "updated_at": "2026-11-02T11:00:00Z"},
]


def main() -> None:
    parser = argparse.ArgumentParser(description="A local Airbyte public API server for demos.")
    parser.add_argument("--port", type=int, default=8094)
    parser.add_argument("--destination", type=Path, default=Path("airbyte-destination"))
    parser.add_argument("--format", choices=("jsonl", "parquet"), default="jsonl")
    parser.add_argument("--client-id", help="require this application (with --client-secret)")
    parser.add_argument("--client-secret")
    args = parser.parse_args()
    state = AirbyteServer(args.client_id, args.client_secret, retry_after="1")
    connection = state.add_connection(args.destination.resolve(), format=args.format)
    connection.records = {"customers": DEMO_CUSTOMERS}
    server = serve(state, args.port)
    serve_until_interrupted(
        server,
        f"Airbyte fake on {state.url}; connection {connection.id} writes "
        f"{connection.destination}/customers/*.{args.format}; Ctrl-C stops it",
    )


if __name__ == "__main__":
    main()
