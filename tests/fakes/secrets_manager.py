"""AWS Secrets Manager's GetSecretValue / CreateSecret / PutSecretValue, as documented: JSON 1.1
over a SigV4-signed POST, with the service's error shapes."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[A-Z0-9]+)/\d{8}/(?P<region>[a-z0-9-]+)/"
    r"(?P<service>[a-z0-9]+)/aws4_request, SignedHeaders=(?P<signed>[a-z0-9;-]+), "
    r"Signature=[0-9a-f]{64}$"
)
_NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")  # the characters a secret name may use


class SecretsManager:
    def __init__(self, access_key: str, region: str) -> None:
        self.access_key = access_key
        self.region = region
        self.secrets: dict[str, str] = {}
        self.calls: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, answer = fake.handle({k.lower(): v for k, v in self.headers.items()}, body)
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

    def __enter__(self) -> SecretsManager:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @staticmethod
    def _error(kind: str, message: str, status: int = 400) -> tuple[int, dict[str, Any]]:
        return status, {"__type": kind, "Message": message}

    def handle(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        target = headers.get("x-amz-target", "")
        if headers.get("content-type") != "application/x-amz-json-1.1":
            return self._error("SerializationException", "content type must be x-amz-json-1.1")
        auth = _AUTH.match(headers.get("authorization", ""))
        if auth is None or "x-amz-date" not in headers:
            return self._error("MissingAuthenticationTokenException", "not signed", 403)
        if auth["key"] != self.access_key:
            return self._error("UnrecognizedClientException", "invalid security token", 403)
        if (auth["region"], auth["service"]) != (self.region, "secretsmanager"):
            return self._error("InvalidSignatureException", "wrong credential scope", 403)
        request = json.loads(body or b"{}")
        operation = target.removeprefix("secretsmanager.")
        self.calls.append(operation)
        name = request.get("SecretId") or request.get("Name") or ""
        if not _NAME.match(name):
            return self._error("InvalidParameterException", f"invalid secret name {name!r}")
        if operation == "GetSecretValue":
            if name not in self.secrets:
                return self._error(
                    "ResourceNotFoundException", "Secrets Manager can't find the secret."
                )
            return 200, {
                "Name": name,
                "SecretString": self.secrets[name],
                "VersionStages": ["AWSCURRENT"],
            }
        if operation in ("CreateSecret", "PutSecretValue"):
            if not isinstance(request.get("SecretString"), str):
                return self._error("InvalidParameterException", "SecretString is required")
            exists = name in self.secrets
            if operation == "CreateSecret" and exists:
                return self._error("ResourceExistsException", "the secret already exists")
            if operation == "PutSecretValue" and not exists:
                return self._error(
                    "ResourceNotFoundException", "Secrets Manager can't find the secret."
                )
            self.secrets[name] = request["SecretString"]
            return 200, {"Name": name, "VersionId": f"v{len(self.calls)}"}
        return self._error("UnknownOperationException", f"unknown operation {target}")
