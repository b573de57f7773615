"""MLflow's artifact proxy under ``/api/2.0/mlflow-artifacts/artifacts``, and the legacy
``GET /api/2.0/mlflow/artifacts/list``.

``mlflow-artifacts:/<path>`` names ``<path>`` in the server's artifact destination
(``ServerContext.artifacts``). Uploads are raw bodies, streamed into the repository's atomic
writer (a temporary file renamed into place), so a checkpoint of any size never sits in memory
and a reader never sees half of it. Downloads stream the file back. Every path goes through
:func:`runbase.artifacts.safe_relative_path` first; a refused path is a 400 "Invalid path" and
nothing is touched. With artifact serving off, every proxy route answers 503.
"""

from __future__ import annotations

import mimetypes
import os
import posixpath
import unicodedata
from collections.abc import Awaitable, Callable, Iterator, Mapping
from pathlib import PurePosixPath
from typing import Any, BinaryIO, Final
from urllib.parse import quote, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from runbase.artifacts import FileInfo, safe_relative_path
from runbase.errors import InvalidInputError, RunbaseError
from runbase.server._context import ServerContext
from runbase.server._wire import (
    Endpoints,
    Fields,
    error_response,
    internal_error_response,
    json_response,
    logger,
    runbase_error_response,
)

__all__ = ["PROXY_SCHEME", "list_under", "proxied_path", "routes", "tracking_endpoints"]

PROXY_SCHEME: Final = "mlflow-artifacts"
CHUNK_SIZE: Final = 1024 * 1024

#: Served as text/plain, as MLflow does (``mlflow/utils/mime_type_utils.py``).
_TEXT_EXTENSIONS: Final = frozenset((
    "txt", "log", "err", "cfg", "conf", "cnf", "cf", "ini", "properties", "prop", "hocon", "toml",
    "yaml", "yml", "xml", "json", "js", "py", "py3", "csv", "tsv", "md", "rst", "ipynb",
    "MLmodel", "MLproject",
))  # fmt: skip
_TOKEN_CHARS: Final = frozenset(
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)
_DISABLED: Final = (
    "Artifact serving is disabled: this server was started with --no-serve-artifacts, so "
    "clients write artifacts to the artifact root themselves."
)

tracking_endpoints = Endpoints()

_Handler = Callable[[ServerContext, Request], Awaitable[Response]]


def routes(ctx: ServerContext) -> list[BaseRoute]:
    """The proxy's routes, to be mounted at ``/api/2.0/mlflow-artifacts``."""

    async def listing(request: Request) -> Response:
        return await _guarded(ctx, request, _list)

    async def one_file(request: Request) -> Response:
        # Starlette answers HEAD on every GET route: the download's headers, without its body.
        methods: dict[str, _Handler] = {"GET": _download, "HEAD": _download}
        handler = {**methods, "PUT": _upload, "DELETE": _delete}[request.method]
        return await _guarded(ctx, request, handler)

    return [
        Route("/artifacts", listing, methods=["GET"]),
        Route("/artifacts/{path:path}", one_file, methods=["GET", "PUT", "DELETE"]),
    ]


async def _guarded(ctx: ServerContext, request: Request, handler: _Handler) -> Response:
    if not ctx.serve_artifacts:
        return error_response("TEMPORARILY_UNAVAILABLE", _DISABLED, 503)
    try:
        response = await handler(ctx, request)
    except RunbaseError as exc:
        return runbase_error_response(exc)
    except ClientDisconnect:
        return Response(status_code=400)  # nobody is left to read it
    except Exception:
        logger.exception("Unexpected error in %s %s", request.method, request.url.path)
        return internal_error_response()
    return response


def _safe(path: str | None) -> str:
    try:
        return safe_relative_path(path)
    except InvalidInputError:
        raise InvalidInputError("Invalid path") from None


def _file_info_json(info: FileInfo, path: str) -> dict[str, Any]:
    out: dict[str, Any] = {"path": path, "is_dir": info.is_dir}
    if info.file_size is not None:
        out["file_size"] = info.file_size
    return out


# -- the proxy -----------------------------------------------------------------------------------
async def _list(ctx: ServerContext, request: Request) -> Response:
    rel = _safe(request.query_params.get("path"))
    infos = await run_in_threadpool(ctx.artifacts.list_artifacts, rel)
    files = [_file_info_json(i, posixpath.basename(i.path)) for i in infos]
    return json_response({"files": files} if files else {})


async def _upload(ctx: ServerContext, request: Request) -> Response:
    rel = _safe(request.path_params["path"])
    if not rel or request.path_params["path"].endswith("/"):
        raise InvalidInputError("The artifact path must name a file, not end with '/'")
    writer = ctx.artifacts.open_writer(rel)
    file = writer.__enter__()
    try:
        buffer = bytearray()
        async for chunk in request.stream():
            buffer += chunk
            if len(buffer) >= CHUNK_SIZE:
                await run_in_threadpool(file.write, bytes(buffer))
                buffer.clear()
        if buffer:
            await run_in_threadpool(file.write, bytes(buffer))
    except BaseException as exc:
        writer.__exit__(type(exc), exc, exc.__traceback__)  # drops the partial file
        raise
    await run_in_threadpool(writer.__exit__, None, None, None)
    return Response(status_code=200)


async def _download(ctx: ServerContext, request: Request) -> Response:
    rel = _safe(request.path_params["path"])
    if not rel:
        raise InvalidInputError("The artifact path must name a file")
    try:
        reader = await run_in_threadpool(ctx.artifacts.open_reader, rel)
    except RunbaseError as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return error_response(exc.error_code, f"No such artifact: '{rel}'")
        raise
    name = PurePosixPath(rel).name
    headers = {
        "Content-Disposition": content_disposition(name),
        "X-Content-Type-Options": "nosniff",
    }
    size = _size(reader)
    if size is not None:
        headers["Content-Length"] = str(size)
    return StreamingResponse(_chunks(reader), headers=headers, media_type=guess_mime_type(name))


async def _delete(ctx: ServerContext, request: Request) -> Response:
    rel = _safe(request.path_params["path"])
    if not rel:
        raise InvalidInputError("Refusing to delete the whole artifact destination")
    await run_in_threadpool(ctx.artifacts.delete_artifacts, rel)
    return json_response({})


def _chunks(reader: BinaryIO) -> Iterator[bytes]:
    """Read in Starlette's thread pool (a sync iterator), closing the file at the end."""
    with reader:
        while chunk := reader.read(CHUNK_SIZE):
            yield chunk


def _size(reader: BinaryIO) -> int | None:
    try:
        return os.fstat(reader.fileno()).st_size
    except (OSError, AttributeError, ValueError):
        return None


def guess_mime_type(name: str) -> str:
    extension = posixpath.splitext(name)[1].lstrip(".") or name
    if extension in _TEXT_EXTENSIONS:
        return "text/plain"
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def content_disposition(filename: str) -> str:
    """``attachment`` with the file name, RFC 6266 style (ASCII fallback plus ``filename*``)."""
    try:
        filename.encode("ascii")
    except UnicodeEncodeError:
        fallback = (
            unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode("ascii")
            or "download"
        )
        encoded = quote(filename, safe="!#$&+-.^_`|~")
        return f"attachment; filename={_header_quote(fallback)}; filename*=UTF-8''{encoded}"
    return f"attachment; filename={_header_quote(filename)}"


def _header_quote(value: str) -> str:
    if value and set(value) <= _TOKEN_CHARS:
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# -- mapping run artifact URIs -------------------------------------------------------------------
def proxied_path(artifact_uri: str) -> str | None:
    """The destination path an ``mlflow-artifacts:`` URI names (checked), else None."""
    parts = urlsplit(artifact_uri)
    if parts.scheme != PROXY_SCHEME:
        return None
    return _safe(parts.path.lstrip("/"))


def list_under(ctx: ServerContext, root_uri: str, path: str | None, owner: str) -> dict[str, Any]:
    """``{"root_uri", "files"}``: what lies at ``path`` under the proxied artifact root of
    ``owner`` (a run or a logged model), with paths relative to that root."""
    root = proxied_path(root_uri)
    if root is None or not ctx.serve_artifacts:
        raise InvalidInputError(
            f"The artifacts of {owner} are not served by this server "
            f"(artifact_uri={root_uri!r}); read them from that location directly"
        )
    rel = _safe(path)
    infos = ctx.artifacts.list_artifacts(posixpath.join(root, rel) if rel else root)
    files = [_file_info_json(i, posixpath.join(rel, posixpath.basename(i.path))) for i in infos]
    return {"root_uri": root_uri, "files": files}


@tracking_endpoints.get("/artifacts/list")
def list_run_artifacts(ctx: ServerContext, f: Fields) -> Mapping[str, Any]:
    """The legacy listing the MLflow UI uses: paths relative to the run's artifact root."""
    run = ctx.store.get_run(f.run_id())
    return list_under(ctx, run.info.artifact_uri, f.string("path"), f"run {run.info.run_id}")
