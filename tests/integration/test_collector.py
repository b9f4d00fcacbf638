"""The collector with real clients on loopback: the Segment and RudderStack Python SDKs, and a
kill -9 in the middle of traffic. What they send ends up in core_events, intact."""

from __future__ import annotations

import signal
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.collector import start_subprocess, thread_server
from support.lake import LATER
from support.ports import free_port

from cdpflow.collector.auth import add_source
from cdpflow.jobs.events_incremental import run
from cdpflow.lake.raw import list_raw_hours
from cdpflow.lake.storage import Lake
from cdpflow.secrets import open_secrets
from cdpflow.settings import Settings


def _sdk_calls(client: Any, prefix: str) -> None:
    anon, user = f"{prefix}-anon", f"{prefix}-user"
    client.page(
        anonymous_id=anon,
        name="Home",
        properties={"url": "https://shop.example.com/?utm_source=news", "path": "/"},
        message_id=f"{prefix}-page",
    )
    client.track(
        user_id=user,
        anonymous_id=anon,
        event="Order Completed",
        properties={"order_id": f"{prefix}-O1", "revenue": 59.9, "currency": "USD", "sku": "A"},
        message_id=f"{prefix}-track",
    )
    client.identify(
        user_id=user,
        anonymous_id=anon,
        traits={"email": f"{prefix}@Example.com", "plan": "gold"},
        message_id=f"{prefix}-identify",
    )
    client.alias(previous_id=anon, user_id=user, message_id=f"{prefix}-alias")
    client.flush()


def test_segment_and_rudderstack_sdks_land_in_core_events(settings: Settings, query) -> None:
    segment = pytest.importorskip("segment.analytics.client")
    rudder = pytest.importorskip("rudderstack.analytics.client")
    store = open_secrets(settings)
    keys = {name: add_source(store, name) for name in ("segment-py", "rudder-py")}
    errors: list[Any] = []
    with thread_server(settings) as url:
        for name, module in (("segment-py", segment), ("rudder-py", rudder)):
            client = module.Client(
                keys[name],
                host=url,
                gzip=True,
                max_retries=1,
                on_error=lambda err, batch: errors.append(err),
            )
            _sdk_calls(client, name)
            client.shutdown()
    assert errors == []

    result = run(settings, now=LATER)
    assert (result.written, result.quarantined) == (8, 0)
    rows = {r["event_id"]: r for r in query("SELECT * FROM core_events")}
    for name in ("segment-py", "rudder-py"):
        page, track = rows[f"{name}-page"], rows[f"{name}-track"]
        identify, alias = rows[f"{name}-identify"], rows[f"{name}-alias"]
        assert {r["source"] for r in (page, track, identify, alias)} == {name}
        assert (page["event_type"], page["event_name"]) == ("page", "Home")
        assert page["anonymous_id"] == f"{name}-anon"
        assert (track["event_type"], track["event_name"]) == ("track", "Order Completed")
        assert (track["order_id"], track["revenue"], track["currency"]) == (
            f"{name}-O1",
            59.9,
            "USD",
        )
        assert track["user_id"] == f"{name}-user" and '"sku":"A"' in track["properties"].replace(
            " ", ""
        )
        assert identify["email"] == f"{name}@example.com"
        assert (alias["previous_id"], alias["user_id"]) == (f"{name}-anon", f"{name}-user")
        assert page["ip"] == "127.0.0.1" and page["user_agent"]
        assert page["received_at"] is not None and page["event_time"] is not None


def _sender(url: str, key: str, acked: list[str], stop: threading.Event) -> None:
    with httpx.Client(auth=(key, ""), timeout=5) as http:
        while not stop.is_set():
            ids = [f"k-{uuid.uuid4().hex}" for _ in range(20)]
            now = datetime.now(UTC).isoformat()
            batch = [
                {
                    "type": "track",
                    "event": "Tick",
                    "messageId": i,
                    "anonymousId": "a",
                    "timestamp": now,
                }
                for i in ids
            ]
            try:
                answer = http.post(f"{url}/v1/batch", json={"batch": batch})
            except httpx.TransportError:
                return  # the server is gone: these were never acknowledged
            if answer.status_code == 200:
                acked.extend(ids)


def test_kill_9_loses_no_acknowledged_event(settings: Settings, query) -> None:
    key = add_source(open_secrets(settings), "web")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_subprocess(settings.home, port)
    acked: list[str] = []
    stop = threading.Event()
    senders = [threading.Thread(target=_sender, args=(url, key, acked, stop)) for _ in range(4)]
    for thread in senders:
        thread.start()
    time.sleep(1.5)
    proc.send_signal(signal.SIGKILL)  # in the middle of traffic
    proc.wait(timeout=10)
    stop.set()
    for thread in senders:
        thread.join(timeout=10)
    assert len(acked) > 200
    lake_root = Path(Lake(settings.lake_url).root)
    assert list(lake_root.rglob(".collector-*.landing"))  # left open by the killed process

    restarted = start_subprocess(settings.home, port)  # recovers at start
    restarted.send_signal(signal.SIGTERM)
    # uvicorn shuts down gracefully, then ends itself with the signal it caught
    assert restarted.wait(timeout=30) in (0, -signal.SIGTERM)
    assert not list(lake_root.rglob(".collector-*.landing"))
    assert list_raw_hours(Lake(settings.lake_url))

    result = run(settings, now=LATER)
    assert result.quarantined == 0
    landed = {r["event_id"] for r in query("SELECT event_id FROM core_events")}
    assert set(acked) <= landed
    # at most the batches in flight at the kill landed without an answer
    assert len(landed) - len(set(acked)) <= 4 * 20


def test_keys_that_collide_with_the_envelope_lose_no_acknowledged_event(
    settings: Settings, query
) -> None:
    """`events` on a Segment message or batch and a client's `_raw` used to make events vanish
    or lose their content; each line now says which endpoint it came from."""
    key = add_source(open_secrets(settings), "web")

    def track(message_id: str, **extra: Any) -> dict[str, Any]:
        return {"type": "track", "event": "E", "messageId": message_id, "anonymousId": "a",
                "timestamp": "2026-12-03T10:00:00Z", **extra}  # fmt: skip

    with thread_server(settings) as url, httpx.Client(auth=(key, ""), timeout=10) as http:
        for path, body in (
            ("/v1/batch", {"batch": [track("v-1"), track("v-2"), track("v-3")], "events": []}),
            ("/v1/track", track("v-4", events=[])),
            ("/v1/track", track("v-6", events=[1])),
            ("/v1/track", track("v-7")),
            ("/v1/batch", {"batch": [track("w-1"), track("w-2"), track("w-3")], "_raw": "x"}),
            ("/v1/track", track("w-4", _raw="x")),
        ):
            assert http.post(f"{url}{path}", json=body).status_code == 200
    result = run(settings, now=LATER)
    landed = sorted(r["event_id"] for r in query("SELECT event_id FROM core_events"))
    assert landed == ["v-1", "v-2", "v-3", "v-4", "v-6", "v-7", "w-1", "w-2", "w-3", "w-4"]
    assert (result.written, result.quarantined) == (10, 0)
