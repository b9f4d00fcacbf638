"""A local Meta Graph API server for customer-file Custom Audiences, enforcing what the reference
notes list (meta-custom-audiences.md) and refusing what Meta refuses, so the Meta channel is
tested against a contract, not a mock.

Enforced: the version in the path (`/v25.0/...`; an old one is error 2635), an access token
(`Authorization: Bearer` or `access_token`; none is 104, a wrong one 190, HTTP 400 as Graph
answers); `act_<id>/customaudiences` listed with `limit` and `after` cursors (the `next` URL
echoes the token, as Graph's does) and created with `name`, `subtype=CUSTOM` and a
`customer_file_source`; `/<audience>/users` POST and DELETE with `payload{schema, data}` (known
multi-key schema names, each row as long as the schema, at most 10,000 rows) and hashed values
only: a value of a hashed key that is not a lowercase SHA-256 hex digest (a raw e-mail) is not
matched but counted in `num_invalid_entries` with a sample in `invalid_entry_samples`, as is a row
with nothing in it; the `session` (a new session starts at `batch_seq` 1, a `session_id` belongs
to one audience and method in the ad account, nothing is taken after `last_batch_flag`, and a
batch sent again under its `batch_seq` is answered as before without being applied twice; a
different batch under a used `batch_seq` is refused); Meta's error envelope
`{"error": {message, type, code, error_subcode, fbtrace_id}}`. A flagged audience
(operation_status 471) refuses uploads with 100 / 1713230.

Faults: `faults` answers the next requests with the given HTTP statuses (429, 5xx) or Graph
throttle codes (80003, 17, 613, 4; HTTP 400 as Meta sends them); `throttle_every=N` answers every
N-th request with `throttle_code`. `refused_hashes` marks values Meta would find invalid.

Standalone, for a demo: `python -m tests.fakes.meta --port 8092 --token demo` (then point a
destination's `api_base_url` at http://127.0.0.1:8092 and store `demo` as its token secret).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import orjson

from . import channel_server
from .channel_server import running, serve_until_interrupted, url_of

VERSIONS = {"v21.0", "v22.0", "v23.0", "v24.0", "v25.0"}
MAX_ROWS = 10_000
MULTI_KEYS = {
    "EXTERN_ID", "EMAIL", "PHONE", "GEN", "DOBY", "DOBM", "DOBD", "LN", "FN", "FI", "CT", "ST",
    "ZIP", "MADID", "COUNTRY", "LOOKALIKE_VALUE",
}  # fmt: skip
SINGLE_KEYS = {"EMAIL_SHA256": "EMAIL", "PHONE_SHA256": "PHONE", "MOBILE_ADVERTISER_ID": "MADID"}
NOT_HASHED = {"EXTERN_ID", "MADID", "LOOKALIKE_VALUE"}
SOURCES = {"USER_PROVIDED_ONLY", "PARTNER_PROVIDED_ONLY", "BOTH_USER_AND_PARTNER_PROVIDED"}
HEX64 = re.compile(r"^[0-9a-f]{64}$")
PATH = re.compile(r"^/(v\d+\.\d+)/(.*)$")
THROTTLES = {
    80003: (None, "There have been too many calls to this ad-account. Wait a bit and try again. "
                  "For more info, please refer to https://developers.facebook.com/docs/graph-api/"
                  "overview/rate-limiting#custom-audience"),
    17: (2446079, "User request limit reached"),
    613: (1487742, "There have been too many calls from this ad-account. Wait a bit and try "
                   "again."),
    4: (1504022, "Application request limit reached"),
}  # fmt: skip


class Refused(Exception):
    def __init__(
        self, status: int, code: int, message: str, subcode: int | None = None,
        kind: str = "OAuthException", user_msg: str | None = None,
    ) -> None:  # fmt: skip
        self.status, self.code, self.message, self.subcode = status, code, message, subcode
        self.kind, self.user_msg = kind, user_msg


@dataclass
class Audience:
    id: str
    name: str
    ad_account: str
    customer_file_source: str
    description: str = ""
    operation_status: int = 200
    members: dict[str, list[str]] = field(default_factory=dict)  # email/phone hash -> row


@dataclass
class Session:
    audience_id: str
    method: str
    batches: dict[int, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    closed: bool = False


@dataclass
class MetaGraph:
    """The state of the Graph API for one token, and what the tests read back."""

    token: str
    ad_accounts: set[str] | None = None  # None: any act_<digits>
    audiences: dict[str, Audience] = field(default_factory=dict)
    sessions: dict[tuple[str, int], Session] = field(default_factory=dict)
    faults: list[int] = field(default_factory=list)
    throttle_every: int = 0
    throttle_code: int = 80003
    refused_hashes: dict[str, str] = field(default_factory=dict)  # value -> Meta's reason
    requests: int = 0
    calls: list[tuple[str, str]] = field(default_factory=list)  # (method, path) answered 200
    applied: list[tuple[str, str, str]] = field(default_factory=list)  # (op, audience, key)
    uploads: list[dict[str, Any]] = field(default_factory=list)  # accepted users bodies
    duplicates: int = 0  # batches sent again under their batch_seq
    tokens_in_urls: int = 0  # requests that carried access_token in the URL
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(23850000000000001))

    def audience_named(self, name: str) -> Audience:
        return next(a for a in self.audiences.values() if a.name == name)

    def count(self, method: str, suffix: str) -> int:
        return sum(1 for m, p in self.calls if m == method and p.endswith(suffix))

    # -- the API ------------------------------------------------------------------------

    def handle(
        self, method: str, target: str, headers: Any, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            self.requests += 1
            parts = urlsplit(target)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            self.tokens_in_urls += "access_token" in query
            try:
                params = {**query, **_params(headers, body)}
                version, rest = self._version(parts.path)
                self._authenticate(headers, params)
                fault = self._fault()
                if fault is not None:
                    return fault
                answer = self._route(method, version, rest, params)
                self.calls.append((method, parts.path))
            except Refused as err:
                return err.status, {}, _envelope(err)
            return 200, {}, orjson.dumps(answer)

    def _version(self, path: str) -> tuple[str, str]:
        m = PATH.match(path)
        if not m:
            raise Refused(400, 2500, "Unknown path components: the version is missing")
        if m[1] not in VERSIONS:
            raise Refused(
                400, 2635, f"(#2635) You are calling a deprecated version of the Ads API. "
                f"Please update to the latest version: {max(VERSIONS)}."
            )  # fmt: skip
        return m[1], m[2]

    def _authenticate(self, headers: Any, params: dict[str, Any]) -> None:
        auth = headers.get("Authorization") or ""
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
        token = token or params.get("access_token")
        if not token:
            raise Refused(400, 104, "An access token is required to request this resource.")
        if token != self.token:
            raise Refused(400, 190, "Invalid OAuth access token - Cannot parse access token")

    def _fault(self) -> tuple[int, dict[str, str], bytes] | None:
        if self.faults:
            fault = self.faults.pop(0)
        elif self.throttle_every and self.requests % self.throttle_every == 0:
            fault = self.throttle_code
        else:
            return None
        if fault == 429:
            err = Refused(429, 17, THROTTLES[17][1], THROTTLES[17][0])
            return 429, {}, _envelope(err)
        if fault >= 500 and fault < 600:
            message = "An unexpected error has occurred. Please retry your request later."
            return fault, {}, _envelope(Refused(fault, 2, message), transient=True)
        subcode, message = THROTTLES[fault]
        usage = orjson.dumps(
            {"act": [{"type": "custom_audience", "call_count": 100,
                      "estimated_time_to_regain_access": 0}]}
        ).decode()  # fmt: skip
        return (
            400,
            {"X-Business-Use-Case-Usage": usage},
            _envelope(Refused(400, fault, message, subcode)),
        )

    def _route(self, method: str, version: str, rest: str, params: dict[str, Any]) -> Any:
        segments = rest.strip("/").split("/")
        if len(segments) == 2 and segments[1] == "customaudiences":
            account = self._account(segments[0], method)
            if method == "GET":
                return self._list(version, account, params)
            if method == "POST":
                return self._create(account, params)
        if len(segments) == 1 and method == "GET":
            return self._read(self._audience(segments[0], method), params)
        if len(segments) == 2 and segments[1] == "users" and method in ("POST", "DELETE"):
            return self._users(method, self._audience(segments[0], method), params)
        raise _missing(method, rest)

    def _account(self, account: str, method: str) -> str:
        known = self.ad_accounts
        if not re.fullmatch(r"act_\d+", account) or (known is not None and account not in known):
            raise _missing(method, account)
        return account

    def _audience(self, audience_id: str, method: str) -> Audience:
        found = self.audiences.get(audience_id)
        if found is None:
            raise _missing(method, audience_id)
        return found

    def _list(self, version: str, account: str, params: dict[str, Any]) -> Any:
        limit = str(params.get("limit", "25"))
        if not limit.isdigit() or not 1 <= int(limit) <= 500:
            raise Refused(400, 100, "(#100) limit must be between 1 and 500")
        start = int(params.get("after") or 0)
        mine = [a for a in self.audiences.values() if a.ad_account == account]
        chunk = mine[start : start + int(limit)]
        fields = str(params.get("fields") or "id").split(",")
        page: dict[str, Any] = {"data": [self._fields(a, fields) for a in chunk]}
        if chunk:
            after = start + len(chunk)
            page["paging"] = {"cursors": {"before": str(start), "after": str(after)}}
            if after < len(mine):  # Graph echoes the token into `next`: never follow it blindly
                query = urlencode({"fields": ",".join(fields), "limit": limit,
                                   "access_token": self.token, "after": after})  # fmt: skip
                page["paging"]["next"] = f"{self.url}/{version}/{account}/customaudiences?{query}"
        return page

    def _create(self, account: str, params: dict[str, Any]) -> Any:
        name = params.get("name")
        if not isinstance(name, str) or not name.strip():
            raise Refused(400, 100, "(#100) The parameter name is required")
        if params.get("subtype") != "CUSTOM":
            raise Refused(400, 100, "(#100) subtype must be CUSTOM for a customer file audience")
        source = params.get("customer_file_source")
        if source not in SOURCES:
            raise Refused(
                400, 100, "(#100) customer_file_source must be one of " + ", ".join(sorted(SOURCES))
            )
        audience = Audience(str(next(self._ids)), name, account, str(source),
                            str(params.get("description") or ""))  # fmt: skip
        self.audiences[audience.id] = audience
        return {"id": audience.id}

    def _read(self, audience: Audience, params: dict[str, Any]) -> Any:
        return self._fields(audience, str(params.get("fields") or "id").split(","))

    def _fields(self, audience: Audience, fields: list[str]) -> dict[str, Any]:
        n = len(audience.members)
        known = {
            "id": audience.id,
            "name": audience.name,
            "subtype": "CUSTOM",
            "customer_file_source": audience.customer_file_source,
            "description": audience.description,
            "approximate_count_lower_bound": n * 9 // 10,
            "approximate_count_upper_bound": n + (n + 9) // 10,
            "operation_status": {"code": audience.operation_status,
                                 "description": "Normal" if audience.operation_status == 200
                                 else "Audience Upload Blocked"},
        }  # fmt: skip
        return {f: known[f] for f in fields if f in known}

    def _users(self, method: str, audience: Audience, params: dict[str, Any]) -> Any:
        if audience.operation_status == 471:
            raise Refused(400, 100, "Audience Upload Blocked", 1713230,
                          user_msg="This audience was flagged and cannot be updated.")  # fmt: skip
        payload = params.get("payload")
        if not isinstance(payload, dict):
            raise Refused(400, 100, "(#100) The parameter payload is required")
        schema, rows = _rows(payload)
        session = params.get("session")
        answer_session = "0"
        if session is not None:
            sid, seq, last = _session(session)
            answer_session = str(sid)
            digest = hashlib.sha256(orjson.dumps([method, payload])).hexdigest()
            known = self.sessions.get((audience.ad_account, sid))
            if known is not None and (known.audience_id != audience.id or known.method != method):
                raise Refused(400, 100, f"(#100) session_id {sid} is already used by another "
                                        "upload in this ad account")  # fmt: skip
            if known is not None and seq in known.batches:
                seen, answer = known.batches[seq]
                if seen != digest:
                    raise Refused(400, 100, f"(#100) batch_seq {seq} was already received in "
                                            f"session {sid} with other data")  # fmt: skip
                self.duplicates += 1
                return answer
            if known is None and seq != 1:
                raise Refused(400, 2650, "Failed to update the custom audience: the first "
                                         "batch_seq was not detected", 1870147)  # fmt: skip
            if known is not None and known.closed:
                raise Refused(400, 2650, f"Failed to update the custom audience: session {sid} "
                                         "has ended (last_batch_flag was sent)")  # fmt: skip
            known = known or Session(audience.id, method)
            self.sessions[(audience.ad_account, sid)] = known
        invalid: dict[str, str] = {}
        for row in rows:
            problem = self._invalid(schema, row)
            if problem:
                value, reason = problem
                invalid.setdefault(value, reason)
                continue
            key = next((row[schema.index(k)] for k in ("EMAIL", "PHONE", "MADID") if k in schema
                        and row[schema.index(k)]), "|".join(row))  # fmt: skip
            if method == "POST":
                audience.members[key] = row
                self.applied.append(("add", audience.id, key))
            elif audience.members.pop(key, None) is not None:
                self.applied.append(("remove", audience.id, key))
        bad = sum(1 for row in rows if self._invalid(schema, row))
        answer = {
            "audience_id": audience.id,
            "session_id": answer_session,
            "num_received": len(rows),
            "num_invalid_entries": bad,
            "invalid_entry_samples": dict(itertools.islice(invalid.items(), 10)),
        }
        if session is not None:
            known.batches[seq] = (digest, answer)
            known.closed = known.closed or last
        self.uploads.append({"method": method, "schema": schema, "rows": rows})
        return answer

    def _invalid(self, schema: list[str], row: list[str]) -> tuple[str, str] | None:
        if not any(row):
            return "", "the row has no identifier"
        for key, value in zip(schema, row, strict=True):
            if value in self.refused_hashes:
                return value, self.refused_hashes[value]
            if value and key not in NOT_HASHED and not HEX64.match(value):
                return value, f"{key} is not a SHA-256 hash: normalize and hash it before upload"
        return None


def _rows(payload: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    schema = payload.get("schema")
    data = payload.get("data")
    single = isinstance(schema, str)
    if single:
        if schema not in SINGLE_KEYS:
            raise Refused(400, 100, f"(#100) Invalid schema: {schema}")
        keys = [SINGLE_KEYS[str(schema)]]
    elif isinstance(schema, list) and schema and all(k in MULTI_KEYS for k in schema):
        if len(set(schema)) != len(schema):
            raise Refused(400, 100, "(#100) Invalid schema: a key is repeated")
        keys = [str(k) for k in schema]
    else:
        raise Refused(400, 100, f"(#100) Invalid schema: {schema}; use keys of "
                                f"{', '.join(sorted(MULTI_KEYS))}")  # fmt: skip
    if not isinstance(data, list) or not data:
        raise Refused(400, 100, "(#100) The parameter data is required")
    if len(data) > MAX_ROWS:
        raise Refused(400, 100, f"(#100) Too many entries: at most {MAX_ROWS} per request, "
                                f"got {len(data)}")  # fmt: skip
    rows = []
    for n, row in enumerate(data):
        row = [row] if single else row
        if (
            not isinstance(row, list)
            or len(row) != len(keys)
            or not all(isinstance(v, str) for v in row)
        ):
            raise Refused(400, 100, f"(#100) data[{n}] does not match the schema: each row is an "
                                    f"array of {len(keys)} strings")  # fmt: skip
        rows.append(row)
    return keys, rows


def _session(session: Any) -> tuple[int, int, bool]:
    if not isinstance(session, dict):
        raise Refused(400, 100, "(#100) session must be an object")
    sid, seq = session.get("session_id"), session.get("batch_seq")
    last, total = session.get("last_batch_flag"), session.get("estimated_num_total")
    if not isinstance(sid, int) or isinstance(sid, bool) or not 0 < sid < 2**63:
        raise Refused(400, 100, "(#100) session_id must be a positive 64-bit integer")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise Refused(400, 100, "(#100) batch_seq must be an integer from 1")
    if not isinstance(last, bool):
        raise Refused(400, 100, "(#100) last_batch_flag must be true or false")
    if total is not None and (not isinstance(total, int) or total < 0):
        raise Refused(400, 100, "(#100) estimated_num_total must be a whole number")
    return sid, seq, last


def _params(headers: Any, body: bytes) -> dict[str, Any]:
    """A JSON body, or a form whose `payload` and `session` are JSON strings (both are Graph's)."""
    if not body:
        return {}
    kind = (headers.get("Content-Type") or "").split(";")[0].strip()
    try:
        if kind == "application/json":
            parsed = orjson.loads(body)
            if not isinstance(parsed, dict):
                raise Refused(400, 100, "(#100) The body must be a JSON object")
            return parsed
        form: dict[str, Any] = {k: v[-1] for k, v in parse_qs(body.decode()).items()}
        for key in ("payload", "session"):
            if key in form:
                form[key] = orjson.loads(form[key])
        return form
    except (orjson.JSONDecodeError, UnicodeDecodeError) as err:
        raise Refused(400, 100, "(#100) Malformed parameters") from err


def _missing(method: str, what: str) -> Refused:
    return Refused(
        400, 100, f"Unsupported {method.lower()} request. Object with ID '{what}' does not exist, "
        "cannot be loaded due to missing permissions, or does not support this operation.", 33,
        kind="GraphMethodException",
    )  # fmt: skip


def _envelope(err: Refused, transient: bool = False) -> bytes:
    error: dict[str, Any] = {"message": err.message, "type": err.kind, "code": err.code,
                             "fbtrace_id": uuid.uuid4().hex[:22]}  # fmt: skip
    if err.subcode is not None:
        error["error_subcode"] = err.subcode
    if err.user_msg:
        error["error_user_title"], error["error_user_msg"] = err.message, err.user_msg
    if transient:
        error["is_transient"] = True
    return orjson.dumps({"error": error})


def serve(graph: MetaGraph, port: int = 0) -> ThreadingHTTPServer:
    server = channel_server.serve(graph.handle, "application/json", port)
    graph.url = url_of(server)
    return server


@contextmanager
def meta_server(token: str) -> Iterator[MetaGraph]:
    graph = MetaGraph(token)
    with running(serve(graph)):
        yield graph


def main() -> None:
    parser = argparse.ArgumentParser(description="A local Meta Graph API server for demos.")
    parser.add_argument("--port", type=int, default=8092)
    parser.add_argument("--token", default="demo", help="the access token it accepts")
    parser.add_argument(
        "--throttle-every", type=int, default=0, help="answer every N-th request 80003"
    )
    args = parser.parse_args()
    graph = MetaGraph(args.token, throttle_every=args.throttle_every)
    server = serve(graph, args.port)
    serve_until_interrupted(
        server, f"Meta Graph fake on {graph.url} (token {args.token}); Ctrl-C stops it"
    )


if __name__ == "__main__":
    main()
