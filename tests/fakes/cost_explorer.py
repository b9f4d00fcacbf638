"""AWS Cost Explorer's GetCostAndUsage, as documented: JSON 1.1 protocol over a signed POST.

It refuses what the real service refuses (wrong target or content type, a missing or malformed
SigV4 authorization for another service or region, an unknown access key, an invalid body) with
the service's error shape, and answers tagged costs it was given.
"""

from __future__ import annotations

import json
import re
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TARGET = "AWSInsightsIndexService.GetCostAndUsage"
_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[A-Z0-9]+)/(?P<day>\d{8})/(?P<region>[a-z0-9-]+)/"
    r"(?P<service>[a-z0-9]+)/aws4_request, SignedHeaders=(?P<signed>[a-z0-9;-]+), "
    r"Signature=(?P<sig>[0-9a-f]{64})$"
)
METRICS = {
    "AmortizedCost",
    "BlendedCost",
    "NetAmortizedCost",
    "NetUnblendedCost",
    "NormalizedUsageAmount",
    "UnblendedCost",
    "UsageQuantity",
}


class CostExplorer:
    def __init__(self, access_key: str, costs: dict[tuple[str, str], str]) -> None:
        self.access_key = access_key
        self.costs = costs  # (tag key, tag value) -> USD amount per month
        self.requests: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, answer = server.handle(dict(self.headers), body)
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

    def __enter__(self) -> CostExplorer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @staticmethod
    def _error(kind: str, message: str, status: int = 400) -> tuple[int, dict[str, Any]]:
        return status, {"__type": kind, "message": message}

    def handle(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        lower = {k.lower(): v for k, v in headers.items()}
        if lower.get("x-amz-target") != TARGET:
            return self._error("UnknownOperationException", "unknown operation")
        if lower.get("content-type") != "application/x-amz-json-1.1":
            return self._error("SerializationException", "content type must be x-amz-json-1.1")
        auth = _AUTH.match(lower.get("authorization", ""))
        if auth is None or "x-amz-date" not in lower:
            return self._error("MissingAuthenticationTokenException", "request is not signed", 403)
        if auth["key"] != self.access_key:
            return self._error("UnrecognizedClientException", "invalid security token", 403)
        if (auth["region"], auth["service"]) != ("us-east-1", "ce"):
            return self._error(
                "InvalidSignatureException", "credential scope must be us-east-1/ce", 403
            )
        if not {"host", "x-amz-date"} <= set(auth["signed"].split(";")):
            return self._error(
                "InvalidSignatureException", "host and x-amz-date must be signed", 403
            )
        try:
            request = json.loads(body)
            start = date.fromisoformat(request["TimePeriod"]["Start"])
            end = date.fromisoformat(request["TimePeriod"]["End"])
            granularity = request["Granularity"]
            metrics = request["Metrics"]
        except (KeyError, TypeError, ValueError) as err:
            return self._error("ValidationException", f"invalid request: {err}")
        if not start < end or granularity not in ("DAILY", "MONTHLY", "HOURLY"):
            return self._error("ValidationException", "bad TimePeriod or Granularity")
        if not metrics or not set(metrics) <= METRICS:
            return self._error("ValidationException", f"unknown metrics {metrics}")
        self.requests.append(request)
        tags = (request.get("Filter") or {}).get("Tags") or {}
        amount = "0"
        for value in tags.get("Values", []):
            amount = self.costs.get((tags.get("Key", ""), value), amount)
        total = {
            m: {"Amount": amount if m == "UnblendedCost" else "0", "Unit": "USD"} for m in metrics
        }
        return 200, {
            "ResultsByTime": [
                {
                    "TimePeriod": request["TimePeriod"],
                    "Total": total,
                    "Groups": [],
                    "Estimated": False,
                }
            ],
            "DimensionValueAttributes": [],
        }
