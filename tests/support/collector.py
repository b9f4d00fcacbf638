"""Run the collector for tests: in a thread (fast) or as a `cdpflow collector` subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn

from cdpflow.collector.app import create_app
from cdpflow.collector.server import uvicorn_config
from cdpflow.settings import Settings
from support.ports import free_port


def wait_healthy(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"the collector at {url} did not become healthy")
        time.sleep(0.05)


@contextmanager
def thread_server(settings: Settings) -> Iterator[str]:
    """The collector app under uvicorn in a thread; yields its base URL; stops gracefully."""
    port = free_port()
    config = uvicorn_config(
        create_app(settings), settings, "127.0.0.1", port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def start_subprocess(
    home: Path,
    port: int,
    env: dict[str, str] | None = None,
    preexec_fn: Callable[[], None] | None = None,
) -> subprocess.Popen[bytes]:
    """`cdpflow collector` in its own process (with `env` added to a CDPFLOW_-free environment);
    its log goes to `<home>/collector-<port>.log`."""
    extra = env or {}
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDPFLOW_")}
    env["CDPFLOW_HOME"] = str(home)
    env.update(extra)
    home.mkdir(parents=True, exist_ok=True)
    log = home / f"collector-{port}.log"
    with open(log, "ab") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cdpflow.cli.main", "collector", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            preexec_fn=preexec_fn,
        )
    try:
        wait_healthy(f"http://127.0.0.1:{port}")
    except AssertionError:
        proc.kill()
        proc.wait()
        raise AssertionError(log.read_text()) from None
    return proc
