from __future__ import annotations

import gzip
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from cdpflow.collector.app import create_app
from cdpflow.collector.auth import add_source
from cdpflow.collector.routes import anonymize_ip
from cdpflow.lake.raw import list_raw_hours
from cdpflow.lake.storage import Lake
from cdpflow.secrets import open_secrets
from cdpflow.settings import Settings, load_settings


@pytest.fixture
def key(settings: Settings) -> str:
    return add_source(open_secrets(settings), "web")


@pytest.fixture
def client(settings: Settings, key: str) -> Iterator[TestClient]:
    test_client = TestClient(create_app(settings)).__enter__()  # runs the lifespan
    yield test_client
    _stop(test_client)


def _stop(client: TestClient) -> None:
    """End the app's lifespan: the sink publishes its open file."""
    if not getattr(client, "stopped", False):
        client.__exit__(None, None, None)
        client.stopped = True  # type: ignore[attr-defined]


def _landed(lake: Lake) -> list[dict[str, Any]]:
    lines = []
    for hour in list_raw_hours(lake):
        for path, _ in hour.files:
            lines.extend(gzip.decompress(lake.read_bytes(path)).splitlines())
    return [orjson.loads(line) for line in lines]


def _track(**extra: Any) -> dict[str, Any]:
    return {"event": "Viewed", "messageId": "m-1", "anonymousId": "a-1", **extra}


def test_a_track_call_lands_with_its_receive_metadata(
    settings: Settings, lake: Lake, client: TestClient, key: str
) -> None:
    answer = client.post(
        "/v1/track", json=_track(writeKey=key), headers={"User-Agent": "analytics-python/2"}
    )
    assert answer.status_code == 200 and answer.json() == {"success": True}
    _stop(client)
    (line,) = _landed(lake)
    assert line["type"] == "track" and line["messageId"] == "m-1"
    assert "writeKey" not in line  # the key never reaches the lake
    meta = line["_cdp"]
    assert meta["source"] == "web" and meta["user_agent"] == "analytics-python/2"
    assert meta["ip"] == "testclient" and meta["received_at"].endswith("Z")


def test_batch_with_basic_auth_and_gzip(lake: Lake, client: TestClient, key: str) -> None:
    body = gzip.compress(orjson.dumps({"batch": [_track(type="track"), _track(type="page")]}))
    answer = client.post(
        "/v1/batch", content=body, auth=(key, ""), headers={"Content-Encoding": "gzip"}
    )
    assert answer.status_code == 200
    _stop(client)
    (line,) = _landed(lake)
    assert [m["type"] for m in line["batch"]] == ["track", "page"]


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"[1, 2]", 400, "JSON array; send a JSON object"),
        (b'{"batch": {"a": 1}}', 400, "`batch`: a list"),
        (b'{"batch": [1]}', 400, "`batch[0]` is a JSON number"),
        (b"", 400, "empty"),
        (orjson.dumps({"batch": [{"type": "track", "x": "a" * 40_000}]}), 413, "`batch[0]` is"),
        (orjson.dumps({"batch": [{"x": "a" * 30_000}] * 20}), 413, "limit is 500,000"),
    ],
)
def test_refusals_say_what_is_wrong(
    lake: Lake, client: TestClient, key: str, body: bytes, status: int, detail: str
) -> None:
    answer = client.post("/v1/batch", content=body, auth=(key, ""))
    assert answer.status_code == status
    assert detail in answer.json()["detail"]
    assert answer.json()["code"] == {400: "malformed", 413: "too_large"}[status]
    _stop(client)
    assert _landed(lake) == []


def test_an_unknown_key_gets_401(client: TestClient, key: str) -> None:
    assert client.post("/v1/track", json=_track(), auth=("nope", "")).status_code == 401
    assert client.post("/v1/track", json=_track(writeKey="nope")).status_code == 401
    assert client.post("/v1/track", json=_track()).status_code == 401
    assert client.post("/sdk/v1/events/publish?token=nope", json={"events": []}).status_code == 401
    answer = client.post("/v1/track", json=_track(), headers={"Authorization": "Basic %%%"})
    assert answer.json()["code"] == "unauthorized"


def test_errors_carry_cors_headers_so_browsers_can_read_them(client: TestClient) -> None:
    answer = client.post(
        "/v1/t", json=_track(writeKey="nope"), headers={"Origin": "https://shop.example.com"}
    )
    assert answer.status_code == 401
    assert answer.headers["access-control-allow-origin"] == "https://shop.example.com"


def test_blotout_sets_the_visitor_cookie_and_records_it(
    lake: Lake, client: TestClient, key: str
) -> None:
    payload = {"meta": {"sdkv": "0.10.2"}, "events": [{"mid": "b-1", "evn": "sdk_start"}]}
    first = client.post(f"/sdk/v1/events/publish?token={key}", json=payload)
    assert first.status_code == 200
    cookie = first.cookies["_trends_user_id"]
    assert "httponly" in first.headers["set-cookie"].lower()
    second = client.post(f"/sdk/v1/events/publish?token={key}", json=payload)
    assert "set-cookie" not in second.headers  # the browser sent it back
    with_user = {"meta": {}, "events": [{"mid": "b-2", "evn": "x", "userid": "u" * 64}]}
    client.cookies.clear()
    assert client.post(f"/sdk/v1/events/publish?token={key}", json=with_user).status_code == 200
    _stop(client)
    lines = _landed(lake)
    assert [line["_cdp"].get("visitor_id") for line in lines] == [cookie, cookie, None]
    assert lines[0]["events"][0]["mid"] == "b-1"


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b'{"events": 3}', "`events`: a list"),
        (b'{"meta": [], "events": []}', "`meta` must be"),
        (b'{"events": ["x"]}', "`events[0]` is a JSON string"),
    ],
)
def test_blotout_refusals(client: TestClient, key: str, body: bytes, detail: str) -> None:
    answer = client.post(f"/sdk/v1/events/publish?token={key}", content=body)
    assert answer.status_code == 400 and detail in answer.json()["detail"]


def test_ips_can_be_anonymized(tmp_path: Any) -> None:
    assert anonymize_ip("203.0.113.77") == "203.0.113.0"
    assert anonymize_ip("2001:db8:1234:5678::1") == "2001:db8:1234::"
    assert anonymize_ip("testclient") == ""
    settings = load_settings(env={"CDPFLOW_COLLECTOR_ANONYMIZE_IP": "true"}, home=tmp_path)
    key = add_source(open_secrets(settings), "web")
    with TestClient(create_app(settings)) as client:
        body = {"batch": [_track(type="track", context={"ip": "198.51.100.9"})]}
        assert client.post("/v1/batch", json=body, auth=(key, "")).status_code == 200
    (line,) = _landed(Lake(settings.lake_url))
    assert line["batch"][0]["context"]["ip"] == "198.51.100.0"
    assert "ip" not in line["_cdp"]  # `testclient` is no address


def test_health(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/nope").status_code == 404


@hsettings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)))
def test_no_input_makes_the_server_fail(client: TestClient, key: str, body: bytes) -> None:
    for path in ("/v1/batch", "/v1/track", f"/sdk/v1/events/publish?token={key}"):
        answer = client.post(path, content=body, auth=(key, ""))
        assert answer.status_code in (200, 400, 413), answer.text
        expected = {200: {"success": True}, 400: "malformed", 413: "too_large"}
        shown = answer.json() if answer.status_code == 200 else answer.json()["code"]
        assert shown == expected[answer.status_code]
        assert answer.status_code == 200 or answer.json()["detail"].strip()


def test_cors_can_be_limited_to_known_origins(tmp_path: Any) -> None:
    env = {"CDPFLOW_COLLECTOR_CORS_ORIGINS": "https://shop.example.com"}
    settings = load_settings(env=env, home=tmp_path)
    with TestClient(create_app(settings)) as client:
        for origin, allowed in (
            ("https://shop.example.com", True),
            ("https://evil.example", False),
        ):
            answer = client.options(
                "/v1/t", headers={"Origin": origin, "Access-Control-Request-Method": "POST"}
            )
            assert ("access-control-allow-origin" in answer.headers) is allowed


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/track", b'{"event":"E","anonymousId":"a","properties":{"x":' + _nested(300) + b"}}"),
        (
            "/v1/batch",
            b'{"batch":[{"type":"track","event":"E","properties":' + _nested(252) + b"}]}",
        ),
        ("/v1/identify", b'{"userId":"u","traits":{"t":' + _nested(1000) + b"}}"),
    ],
)
def test_nesting_too_deep_to_measure_is_a_400_not_a_500(
    lake: Lake, client: TestClient, key: str, path: str, body: bytes
) -> None:
    answer = client.post(path, content=body, auth=(key, ""))
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == "malformed" and "254 levels" in answer.json()["detail"]
    assert client.post("/v1/track", json=_track(), auth=(key, "")).status_code == 200
    _stop(client)
    assert [line["messageId"] for line in _landed(lake)] == ["m-1"]


def test_each_line_records_its_endpoint_and_a_clients_own_raw_key_is_dropped(
    lake: Lake, client: TestClient, key: str
) -> None:
    auth = (key, "")
    assert client.post("/v1/track", json=_track(events=[1], _raw="x"), auth=auth).status_code == 200
    batch = {"batch": [_track(type="track")], "events": [], "_raw": "y", "_cdp": {"source": "z"}}
    assert client.post("/v1/b", json=batch, auth=auth).status_code == 200
    assert client.post(f"/sdk/v1/events/publish?token={key}", json=_blotout()).status_code == 200
    _stop(client)
    single, envelope, blotout = _landed(lake)
    assert [single["_cdp"]["format"], envelope["_cdp"]["format"], blotout["_cdp"]["format"]] == [
        "segment_message",
        "segment_batch",
        "blotout",
    ]
    assert "_raw" not in single and single["events"] == [1]  # the rest is kept as sent
    assert "_raw" not in envelope and envelope["_cdp"]["source"] == "web"
    assert envelope["_cdp"]["size"] == len(orjson.dumps({k: batch[k] for k in ("batch", "events")}))


def _blotout(**meta: Any) -> dict[str, Any]:
    return {"meta": {"sdkv": "0.10.2", **meta}, "events": [{"mid": "b-1", "evn": "sdk_start"}]}


def test_write_keys_anywhere_in_a_message_never_reach_the_lake(
    lake: Lake, client: TestClient, key: str
) -> None:
    forwarded = _track(type="track", writeKey=key, properties={"url": f"/?writeKey={key}"})
    assert client.post("/v1/batch", json={"batch": [forwarded]}, auth=(key, "")).status_code == 200
    headers = {"User-Agent": f"bot {key}"}
    assert client.post("/v1/track", json=_track(writeKey=key), headers=headers).status_code == 200
    payload = _blotout(writeKey=key)
    payload["events"][0]["writeKey"] = key
    assert client.post(f"/sdk/v1/events/publish?token={key}", json=payload).status_code == 200
    _stop(client)
    raw = b"".join(
        gzip.decompress(lake.read_bytes(p)) for h in list_raw_hours(lake) for p, _ in h.files
    )
    assert raw.count(b"\n") == 3 and key.encode() not in raw
    batch_line, track_line, blotout_line = _landed(lake)
    assert "writeKey" not in batch_line["batch"][0] and "writeKey" not in blotout_line["meta"]
    assert batch_line["batch"][0]["properties"]["url"] == "/?writeKey=********"
    assert track_line["_cdp"]["user_agent"] == "bot ********"


def test_a_huge_header_is_refused_and_the_user_agent_counts_against_the_event_limit(
    lake: Lake, client: TestClient, key: str
) -> None:
    huge = client.post(
        "/v1/track", json=_track(), auth=(key, ""), headers={"User-Agent": "U" * 40_000}
    )
    assert huge.status_code == 431 and huge.json()["code"] == "headers_too_large"
    agent = {"User-Agent": "U" * 20_000}
    event = _track(properties={"text": "p" * 15_000})
    answer = client.post("/v1/track", json=event, auth=(key, ""), headers=agent)
    assert answer.status_code == 413 and "20,000-byte User-Agent" in answer.json()["detail"]
    assert client.post("/v1/track", json=_track(), auth=(key, ""), headers=agent).status_code == 200
    _stop(client)
    (line,) = _landed(lake)
    assert len(line["_cdp"]["user_agent"]) == 20_000


def test_a_gzip_body_is_decoded_only_for_a_key_sent_outside_it(
    client: TestClient, key: str
) -> None:
    body = gzip.compress(orjson.dumps(_track(writeKey=key)))
    headers = {"Content-Encoding": "gzip"}
    keyless = client.post("/v1/track", content=body, headers=headers)
    assert keyless.status_code == 401 and "HTTP Basic" in keyless.json()["detail"]
    assert (
        client.post("/v1/track", content=body, headers=headers, auth=(key, "")).status_code == 200
    )
    members = b"".join(gzip.compress(b"") for _ in range(17)) + gzip.compress(b"{}")
    many = client.post("/v1/track", content=members, headers=headers, auth=(key, ""))
    assert many.status_code == 400 and "more than 16 members" in many.json()["detail"]


def test_a_trailing_slash_is_the_same_endpoint_and_a_wrong_path_a_json_404(
    lake: Lake, client: TestClient, key: str
) -> None:
    assert client.post("/v1/track/", json=_track(), auth=(key, "")).status_code == 200
    missing = client.post("/v2/track/", json=_track(), auth=(key, ""), follow_redirects=False)
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    assert client.get("/health/", follow_redirects=False).json()["code"] == "not_found"


def test_origin_null_is_not_trusted_with_credentials(client: TestClient, key: str) -> None:
    answer = client.post(
        "/v1/t", content=orjson.dumps(_track(writeKey=key)), headers={"Origin": "null"}
    )
    assert answer.status_code == 200
    assert "access-control-allow-origin" not in answer.headers
    preflight = client.options(
        "/v1/t", headers={"Origin": "null", "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_with_origins_limited_a_simple_post_from_another_origin_is_refused(tmp_path: Any) -> None:
    settings = load_settings(
        env={"CDPFLOW_COLLECTOR_CORS_ORIGINS": "https://shop.example.com"}, home=tmp_path
    )
    key = add_source(open_secrets(settings), "web")
    plain = {"Content-Type": "text/plain"}
    with TestClient(create_app(settings)) as client:
        for message_id, origin, status in (
            ("c-1", "https://shop.example.com", 200),
            ("c-2", "https://evil.example", 403),
            ("c-3", "null", 403),
            ("c-4", None, 200),  # a server SDK or an app: no Origin
        ):
            headers = plain if origin is None else {**plain, "Origin": origin}
            body = orjson.dumps(_track(writeKey=key, messageId=message_id))
            answer = client.post("/v1/t", content=body, headers=headers)
            assert answer.status_code == status, (origin, answer.text)
        assert (
            client.post("/v1/t", content=b"{}", headers={"Origin": "https://evil.example"}).json()[
                "code"
            ]
            == "origin_not_allowed"
        )
    assert [line["messageId"] for line in _landed(Lake(settings.lake_url))] == ["c-1", "c-4"]


def test_the_raw_zone_is_readable_by_its_owner_only(
    settings: Settings, lake: Lake, client: TestClient, key: str
) -> None:
    assert client.post("/v1/track", json=_track(), auth=(key, "")).status_code == 200
    _stop(client)
    raw = Path(lake.full("raw"))
    assert _mode(raw) == 0o700 and _mode(raw / "events") == 0o700
    for path in raw.rglob("*"):
        assert _mode(path) == (0o700 if path.is_dir() else 0o600), path


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)
