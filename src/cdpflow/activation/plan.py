"""What a sync would send, decided without I/O: the segment's people against the members the
channel acknowledged, and the guard against emptying the channel's list.

Its own module because it is the sync's policy (who is added, updated, retried, removed or
skipped, and why) while `sync` is its mechanics (reading the lake, batches, records): the
policy can be read, and tested, without a channel or a lake.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from cdpflow.activation.channel import Member, Person
from cdpflow.activation.destination import Destination
from cdpflow.activation.unchanged import DETAILS
from cdpflow.errors import TerminalError


class MassRemovalRefused(TerminalError):
    def __init__(self, destination: Destination, removes: int, acknowledged: int, why: str) -> None:
        self.removes = removes
        share = removes / acknowledged if acknowledged else 1.0
        self.reason = why
        super().__init__(
            f"Destination `{destination.name}`: refused to remove {removes} of {acknowledged} "
            f"acknowledged members ({share:.0%}): {why}. Nothing was sent. If the segment really "
            f"changed that much, run `cdpflow run {destination.dag_id} --allow-mass-removal` once."
        )


@dataclass
class Plan:
    """What a run would send: people to add, update, remove, and those skipped with why."""

    extracted: int = 0
    acknowledged: int = 0
    adds: list[Person] = field(default_factory=list)
    updates: list[Person] = field(default_factory=list)
    removes: list[Member] = field(default_factory=list)
    replaced: dict[str, Member] = field(default_factory=dict)  # updated people, as acknowledged
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (global_user_id, reason)
    fingerprints: dict[str, str] = field(default_factory=dict)  # of the people to send
    retried: int = 0
    unchanged: int = 0


def _column(rows: pa.Table, name: str | None) -> list[Any]:
    """One column as Python values (all None when segment_members has no such column): column by
    column, so the columns a sync does not use (entered_at's timestamps) are never converted."""
    if name is None or name not in rows.column_names:
        return [None] * rows.num_rows
    return rows[name].to_pylist()


def select_people(
    destination: Destination, rows: pa.Table
) -> tuple[dict[str, Person], list[tuple[str, str]]]:
    """The people to send, by global_user_id, and those skipped with the reason."""
    wanted: dict[str, Person] = {}
    skipped: list[tuple[str, str]] = []
    consent = destination.consent_field
    columns = zip(
        _column(rows, "global_user_id"), _column(rows, consent), _column(rows, "emails"),
        _column(rows, "phones"), *(_column(rows, name) for name in DETAILS), strict=True,
    )  # fmt: skip
    with _no_collection():
        for gid, agreed, emails, phones, *details in columns:
            gid = str(gid)
            if consent and agreed is not True:
                skipped.append((gid, f"no consent ({consent} is not true)"))
                continue
            email = next((e.strip() for e in emails or () if e and e.strip()), None)
            phone = next((p.strip() for p in phones or () if p and p.strip()), None)
            if email is None and phone is None:
                skipped.append((gid, "no email or phone the channel can match"))
                continue
            wanted[gid] = Person(gid, email, phone, *details)
    return wanted, skipped


@contextmanager
def _no_collection() -> Iterator[None]:
    """Build a million people without the cyclic garbage collector rescanning them: the objects
    made here hold no reference cycles, and each collection would walk all of them again."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def plan_sync(
    destination: Destination,
    wanted: dict[str, Person],
    skipped: list[tuple[str, str]],
    state: dict[str, Member],
    extracted: int,
) -> Plan:
    plan = Plan(extracted=extracted, skipped=skipped)
    plan.acknowledged = sum(1 for m in state.values() if m.status == "member")
    with _no_collection():
        for gid, person in wanted.items():
            known = state.get(gid)
            fingerprint = person.fingerprint(destination.fields)
            if known is None:
                plan.adds.append(person)
            elif known.status == "failed" or (
                known.status == "rejected" and known.fingerprint != fingerprint
            ):
                plan.adds.append(person)
                plan.retried += 1
            elif known.status == "member" and known.fingerprint != fingerprint:
                plan.updates.append(person)
                plan.replaced[gid] = known
            else:
                plan.unchanged += 1
                continue
            plan.fingerprints[gid] = fingerprint
    if destination.mode == "mirror":
        plan.removes = [m for gid, m in state.items() if m.status == "member" and gid not in wanted]
    return plan


def guard_removals(destination: Destination, plan: Plan, allow: bool) -> None:
    """Refuse a run that would empty or gut the channel's list unless told once that it may."""
    if not plan.removes or allow:
        return
    if plan.extracted == 0:
        why = (
            f"segment `{destination.segment}` has no members in segment_members (an empty extract)"
        )
        raise MassRemovalRefused(destination, len(plan.removes), plan.acknowledged, why)
    limit = destination.max_removal_share * plan.acknowledged
    if len(plan.removes) > limit:
        why = f"more than max_removal_share ({destination.max_removal_share:g}) of them"
        raise MassRemovalRefused(destination, len(plan.removes), plan.acknowledged, why)
