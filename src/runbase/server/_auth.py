"""Token authentication for ``runbase server --auth-tokens-file``: deny by default.

When tokens are configured, every request — MLflow's API, the artifact proxy, runbase's API,
the web UI and its files — needs one of them, sent as ``Authorization: Bearer <token>``
(runbase's client with ``RUNBASE_TRACKING_TOKEN``, MLflow's with ``MLFLOW_TRACKING_TOKEN``) or
as the password of HTTP Basic authentication (any user name: ``MLFLOW_TRACKING_PASSWORD``, or
the browser's own prompt, which the 401 answer asks for). Only ``/health`` stays open, so a
load balancer can probe the server; it tells nothing about the store.

Tokens are compared as SHA-256 digests in constant time; they never appear in logs or answers.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Final

from starlette.types import ASGIApp, Receive, Scope, Send

from runbase.errors import InvalidInputError

__all__ = ["MIN_TOKEN_LENGTH", "OPEN_PATHS", "TokenAuth", "read_tokens"]

#: Paths answered without a token.
OPEN_PATHS: Final = frozenset({"/health"})
MIN_TOKEN_LENGTH: Final = 16
_BODY: Final = json.dumps(
    {
        "error_code": "UNAUTHENTICATED",
        "message": "This runbase server needs a token: send 'Authorization: Bearer <token>' "
        "(RUNBASE_TRACKING_TOKEN or MLFLOW_TRACKING_TOKEN) or HTTP Basic with the token as "
        "password",
    }
).encode()


def read_tokens(path: str | Path) -> list[str]:
    """Tokens from a file: one per line; blank lines and ``#`` comments are skipped."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InvalidInputError(f"Cannot read the tokens file {path}: {exc}") from None
    tokens = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not tokens:
        raise InvalidInputError(f"The tokens file {path} holds no token")
    for number, token in enumerate(tokens, 1):
        if len(token) < MIN_TOKEN_LENGTH or any(c.isspace() for c in token):
            raise InvalidInputError(
                f"Token {number} in {path} is too weak: use at least {MIN_TOKEN_LENGTH} "
                "characters without spaces (e.g. `python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))'`)"
            )
    return tokens


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class TokenAuth:
    """ASGI middleware answering 401 to any HTTP request without a valid token."""

    def __init__(self, app: ASGIApp, tokens: Sequence[str], open_paths: Iterable[str] = OPEN_PATHS):
        if not tokens:
            raise ValueError("TokenAuth needs at least one token")
        self.app = app
        self._digests = [_digest(t) for t in tokens]
        self._open = frozenset(open_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" or (scope["type"] == "http" and scope["path"] in self._open):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "http" and self._allowed(scope):
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # websockets: none are served; refuse them all
            await send({"type": "websocket.close", "code": 1008})
            return
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(_BODY)).encode()),
                    (b"www-authenticate", b'Basic realm="runbase", charset="UTF-8"'),
                ],
            }
        )
        await send({"type": "http.response.body", "body": _BODY})

    def _allowed(self, scope: Scope) -> bool:
        token = None
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                token = _credential(value)
                break
        if token is None:
            return False
        digest = _digest(token)
        # Compare with every token, without stopping early, so timing tells nothing.
        matched = False
        for known in self._digests:
            matched |= hmac.compare_digest(digest, known)
        return matched


def _credential(header: bytes) -> str | None:
    """The token in a Bearer header, or the password of a Basic one."""
    try:
        scheme, _, value = header.decode("latin-1").partition(" ")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes any byte
        return None
    scheme = scheme.lower()
    value = value.strip()
    if scheme == "bearer" and value:
        return value
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        _user, sep, password = decoded.partition(":")
        return password if sep and password else None
    return None
