"""The platform's error family and the one place that turns any failure into OpenAI's error object.

Every error a client sees has the shape ``{"error": {"message", "type", "param", "code"}}`` and the
status code OpenAI uses for it. Validation errors become 400 (never 422); unexpected failures become a
500 that names the request id and hides internals.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from ray.exceptions import RayTaskError
from ray.serve.exceptions import BackPressureError
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route

logger = logging.getLogger("serve_app")


class APIError(Exception):
    """An error with a meaning for the client. Subclasses fix the status code and the type."""

    status_code = 500
    error_type = "api_error"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        self.headers = dict(headers or {})

    def __reduce__(self) -> tuple[Any, ...]:
        # Keeps keyword arguments when the error crosses a Ray process boundary.
        return (_rebuild, (type(self), self.message, self.param, self.code, self.headers))

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.error_type, "param": self.param,
                          "code": self.code}}


def _rebuild(cls: type[APIError], message: str, param: str | None, code: str | None,
             headers: dict[str, str]) -> APIError:
    return cls(message, param=param, code=code, headers=headers)


class InvalidRequestError(APIError):
    status_code = 400
    error_type = "invalid_request_error"


class AuthenticationError(APIError):
    status_code = 401
    error_type = "invalid_request_error"


class PermissionDeniedError(APIError):
    status_code = 403
    error_type = "invalid_request_error"


class NotFoundError(APIError):
    status_code = 404
    error_type = "invalid_request_error"


class ConflictError(APIError):
    status_code = 409
    error_type = "invalid_request_error"


class GoneError(APIError):
    status_code = 410
    error_type = "invalid_request_error"


class RequestTooLargeError(APIError):
    status_code = 413
    error_type = "invalid_request_error"


class RequestTimeoutError(APIError):
    """The client did not send its whole body in time (a slow upload holding an ingress slot)."""

    status_code = 408
    error_type = "invalid_request_error"


class RateLimitError(APIError):
    """Too many requests or tokens in a short window (minute, hour, day): retry later."""

    status_code = 429
    error_type = "rate_limit_error"


class QuotaExceededError(APIError):
    """A budget for the month is spent (money or audio minutes): retrying will not help."""

    status_code = 429
    error_type = "insufficient_quota"


class ServiceUnavailableError(APIError):
    status_code = 503
    error_type = "service_unavailable"


class InternalServerError(APIError):
    status_code = 500
    error_type = "server_error"


class GatewayTimeoutError(APIError):
    """The request took longer than the platform allows; retrying it unchanged would take as long."""

    status_code = 504
    error_type = "server_error"


def model_not_found(model: str) -> NotFoundError:
    return NotFoundError(
        f"The model `{model}` does not exist or you do not have access to it.",
        param="model",
        code="model_not_found",
    )


def unwrap(exc: BaseException) -> BaseException:
    """The original exception behind a Ray task error (a deployment's error as it was raised)."""
    while isinstance(exc, RayTaskError) and exc.cause is not None:
        exc = exc.cause
    return exc


def from_validation_error(exc: ValidationError) -> InvalidRequestError:
    """A pydantic validation failure, worded the way OpenAI words it, naming the parameter."""
    # With unions, pydantic reports one error per member; the deepest one is the most specific, and of
    # those, a broken constraint (a negative token id) says more than a member of the wrong type.
    first = max(exc.errors(include_url=False, include_input=False),
                key=lambda error: (_depth(error["loc"]), not error["type"].endswith("_type")))
    param = _param_path(first.get("loc", ()))
    kind = first.get("type", "")
    if not param:  # a check across fields (a model validator): the message says which
        return InvalidRequestError(f"Invalid request: {_sentence(first.get('msg', 'invalid body'))}",
                                   code="invalid_value")
    if kind == "extra_forbidden":
        return InvalidRequestError(f"Unrecognized request argument supplied: {param}", param=param)
    if kind == "missing":
        return InvalidRequestError(f"Missing required parameter: '{param}'.", param=param)
    return InvalidRequestError(f"Invalid value for '{param}': {_sentence(first.get('msg', 'invalid value'))}",
                               param=param,
                               code="invalid_value")


def _depth(loc: tuple[int | str, ...]) -> int:
    return sum(1 for part in loc if isinstance(part, int) or not _is_union_tag(part))


def _sentence(message: str) -> str:
    message = message.removeprefix("Value error, ")
    return message if message.endswith(".") else message + "."


def _param_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif not _is_union_tag(part):
            path += f".{part}" if path else part
    return path


def _is_union_tag(part: str) -> bool:
    # pydantic names union members and tagged variants in `loc` (e.g. "str", "list[...]",
    # "function-after[...]"); they are not parameters the client sent.
    return ("[" in part or "=" in part or part in {"str", "int", "list", "dict"}
            or part.startswith(("function-", "constrained-")))


# What SQLAlchemy raises when the database cannot be reached (down, restarting, connection lost).
DATABASE_UNREACHABLE: tuple[type[Exception], ...] = (OperationalError, InterfaceError)


def database_unavailable(what: str) -> ServiceUnavailableError:
    """The platform's database (keys, ledger) cannot be reached: see README, "When the database is down"."""
    return ServiceUnavailableError(
        f"The platform's database cannot be reached, so {what} (nothing was billed). Try again in a few seconds.",
        code="database_unavailable", headers={"retry-after": "5"})


def to_api_error(exc: BaseException, request_id: str) -> APIError:
    exc = unwrap(exc)
    if isinstance(exc, APIError):
        return exc
    if isinstance(exc, ValidationError):
        return from_validation_error(exc)
    if isinstance(exc, HTTPException):
        return _from_http_exception(exc)
    if isinstance(exc, BackPressureError):
        return ServiceUnavailableError("The model is overloaded right now. Please retry shortly.",
                                       code="model_overloaded")
    if isinstance(exc, DATABASE_UNREACHABLE):
        return database_unavailable("this request could not be served")
    logger.error("request %s failed: %s", request_id, type(exc).__name__, exc_info=exc)
    return InternalServerError(
        "The server had an error while processing your request. Sorry about that! "
        f"You can retry your request, or contact the operator with the request ID {request_id}."
    )


def _from_http_exception(exc: HTTPException) -> APIError:
    if exc.status_code == 404:
        return NotFoundError("Not found: no such route. See /openapi.json for the API.", code="not_found")
    if exc.status_code == 405:
        # RFC 9110: a 405 lists the methods the route takes, in `Allow` (Starlette puts it in the exception).
        not_allowed = InvalidRequestError("Method not allowed for this route.", code="method_not_allowed",
                                          headers=exc.headers)
        not_allowed.status_code = 405
        return not_allowed
    other = APIError(str(exc.detail))
    other.status_code = exc.status_code
    other.error_type = "invalid_request_error" if exc.status_code < 500 else "server_error"
    return other


def error_response(exc: BaseException, request_id: str, headers: Mapping[str, str] | None = None) -> Response:
    error = to_api_error(exc, request_id)
    return JSONResponse(error.body(), status_code=error.status_code, headers={**error.headers, **(headers or {})})


# Expected failures are answered by Starlette's ExceptionMiddleware; `Exception` (a real 500) by its
# ServerErrorMiddleware, which also logs the traceback.
EXCEPTION_TYPES: tuple[type[Exception], ...] = (APIError, ValidationError, HTTPException, RayTaskError, Exception)


async def handle_exception(request: Request, exc: Exception) -> Response:
    """Starlette exception handler: the one mapping from exceptions to responses."""
    if isinstance(exc, HTTPException) and exc.status_code == 405:
        return error_response(exc, request.state.request_id, {"Allow": _allowed_methods(request)})
    return error_response(exc, request.state.request_id)


def _allowed_methods(request: Request) -> str:
    """Every method of every route at the request's path (Starlette names only its first route's)."""
    routes = getattr(request.app, "routes", [])
    methods = {method for route in routes if isinstance(route, Route) and route.matches(request.scope)[0] != Match.NONE
               for method in route.methods or ()}
    return ", ".join(sorted(methods))
