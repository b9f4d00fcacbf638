"""The one error type of the collector's HTTP answers, and the statuses it maps to."""

from __future__ import annotations

from starlette.responses import JSONResponse

from cdpflow.errors import CdpflowError


class CollectorError(CdpflowError):
    """A request the collector refuses; answered as `{"code", "detail"}` with `status`."""

    def __init__(self, status: int, code: str, detail: str, *, close: bool = False) -> None:
        self.status = status
        self.code = code
        self.detail = detail
        self.close = close  # end the connection: the rest of the request may still be coming
        super().__init__(detail)

    def response(self) -> JSONResponse:
        return error_response(self.status, self.code, self.detail, close=self.close)


def error_response(status: int, code: str, detail: str, *, close: bool = False) -> JSONResponse:
    headers = {"connection": "close"} if close else None
    return JSONResponse({"code": code, "detail": detail}, status_code=status, headers=headers)


def malformed(detail: str) -> CollectorError:
    return CollectorError(400, "malformed", detail)


def too_large(detail: str) -> CollectorError:
    return CollectorError(413, "too_large", detail)


def unauthorized(detail: str) -> CollectorError:
    return CollectorError(401, "unauthorized", detail)


def unavailable(detail: str) -> CollectorError:
    """Storage failed: nothing was acknowledged, so the SDK retries."""
    return CollectorError(503, "storage_unavailable", detail)
