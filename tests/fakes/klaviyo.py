"""A local Klaviyo API server that enforces what the reference notes list (klaviyo.md) and
refuses what the real one refuses, so the klaviyo channel is tested against a contract, not a mock.

Enforced: `Authorization: Klaviyo-API-Key <key>` (401 otherwise), a known `revision` header (400),
`application/vnd.api+json` bodies (415), JSON:API `type`s (409 on a wrong type, as Klaviyo does);
the bulk profile import job (<= 10,000 profiles, <= 5 MB body, <= 100 KB per profile; 202, a job
that goes queued -> processing -> complete as it is polled, per-profile import errors; its optional
`relationships.lists` puts every profile it imports on those lists, each `{"type": "list", "id"}`
of an existing list, else the whole job is refused: 409 on another type, 400 on a missing id, 404
on an unknown list); list relationships (<= 1000 profile ids, 204 without body, idempotent: a
profile already on the list is not added twice); lists by name (page size <= 10) and their
profiles (<= 100) with cursor pagination; profiles by `filter=any(...)` or `equals(...)` on id,
email, phone_number or external_id (page size <= 100; other filters are not modelled and answer
400), with the `fields[profile]` sparse fieldset; the list profile count; error envelopes
`{"errors": [{id, code, title, detail, source}]}`. Faults: `faults` answers the next requests
with the given statuses (429 with `Retry-After`, or 5xx), and `throttle_every=N` answers every
N-th request 429.

Standalone, for a demo: `python -m tests.fakes.klaviyo --port 8091 --key pk_demo` (then point a
destination's `api_base_url` at http://127.0.0.1:8091 and store pk_demo as its key secret).
"""

from __future__ import annotations

import argparse
import itertools
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import orjson

from . import channel_server
from .channel_server import running, serve_until_interrupted, url_of

REVISIONS = {
    "2025-01-15", "2025-04-15", "2025-07-15", "2025-10-15",
    "2026-01-15", "2026-04-15", "2026-07-15", "2026-10-15",
}  # fmt: skip
JSON_API = "application/vnd.api+json"
MAX_IMPORT_PROFILES, MAX_IMPORT_BYTES, MAX_PROFILE_BYTES = 10_000, 5 * 1024 * 1024, 100 * 1024
MAX_RELATIONSHIPS = 1000
IDENTIFIERS = ("external_id", "email", "phone_number")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
LIST_PATH = re.compile(r"^/api/lists/([^/]+)$")
LIST_PROFILES = re.compile(r"^/api/lists/([^/]+)/profiles$")
LIST_RELATIONSHIPS = re.compile(r"^/api/lists/([^/]+)/relationships/profiles$")
JOB_PATH = re.compile(r"^/api/profile-bulk-import-jobs/([^/]+)(/import-errors|/profiles)?$")
PROFILE_FILTER = re.compile(r"^(any|equals)\((id|email|phone_number|external_id),(.*)\)$")
QUOTED = r"(?:\"[^\"]*\"|'[^']*')"
LISTED = re.compile(rf"^\[\s*(?:{QUOTED}\s*(?:,\s*{QUOTED}\s*)*)?\]$")


class Refused(Exception):
    def __init__(self, status: int, code: str, detail: str, pointer: str | None = None) -> None:
        self.status, self.code, self.detail, self.pointer = status, code, detail, pointer


@dataclass
class Job:
    id: str
    total: int
    profile_ids: list[str]
    errors: list[dict[str, Any]]
    polls: int = 0

    @property
    def status(self) -> str:
        return ("queued", "processing")[self.polls] if self.polls < 2 else "complete"


@dataclass
class KlaviyoAccount:
    """The state of one Klaviyo account, and what the tests read back."""

    key: str
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> attributes
    lists: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> {name, members}
    jobs: dict[str, Job] = field(default_factory=dict)
    index: dict[tuple[str, Any], str] = field(default_factory=dict)  # (identifier, value) -> id
    faults: list[int] = field(default_factory=list)
    retry_after: str = "0"
    throttle_every: int = 0
    requests: int = 0
    calls: list[tuple[str, str]] = field(default_factory=list)  # (method, path) answered 2xx
    joined: list[tuple[str, str]] = field(default_factory=list)  # (list id, profile id) additions
    lists_created: int = 0
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: Iterator[int] = field(default_factory=itertools.count)

    def members(self, list_id: str) -> set[str]:
        """The external ids (cdpflow's global_user_id) of the list's profiles."""
        return {str(self.profiles[p].get("external_id")) for p in self.lists[list_id]["members"]}

    def list_named(self, name: str) -> str:
        return next(i for i, v in self.lists.items() if v["name"] == name)

    def count(self, method: str, prefix: str) -> int:
        return sum(1 for m, p in self.calls if m == method and p.startswith(prefix))

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):06d}{uuid.uuid4().hex[:6].upper()}"

    # -- the API ------------------------------------------------------------------------

    def handle(
        self, method: str, target: str, headers: Any, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            self.requests += 1
            try:
                self._check_headers(method, headers, body)
                if self.faults:
                    status = self.faults.pop(0)
                    return self._fault(status)
                if self.throttle_every and self.requests % self.throttle_every == 0:
                    return self._fault(429)
                parts = urlsplit(target)
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                status, answer = self._route(method, parts.path, query, body)
                self.calls.append((method, parts.path))
            except Refused as err:
                return err.status, {}, _errors(err.status, err.code, err.detail, err.pointer)
            limit = {
                "RateLimit-Limit": "150",
                "RateLimit-Remaining": "149",
                "RateLimit-Reset": "60",
            }
            return status, limit, b"" if answer is None else orjson.dumps(answer)

    def _fault(self, status: int) -> tuple[int, dict[str, str], bytes]:
        if status == 429:
            detail = "Request was throttled. Expected available in 1 second."
            return 429, {"Retry-After": self.retry_after}, _errors(429, "throttled", detail)
        return status, {}, _errors(status, "error", "A server error occurred.")

    def _check_headers(self, method: str, headers: Any, body: bytes) -> None:
        auth = headers.get("Authorization") or ""
        if not auth.startswith("Klaviyo-API-Key "):
            raise Refused(401, "not_authenticated", "Authentication credentials were not provided.")
        if auth.removeprefix("Klaviyo-API-Key ") != self.key:
            raise Refused(401, "authentication_failed", "Incorrect authentication credentials.")
        revision = headers.get("revision")
        if not revision:
            raise Refused(400, "invalid", "Missing required header revision.")
        if revision.split(".", 1)[0] not in REVISIONS:
            raise Refused(400, "invalid_revision", f"Invalid revision: {revision}.")
        if body and (headers.get("Content-Type") or "").split(";")[0].strip() != JSON_API:
            raise Refused(415, "unsupported_media_type", f"Use Content-Type {JSON_API}.")

    def _route(self, method: str, path: str, query: dict[str, str], body: bytes) -> tuple[int, Any]:
        if path == "/api/lists" and method == "POST":
            return self._create_list(_document(body))
        if path == "/api/lists" and method == "GET":
            return self._get_lists(query)
        if (m := LIST_PATH.match(path)) and method == "GET":
            return 200, {"data": self._list_resource(self._list(m[1]), m[1], query)}
        if (m := LIST_PROFILES.match(path)) and method == "GET":
            members = list(self._list(m[1])["members"])
            return 200, self._page(path, query, members, 20, 100, self._profile_resource)
        if (m := LIST_RELATIONSHIPS.match(path)) and method in ("POST", "DELETE"):
            return self._relationships(method, self._list(m[1]), m[1], _document(body))
        if path == "/api/profiles" and method == "GET":
            ids = self._find_profiles(query.get("filter"))
            fields = query.get("fields[profile]")
            return 200, self._page(
                path, query, ids, 20, 100, lambda i: self._profile_resource(i, fields)
            )
        if path == "/api/profile-bulk-import-jobs" and method == "POST":
            return self._import(body)
        if (m := JOB_PATH.match(path)) and method == "GET":
            job = self.jobs.get(m[1])
            if job is None:
                raise Refused(404, "not_found", f"Job {m[1]} was not found.")
            if m[2] == "/import-errors":
                return 200, self._page(path, query, job.errors, 20, 100, lambda e: e)
            if m[2] == "/profiles":
                return 200, self._page(
                    path, query, job.profile_ids, 20, 100, self._profile_resource
                )
            job.polls += 1
            return 200, {"data": self._job_resource(job)}
        raise Refused(404, "not_found", f"{method} {path} is not an endpoint.")

    def _list(self, list_id: str) -> dict[str, Any]:
        found = self.lists.get(list_id)
        if found is None:
            raise Refused(404, "not_found", f"A list with id {list_id} does not exist.")
        return found

    def _list_resource(self, item: dict[str, Any], list_id: str, query: dict[str, str]) -> Any:
        attributes: dict[str, Any] = {"name": item["name"], "opt_in_process": "single_opt_in"}
        if "profile_count" in query.get("additional-fields[list]", ""):
            attributes["profile_count"] = len(item["members"])
        return {"type": "list", "id": list_id, "attributes": attributes}

    def _profile_resource(self, profile_id: str, fields: str | None = None) -> Any:
        attributes = self.profiles[profile_id]
        if fields is not None:  # a sparse fieldset
            attributes = {k: v for k, v in attributes.items() if k in fields.split(",")}
        return {"type": "profile", "id": profile_id, "attributes": attributes}

    def _find_profiles(self, wanted: str | None) -> list[str]:
        if wanted is None:
            return list(self.profiles)
        m = PROFILE_FILTER.fullmatch(wanted)
        if not m:
            raise Refused(400, "invalid", f"Invalid filter: {wanted}", None)
        operator, name, argument = m[1], m[2], m[3].strip()
        if operator == "any" and not LISTED.fullmatch(argument):
            raise Refused(400, "invalid", f"any() takes a list of strings: {wanted}", None)
        if operator == "equals" and not re.fullmatch(QUOTED, argument):
            raise Refused(400, "invalid", f"equals() takes a string: {wanted}", None)
        values = [v[1:-1] for v in re.findall(QUOTED, argument)]
        found = (
            (v if v in self.profiles else None) if name == "id" else self.index.get((name, v))
            for v in values
        )
        return list(dict.fromkeys(i for i in found if i is not None))

    def _create_list(self, document: Any) -> tuple[int, Any]:
        data = _resource(document, "list")
        name = (data.get("attributes") or {}).get("name")
        if not isinstance(name, str) or not name.strip():
            raise Refused(400, "invalid", "name is required.", "/data/attributes/name")
        if self.lists_created >= 150:
            raise Refused(429, "throttled", "Daily limit of 150 new lists reached.")
        self.lists_created += 1
        list_id = self.new_id("L")
        self.lists[list_id] = {"name": name, "members": {}}
        return 201, {"data": self._list_resource(self.lists[list_id], list_id, {})}

    def _get_lists(self, query: dict[str, str]) -> tuple[int, Any]:
        wanted = query.get("filter")
        name = None
        if wanted:
            m = re.fullmatch(r"equals\(name,['\"](.*)['\"]\)", wanted)
            if not m:
                raise Refused(400, "invalid", f"Invalid filter: {wanted}", None)
            name = m[1]
        ids = [i for i, v in self.lists.items() if name is None or v["name"] == name]
        return 200, self._page(
            "/api/lists", query, ids, 10, 10, lambda i: self._list_resource(self.lists[i], i, {})
        )

    def _page(
        self, path: str, query: dict[str, str], items: list[Any], default: int, most: int,
        render: Any,
    ) -> Any:  # fmt: skip
        size = query.get("page[size]", str(default))
        if not size.isdigit() or not 1 <= int(size) <= most:
            raise Refused(400, "invalid", f"page[size] must be between 1 and {most}.", None)
        start = int(query.get("page[cursor]", "0") or 0)
        chunk = items[start : start + int(size)]
        links: dict[str, Any] = {"self": f"{self.url}{path}"}
        if start + int(size) < len(items):
            rest = "&".join(
                f"{quote(k)}={quote(v)}" for k, v in query.items() if k != "page[cursor]"
            )
            links["next"] = f"{self.url}{path}?{rest}&page[cursor]={start + int(size)}"
        return {"data": [render(x) for x in chunk], "links": links}

    def _relationships(
        self, method: str, item: dict[str, Any], list_id: str, document: Any
    ) -> tuple[int, Any]:
        data = document.get("data") if isinstance(document, dict) else None
        if not isinstance(data, list):
            raise Refused(400, "invalid", "data must be an array of profile identifiers.", "/data")
        if len(data) > MAX_RELATIONSHIPS:
            raise Refused(
                400, "invalid",
                f"A maximum of {MAX_RELATIONSHIPS} profiles can be sent at a time.", "/data",
            )  # fmt: skip
        ids = []
        for n, ref in enumerate(data):
            if not isinstance(ref, dict) or ref.get("type") != "profile":
                raise Refused(409, "conflict", "The type must be profile.", f"/data/{n}/type")
            if ref.get("id") not in self.profiles:
                raise Refused(404, "not_found", f"Profile {ref.get('id')} does not exist.")
            ids.append(ref["id"])
        for profile_id in ids:
            if method == "POST":
                self._join(list_id, profile_id)
            else:
                item["members"].pop(profile_id, None)
        return 204, None

    def _join(self, list_id: str, profile_id: str) -> None:
        members = self.lists[list_id]["members"]
        if profile_id not in members:
            members[profile_id] = True
            self.joined.append((list_id, profile_id))

    def _import_lists(self, data: dict[str, Any]) -> list[str]:
        """The lists an import job puts its profiles on (its `lists` relationship)."""
        relationship = (data.get("relationships") or {}).get("lists")
        if relationship is None:
            return []
        refs = relationship.get("data") if isinstance(relationship, dict) else None
        pointer = "/data/relationships/lists/data"
        if not isinstance(refs, list):
            raise Refused(400, "invalid", "lists must be an array of list identifiers.", pointer)
        lists = []
        for n, ref in enumerate(refs):
            if not isinstance(ref, dict) or ref.get("type") != "list":
                raise Refused(409, "conflict", "The type must be list.", f"{pointer}/{n}/type")
            if not isinstance(ref.get("id"), str) or not ref["id"]:
                raise Refused(400, "invalid", "id is required.", f"{pointer}/{n}/id")
            self._list(ref["id"])  # 404 for a list the account does not have
            lists.append(ref["id"])
        return lists

    def _import(self, body: bytes) -> tuple[int, Any]:
        if len(body) > MAX_IMPORT_BYTES:
            raise Refused(413, "payload_too_large", "The payload exceeds the limit of 5MB.")
        data = _resource(_document(body), "profile-bulk-import-job")
        profiles = ((data.get("attributes") or {}).get("profiles") or {}).get("data")
        if not isinstance(profiles, list) or not profiles:
            raise Refused(400, "invalid", "profiles is required.", "/data/attributes/profiles")
        if len(profiles) > MAX_IMPORT_PROFILES:
            raise Refused(
                400, "invalid",
                f"A maximum of {MAX_IMPORT_PROFILES} profiles can be imported at once.",
                "/data/attributes/profiles/data",
            )  # fmt: skip
        lists = self._import_lists(data)
        job = Job(self.new_id("J"), len(profiles), [], [])
        for n, profile in enumerate(profiles):
            pointer = f"/data/attributes/profiles/data/{n}"
            if not isinstance(profile, dict) or profile.get("type") != "profile":
                raise Refused(409, "conflict", "The type must be profile.", f"{pointer}/type")
            if len(orjson.dumps(profile)) > MAX_PROFILE_BYTES:
                raise Refused(400, "invalid", "A profile exceeds 100KB.", pointer)
            attributes = dict(profile.get("attributes") or {})
            problem = _profile_problem(attributes)
            if problem:
                job.errors.append(
                    {"type": "import-error", "id": self.new_id("E"),
                     "attributes": {"code": "invalid", "title": "Invalid input.",
                                    "detail": problem,
                                    "source": {"pointer": pointer},
                                    "original_payload": attributes}}
                )  # fmt: skip
                continue
            job.profile_ids.append(self._upsert(attributes))
        for list_id in lists:
            for profile_id in job.profile_ids:
                self._join(list_id, profile_id)
        self.jobs[job.id] = job
        return 202, {"data": self._job_resource(job)}

    def _upsert(self, attributes: dict[str, Any]) -> str:
        keys = [(k, attributes[k]) for k in IDENTIFIERS if attributes.get(k) is not None]
        profile_id = next((self.index[k] for k in keys if k in self.index), None)
        if profile_id is None:
            profile_id = self.new_id("P")
            self.profiles[profile_id] = attributes
        else:
            self.profiles[profile_id].update(attributes)
        for k in keys:
            self.index[k] = profile_id
        return profile_id

    def _job_resource(self, job: Job) -> Any:
        done = job.status == "complete"
        return {
            "type": "profile-bulk-import-job",
            "id": job.id,
            "attributes": {
                "status": job.status,
                "total_count": job.total,
                "completed_count": len(job.profile_ids) if done else 0,
                "failed_count": len(job.errors) if done else 0,
                "created_at": "2026-12-04T06:00:00+00:00",
            },
        }


def _profile_problem(attributes: dict[str, Any]) -> str:
    email, phone = attributes.get("email"), attributes.get("phone_number")
    if email is None and phone is None and attributes.get("external_id") is None:
        return "A profile needs an email, phone_number or external_id."
    if email is not None and not EMAIL.match(str(email)):
        return f"Invalid email address: {email}"
    if phone is not None and not re.fullmatch(r"\+[1-9]\d{6,14}", str(phone)):
        return f"Invalid phone number (use E.164): {phone}"
    return ""


def _document(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as err:
        raise Refused(400, "parse_error", "Malformed JSON.") from err


def _resource(document: Any, kind: str) -> dict[str, Any]:
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, dict):
        raise Refused(400, "invalid", "data is required.", "/data")
    if data.get("type") != kind:
        raise Refused(409, "conflict", f"The type must be {kind}.", "/data/type")
    return data


def _errors(status: int, code: str, detail: str, pointer: str | None = None) -> bytes:
    error: dict[str, Any] = {
        "id": uuid.uuid4().hex, "status": status, "code": code, "title": detail, "detail": detail,
    }  # fmt: skip
    if pointer:
        error["source"] = {"pointer": pointer}
    return orjson.dumps({"errors": [error]})


def serve(account: KlaviyoAccount, port: int = 0) -> ThreadingHTTPServer:
    server = channel_server.serve(account.handle, JSON_API, port)
    account.url = url_of(server)
    return server


@contextmanager
def klaviyo_server(key: str) -> Iterator[KlaviyoAccount]:
    account = KlaviyoAccount(key)
    with running(serve(account)):
        yield account


def main() -> None:
    parser = argparse.ArgumentParser(description="A local Klaviyo API server for demos.")
    parser.add_argument("--port", type=int, default=8091)
    parser.add_argument("--key", default="pk_demo", help="the private API key it accepts")
    parser.add_argument("--throttle-every", type=int, default=0, help="answer every N-th 429")
    args = parser.parse_args()
    account = KlaviyoAccount(args.key, throttle_every=args.throttle_every, retry_after="1")
    server = serve(account, args.port)
    serve_until_interrupted(
        server, f"Klaviyo fake on {account.url} (key {args.key}); Ctrl-C stops it"
    )


if __name__ == "__main__":
    main()
