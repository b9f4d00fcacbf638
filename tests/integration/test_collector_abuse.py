"""The collector as `cdpflow collector` runs it, on real sockets, against clients without a key
that try to stall it: slow or endless headers, slow bodies, idle sockets by the hundred, gzip
that costs decoding time; and key rotation and removal while it runs."""

from __future__ import annotations

import base64
import gzip
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from support.collector import start_subprocess
from support.ports import free_port

from cdpflow.collector.auth import add_source
from cdpflow.secrets import open_secrets
from cdpflow.settings import load_settings

FAST = {
    "CDPFLOW_COLLECTOR_HEADER_TIMEOUT_SECONDS": "1",
    "CDPFLOW_COLLECTOR_BODY_TIMEOUT_SECONDS": "1",
}


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def key(home: Path) -> str:
    return add_source(open_secrets(load_settings(env={}, home=home)), "web")


@pytest.fixture
def url(home: Path, key: str) -> Iterator[str]:
    port = free_port()
    proc = start_subprocess(home, port, env=FAST)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _track(message_id: str) -> dict[str, str]:
    return {"type": "track", "event": "E", "messageId": message_id, "anonymousId": "a"}


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    return sock


def _answer(sock: socket.socket) -> bytes:
    """What the server sent until it closed the connection."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_a_connection_that_never_finishes_its_headers_is_closed(url: str) -> None:
    started = time.monotonic()
    with _connect(url) as silent, _connect(url) as slow:
        slow.sendall(b"POST /v1/track HTTP/1.1\r\nHost: x\r\n")
        assert _answer(silent) == b""  # nothing begun: closed without a word
        answer = _answer(slow)
    assert answer.startswith(b"HTTP/1.1 408") and b'"code":"header_timeout"' in answer
    assert time.monotonic() - started < 5


def test_a_body_that_never_arrives_gets_408(url: str, key: str) -> None:
    auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    with _connect(url) as sock:
        sock.sendall(
            b"POST /v1/track HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
            + f"Authorization: {auth}\r\n\r\n".encode()
            + b'{"type":"tr'
        )
        answer = _answer(sock)
    assert answer.startswith(b"HTTP/1.1 408") and b'"code":"body_timeout"' in answer


def test_endless_headers_are_cut_off_at_the_limit(url: str) -> None:
    sent, cut_off = 0, False
    with _connect(url) as sock:
        sock.sendall(b"POST /v1/track HTTP/1.1\r\nHost: x\r\nUser-Agent: ")
        try:
            while sent < 64_000_000:
                sock.sendall(b"U" * 65536)
                sent += 65536
        except (BrokenPipeError, ConnectionResetError):
            cut_off = True
    # the collector closed the connection: what got through before is at most the limit plus
    # the kernel's socket buffers on loopback (they grow to tens of MB while a busy server reads)
    assert cut_off and sent < 40_000_000
    with httpx.Client() as client:
        assert client.get(f"{url}/health").status_code == 200


def test_keyless_gzip_is_refused_before_it_is_decoded(url: str, key: str) -> None:
    members = gzip.compress(b"") * 24_000  # 480 KB that cost 0.25 s to decode
    with httpx.Client(timeout=10) as client:
        started = time.monotonic()
        for _ in range(10):
            answer = client.post(
                f"{url}/v1/batch", content=members, headers={"Content-Encoding": "gzip"}
            )
            assert answer.status_code == 401
        assert time.monotonic() - started < 1.5
        keyed = client.post(
            f"{url}/v1/batch",
            content=members,
            headers={"Content-Encoding": "gzip"},
            auth=(key, ""),
        )
        assert keyed.status_code == 400 and "members" in keyed.json()["detail"]


def test_hundreds_of_idle_sockets_do_not_lock_out_valid_requests(home: Path, key: str) -> None:
    """With the usual soft limit of open files lowered to 256, 600 idle sockets used to take
    every descriptor; the collector raises its limit to fit its connection limit."""
    port = free_port()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 2048:
        pytest.skip(f"the hard open-file limit is {hard}")
    if soft < 1024:
        pytest.skip(f"this test process may open only {soft} files")
    proc = start_subprocess(
        home,
        port,
        env={"CDPFLOW_COLLECTOR_MAX_CONNECTIONS": "1024"},
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard)),
    )
    idle = []
    try:
        for _ in range(600):
            idle.append(socket.create_connection(("127.0.0.1", port)))
        time.sleep(0.3)
        with httpx.Client(auth=(key, ""), timeout=5) as client:
            answer = client.post(f"http://127.0.0.1:{port}/v1/track", json=_track("i-1"))
        assert answer.status_code == 200
    finally:
        for sock in idle:
            sock.close()
        proc.terminate()
        proc.wait(timeout=30)


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cdpflow.cli.main", *args],
        capture_output=True,
        text=True,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("CDPFLOW_")},
            "CDPFLOW_HOME": str(home),
        },
        check=True,
        timeout=60,
    )


def test_rotate_and_remove_take_effect_on_a_running_collector(
    home: Path, key: str, url: str
) -> None:
    def status(write_key: str, message_id: str) -> int:
        answer = httpx.post(f"{url}/v1/track", json=_track(message_id), auth=(write_key, ""))
        return answer.status_code

    assert status(key, "r-1") == 200
    rotated = _cli(home, "source", "rotate", "web", "--grace", "1h")
    new = rotated.stdout.strip()
    assert "old key works until" in rotated.stderr and key not in rotated.stdout
    assert status(new, "r-2") == 200 and status(key, "r-3") == 200  # the grace period
    _cli(home, "source", "rotate", "web", "--grace", "0")
    assert status(new, "r-4") == 401  # no grace: the old key stops at once
    other = _cli(home, "source", "add", "ios").stdout.strip()
    assert status("an-unknown-key-first", "r-5") == 401 and status(other, "r-6") == 200
    _cli(home, "source", "remove", "ios")
    started = time.monotonic()
    assert status(other, "r-7") == 401 and time.monotonic() - started < 1
    assert _cli(home, "source", "list").stdout.split() == ["web"]
    refused = orjson.loads(
        httpx.post(f"{url}/v1/track", json=_track("r-8"), auth=(other, "")).content
    )
    assert refused["code"] == "unauthorized"
