"""The Meta Custom Audiences channel: a customer-file audience kept following a segment through
the audience's users edge, with hashed rows only.

Each person is one multi-key row (`EMAIL`, `PHONE`, `FN`, `LN`, `CT`, `ST`, `ZIP`, `COUNTRY`, as
the destination's `fields` give them), every value normalized and SHA-256 hashed on this machine
(`meta_hashing`); the row is kept in `activation_state.channel_id`, so a removal sends exactly
the hashes that were added. Adds, updates and removes are uploaded in requests of at most 10,000
rows, each action one Meta session (`session_id`, 1-based `batch_seq`, `last_batch_flag` on the
last, `estimated_num_total`). The session is journaled under the work directory before a batch
is sent (`meta_sessions`): a run killed mid-way, or an Airflow retry, continues the same session
and sends a batch it may already have sent under its old `batch_seq`, which Meta takes as the
same batch.

The token goes in the `Authorization: Bearer` header, never in a URL. Graph errors: 190 and the
permission codes are a refused credential (terminal), 1, 2, 4, 17, 341, 613 and 80003 are
throttling or service faults (retried with backoff by the shared layer, like 429 and 5xx).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import orjson

from cdpflow.activation import meta_hashing
from cdpflow.activation.channel import Member, Outcome, Person
from cdpflow.activation.destination import Destination
from cdpflow.activation.http import ChannelHttp, channel_detail
from cdpflow.activation.meta_sessions import Session, SessionJournal, batch_digest
from cdpflow.errors import TerminalError
from cdpflow.settings import Settings

USERS_BATCH = 10_000  # rows per users request, Meta's documented maximum
KEY_OF_FIELD = {
    "email": "EMAIL", "phone": "PHONE", "first_name": "FN", "last_name": "LN",
    "city": "CT", "state": "ST", "zip": "ZIP", "country": "COUNTRY",
}  # fmt: skip
THROTTLE_CODES = frozenset({1, 2, 4, 17, 341, 613, 80003})  # retried with backoff
CREDENTIAL_CODES = frozenset({10, 104, 190, 200, 294})  # token missing, invalid or lacking rights
TRANSIENT_CODES = frozenset({368, 2650})  # a batch refused now, sent again next run
SESSION_ENDED = 2650  # "failed to update the custom audience": also a session Meta closed
BLOCKED_SUBCODE = 1713230  # the audience is flagged (operation_status 471): no uploads
MISSING_SUBCODE = 33  # the object does not exist or the token cannot see it
PAGE = 200


class MetaAudienceMissing(TerminalError):
    """The destination's Custom Audience is not in the ad account (and was not to be created)."""


def graph_error(response: httpx.Response) -> dict[str, Any]:
    """Meta's `{"error": {...}}` envelope, or {} when the body is not one."""
    try:
        body = response.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _code(response: httpx.Response) -> int | None:
    code = graph_error(response).get("code")
    return code if isinstance(code, int) else None


def throttled(response: httpx.Response) -> bool:
    return response.status_code >= 400 and _code(response) in THROTTLE_CODES


def credential_refused(response: httpx.Response) -> bool:
    return response.status_code in (401, 403) or _code(response) in CREDENTIAL_CODES


def encode_row(schema: tuple[str, ...], row: list[str]) -> str:
    """`EMAIL,PHONE:<hash>,<hash>`: the row as activation_state keeps it."""
    return f"{','.join(schema)}:{','.join(row)}"


def decode_row(text: str) -> tuple[tuple[str, ...], list[str]] | None:
    head, sep, tail = text.partition(":")
    if not sep or not head:
        return None
    schema = tuple(head.split(","))
    row = tail.split(",")
    return (schema, row) if len(row) == len(schema) else None


class MetaChannel:
    def __init__(self, destination: Destination, settings: Settings, token: str) -> None:
        self.destination = destination
        self.settings = settings
        self.upsert_batch = self.remove_batch = USERS_BATCH
        self.version = settings.meta_graph_api_version
        self.ad_account = str(destination.target["ad_account"])
        by_id = destination.target.get("audience_id")
        self.audience_id: str | None = None if by_id is None else str(by_id)
        self.schema = tuple(KEY_OF_FIELD[f] for f in KEY_OF_FIELD if f in destination.fields)
        self.previous: Mapping[str, Member] = {}
        self.journal: SessionJournal | None = None
        self.http = ChannelHttp(
            destination.name,
            destination.secret,
            destination.base_url,
            {
                "Authorization": f"Bearer {token}",
                "content-type": "application/json",
                "user-agent": "cdpflow",
            },
            attempts=settings.activation_http_attempts,
            max_wait_seconds=settings.activation_max_wait_seconds,
            throttled=throttled,
            credential_refused=credential_refused,
        )

    # -- the audience -----------------------------------------------------------------------

    def prepare(self, create: bool) -> None:
        if self.audience_id is not None:
            response = self.http.request(
                "GET", self._path(self.audience_id), params={"fields": "id,name"}
            )
            if self._missing(response):
                raise MetaAudienceMissing(
                    f"Destination `{self.destination.name}`: Meta has no Custom Audience "
                    f"`{self.audience_id}` that this token can see (`audience_id` in "
                    f"{self.destination.path})."
                )
            self._expect(response, "read the Custom Audience")
            return
        name = str(self.destination.target["audience"])
        found = next((a["id"] for a in self._audiences() if a.get("name") == name), None)
        if found is None and create:
            source = self.destination.target.get("customer_file_source", "USER_PROVIDED_ONLY")
            body = {
                "name": name,
                "subtype": "CUSTOM",
                "customer_file_source": source,
                "description": f"cdpflow: segment {self.destination.segment}",
            }
            response = self.http.request(
                "POST", self._path(f"{self.ad_account}/customaudiences"), content=orjson.dumps(body)
            )
            self._expect(response, "create the Custom Audience")
            found = str(response.json()["id"])
        if found is None:
            raise MetaAudienceMissing(
                f"Destination `{self.destination.name}`: ad account {self.ad_account} has no "
                f"Custom Audience named `{name}` yet."
            )
        self.audience_id = str(found)

    def reported_size(self) -> tuple[int, int] | None:
        """Meta's approximate count bounds of the audience (matched people, updated by Meta
        up to 24 hours after an upload); None while Meta reports no bounds."""
        try:
            if self.audience_id is None:
                self.prepare(create=False)
        except MetaAudienceMissing:
            return None
        fields = "approximate_count_lower_bound,approximate_count_upper_bound"
        response = self.http.request(
            "GET", self._path(str(self.audience_id)), params={"fields": fields}
        )
        self._expect(response, "read the audience's size")
        body = response.json()
        low = body.get("approximate_count_lower_bound")
        high = body.get("approximate_count_upper_bound")
        if not isinstance(low, int) or not isinstance(high, int) or low < 0 or high < 0:
            return None
        return low, high

    # -- adds, updates, removes -------------------------------------------------------------

    def begin(self, action: str, total: int, previous: Mapping[str, Member]) -> None:
        self.previous = previous
        self._journal().open(action, total)

    def send(self, action: str, people: list[Person], last: bool) -> list[Outcome]:
        outcomes: dict[str, Outcome] = {}
        rows: list[tuple[str, list[str]]] = []
        for person in people:
            row = self.row_of(person)
            if not any(row[i] for i, key in enumerate(self.schema) if key in ("EMAIL", "PHONE")):
                outcomes[person.global_user_id] = Outcome(
                    person.global_user_id, False, None,
                    "no email or phone left after Meta's normalization (a phone without "
                    "digits?); not sent",
                )  # fmt: skip
                continue
            rows.append((person.global_user_id, row))
        if action == "update":
            self._retire_changed_rows(rows)
        for outcome in self._upload("POST", action, self.schema, rows, last):
            outcomes[outcome.global_user_id] = outcome
        return [outcomes[p.global_user_id] for p in people]

    def remove(self, members: list[Member], last: bool) -> list[Outcome]:
        outcomes: dict[str, Outcome] = {}
        groups: dict[tuple[str, ...], list[tuple[str, list[str]]]] = {}
        for member in members:
            decoded = decode_row(member.channel_id)
            if decoded is None:
                outcomes[member.global_user_id] = Outcome(
                    member.global_user_id, False, None, "no hashed row was recorded for them"
                )
                continue
            groups.setdefault(decoded[0], []).append((member.global_user_id, decoded[1]))
        ordered = list(groups.items())
        for n, (schema, rows) in enumerate(ordered):
            final = last and n == len(ordered) - 1
            for outcome in self._upload("DELETE", "remove", schema, rows, final):
                outcomes[outcome.global_user_id] = outcome
        return [outcomes[m.global_user_id] for m in members]

    def close(self) -> None:
        self.http.close()

    def row_of(self, person: Person) -> list[str]:
        """The person's hashed row in schema order; `""` for what is unknown."""
        values = person.fields(self.destination.fields)
        by_key = {KEY_OF_FIELD[f]: str(v) for f, v in values.items() if f in KEY_OF_FIELD}
        return [meta_hashing.hashed(key, by_key.get(key), person.country) for key in self.schema]

    # -- helpers ----------------------------------------------------------------------------

    def _retire_changed_rows(self, rows: list[tuple[str, list[str]]]) -> None:
        """An updated person whose email or phone hash changed: the old row is deleted (in its
        own one-batch session) so the old address stops matching; the new row is added."""
        strong = [i for i, key in enumerate(self.schema) if key in ("EMAIL", "PHONE")]
        retired: dict[tuple[str, ...], list[tuple[str, list[str]]]] = {}
        for gid, row in rows:
            known = self.previous.get(gid)
            decoded = decode_row(known.channel_id) if known else None
            if decoded is None:
                continue
            old_schema, old_row = decoded
            old = {k: v for k, v in zip(old_schema, old_row, strict=True)}
            if any(old.get(self.schema[i], "") != row[i] for i in strong):
                retired.setdefault(old_schema, []).append((gid, old_row))
        for schema, old_rows in retired.items():
            digest = batch_digest("retire", schema, old_rows)
            action = f"retire-{digest[:16]}"
            self._journal().open(action, len(old_rows))
            self._upload("DELETE", action, schema, old_rows, True)

    def _upload(
        self,
        method: str,
        action: str,
        schema: tuple[str, ...],
        rows: list[tuple[str, list[str]]],
        last: bool,
    ) -> list[Outcome]:
        """One users request in the action's session; an outcome per row."""
        if not rows:
            if last:
                self._journal().close(action)
            return []
        journal = self._journal()
        session = journal.open(action, len(rows))
        response = self._post_batch(method, session, schema, rows, last)
        if session.resumed and _code(response) == SESSION_ENDED:  # Meta let the old one go
            journal.close(action)
            session = journal.open(action, len(rows))
            response = self._post_batch(method, session, schema, rows, last)
        if response.status_code != 200:
            return self._refused(response, rows)
        if last:
            journal.close(action)
        answer = response.json()
        samples = answer.get("invalid_entry_samples") or {}
        received = answer.get("num_received")
        outcomes = []
        for gid, row in rows:
            reason = next((str(samples[v]) for v in row if v and v in samples), None)
            if reason is not None:
                outcomes.append(Outcome(gid, False, 200, f"Meta: invalid entry ({reason})"))
            elif received == 0:
                outcomes.append(Outcome(gid, False, 200, "Meta received none of the batch", True))
            else:
                outcomes.append(Outcome(gid, True, 200, channel_id=encode_row(schema, row)))
        return outcomes

    def _post_batch(
        self,
        method: str,
        session: Session,
        schema: tuple[str, ...],
        rows: list[tuple[str, list[str]]],
        last: bool,
    ) -> httpx.Response:
        seq = session.seq_for(batch_digest(method, schema, rows))
        self._journal().save()  # the sequence is on disk before the batch leaves
        body = {
            "payload": {"schema": list(schema), "data": [row for _, row in rows]},
            "session": {
                "session_id": session.session_id,
                "batch_seq": seq,
                "last_batch_flag": last,
                "estimated_num_total": max(session.estimated_num_total, len(rows)),
            },
        }
        return self.http.request(
            method, self._path(f"{self.audience_id}/users"), content=orjson.dumps(body)
        )

    def _refused(
        self, response: httpx.Response, rows: list[tuple[str, list[str]]]
    ) -> list[Outcome]:
        error = graph_error(response)
        code = error.get("code") if isinstance(error.get("code"), int) else response.status_code
        if error.get("error_subcode") == BLOCKED_SUBCODE:
            raise TerminalError(
                f"Destination `{self.destination.name}`: Meta blocks uploads to Custom Audience "
                f"{self.audience_id} ({channel_detail(response)}); see the audience in Ads "
                "Manager."
            )
        reason = f"Meta: {error.get('error_user_msg') or channel_detail(response)}"
        transient = code in TRANSIENT_CODES or response.status_code in (408, 409)
        return [Outcome(gid, False, code, reason, transient) for gid, _ in rows]

    def _audiences(self) -> Iterator[dict[str, Any]]:
        """The ad account's Custom Audiences, following `paging.cursors.after` (never the `next`
        URL, which may carry a token)."""
        params: dict[str, str] = {"fields": "id,name", "limit": str(PAGE)}
        while True:
            response = self.http.request(
                "GET", self._path(f"{self.ad_account}/customaudiences"), params=params
            )
            self._expect(response, "list the ad account's Custom Audiences")
            page = response.json()
            yield from page.get("data") or []
            paging = page.get("paging") or {}
            after = (paging.get("cursors") or {}).get("after")
            if not paging.get("next") or not after:
                return
            params = {**params, "after": str(after)}

    def _journal(self) -> SessionJournal:
        if self.journal is None:
            self.journal = SessionJournal(
                self.settings, self.destination.name, str(self.audience_id)
            )
        return self.journal

    def _path(self, rest: str) -> str:
        return f"/{self.version}/{rest}"

    def _missing(self, response: httpx.Response) -> bool:
        return (
            response.status_code == 404
            or graph_error(response).get("error_subcode") == MISSING_SUBCODE
        )

    def _expect(self, response: httpx.Response, doing: str) -> None:
        if response.status_code != 200:
            raise TerminalError(
                f"Destination `{self.destination.name}`: Meta refused to {doing} "
                f"(HTTP {response.status_code}: {channel_detail(response)})."
            )
