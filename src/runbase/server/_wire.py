"""MLflow's JSON wire format: request fields read with MLflow's checks and messages, responses
written the way the MLflow client parses them, and the endpoint table every API module fills.

A handler is a plain synchronous function ``(ctx, fields) -> dict``; :class:`Endpoints` turns it
into a Starlette route that reads the request (bounded), runs the handler in the thread pool
(store calls block) and maps every :class:`~runbase.errors.RunbaseError` to MLflow's error JSON
and HTTP status. A validation error is never a 5xx: the MLflow client retries those for minutes.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from runbase.errors import InvalidInputError, RunbaseError
from runbase.server._context import ServerContext

__all__ = [
    "HTTP_STATUS",
    "MAX_JSON_BODY",
    "Endpoints",
    "Fields",
    "Handler",
    "decode_json_object",
    "decode_offset_token",
    "double",
    "encode_offset_token",
    "error_response",
    "internal_error_response",
    "invalid_value",
    "json_response",
    "logger",
    "missing_value",
    "query_dict",
    "read_body",
    "read_fields",
    "runbase_error_response",
    "status_of",
]

logger = logging.getLogger("runbase.server")

#: The largest JSON request body read, in bytes. MLflow's own limits (1000 metrics, 100 params
#: of 6000 characters, 100 tags of 8000...) keep every legitimate request far below it.
MAX_JSON_BODY: Final = 32 * 1024 * 1024

#: HTTP status per MLflow error code (``mlflow/exceptions.py``).
HTTP_STATUS: Final[Mapping[str, int]] = {
    "INVALID_PARAMETER_VALUE": 400,
    "RESOURCE_ALREADY_EXISTS": 400,
    "BAD_REQUEST": 400,
    "INVALID_STATE": 500,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "RESOURCE_DOES_NOT_EXIST": 404,
    "ENDPOINT_NOT_FOUND": 404,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "RESOURCE_CONFLICT": 409,
    "ABORTED": 409,
    "REQUEST_LIMIT_EXCEEDED": 429,
    "RESOURCE_EXHAUSTED": 429,
    "INTERNAL_ERROR": 500,
    "DATA_LOSS": 500,
    "NOT_IMPLEMENTED": 501,
    "TEMPORARILY_UNAVAILABLE": 503,
}

_API_DOCS: Final = " See the API docs for more information about request parameters."
_JSON_TYPES: Final = ("application/json",)
_ENCODER: Final = msgspec.json.Encoder()
_DECODER: Final = msgspec.json.Decoder()


# -- errors ------------------------------------------------------------------------------------
def invalid_value(path: str, value: object) -> InvalidInputError:
    """MLflow's message for a field of the wrong type or out of range."""
    shown = json.dumps(value, sort_keys=True, separators=(",", ":"), default=repr)
    return InvalidInputError(
        f"Invalid value {shown} for parameter '{path}' supplied. "
        f"Hint: Value was of type '{type(value).__name__}'.{_API_DOCS}"
    )


def missing_value(path: str) -> InvalidInputError:
    """MLflow's message for a required field that is absent or empty."""
    return InvalidInputError(f"Missing value for required parameter '{path}'.{_API_DOCS}")


def status_of(error_code: str) -> int:
    # An error code this table does not know is the caller's problem unless it says otherwise.
    return HTTP_STATUS.get(error_code, 400)


def error_response(error_code: str, message: str, status: int | None = None) -> Response:
    body = {"error_code": error_code, "message": message}
    return json_response(body, status or status_of(error_code))


def runbase_error_response(exc: RunbaseError) -> Response:
    status = status_of(exc.error_code)
    if status >= 500:
        logger.error("%s: %s", exc.error_code, exc.message)
    return error_response(exc.error_code, exc.message, status)


def internal_error_response() -> Response:
    return error_response("INTERNAL_ERROR", "Internal server error; see the server log.", 500)


# -- responses ---------------------------------------------------------------------------------
def json_response(payload: Any, status: int = 200) -> Response:
    return Response(_ENCODER.encode(payload), status, media_type="application/json")


def double(value: float) -> float | str:
    """A double as MLflow's proto JSON writes it: NaN and ±inf as the strings "NaN",
    "Infinity" and "-Infinity" (plain JSON has no literal for them)."""
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def encode_offset_token(offset: int) -> str:
    """MLflow's page token: base64 of ``{"offset": N}``."""
    return base64.b64encode(json.dumps({"offset": offset}).encode()).decode()


def decode_offset_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        decoded = base64.b64decode(token, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInputError("Invalid page token, could not base64-decode") from None
    try:
        offset = json.loads(decoded)["offset"]
    except (ValueError, KeyError, TypeError):
        raise InvalidInputError(f"Invalid page token, decoded value={decoded!r}") from None
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise InvalidInputError(f"Invalid page token, decoded value={decoded!r}")
    return offset


# -- requests ----------------------------------------------------------------------------------
class Fields:
    """The fields of one request (a JSON object, or query parameters for a GET), read with the
    checks and messages of MLflow's handlers. Nested objects keep their path for messages
    (``metrics[0].timestamp``)."""

    __slots__ = ("_data", "_prefix")

    def __init__(self, data: Mapping[str, Any], prefix: str = "") -> None:
        self._data = data
        self._prefix = prefix

    def path(self, name: str) -> str:
        return f"{self._prefix}{name}"

    def has(self, name: str) -> bool:
        return self._data.get(name) is not None

    def string(self, name: str, default: str | None = None) -> str | None:
        value = self._data.get(name)
        if value is None:
            return default
        if not isinstance(value, str):
            raise invalid_value(self.path(name), value)
        return value

    def required_string(self, name: str) -> str:
        value = self.string(name)
        if not value:
            raise missing_value(self.path(name))
        return value

    def run_id(self) -> str:
        """``run_id``, or the older ``run_uuid`` the MLflow client sends beside it."""
        if self._data.get("run_id") is None and self._data.get("run_uuid") is not None:
            return self.required_string("run_uuid")
        return self.required_string("run_id")

    def integer(self, name: str) -> int | None:
        value = self._data.get(name)
        if value is None:
            return None
        if isinstance(value, bool):
            raise invalid_value(self.path(name), value)
        if isinstance(value, int):
            number = value
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        elif isinstance(value, str):  # proto JSON writes int64 as strings; GET sends text
            try:
                number = int(value.strip())
            except ValueError:
                raise invalid_value(self.path(name), value) from None
        else:
            raise invalid_value(self.path(name), value)
        if not -(2**63) <= number < 2**63:
            raise invalid_value(self.path(name), value)
        return number

    def required_integer(self, name: str) -> int:
        value = self.integer(name)
        if value is None:
            raise missing_value(self.path(name))
        return value

    def double(self, name: str) -> float | None:
        value = self._data.get(name)
        if value is None:
            return None
        if isinstance(value, bool):
            raise invalid_value(self.path(name), value)
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):  # "NaN", "Infinity", "-Infinity", or a number as text
            try:
                return float(value)
            except ValueError:
                raise invalid_value(self.path(name), value) from None
        raise invalid_value(self.path(name), value)

    def required_double(self, name: str) -> float:
        value = self.double(name)
        if value is None:
            raise missing_value(self.path(name))
        return value

    def boolean(self, name: str) -> bool | None:
        """A JSON boolean, or ``"true"``/``"false"`` from a query string."""
        value = self._data.get(name)
        if value is None:
            return None
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise invalid_value(self.path(name), value)

    def enum(self, name: str, names: Sequence[str]) -> str | None:
        """A proto enum, by name or by number (``names[0]`` is number 1)."""
        value = self._data.get(name)
        if value is None:
            return None
        if isinstance(value, str) and value.upper() in names:
            return value.upper()
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= len(names):
            return names[value - 1]
        raise invalid_value(self.path(name), value)

    def strings(self, name: str) -> list[str]:
        value = self._data.get(name)
        if value is None:
            return []
        if isinstance(value, str):  # a repeated query parameter given once
            return [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise invalid_value(self.path(name), value)
        return value

    def objects(self, name: str) -> list[Fields]:
        value = self._data.get(name)
        if value is None:
            return []
        if not isinstance(value, list):
            raise invalid_value(self.path(name), value)
        out = []
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                raise invalid_value(f"{self.path(name)}[{index}]", item)
            out.append(Fields(item, f"{self.path(name)}[{index}]."))
        return out

    def object(self, name: str) -> Fields:
        value = self._data.get(name)
        if value is None:
            return Fields({}, f"{self.path(name)}.")
        if not isinstance(value, dict):
            raise invalid_value(self.path(name), value)
        return Fields(value, f"{self.path(name)}.")

    def key_values(self, name: str) -> dict[str, str]:
        """A list of ``{"key", "value"}`` objects (tags) as a dict; a missing value is ""."""
        return {
            item.required_string("key"): item.string("value", "") or ""
            for item in self.objects(name)
        }


def query_dict(params: QueryParams) -> dict[str, Any]:
    """Query parameters as JSON would carry them: a repeated key becomes a list."""
    data: dict[str, Any] = {}
    for key in params:
        values = params.getlist(key)
        data[key] = values[0] if len(values) == 1 else values
    return data


async def read_body(request: Request, limit: int) -> bytes:
    """The whole request body, refused with a 400 once it passes ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(int(declared), limit)
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(size, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(size: int, limit: int) -> InvalidInputError:
    return InvalidInputError(
        f"Request bodies must be at most {limit} bytes, got a request of at least {size} bytes."
    )


def decode_json_object(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        data = _DECODER.decode(body)
    except msgspec.DecodeError:
        try:  # bare NaN / Infinity, as Python's json module writes them
            data = json.loads(body)
        except ValueError as exc:
            raise InvalidInputError(f"Malformed JSON in the request body: {exc}") from None
    if isinstance(data, str):  # older MLflow clients double-encode their JSON
        with contextlib.suppress(ValueError):
            data = json.loads(data)
    if not isinstance(data, dict):
        raise InvalidInputError(
            f"The request body must be a JSON object, not {type(data).__name__}"
        )
    return data


async def read_fields(request: Request, limit: int) -> Fields:
    if request.method in ("GET", "HEAD"):
        data = query_dict(request.query_params)
    else:
        if request.method in ("POST", "PUT", "PATCH"):
            _check_content_type(request)
        data = decode_json_object(await read_body(request, limit))
    data.update(request.path_params)
    return Fields(data)


def _check_content_type(request: Request) -> None:
    # A browser cannot send application/json across origins without a CORS preflight, so this
    # check also keeps other web pages from writing to a server on localhost (as MLflow does).
    content_type = request.headers.get("content-type")
    if content_type is None:
        raise InvalidInputError("Bad Request. Content-Type header is missing.")
    if content_type.split(";")[0].strip().lower() not in _JSON_TYPES:
        raise InvalidInputError(f"Bad Request. Content-Type must be one of {list(_JSON_TYPES)}.")


# -- endpoint table ----------------------------------------------------------------------------
Handler = Callable[[ServerContext, Fields], Mapping[str, Any]]


class Endpoints:
    """The routes of one API module: ``@endpoints.post("/runs/create")`` on a sync handler."""

    def __init__(self) -> None:
        self._entries: list[tuple[str, str, Handler, int]] = []

    def route(
        self, method: str, path: str, *, body_limit: int = MAX_JSON_BODY
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self._entries.append((method, path, handler, body_limit))
            return handler

        return register

    def get(self, path: str) -> Callable[[Handler], Handler]:
        return self.route("GET", path)

    def post(self, path: str, *, body_limit: int = MAX_JSON_BODY) -> Callable[[Handler], Handler]:
        return self.route("POST", path, body_limit=body_limit)

    def patch(self, path: str) -> Callable[[Handler], Handler]:
        return self.route("PATCH", path)

    def delete(self, path: str) -> Callable[[Handler], Handler]:
        """A DELETE; MLflow's client sends its fields as a JSON body."""
        return self.route("DELETE", path)

    def routes(self, ctx: ServerContext) -> list[BaseRoute]:
        return [
            Route(path, _endpoint(ctx, handler, limit), methods=[method], name=handler.__name__)
            for method, path, handler, limit in self._entries
        ]


def _endpoint(ctx: ServerContext, handler: Handler, body_limit: int) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        try:
            fields = await read_fields(request, body_limit)
            payload = await run_in_threadpool(handler, ctx, fields)
        except RunbaseError as exc:
            return runbase_error_response(exc)
        except ClientDisconnect:
            return Response(status_code=400)  # nobody is left to read it
        except Exception:
            logger.exception("Unexpected error in %s %s", request.method, request.url.path)
            return internal_error_response()
        return json_response(payload)

    endpoint.__name__ = handler.__name__
    return endpoint
