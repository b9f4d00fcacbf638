"""activation_stats against the local Klaviyo server and a local SMTP server: the day's rows,
drift between what cdpflow acknowledged and the list's profile count, failing destinations, and
one e-mail about them."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from fakes.klaviyo import klaviyo_server
from fakes.smtp import smtp_inbox
from support.activation import person, write_segment_members
from support.lake import lake_query

from cdpflow.activation.destination import write_destination
from cdpflow.activation.http import CredentialRefused
from cdpflow.activation.job import run as sync
from cdpflow.jobs import JOBS, Interval
from cdpflow.jobs.activation_stats import run
from cdpflow.secrets import open_secrets

KEY = "pk_live_3c1d9a7b5e"


@pytest.fixture
def setup(settings):
    open_secrets(settings).put("klaviyo_key", KEY)
    open_secrets(settings).put("old_key", "pk_revoked_1")
    with klaviyo_server(KEY) as account, smtp_inbox() as inbox:
        for name, secret in (("vip-klaviyo", "klaviyo_key"), ("old-klaviyo", "old_key")):
            write_destination(
                settings,
                name,
                {"type": "klaviyo", "segment": "lapsed", "list": f"List {name}",
                 "key_secret": secret, "api_base_url": account.url},
            )  # fmt: skip
        configured = replace(
            settings, smtp_host="127.0.0.1", smtp_port=inbox.port,
            airflow_dag_failed_email="ops@example.com",
        )  # fmt: skip
        yield configured, account, inbox


def today() -> Interval:
    now = datetime.now(UTC)
    return Interval(now.replace(hour=0, minute=0, second=0, microsecond=0))


def stats(settings) -> list[dict]:
    return lake_query(settings, "select * from activation_stats order by day, destination")


def test_a_healthy_day_is_ok_and_injected_drift_and_a_failing_destination_are_emailed_once(
    setup,
):
    settings, account, inbox = setup
    write_segment_members(settings, [person(n) for n in range(1, 7)])
    sync(settings, name="vip-klaviyo")
    write_segment_members(settings, [person(n) for n in range(1, 6)])  # u6 leaves
    assert sync(settings, name="vip-klaviyo").removed == 1

    first = run(settings, today())
    row = next(r for r in first.rows if r["destination"] == "vip-klaviyo")
    assert (row["runs"], row["added"], row["removed"], row["acknowledged"]) == (2, 6, 1, 5)
    assert (row["reported_low"], row["reported_high"], row["drift"]) == (5, 5, 0)
    assert row["status"] == "ok"
    idle = next(r for r in first.rows if r["destination"] == "old-klaviyo")
    assert idle["runs"] == 0 and idle["status"] == "ok"  # not run today: nothing to flag
    assert inbox.messages == []

    # someone removes two profiles from the list in Klaviyo; the old key is revoked
    vip = account.lists[account.list_named("List vip-klaviyo")]["members"]
    for profile_id in list(vip)[:2]:
        del vip[profile_id]
    with pytest.raises(CredentialRefused):
        sync(settings, name="old-klaviyo")

    again = run(settings, today())
    rows = {r["destination"]: r for r in stats(settings)}
    assert len(stats(settings)) == 2  # the day's rows were replaced, not appended
    assert (rows["vip-klaviyo"]["status"], rows["vip-klaviyo"]["drift"]) == ("drift", -2)
    assert (rows["old-klaviyo"]["status"], rows["old-klaviyo"]["runs"]) == ("failing", 1)
    assert "credential" in rows["old-klaviyo"]["note"]
    assert again.alerted == "ops@example.com"
    assert len(inbox.messages) == 1
    recipients, message = inbox.messages[0]
    assert recipients == ["ops@example.com"]
    body = message.get_content()
    assert "2 destination(s)" in message["Subject"]
    assert (
        "vip-klaviyo (klaviyo): drift -2: cdpflow acknowledged 5 members, the channel reports 3"
        in body
    )
    assert "old-klaviyo (klaviyo): failing: all 1 run(s) of the day failed" in body
    assert "pk_revoked_1" not in body and KEY not in body


def test_a_past_day_counts_from_the_records_without_asking_the_channel(setup):
    settings, account, _ = setup
    write_segment_members(settings, [person(n) for n in range(1, 4)])
    sync(settings, name="vip-klaviyo")
    before = account.requests
    later = datetime.now(UTC) + timedelta(days=5)
    result = run(settings, today(), now=later)
    row = next(r for r in result.rows if r["destination"] == "vip-klaviyo")
    assert (row["acknowledged"], row["reported_low"], row["status"]) == (3, None, "ok")
    assert "past" in row["note"] and account.requests == before
    assert "activation_stats" in JOBS
