"""HTTP to a runbase server, shared by the HTTP store and the HTTP artifact repository.

One keep-alive :class:`httpx.Client` per :class:`Transport`. Failures are retried with
exponential backoff and jitter when that is safe:

* the connection could not be made (nothing was sent): always;
* the connection broke, timed out, or the server answered 5xx: only for idempotent calls.

Error answers become runbase's exceptions with the server's message; a server that cannot be
reached is a :class:`~runbase.errors.StoreError` that says so.
"""

from __future__ import annotations

import gzip
import ipaddress
import json
import os
import random
import socket
import threading
import time
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import urlsplit

import httpx

from runbase.errors import (
    AlreadyExistsError,
    InvalidInputError,
    NotFoundError,
    RunbaseError,
    ServerUnavailableError,
    StoreError,
)

__all__ = ["Transport", "error_for_code", "error_from_response"]

#: The token sent to a server that requires one (``runbase server --auth-tokens-file``);
#: MLflow's variable is honoured too, so one setting serves both clients.
TOKEN_ENV: Final = "RUNBASE_TRACKING_TOKEN"
MLFLOW_TOKEN_ENV: Final = "MLFLOW_TRACKING_TOKEN"
#: Request bodies larger than this are gzip-compressed, but to a server on this machine: over
#: loopback, compressing costs the client (and inflating the server) more CPU than sending the
#: bytes (a metric point's ~26 JSON bytes: ~190 ns to deflate, ~90 ns to inflate).
GZIP_MIN_BYTES: Final = 32 * 1024

_BY_CODE: Final[dict[str, type[RunbaseError]]] = {
    "INVALID_PARAMETER_VALUE": InvalidInputError,
    "BAD_REQUEST": InvalidInputError,
    "MALFORMED_REQUEST": InvalidInputError,
    "RESOURCE_DOES_NOT_EXIST": NotFoundError,
    "ENDPOINT_NOT_FOUND": NotFoundError,
    "RESOURCE_ALREADY_EXISTS": AlreadyExistsError,
}
_BY_STATUS: Final[dict[int, type[RunbaseError]]] = {
    400: InvalidInputError,
    404: NotFoundError,
    409: AlreadyExistsError,
}


def error_for_code(error_code: str, message: str) -> RunbaseError:
    """The runbase exception for an MLflow error code (StoreError when the code is unknown)."""
    return _BY_CODE.get(error_code, StoreError)(message)


def error_from_response(response: httpx.Response) -> RunbaseError:
    """The runbase exception an error answer stands for, with the server's message."""
    try:
        body = json.loads(response.content)
        code, message = body["error_code"], body["message"]
    except (ValueError, KeyError, TypeError):
        code, message = "", response.text.strip()[:500] or response.reason_phrase
    status = response.status_code
    kind = _BY_CODE.get(code) or _BY_STATUS.get(status)
    if status >= 500:
        kind = ServerUnavailableError  # a StoreError: the store behind the server failed
    if not code:
        message = f"{message} (HTTP {status} from {response.request.method} {response.request.url})"
    return (kind or StoreError)(message)


class Transport:
    """Requests to one server, with retries. Thread-safe."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 60.0,
        connect_timeout: float = 5.0,
        retries: int = 3,
        backoff: float = 0.25,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        gzip_bodies: bool | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        #: Compress large bodies (``request(compress=True)``); by default unless on loopback.
        self.gzip_bodies = not _is_loopback(self.base_url) if gzip_bodies is None else gzip_bodies
        self.retries = retries
        self.backoff = backoff
        if transport is None:
            # Requests are written as headers then body: without TCP_NODELAY, Nagle's algorithm
            # can hold the body until the server's delayed ACK (~40 ms per call).
            transport = httpx.HTTPTransport(
                socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
            )
        all_headers = dict(headers or {})
        token = os.environ.get(TOKEN_ENV) or os.environ.get(MLFLOW_TOKEN_ENV)
        if token and not any(k.lower() == "authorization" for k in all_headers):
            all_headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            headers=all_headers,
            transport=transport,
            follow_redirects=False,
        )
        self._closed = threading.Event()

    def close(self) -> None:
        self._closed.set()
        self._http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool,
        content: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        compress: bool = False,
        stream: bool = False,
    ) -> httpx.Response:
        """Send a request to ``base_url + path``; return a 2xx answer or raise.

        With ``compress``, a ``bytes`` body over :data:`GZIP_MIN_BYTES` is gzip-compressed. With
        ``stream``, the answer's body is not read (the caller closes it). A file-like ``content``
        is rewound before each retry.
        """
        all_headers = dict(headers or {})
        big = isinstance(content, bytes) and len(content) > GZIP_MIN_BYTES
        if compress and big and self.gzip_bodies:
            content = gzip.compress(content, compresslevel=1)
            all_headers["Content-Encoding"] = "gzip"
        url = self.base_url + path
        attempt = 0
        while True:
            if hasattr(content, "seek"):
                content.seek(0)
            try:
                request = self._http.build_request(
                    method, url, content=content, params=params, headers=all_headers
                )
                response = self._http.send(request, stream=stream)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                failure: RunbaseError = ServerUnavailableError(
                    f"Cannot reach the runbase server at {self.base_url}: {exc}"
                )
                retry = True
            except httpx.TransportError as exc:
                failure = ServerUnavailableError(
                    f"The connection to the runbase server at {self.base_url} failed during "
                    f"{method} {path}: {exc!r}"
                )
                retry = idempotent
            else:
                if response.status_code < 400:
                    return response
                if stream:
                    response.read()
                    response.close()
                failure = error_from_response(response)
                retry = idempotent and response.status_code >= 500
            if not retry or attempt >= self.retries or self._closed.is_set():
                raise failure
            delay = self.backoff * (2**attempt) * (0.5 + random.random())
            attempt += 1
            time.sleep(delay)


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
