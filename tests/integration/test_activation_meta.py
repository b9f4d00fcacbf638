"""Activation through the meta_custom_audience channel against the local Graph server, which
enforces the version in the path, the token, hashed values only, schema names, the 10,000-row
limit and session semantics (tests/fakes/meta.py)."""

from __future__ import annotations

import httpx
import orjson
import pytest
from click.testing import CliRunner
from fakes.meta import MetaGraph, meta_server
from support.activation import person, write_segment_members
from support.lake import lake_query

from cdpflow.activation.destination import load_destination, write_destination
from cdpflow.activation.http import CredentialRefused
from cdpflow.activation.job import open_channel, run
from cdpflow.activation.meta import MetaAudienceMissing
from cdpflow.activation.meta_hashing import HEX64, hashed
from cdpflow.activation.plan import MassRemovalRefused
from cdpflow.cli.main import cli
from cdpflow.declared import DeclarationError
from cdpflow.secrets import open_secrets
from cdpflow.settings import Settings, load_settings

TOKEN = "EAAGm0PX4ZCpsBA-test-token-7c1e"
AUDIENCE = "Repeat buyers"


@pytest.fixture
def meta(settings: Settings):
    open_secrets(settings).put("meta_token", TOKEN)
    with meta_server(TOKEN) as graph:
        write_destination(
            settings,
            "vip-meta",
            {"type": "meta_custom_audience", "segment": "lapsed", "ad_account": "act_123",
             "audience": AUDIENCE, "token_secret": "meta_token", "api_base_url": graph.url},
        )  # fmt: skip
        yield graph


def email_hash(n: int) -> str:
    return hashed("EMAIL", f"Person{n}@Example.com")


def members(graph: MetaGraph) -> set[str]:
    return set(graph.audience_named(AUDIENCE).members)


def hashes(numbers) -> set[str]:
    return {email_hash(n) for n in numbers}


def adds(graph: MetaGraph) -> list[str]:
    return [key for op, _, key in graph.applied if op == "add"]


def test_first_sync_creates_the_audience_and_a_second_sends_only_the_difference(settings, meta):
    write_segment_members(settings, [person(n) for n in range(1, 8)])
    first = run(settings, name="vip-meta")
    assert (first.added, first.removed, first.failed) == (7, 0, 0)
    audience = meta.audience_named(AUDIENCE)
    assert audience.customer_file_source == "USER_PROVIDED_ONLY"
    assert members(meta) == hashes(range(1, 8))
    [upload] = meta.uploads
    assert upload["schema"] == ["EMAIL", "PHONE", "FN", "LN", "CT", "ST", "ZIP", "COUNTRY"]
    values = [v for row in upload["rows"] for v in row]
    assert all(v == "" or HEX64.match(v) for v in values)  # nothing raw left the machine
    assert upload["rows"][2][2] == hashed("FN", "First3") and upload["rows"][2][7] == hashed(
        "COUNTRY", "us"
    )
    assert meta.count("POST", "/customaudiences") == 1 and meta.duplicates == 0

    changed = [person(n) for n in range(2, 8)] + [person(8)]  # u1 leaves, u8 enters
    changed[0] = person(2, first_name="Renamed")
    write_segment_members(settings, changed)
    second = run(settings, name="vip-meta")
    assert (second.added, second.updated, second.removed, second.unchanged) == (1, 1, 1, 5)
    assert members(meta) == hashes(range(2, 9))
    posted_u1 = upload["rows"][0]
    [removal] = [u for u in meta.uploads if u["method"] == "DELETE"]
    assert removal["rows"] == [posted_u1]  # removed with exactly the hashes that were added
    assert meta.audience_named(AUDIENCE).members[email_hash(2)][2] == hashed("FN", "Renamed")
    assert meta.count("POST", "/customaudiences") == 1  # found by name, not made again

    before = meta.requests
    third = run(settings, name="vip-meta")
    assert (third.added, third.updated, third.removed) == (0, 0, 0)
    assert meta.requests - before == 1  # only finding the audience by name
    assert meta.tokens_in_urls == 0
    assert TOKEN not in str(lake_query(settings, "select * from activation_log"))
    assert "@" not in str(lake_query(settings, "select channel_id from activation_state"))


def test_every_session_has_sequenced_batches_of_at_most_the_limit_and_ends(
    settings, meta, monkeypatch
):
    monkeypatch.setattr("cdpflow.activation.meta.USERS_BATCH", 4)
    write_segment_members(settings, [person(n) for n in range(1, 11)])
    run(settings, name="vip-meta")
    [session] = meta.sessions.values()
    assert sorted(session.batches) == [1, 2, 3] and session.closed
    assert [len(u["rows"]) for u in meta.uploads] == [4, 4, 2]


def test_an_email_change_retires_the_old_row(settings, meta):
    write_segment_members(settings, [person(n) for n in range(1, 4)])
    run(settings, name="vip-meta")
    write_segment_members(
        settings, [person(1), person(2, emails=["new.address@example.com"]), person(3)]
    )
    result = run(settings, name="vip-meta")
    assert result.updated == 1
    assert members(meta) == hashes([1, 3]) | {hashed("EMAIL", "new.address@example.com")}


def test_an_empty_segment_and_a_half_shrink_are_refused_and_remove_nothing(settings, meta):
    write_segment_members(settings, [person(n) for n in range(1, 11)])
    run(settings, name="vip-meta")
    sent = meta.requests
    write_segment_members(settings, [person(n, segment="other") for n in range(1, 11)])
    with pytest.raises(MassRemovalRefused, match=r"remove 10 of 10 .*empty extract"):
        run(settings, name="vip-meta")
    write_segment_members(settings, [person(n) for n in range(1, 6)])
    with pytest.raises(MassRemovalRefused, match=r"remove 5 of 10 acknowledged members \(50%\)"):
        run(settings, name="vip-meta")
    assert meta.requests == sent and members(meta) == hashes(range(1, 11))
    refused = lake_query(settings, "select status from activation_runs where status = 'refused'")
    assert len(refused) == 2


def test_throttling_and_a_5xx_burst_end_with_everyone_added_exactly_once(
    settings, meta, monkeypatch
):
    monkeypatch.setattr("cdpflow.activation.meta.USERS_BATCH", 3)
    meta.faults = [80003, 429, 503, 613]  # then every 5th request: 80003
    meta.throttle_every = 5
    write_segment_members(settings, [person(n) for n in range(1, 10)])
    result = run(settings, name="vip-meta")
    assert (result.added, result.failed) == (9, 0)
    assert members(meta) == hashes(range(1, 10))
    assert sorted(adds(meta)) == sorted(hashes(range(1, 10)))  # each applied once
    assert meta.duplicates == 0


def test_a_run_killed_mid_way_resumes_its_session_and_adds_nobody_twice(
    settings, meta, monkeypatch
):
    monkeypatch.setattr("cdpflow.activation.meta.USERS_BATCH", 4)
    write_segment_members(settings, [person(n) for n in range(1, 10)])

    def killed(done: int, total: int) -> None:
        if done >= 8:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(settings, name="vip-meta", progress=killed)
    assert members(meta) == hashes(range(1, 9))
    [session] = meta.sessions.values()
    assert not session.closed
    resumed = run(settings, name="vip-meta")
    assert resumed.added == 1
    [same] = meta.sessions.values()  # the killed run's session, continued and ended
    assert sorted(same.batches) == [1, 2, 3] and same.closed
    assert sorted(adds(meta)) == sorted(hashes(range(1, 10)))


def test_a_killed_runs_session_that_meta_ended_is_replaced_by_a_new_one(
    settings, meta, monkeypatch
):
    monkeypatch.setattr("cdpflow.activation.meta.USERS_BATCH", 4)
    write_segment_members(settings, [person(n) for n in range(1, 10)])

    def killed(done: int, total: int) -> None:
        if done >= 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(settings, name="vip-meta", progress=killed)
    [old] = meta.sessions.values()
    old.closed = True  # Meta let the unfinished session go
    resumed = run(settings, name="vip-meta")
    assert (resumed.added, resumed.failed) == (5, 0)
    old_id, new_id = [sid for _, sid in meta.sessions]
    assert old_id != new_id and sorted(meta.sessions[("act_123", new_id)].batches) == [1, 2]
    assert sorted(adds(meta)) == sorted(hashes(range(1, 10)))


def test_a_kill_between_metas_answer_and_the_commit_resends_the_batch_as_the_same_batch(
    settings, meta, monkeypatch
):
    """The batch Meta took but the lake did not record goes again under its batch_seq: Meta
    answers it as already received, and applies nobody twice."""
    monkeypatch.setattr("cdpflow.activation.meta.USERS_BATCH", 4)
    import cdpflow.activation.sync as sync_module

    record = sync_module._record_batch
    calls = []

    def dies_on_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return record(*args, **kwargs)

    monkeypatch.setattr(sync_module, "_record_batch", dies_on_second)
    write_segment_members(settings, [person(n) for n in range(1, 10)])
    with pytest.raises(KeyboardInterrupt):
        run(settings, name="vip-meta")
    monkeypatch.setattr(sync_module, "_record_batch", record)
    resumed = run(settings, name="vip-meta")
    assert resumed.added == 5
    assert meta.duplicates == 1
    assert sorted(adds(meta)) == sorted(hashes(range(1, 10)))
    [session] = meta.sessions.values()
    assert sorted(session.batches) == [1, 2, 3] and session.closed


def test_rejected_rows_are_logged_with_the_reason_and_the_rest_are_added(settings, meta):
    meta.refused_hashes[email_hash(3)] = "the email hash is on a suppression list"
    write_segment_members(
        settings, [person(1), person(2, emails=[], phones=["n/a"]), person(3), person(4)]
    )
    result = run(settings, name="vip-meta")
    assert (result.added, result.failed) == (2, 2)
    assert members(meta) == hashes([1, 4])
    rejected = lake_query(
        settings,
        "select global_user_id, status, response_code, error from activation_log "
        "where status <> 'ok' order by global_user_id",
    )
    assert rejected == [
        {"global_user_id": "u00002", "status": "rejected", "response_code": None,
         "error": "no email or phone left after Meta's normalization (a phone without digits?); "
                  "not sent"},
        {"global_user_id": "u00003", "status": "rejected", "response_code": 200,
         "error": "Meta: invalid entry (the email hash is on a suppression list)"},
    ]  # fmt: skip
    assert run(settings, name="vip-meta").added == 0  # not sent again until their fields change


def test_dry_run_sends_nothing(settings, meta):
    write_segment_members(settings, [person(n) for n in range(1, 4)])
    result = run(settings, name="vip-meta", dry_run=True)
    assert "would add 3" in result.summary()
    assert meta.requests == 0 and not meta.audiences


def test_a_bad_token_is_terminal_and_names_destination_and_secret_never_the_token(settings, meta):
    open_secrets(settings).put("meta_token", "EAAwrong-token-0000")
    write_segment_members(settings, [person(1)])
    with pytest.raises(CredentialRefused) as err:
        run(settings, name="vip-meta")
    message = str(err.value)
    assert "`vip-meta`" in message and "`meta_token`" in message and "code 190" in message
    assert "EAAwrong" not in message and meta.requests == 1
    [row] = lake_query(settings, "select status, error from activation_runs")
    assert row["status"] == "failed" and "EAAwrong" not in row["error"]


def test_reported_size_is_the_audience_approximate_count_bounds(settings, meta):
    write_segment_members(settings, [person(n) for n in range(1, 11)])
    run(settings, name="vip-meta")
    channel = open_channel(load_destination(settings, "vip-meta"), settings)
    try:
        assert channel.reported_size() == (9, 11)
    finally:
        channel.close()


def test_the_graph_version_is_the_one_setting(tmp_path, meta):
    settings = load_settings(env={"CDPFLOW_META_GRAPH_API_VERSION": "v24.0"}, home=tmp_path)
    open_secrets(settings).put("meta_token", TOKEN)
    write_destination(
        settings,
        "vip-meta",
        {"type": "meta_custom_audience", "segment": "lapsed", "ad_account": "act_123",
         "token_secret": "meta_token", "api_base_url": meta.url},
    )  # fmt: skip
    write_segment_members(settings, [person(1)])
    assert run(settings, name="vip-meta").added == 1
    assert meta.calls and all(path.startswith("/v24.0/") for _, path in meta.calls)
    assert meta.audience_named("lapsed")  # named after the segment by default


def test_an_audience_id_meta_does_not_have_fails_naming_the_key(settings, meta):
    write_destination(
        settings,
        "by-id",
        {"type": "meta_custom_audience", "segment": "lapsed", "ad_account": "act_123",
         "audience_id": "99999", "token_secret": "meta_token", "api_base_url": meta.url},
    )  # fmt: skip
    write_segment_members(settings, [person(1)])
    with pytest.raises(MetaAudienceMissing, match=r"`99999`.*audience_id"):
        run(settings, name="by-id")


def test_the_fake_refuses_what_meta_refuses(meta):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=meta.url, headers=auth) as client:

        def code(response: httpx.Response) -> int:
            return response.json()["error"]["code"]

        assert code(client.get("/act_123/customaudiences")) == 2500  # no version
        assert code(client.get("/v12.0/act_123/customaudiences")) == 2635
        assert (
            code(client.get("/v25.0/act_123/customaudiences", headers={"Authorization": ""})) == 104
        )
        assert (
            code(
                client.get("/v25.0/act_123/customaudiences", headers={"Authorization": "Bearer x"})
            )
            == 190
        )
        made = client.post(
            "/v25.0/act_123/customaudiences",
            json={"name": "A", "subtype": "CUSTOM", "customer_file_source": "USER_PROVIDED_ONLY"},
        )
        audience = made.json()["id"]
        no_source = client.post(
            "/v25.0/act_123/customaudiences", json={"name": "B", "subtype": "CUSTOM"}
        )
        assert code(no_source) == 100

        def users(rows, schema=("EMAIL",), session=None, method="POST"):
            body = {"payload": {"schema": list(schema), "data": rows}}
            if session:
                body["session"] = session
            return client.request(method, f"/v25.0/{audience}/users", content=orjson.dumps(body),
                                  headers={"content-type": "application/json"})  # fmt: skip

        raw = users([["person1@example.com"], [hashed("EMAIL", "a@b.co")]])
        assert raw.status_code == 200 and raw.json()["num_invalid_entries"] == 1
        assert "not a SHA-256 hash" in raw.json()["invalid_entry_samples"]["person1@example.com"]
        assert len(meta.audiences[audience].members) == 1  # only the hashed one
        assert code(users([[hashed("EMAIL", "a@b.co")]] * 10_001)) == 100
        assert code(users([[hashed("EMAIL", "a@b.co"), ""]])) == 100  # longer than the schema
        assert code(users([[""]], schema=("E-MAIL",))) == 100
        session = {"session_id": 42, "batch_seq": 2, "last_batch_flag": False,
                   "estimated_num_total": 2}  # fmt: skip
        late = users([[hashed("EMAIL", "c@d.co")]], session=session)
        assert (code(late), late.json()["error"]["error_subcode"]) == (2650, 1870147)
        first = users([[hashed("EMAIL", "c@d.co")]], session={**session, "batch_seq": 1})
        assert first.status_code == 200 and first.json()["session_id"] == "42"
        again = users([[hashed("EMAIL", "c@d.co")]], session={**session, "batch_seq": 1})
        assert again.json() == first.json() and meta.duplicates == 1
        other = users([[hashed("EMAIL", "e@f.co")]], session={**session, "batch_seq": 1})
        assert code(other) == 100
        wrong_method = users([[hashed("EMAIL", "e@f.co")]], session={**session, "batch_seq": 2},
                             method="DELETE")  # fmt: skip
        assert code(wrong_method) == 100
        end = {**session, "batch_seq": 2, "last_batch_flag": True}
        assert users([[hashed("EMAIL", "e@f.co")]], session=end).status_code == 200
        after = users([[hashed("EMAIL", "g@h.co")]], session={**end, "batch_seq": 3})
        assert code(after) == 2650
        meta.audiences[audience].operation_status = 471
        blocked = users([[hashed("EMAIL", "i@j.co")]])
        assert blocked.json()["error"]["error_subcode"] == 1713230


def test_the_readme_command_adds_a_meta_destination_and_syncs_it(settings):
    open_secrets(settings).put("meta_token", TOKEN)
    env = {"CDPFLOW_HOME": str(settings.home)}
    with meta_server(TOKEN) as graph:
        added = CliRunner().invoke(
            cli,
            ["destination", "add", "vip-meta", "--type", "meta_custom_audience",
             "--segment", "repeat_buyers", "--ad-account", "act_123",
             "--token-secret", "meta_token", "--api-base-url", graph.url],
            env=env,
        )  # fmt: skip
        assert added.exit_code == 0, added.output
        assert "cdpflow secrets set meta_token" in added.output
        write_segment_members(settings, [person(n, segment="repeat_buyers") for n in range(1, 4)])
        synced = CliRunner().invoke(cli, ["run", "activation_vip-meta"], env=env)
        assert synced.exit_code == 0, synced.output
        assert set(graph.audience_named("repeat_buyers").members) == hashes(range(1, 4))


def test_a_meta_destination_file_is_checked_key_by_key(settings):
    base = {"type": "meta_custom_audience", "segment": "lapsed", "token_secret": "t"}
    with pytest.raises(DeclarationError) as err:
        write_destination(settings, "m", {**base, "ad_account": "123"})
    assert err.value.key == "ad_account" and "act_123" in str(err.value)
    with pytest.raises(DeclarationError) as err:
        write_destination(settings, "m", {**base, "ad_account": "act_1", "audience": "A",
                                          "audience_id": "1"})  # fmt: skip
    assert err.value.key == "audience"
    with pytest.raises(DeclarationError) as err:
        write_destination(settings, "m", {**base, "ad_account": "act_1", "fields": ["first_name"]})
    assert err.value.key == "fields"
    with pytest.raises(DeclarationError) as err:
        write_destination(settings, "m", {**base, "ad_account": "act_1",
                                          "customer_file_source": "SCRAPED"})  # fmt: skip
    assert err.value.key == "customer_file_source"
