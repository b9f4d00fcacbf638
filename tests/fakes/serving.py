"""Serving a fake API over loopback HTTP: one `handle(method, target, headers, body)` function
answers every request, so a fake is its contract and nothing of http.server."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# (method, target, headers, body) -> (status, extra headers, body)
Handle = Callable[[str, str, Any, bytes], tuple[int, dict[str, str], bytes]]


def http_server(
    handle: Handle, port: int = 0, content_type: str = "application/json"
) -> ThreadingHTTPServer:
    """A server on 127.0.0.1:`port` (0: any free port) answering with `handle`; not started."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
            status, extra, answer = handle(self.command, self.path, self.headers, body)
            self.send_response(status)
            for key, value in extra.items():
                self.send_header(key, value)
            if answer:
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    return server


@contextmanager
def serving(server: ThreadingHTTPServer) -> Iterator[ThreadingHTTPServer]:
    """`server` answering from a background thread until the block ends."""
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def serve_until_interrupted(server: ThreadingHTTPServer) -> None:
    """A standalone fake (`python -m tests.fakes.NAME`): serve until Ctrl-C."""
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.server_close()
