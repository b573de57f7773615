"""The OpenAPI 3.1 document of the native API, generated from its endpoint table.

Schemas come from msgspec (``msgspec.json.schema_components``), so the document describes
exactly what the server decodes and encodes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Final, Literal, Protocol

import msgspec

from runbase.store._wire import ErrorBody

__all__ = ["QueryParam", "openapi_document", "openapi_path"]

_REF: Final = "#/components/schemas/{name}"
_PATH_PARAM: Final = re.compile(r"{(\w+)(?::\w+)?}")


@dataclass(frozen=True)
class QueryParam:
    name: str
    type: Literal["string", "integer"]
    description: str
    required: bool = False


class _Endpoint(Protocol):
    @property
    def method(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def summary(self) -> str: ...
    @property
    def request(self) -> type[Any] | None: ...
    @property
    def response(self) -> type[Any]: ...
    @property
    def query(self) -> tuple[QueryParam, ...]: ...


def openapi_path(route_path: str) -> str:
    """``/runs/{run_id}/metrics/{key:path}`` → ``/runs/{run_id}/metrics/{key}``."""
    return _PATH_PARAM.sub(r"{\1}", route_path)


def _version() -> str:
    try:
        return version("runbase")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0"


def _json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def openapi_document(endpoints: Sequence[_Endpoint]) -> dict[str, Any]:
    types: list[Any] = [ErrorBody]
    for endpoint in endpoints:
        if endpoint.request is not None:
            types.append(endpoint.request)
        types.append(endpoint.response)
    refs, components = msgspec.json.schema_components(types, ref_template=_REF)
    ref_of = dict(zip(types, refs, strict=True))
    error = {"description": "Error", "content": _json_content(ref_of[ErrorBody])}
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        path = openapi_path(endpoint.path)
        parameters: list[dict[str, Any]] = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in _PATH_PARAM.findall(endpoint.path)
        ]
        parameters += [
            {
                "name": q.name,
                "in": "query",
                "required": q.required,
                "description": q.description,
                "schema": {"type": q.type},
            }
            for q in endpoint.query
        ]
        operation: dict[str, Any] = {
            "operationId": f"{endpoint.method.lower()}{_operation_suffix(path)}",
            "summary": endpoint.summary,
            "responses": {
                "200": {"description": "OK", "content": _json_content(ref_of[endpoint.response])},
                "400": error,
                "404": error,
                "409": error,
                "500": error,
            },
        }
        if parameters:
            operation["parameters"] = parameters
        if endpoint.request is not None:
            operation["requestBody"] = {
                "required": True,
                "content": _json_content(ref_of[endpoint.request]),
            }
        paths.setdefault(path, {})[endpoint.method.lower()] = operation
    paths["/openapi.json"] = {
        "get": {
            "operationId": "getOpenapi",
            "summary": "This document",
            "responses": {"200": {"description": "The OpenAPI document"}},
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "runbase native API",
            "version": _version(),
            "description": (
                "Metric values are numbers or the strings 'NaN', 'Infinity', '-Infinity'. "
                "Request bodies may be sent with Content-Encoding: gzip."
            ),
        },
        "servers": [{"url": "/api/v1"}],
        "paths": paths,
        "components": {"schemas": components},
    }


def _operation_suffix(path: str) -> str:
    words = re.split(r"[/_\-{}.]+", path)
    return "".join(word[:1].upper() + word[1:] for word in words if word)
