"""One error format for every route: OpenAI's {"error": {"message", "type", "code"}}."""
from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("teamlore.api")

_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
          404: "not_found_error", 405: "invalid_request_error", 409: "conflict_error", 413: "request_too_large", 422: "invalid_request_error",
          429: "rate_limit_error", 503: "service_unavailable"}


class APIError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers


def error_body(status: int, message: str, code: str | None = None) -> dict:
    return {"error": {"message": message, "type": _TYPES.get(status, "api_error"), "code": code}}


def install(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError):
        return JSONResponse(error_body(exc.status, exc.message, exc.code), status_code=exc.status,
                            headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        return JSONResponse(error_body(exc.status_code, str(exc.detail)), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        parts = []
        json_body = "json" in request.headers.get("content-type", "").lower()
        for err in exc.errors():
            loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            if err.get("type") == "json_invalid":
                parts.append(f"the body is not valid JSON ({(err.get('ctx') or {}).get('error', 'decode error')} "
                             f"at character {loc or 0})")
            elif err.get("type") == "model_attributes_type" and not loc and not json_body:
                # FastAPI reads a body as JSON only when its content type says so (`curl -d` sends a form)
                parts.append("the body must be a JSON object sent with Content-Type: application/json")
            else:
                parts.append(f"{loc}: {err.get('msg')}" if loc else str(err.get("msg")))
        return JSONResponse(error_body(422, "; ".join(parts) or "invalid request"), status_code=422)

    # An id or number beyond what the database column holds (found by schemathesis: /v1/conversations/2**63)
    # is the client's mistake, not a server error.
    @app.exception_handler(OverflowError)
    async def _overflow(request: Request, exc: OverflowError):
        return JSONResponse(error_body(400, "a number in the request is out of range", "out_of_range"),
                            status_code=400)

    @app.exception_handler(DataError)
    async def _data_error(request: Request, exc: DataError):
        return JSONResponse(error_body(400, "a value in the request is out of range or malformed for the database",
                                       "invalid_value"), status_code=400)

    # Every pooled connection is busy (a burst of requests): back-pressure, not a server error.
    @app.exception_handler(PoolTimeout)
    async def _pool_busy(request: Request, exc: PoolTimeout):
        log.warning("database pool exhausted on %s %s", request.method, request.url.path)
        return JSONResponse(error_body(429, "the server is busy; retry in a few seconds", "server_busy"),
                            status_code=429, headers={"Retry-After": "2"})

    # The database is down or restarting: a retryable 503, not an opaque 500 (pool_pre_ping reconnects after).
    @app.exception_handler(DBAPIError)
    async def _database_down(request: Request, exc: DBAPIError):
        if not (exc.connection_invalidated or isinstance(exc, (OperationalError, InterfaceError))):
            return await _unexpected(request, exc)
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, type(exc.orig).__name__)
        return JSONResponse(error_body(503, "the database is unavailable; retry shortly", "database_unavailable"),
                            status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(error_body(500, "internal error; the request id is in the logs"), status_code=500)
