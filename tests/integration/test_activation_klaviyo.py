"""Activation through the klaviyo channel against the local Klaviyo server, which enforces the
API's auth format, revision header, JSON:API types and batch sizes (tests/fakes/klaviyo.py)."""

from __future__ import annotations

import httpx
import orjson
import pytest
from click.testing import CliRunner
from fakes.klaviyo import KlaviyoAccount, klaviyo_server
from support.activation import person, write_segment_members
from support.lake import lake_query

from cdpflow.activation.destination import load_destination, write_destination
from cdpflow.activation.http import CredentialRefused
from cdpflow.activation.job import open_channel, run
from cdpflow.activation.plan import MassRemovalRefused
from cdpflow.cli.main import cli
from cdpflow.declared import DeclarationError
from cdpflow.secrets import open_secrets
from cdpflow.settings import Settings

KEY = "pk_live_3c1d9a7b5e"


@pytest.fixture
def klaviyo(settings: Settings):
    open_secrets(settings).put("klaviyo_key", KEY)
    with klaviyo_server(KEY) as account:
        write_destination(
            settings,
            "vip-klaviyo",
            {"type": "klaviyo", "segment": "lapsed", "list": "Repeat buyers",
             "key_secret": "klaviyo_key", "api_base_url": account.url},
        )  # fmt: skip
        yield account


def members(account: KlaviyoAccount) -> set[str]:
    return account.members(account.list_named("Repeat buyers"))


def ids(numbers) -> set[str]:
    return {f"u{n:05d}" for n in numbers}


def test_first_sync_creates_the_list_and_a_second_sends_only_the_difference(settings, klaviyo):
    write_segment_members(settings, [person(n) for n in range(1, 8)])
    first = run(settings, name="vip-klaviyo")
    assert (first.added, first.removed, first.failed) == (7, 0, 0)
    assert members(klaviyo) == ids(range(1, 8))
    assert klaviyo.count("POST", "/api/lists") == 1  # created once; the import job joins it
    assert klaviyo.requests == 1 + 1 + 1 + 2  # find, create the list; the import job; 2 polls
    profile = next(p for p in klaviyo.profiles.values() if p["external_id"] == "u00003")
    assert profile["email"] == "Person3@Example.com" and profile["location"] == {"country": "US"}

    imports = klaviyo.count("POST", "/api/profile-bulk-import-jobs")
    changed = [person(n) for n in range(2, 8)] + [person(8)]  # u1 leaves, u8 enters
    changed[0] = person(2, first_name="Renamed")
    write_segment_members(settings, changed)
    second = run(settings, name="vip-klaviyo")
    assert (second.added, second.updated, second.removed, second.unchanged) == (1, 1, 1, 5)
    assert members(klaviyo) == ids(range(2, 9))
    assert klaviyo.count("POST", "/api/profile-bulk-import-jobs") == imports + 2  # add, update
    renamed = next(p for p in klaviyo.profiles.values() if p["external_id"] == "u00002")
    assert renamed["first_name"] == "Renamed"
    assert klaviyo.count("DELETE", "/api/lists/") == 1
    assert klaviyo.count("GET", "/api/profiles") == 1  # u1's profile id, looked up to remove
    assert klaviyo.count("POST", "/api/lists") == 1  # the list is found by name, not re-made
    u1 = klaviyo.index[("external_id", "u00001")]
    assert u1 in klaviyo.profiles  # off the list, not deleted

    before = klaviyo.requests
    third = run(settings, name="vip-klaviyo")
    assert (third.added, third.updated, third.removed) == (0, 0, 0)
    assert klaviyo.requests - before == 1  # only finding the list by name
    assert KEY not in str(lake_query(settings, "select * from activation_log"))


def test_an_empty_segment_and_a_half_shrink_are_refused_and_remove_nothing(settings, klaviyo):
    write_segment_members(settings, [person(n) for n in range(1, 11)])
    run(settings, name="vip-klaviyo")
    sent = klaviyo.requests
    write_segment_members(settings, [person(n, segment="other") for n in range(1, 11)])
    with pytest.raises(MassRemovalRefused, match=r"remove 10 of 10 .*empty extract"):
        run(settings, name="vip-klaviyo")
    write_segment_members(settings, [person(n) for n in range(1, 6)])
    with pytest.raises(MassRemovalRefused, match=r"remove 5 of 10 acknowledged members \(50%\)"):
        run(settings, name="vip-klaviyo")
    assert klaviyo.requests == sent and members(klaviyo) == ids(range(1, 11))


def test_throttling_and_a_5xx_burst_end_with_everyone_added_exactly_once(settings, klaviyo):
    klaviyo.faults = [429, 503, 502, 500, 429]
    klaviyo.throttle_every = 4
    write_segment_members(settings, [person(n) for n in range(1, 10)])
    result = run(settings, name="vip-klaviyo")
    assert (result.added, result.failed) == (9, 0)
    assert members(klaviyo) == ids(range(1, 10))
    joined = [p for _, p in klaviyo.joined]
    assert len(joined) == len(set(joined)) == 9


def test_a_run_killed_mid_way_resumes_and_adds_nobody_twice(settings, klaviyo, monkeypatch):
    monkeypatch.setattr("cdpflow.activation.klaviyo.IMPORT_BATCH", 4)
    write_segment_members(settings, [person(n) for n in range(1, 10)])

    def killed(done: int, total: int) -> None:
        if done >= 8:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(settings, name="vip-klaviyo", progress=killed)
    assert members(klaviyo) == ids(range(1, 9))
    imports = klaviyo.count("POST", "/api/profile-bulk-import-jobs")
    resumed = run(settings, name="vip-klaviyo")
    assert resumed.added == 1
    assert klaviyo.count("POST", "/api/profile-bulk-import-jobs") == imports + 1
    assert members(klaviyo) == ids(range(1, 10))
    assert len(klaviyo.joined) == 9


def test_a_profile_klaviyo_rejects_is_logged_with_its_reason_and_the_rest_are_added(
    settings, klaviyo
):
    write_segment_members(settings, [person(1), person(2, emails=["not-an-email"]), person(3)])
    result = run(settings, name="vip-klaviyo")
    assert (result.added, result.failed) == (2, 1)
    assert members(klaviyo) == {"u00001", "u00003"}
    rejected = lake_query(
        settings,
        "select global_user_id, status, response_code, error from activation_log "
        "where status <> 'ok'",
    )
    assert rejected == [
        {"global_user_id": "u00002", "status": "rejected", "response_code": 400,
         "error": "Invalid email address: not-an-email"}
    ]  # fmt: skip
    assert run(settings, name="vip-klaviyo").added == 0  # not retried until the email changes
    write_segment_members(settings, [person(1), person(2, emails=["fixed@example.com"]), person(3)])
    retried = run(settings, name="vip-klaviyo")
    assert (retried.added, retried.retried, retried.failed) == (1, 1, 0)
    assert members(klaviyo) == {"u00001", "u00002", "u00003"}


def test_a_removed_person_klaviyo_has_no_profile_of_counts_as_removed(settings, klaviyo):
    write_segment_members(settings, [person(n) for n in range(1, 11)])
    run(settings, name="vip-klaviyo")
    gone = klaviyo.index.pop(("external_id", "u00001"))  # deleted in Klaviyo meanwhile
    klaviyo.profiles.pop(gone)
    klaviyo.lists[klaviyo.list_named("Repeat buyers")]["members"].pop(gone)
    write_segment_members(settings, [person(n) for n in range(2, 11)])
    result = run(settings, name="vip-klaviyo")
    assert (result.removed, result.failed) == (1, 0)
    assert klaviyo.count("DELETE", "/api/lists/") == 0  # nothing left to take off the list
    logged = lake_query(
        settings, "select status, error from activation_log where action = 'remove'"
    )
    assert logged == [{"status": "ok", "error": "Klaviyo has no profile with this external_id"}]
    assert run(settings, name="vip-klaviyo").removed == 0  # not tried again


def test_dry_run_sends_nothing(settings, klaviyo):
    write_segment_members(settings, [person(n) for n in range(1, 4)])
    result = run(settings, name="vip-klaviyo", dry_run=True)
    assert "would add 3" in result.summary()
    assert klaviyo.requests == 0 and not klaviyo.lists


def test_a_wrong_key_is_terminal_and_names_destination_and_secret_never_the_key(settings, klaviyo):
    open_secrets(settings).put("klaviyo_key", "pk_wrong_000")
    write_segment_members(settings, [person(1)])
    with pytest.raises(CredentialRefused) as err:
        run(settings, name="vip-klaviyo")
    message = str(err.value)
    assert "`vip-klaviyo`" in message and "`klaviyo_key`" in message
    assert "pk_wrong_000" not in message and klaviyo.requests == 1


def test_reported_size_is_the_list_profile_count(settings, klaviyo):
    write_segment_members(settings, [person(n) for n in range(1, 6)])
    run(settings, name="vip-klaviyo")
    channel = open_channel(load_destination(settings, "vip-klaviyo"), settings)
    try:
        assert channel.reported_size() == (5, 5)
    finally:
        channel.close()


def test_the_fake_refuses_what_klaviyo_refuses(klaviyo):
    headers = {"Authorization": f"Klaviyo-API-Key {KEY}", "revision": "2026-07-15",
               "content-type": "application/vnd.api+json"}  # fmt: skip
    with httpx.Client(base_url=klaviyo.url, headers=headers) as client:
        assert (
            client.get("/api/lists", headers={"Authorization": f"Bearer {KEY}"}).status_code == 401
        )
        assert client.get("/api/lists", headers={"revision": "2019-01-01"}).status_code == 400
        assert client.get("/api/lists", params={"page[size]": "11"}).status_code == 400
        wrong_type = client.post(
            "/api/lists",
            content=orjson.dumps({"data": {"type": "lists", "attributes": {"name": "x"}}}),
        )
        assert wrong_type.status_code == 409
        assert wrong_type.json()["errors"][0]["source"] == {"pointer": "/data/type"}
        made = client.post(
            "/api/lists",
            content=orjson.dumps({"data": {"type": "list", "attributes": {"name": "x"}}}),
        )
        list_id = made.json()["data"]["id"]
        too_many = {"data": [{"type": "profile", "id": f"P{n}"} for n in range(1001)]}
        refused = client.post(
            f"/api/lists/{list_id}/relationships/profiles", content=orjson.dumps(too_many)
        )
        assert refused.status_code == 400 and "1000" in refused.json()["errors"][0]["detail"]
        profiles = [
            {"type": "profile", "attributes": {"email": f"a{n}@x.com"}} for n in range(10_001)
        ]
        job = {
            "data": {
                "type": "profile-bulk-import-job",
                "attributes": {"profiles": {"data": profiles}},
            }
        }
        assert (
            client.post("/api/profile-bulk-import-jobs", content=orjson.dumps(job)).status_code
            == 400
        )

        def onto(*refs: object) -> bytes:
            one = [{"type": "profile", "attributes": {"email": "b@x.com", "external_id": "b"}}]
            return orjson.dumps(
                {"data": {"type": "profile-bulk-import-job",
                          "attributes": {"profiles": {"data": one}},
                          "relationships": {"lists": {"data": list(refs)}}}}
            )  # fmt: skip

        for refs, status, pointer in (
            ([{"type": "list", "id": "NOPE"}], 404, None),
            ([{"type": "lists", "id": list_id}], 409, "/data/relationships/lists/data/0/type"),
            ([{"type": "list"}], 400, "/data/relationships/lists/data/0/id"),
        ):
            refused = client.post("/api/profile-bulk-import-jobs", content=onto(*refs))
            assert refused.status_code == status
            assert refused.json()["errors"][0].get("source", {}).get("pointer") == pointer
        assert not klaviyo.profiles and not klaviyo.lists[list_id]["members"]  # nothing applied
        assert (
            client.post(
                "/api/profile-bulk-import-jobs", content=onto({"type": "list", "id": list_id})
            ).status_code
            == 202
        )
        assert klaviyo.members(list_id) == {"b"}

        def find(wanted: str, size: str = "100") -> httpx.Response:
            return client.get("/api/profiles", params={"filter": wanted, "page[size]": size})

        found = find('any(external_id,["b","missing"])')
        assert [p["attributes"]["external_id"] for p in found.json()["data"]] == ["b"]
        assert find("equals(email,'b@x.com')").json()["data"] == found.json()["data"]
        assert find('any(external_id,["b"])', size="101").status_code == 400
        assert find('any(first_name,["b"])').status_code == 400  # not a filterable field
        assert find("any(external_id,b)").status_code == 400  # not a list


def test_the_commands_of_the_readme_add_a_klaviyo_destination_and_sync_it(settings):
    open_secrets(settings).put("klaviyo_key", KEY)
    env = {"CDPFLOW_HOME": str(settings.home)}
    with klaviyo_server(KEY) as account:
        added = CliRunner().invoke(
            cli,
            ["destination", "add", "vip-klaviyo", "--type", "klaviyo", "--segment", "lapsed",
             "--list", "Repeat buyers", "--key-secret", "klaviyo_key",
             "--api-base-url", account.url],
            env=env,
        )  # fmt: skip
        assert added.exit_code == 0, added.output
        assert "cdpflow secrets set klaviyo_key" in added.output
        write_segment_members(settings, [person(n) for n in range(1, 4)])
        synced = CliRunner().invoke(cli, ["run", "activation_vip-klaviyo"], env=env)
        assert synced.exit_code == 0, synced.output
        assert account.members(account.list_named("Repeat buyers")) == ids(range(1, 4))


def test_a_klaviyo_destination_must_name_its_list_once(settings):
    both = {"type": "klaviyo", "segment": "lapsed", "key_secret": "k", "list": "A", "list_id": "X"}
    with pytest.raises(DeclarationError) as err:
        write_destination(settings, "vip", both)
    assert err.value.key == "list" and "list_id" in str(err.value)
    neither = {"type": "klaviyo", "segment": "lapsed", "key_secret": "k"}
    with pytest.raises(DeclarationError):
        write_destination(settings, "vip", neither)
