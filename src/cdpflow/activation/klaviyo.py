"""The Klaviyo channel: profiles upserted and put on the list by the bulk profile import job,
removed through the list relationship endpoint.

A batch of up to 10,000 people is one import job (`external_id` = global_user_id) whose `lists`
relationship names the destination's list, so Klaviyo adds the profiles it imports to the list
itself: a first sync is one request per 10,000 people (and the job's polls). Once the job is
complete, its import errors (read only when it counts failures) are the people Klaviyo refused,
logged with its detail and not retried until their fields change. Adding a profile already on the
list changes nothing, so a batch repeated after a kill or an Airflow retry never adds anyone
twice. Klaviyo profile ids are needed only to remove: they are looked up by external_id for the
people a run removes (100 per request, the largest page), and recorded on their `removed` rows.
Adding to a list is not a marketing subscription: this channel never calls the subscribe
endpoints.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any

import orjson

from cdpflow.activation.channel import Member, Outcome, Person
from cdpflow.activation.destination import Destination
from cdpflow.activation.http import ChannelHttp, ChannelUnavailable, channel_detail
from cdpflow.errors import TerminalError
from cdpflow.settings import Settings

JSON_API = "application/vnd.api+json"
IMPORT_BATCH = 10_000  # profiles per bulk import job
LIST_BATCH = 1_000  # profile ids per list relationship call
PAGE = 100  # the largest page of profiles and import errors
LOOKUP_BATCH = PAGE  # external ids per profile lookup: one page answers it
JOB_TIMEOUT_SECONDS = 900.0
TRANSIENT = (408, 409, 423, 425)
LOCATION = {"country": "country", "city": "city", "state": "region", "zip": "zip"}


class KlaviyoListMissing(TerminalError):
    """The destination's list is not in the Klaviyo account (and was not to be created)."""


class KlaviyoChannel:
    def __init__(self, destination: Destination, settings: Settings, key: str) -> None:
        self.destination = destination
        self.upsert_batch = IMPORT_BATCH
        self.remove_batch = LIST_BATCH
        self.list_id: str | None = destination.target.get("list_id")
        self.http = ChannelHttp(
            destination.name,
            destination.secret,
            destination.base_url,
            {
                "Authorization": f"Klaviyo-API-Key {key}",
                "revision": settings.klaviyo_revision,
                "accept": JSON_API,
                "content-type": JSON_API,
                "user-agent": "cdpflow",
            },
            attempts=settings.activation_http_attempts,
            max_wait_seconds=settings.activation_max_wait_seconds,
        )

    # -- the target list --------------------------------------------------------------------

    def prepare(self, create: bool) -> None:
        if self.list_id is not None:
            response = self.http.request("GET", f"/api/lists/{self.list_id}")
            if response.status_code == 404:
                raise KlaviyoListMissing(
                    f"Destination `{self.destination.name}`: Klaviyo has no list with id "
                    f"`{self.list_id}` (`list_id` in {self.destination.path})."
                )
            self._expect(response, 200, "read the list")
            return
        name = str(self.destination.target["list"])
        found = next(
            (item["id"] for item in self._pages("/api/lists", {"filter": _equals(name)}, 10)), None
        )
        if found is None and create:
            body = {"data": {"type": "list", "attributes": {"name": name}}}
            response = self.http.request("POST", "/api/lists", content=orjson.dumps(body))
            self._expect(response, 201, "create the list")
            found = response.json()["data"]["id"]
        if found is None:
            raise KlaviyoListMissing(
                f"Destination `{self.destination.name}`: Klaviyo has no list named `{name}` yet."
            )
        self.list_id = found

    def reported_size(self) -> tuple[int, int] | None:
        """The list's profile count as Klaviyo reports it: exact, so (n, n)."""
        try:
            if self.list_id is None:
                self.prepare(create=False)
        except KlaviyoListMissing:
            return None
        response = self.http.request(
            "GET", f"/api/lists/{self.list_id}", params={"additional-fields[list]": "profile_count"}
        )
        self._expect(response, 200, "read the list's profile count")
        count = int(response.json()["data"]["attributes"]["profile_count"])
        return count, count

    def begin(self, action: str, total: int, previous: Mapping[str, Member]) -> None:
        return None  # batches stand alone: nothing to open per action

    # -- adds and updates -------------------------------------------------------------------

    def send(self, action: str, people: list[Person], last: bool) -> list[Outcome]:
        profiles = [{"type": "profile", "attributes": self._attributes(p)} for p in people]
        body = {"data": {"type": "profile-bulk-import-job",
                         "attributes": {"profiles": {"data": profiles}},
                         "relationships": {"lists": {"data": [{"type": "list",
                                                               "id": self.list_id}]}}}}  # fmt: skip
        response = self.http.request(
            "POST", "/api/profile-bulk-import-jobs", content=orjson.dumps(body)
        )
        if response.status_code != 202:
            return self._refused(response, [p.global_user_id for p in people])
        job_id = response.json()["data"]["id"]
        status, job = self._wait(job_id)
        if status != "complete":
            return [
                Outcome(p.global_user_id, False, 202, f"import job {job_id} was {status}", True)
                for p in people
            ]
        rejected: dict[str, str] = {}
        if job.get("failed_count") != 0:  # a count, or null: then read them to know
            path = f"/api/profile-bulk-import-jobs/{job_id}/import-errors"
            for error in self._pages(path, {}, PAGE):
                attributes = error.get("attributes") or {}
                gid = str((attributes.get("original_payload") or {}).get("external_id"))
                rejected[gid] = str(attributes.get("detail") or attributes.get("title"))
        return [
            Outcome(gid, False, 400, rejected[gid]) if gid in rejected else Outcome(gid, True, 202)
            for gid in (p.global_user_id for p in people)
        ]

    def remove(self, members: list[Member], last: bool) -> list[Outcome]:
        """Off the list by profile id, looked up now (a recorded id may belong to a profile
        since merged or deleted); a person Klaviyo has no profile of is not on the list."""
        ids = self._profile_ids([m.global_user_id for m in members])
        pairs = [(gid, pid) for gid, pids in ids.items() for pid in pids]
        outcomes = self._membership("DELETE", pairs)
        for m in members:
            if m.global_user_id not in ids:
                outcomes[m.global_user_id] = Outcome(
                    m.global_user_id, True, 200, "Klaviyo has no profile with this external_id"
                )
        return [outcomes[m.global_user_id] for m in members]

    def close(self) -> None:
        self.http.close()

    # -- helpers ----------------------------------------------------------------------------

    def _attributes(self, person: Person) -> dict[str, Any]:
        fields = person.fields(self.destination.fields)
        attributes: dict[str, Any] = {"external_id": person.global_user_id}
        for name, value in fields.items():
            if name == "phone":
                attributes["phone_number"] = value.replace(" ", "").replace("-", "")
            elif name in LOCATION:
                attributes.setdefault("location", {})[LOCATION[name]] = value
            else:
                attributes[name] = value
        return attributes

    def _profile_ids(self, gids: list[str]) -> dict[str, list[str]]:
        """The Klaviyo profile ids of these external ids (none for a person Klaviyo has no
        profile of; more than one if several profiles carry it)."""
        found: dict[str, list[str]] = {}
        for start in range(0, len(gids), LOOKUP_BATCH):
            chunk = orjson.dumps(gids[start : start + LOOKUP_BATCH]).decode()
            query = {"filter": f"any(external_id,{chunk})", "fields[profile]": "external_id"}
            for profile in self._pages("/api/profiles", query, PAGE):
                external = (profile.get("attributes") or {}).get("external_id")
                if external is not None:
                    found.setdefault(str(external), []).append(profile["id"])
        return found

    def _membership(self, method: str, pairs: list[tuple[str, str]]) -> dict[str, Outcome]:
        """One outcome per person: refused if a call with one of their profile ids was."""
        outcomes: dict[str, Outcome] = {}
        for start in range(0, len(pairs), LIST_BATCH):
            chunk = pairs[start : start + LIST_BATCH]
            body = {"data": [{"type": "profile", "id": pid} for _, pid in chunk]}
            response = self.http.request(
                method,
                f"/api/lists/{self.list_id}/relationships/profiles",
                content=orjson.dumps(body),
            )
            if response.status_code == 204:
                answers = [Outcome(gid, True, 204, channel_id=pid) for gid, pid in chunk]
            else:
                answers = self._refused(response, [gid for gid, _ in chunk])
            for answer in answers:
                if outcomes.get(answer.global_user_id, answer).ok:
                    outcomes[answer.global_user_id] = answer
        return outcomes

    def _wait(self, job_id: str) -> tuple[str, dict[str, Any]]:
        """Poll the import job until it is complete or cancelled: its status and attributes."""
        deadline = time.monotonic() + JOB_TIMEOUT_SECONDS
        pause = 0.05
        while True:
            response = self.http.request("GET", f"/api/profile-bulk-import-jobs/{job_id}")
            self._expect(response, 200, "read the import job")
            attributes = response.json()["data"]["attributes"]
            status = str(attributes["status"])
            if status in ("complete", "cancelled"):
                return status, attributes
            if time.monotonic() > deadline:
                raise ChannelUnavailable(
                    f"Destination `{self.destination.name}`: Klaviyo import job {job_id} still "
                    f"{status} after {JOB_TIMEOUT_SECONDS:.0f}s; re-run to resume."
                )
            self.http.sleep(pause)
            pause = min(pause * 2, 2.0)

    def _pages(self, path: str, params: dict[str, str], size: int) -> Iterator[dict[str, Any]]:
        """Every resource of a collection, following `links.next` cursors."""
        url: str | None = path
        query: dict[str, str] | None = {**params, "page[size]": str(size)}
        while url:
            response = self.http.request("GET", url, params=query)
            self._expect(response, 200, f"read {path.split('?')[0]}")
            page = response.json()
            yield from page.get("data") or []
            url, query = (page.get("links") or {}).get("next"), None

    def _refused(self, response: Any, ids: list[str]) -> list[Outcome]:
        reason = channel_detail(response)
        transient = response.status_code in TRANSIENT
        return [Outcome(gid, False, response.status_code, reason, transient) for gid in ids]

    def _expect(self, response: Any, status: int, doing: str) -> None:
        if response.status_code != status:
            raise TerminalError(
                f"Destination `{self.destination.name}`: Klaviyo refused to {doing} "
                f"(HTTP {response.status_code}: {channel_detail(response)})."
            )


def _equals(name: str) -> str:
    return f"equals(name,{orjson.dumps(name).decode()})"
