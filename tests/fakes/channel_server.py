"""The HTTP plumbing the fakes share: a threaded loopback server that hands each request to a
contract object's `handle(method, target, headers, body)` and writes its answer, so a fake is
its contract and nothing of http.server."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# status, extra headers, body; a negative status drops the connection unanswered, as a network
# failure would
Answer = tuple[int, dict[str, str], bytes]
Handle = Callable[[str, str, Any, bytes], Answer]  # (method, target, headers, body) -> Answer


def serve(handle: Handle, content_type: str, port: int = 0) -> ThreadingHTTPServer:
    """A server on 127.0.0.1:`port` (0: any free port) answering with `handle`; not started."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # headers and body leave in two writes: with Nagle's algorithm the body waits for the
        # client's delayed ACK of the headers, 40 ms a request, which no real API adds
        disable_nagle_algorithm = True

        def _answer(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
            status, extra, answer = handle(self.command, self.path, self.headers, body)
            if status < 0:
                self.close_connection = True
                self.connection.close()
                return
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


def url_of(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


@contextmanager
def running(server: ThreadingHTTPServer) -> Iterator[ThreadingHTTPServer]:
    """`server` answering from a background thread until the block ends (polling for the end
    every 50 ms: a test's teardown waits no longer than that)."""
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def serve_until_interrupted(server: ThreadingHTTPServer, banner: str) -> None:
    """A standalone fake (`python -m tests.fakes.NAME`, a demo): print `banner`, serve in the
    foreground until Ctrl-C."""
    print(banner, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.server_close()
