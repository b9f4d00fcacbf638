"""What the sync asks of every channel, and what it gets back per person."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson


@dataclass(frozen=True, slots=True)
class Person:
    """One member of a segment as a channel may receive them: the first email and phone, and
    the name and address fields segment_members has (city, state, zip when it carries them)."""

    global_user_id: str
    email: str | None
    phone: str | None
    first_name: str | None = None
    last_name: str | None = None
    country: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None

    def fields(self, chosen: tuple[str, ...]) -> dict[str, Any]:
        values = {}
        for name in chosen:  # one getattr per field: this runs for every person of a segment
            value = getattr(self, name)
            if value is not None:
                values[name] = value
        return values

    def fingerprint(self, chosen: tuple[str, ...]) -> str:
        """Changes when a field sent changes: an update is due."""
        return hashlib.sha256(
            orjson.dumps(self.fields(chosen), option=orjson.OPT_SORT_KEYS)
        ).hexdigest()[:32]

    def identity_hash(self) -> str:
        """The identity the channel matched, hashed (the lake keeps no contact data of its own)."""
        text = f"{self.email or ''}|{self.phone or ''}"
        return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Member:
    """A person the channel acknowledged, as activation_state remembers them."""

    global_user_id: str
    identity_hash: str
    channel_id: str
    fingerprint: str
    status: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """The channel's answer for one person: acknowledged, or refused with its reason;
    `transient` refusals are retried next run, the others once the person's fields change."""

    global_user_id: str
    ok: bool
    code: int | None = None
    error: str = ""
    transient: bool = False
    channel_id: str = ""


class Channel(Protocol):
    """A channel client for one destination. `send` adds or updates people (the channel may
    treat both as an upsert), `remove` takes members out of the list or audience; both answer
    per person, or raise for the whole call (credentials, retries exhausted)."""

    upsert_batch: int
    remove_batch: int

    def prepare(self, create: bool) -> None:
        """Find the target (list, audience); create it when missing and `create`."""

    def begin(self, action: str, total: int, previous: Mapping[str, Member]) -> None:
        """Called before the batches of an action (`add`, `update`, `remove`) with how many
        people it has and, for updates, the members as last acknowledged (a channel that
        matches on hashes of the fields sent, like Meta, needs the row it sent before)."""

    def send(self, action: str, people: list[Person], last: bool) -> list[Outcome]: ...

    def remove(self, members: list[Member], last: bool) -> list[Outcome]: ...

    def reported_size(self) -> tuple[int, int] | None:
        """(low, high) bounds of the members the channel itself reports, when it does: an
        exact count is (n, n), an approximate one its bounds; None when it reports nothing."""

    def close(self) -> None: ...
