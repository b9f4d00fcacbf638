"""What AWS's JSON 1.1 services have in common: a signed POST in, JSON or a typed error out."""

from __future__ import annotations

import json
import re
import threading
from abc import ABC, abstractmethod
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[A-Z0-9]+)/(?P<day>\d{8})/(?P<region>[a-z0-9-]+)/"
    r"(?P<service>[a-z0-9]+)/aws4_request, SignedHeaders=(?P<signed>[a-z0-9;-]+), "
    r"Signature=(?P<sig>[0-9a-f]{64})$"
)
Answer = tuple[int, dict[str, Any]]


def error(kind: str, message: str, status: int = 400) -> Answer:
    return status, {"__type": kind, "message": message, "Message": message}


class AwsJsonService(ABC):
    """A loopback server; subclasses implement `operation(target, request)`."""

    service = ""

    def __init__(self, access_key: str, region: str) -> None:
        self.access_key = access_key
        self.region = region
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, answer = fake.handle(headers, body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                if status != 200:
                    self.send_header("x-amzn-ErrorType", answer["__type"])
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def handle(self, headers: dict[str, str], body: bytes) -> Answer:
        """Refuse what AWS refuses before any operation runs, then run the operation."""
        if headers.get("content-type") != "application/x-amz-json-1.1":
            return error("SerializationException", "content type must be x-amz-json-1.1")
        auth = _AUTH.match(headers.get("authorization", ""))
        if auth is None or "x-amz-date" not in headers:
            return error("MissingAuthenticationTokenException", "request is not signed", 403)
        if auth["key"] != self.access_key:
            return error("UnrecognizedClientException", "invalid security token", 403)
        if (auth["region"], auth["service"]) != (self.region, self.service):
            return error("InvalidSignatureException", "wrong credential scope", 403)
        if not {"host", "x-amz-date"} <= set(auth["signed"].split(";")):
            return error("InvalidSignatureException", "host and x-amz-date must be signed", 403)
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return error("SerializationException", "body is not JSON")
        return self.operation(headers.get("x-amz-target", ""), request)

    @abstractmethod
    def operation(self, target: str, request: dict[str, Any]) -> Answer:
        """Answer one signed, well-formed request for `target` (the X-Amz-Target header)."""
