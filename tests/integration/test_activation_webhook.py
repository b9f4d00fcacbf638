"""Activation through the webhook channel against a local receiver that checks signatures:
the sync's diff, guards, retries, resumption and records, as a user sees them."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from fakes.webhook import Receiver, webhook_receiver
from support.activation import person, write_segment_members
from support.lake import lake_query

from cdpflow.activation.destination import write_destination
from cdpflow.activation.http import CredentialRefused
from cdpflow.activation.job import run
from cdpflow.activation.plan import MassRemovalRefused
from cdpflow.cli.main import cli
from cdpflow.secrets import open_secrets
from cdpflow.settings import Settings

SECRET = "whsec_live_9f8e7d"


@pytest.fixture
def receiver(settings: Settings):
    open_secrets(settings).put("hook_key", SECRET)
    with webhook_receiver(SECRET) as receiver:
        write_destination(
            settings,
            "crm-hook",
            {"type": "webhook", "segment": "lapsed", "url": receiver.url, "secret": "hook_key",
             "batch_size": 3, "consent_field": "consent"},
        )  # fmt: skip
        yield receiver


def runs(settings: Settings) -> list[dict]:
    return lake_query(settings, "select * from activation_runs order by started_at")


def test_first_sync_then_a_second_sends_only_entries_exits_and_changes(settings, receiver):
    write_segment_members(settings, [person(n) for n in range(1, 8)])
    first = run(settings, name="crm-hook")
    assert (first.added, first.removed) == (7, 0)
    assert len(receiver.batches) == 3  # batch_size 3: 3 + 3 + 1
    assert receiver.members() == {f"u{n:05d}" for n in range(1, 8)}

    sent = len(receiver.batches)
    changed = [person(n) for n in range(2, 8)] + [person(8)]  # u1 leaves, u8 enters
    changed[0] = person(2, first_name="Renamed")
    write_segment_members(settings, changed)
    second = run(settings, name="crm-hook")
    assert (second.added, second.updated, second.removed, second.unchanged) == (1, 1, 1, 5)
    new = receiver.batches[sent:]
    assert [(b["action"], [p["global_user_id"] for p in b["people"]]) for b in new] == [
        ("add", ["u00008"]),
        ("update", ["u00002"]),
        ("remove", ["u00001"]),
    ]  # adds before removes
    assert new[1]["people"][0]["first_name"] == "Renamed"

    third = run(settings, name="crm-hook")
    assert (third.added, third.updated, third.removed) == (0, 0, 0)
    assert [r["status"] for r in runs(settings)] == ["succeeded"] * 3
    assert SECRET not in str(lake_query(settings, "select * from activation_log"))


def test_an_empty_segment_and_a_half_shrink_are_refused_and_remove_nothing(settings, receiver):
    write_segment_members(settings, [person(n) for n in range(1, 11)])
    run(settings, name="crm-hook")
    sent = receiver.requests
    write_segment_members(settings, [person(n, segment="other") for n in range(1, 11)])
    with pytest.raises(MassRemovalRefused, match=r"remove 10 of 10 .*empty extract"):
        run(settings, name="crm-hook")
    write_segment_members(settings, [person(n) for n in range(1, 6)])
    with pytest.raises(MassRemovalRefused) as err:
        run(settings, name="crm-hook")
    assert "refused to remove 5 of 10 acknowledged members (50%)" in str(err.value)
    assert "cdpflow run activation_crm-hook --allow-mass-removal" in str(err.value)
    assert receiver.requests == sent  # nothing at all was sent
    assert [r["status"] for r in runs(settings)][-2:] == ["refused", "refused"]

    allowed = run(settings, name="crm-hook", allow_mass_removal=True)
    assert allowed.removed == 5 and len(receiver.members()) == 5


def test_people_without_address_or_consent_are_skipped_and_logged(settings, receiver):
    write_segment_members(
        settings,
        [person(1), person(2, emails=[], phones=[]), person(3, consent=None),
         person(4, emails=[], phones=["+1 415 555 0100"])],
    )  # fmt: skip
    result = run(settings, name="crm-hook")
    assert (result.added, result.skipped) == (2, 2)
    assert receiver.members() == {"u00001", "u00004"}
    skipped = lake_query(
        settings,
        "select global_user_id, error from activation_log where action = 'skip' order by 1",
    )
    assert skipped == [
        {"global_user_id": "u00002", "error": "no email or phone the channel can match"},
        {"global_user_id": "u00003", "error": "no consent (consent is not true)"},
    ]


def test_throttling_and_a_5xx_burst_end_with_everyone_acknowledged_once(settings, receiver):
    receiver.faults = [429, 503, 502, 500, 429]
    write_segment_members(settings, [person(n) for n in range(1, 10)])
    result = run(settings, name="crm-hook")
    assert result.added == 9
    delivered = [p["global_user_id"] for b in receiver.batches for p in b["people"]]
    assert sorted(delivered) == [f"u{n:05d}" for n in range(1, 10)]
    assert receiver.requests == 3 + 5


def test_a_run_killed_mid_way_resumes_without_sending_a_batch_twice(settings, receiver):
    write_segment_members(settings, [person(n) for n in range(1, 10)])

    def killed(done: int, total: int) -> None:
        if done >= 6:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(settings, name="crm-hook", progress=killed)
    assert receiver.requests == 2
    resumed = run(settings, name="crm-hook")
    assert resumed.added == 3 and receiver.requests == 3
    assert [r["status"] for r in runs(settings)] == ["succeeded"]  # a kill records no run


def test_a_refused_batch_is_logged_with_the_reason_and_retried_once_its_fields_change(
    settings, receiver
):
    receiver.refuse_email = "Person2@Example.com"
    write_segment_members(settings, [person(1), person(2), person(3), person(4)])
    result = run(settings, name="crm-hook")
    assert (result.added, result.failed) == (1, 3)  # the batch of u1..u3 was refused
    rejected = lake_query(
        settings,
        "select distinct status, response_code, error from activation_log "
        "where status = 'rejected'",
    )
    assert rejected == [
        {"status": "rejected", "response_code": 422, "error": "Person2@Example.com is blocked"}
    ]
    assert run(settings, name="crm-hook").added == 0  # refused for good: not sent again as is
    write_segment_members(
        settings, [person(1), person(2, emails=["p2@example.com"]), person(3), person(4)]
    )
    again = run(settings, name="crm-hook")
    assert again.added == 1 and again.retried == 1


def test_a_wrong_secret_fails_at_once_naming_destination_and_secret_not_its_value(
    settings, receiver
):
    open_secrets(settings).put("hook_key", "not-the-secret")
    write_segment_members(settings, [person(1)])
    with pytest.raises(CredentialRefused) as err:
        run(settings, name="crm-hook")
    assert "`crm-hook`" in str(err.value) and "`hook_key`" in str(err.value)
    assert "not-the-secret" not in str(err.value) and receiver.requests == 1


def test_dry_run_prints_the_plan_and_sends_nothing(settings, receiver: Receiver):
    write_segment_members(settings, [person(n) for n in range(1, 4)])
    env = {"CDPFLOW_HOME": str(settings.home)}
    result = CliRunner().invoke(cli, ["run", "activation_crm-hook", "--dry-run"], env=env)
    assert result.exit_code == 0, result.output
    assert "would add 3, update 0, remove 0" in result.output
    assert "add: u00001, u00002, u00003" in result.output
    assert receiver.requests == 0
    assert "activation_runs" not in lake_query(settings, "show tables").__repr__()
