"""The runbase server as an ASGI application: MLflow's REST API, the artifact proxy and
runbase's native API over one store.

Routes::

    /health, /version                              plain text
    /api/3.0/mlflow/server-info                    what the MLflow client asks before uploads
    /api/2.0/mlflow/...  /ajax-api/2.0/mlflow/...  MLflow's tracking API, logged models, registry
    /api/2.0/mlflow-artifacts/artifacts[/<path>]   MLflow's artifact proxy (also under /ajax-api)
    /api/v1/sweeps/...                             sweep results (``_sweeps_api``)
    /api/v1/ui/...                                 the web UI's API (read-only views)
    /api/v1/...                                    runbase's native API
    /, /assets/...                                 the web UI (``_ui_static``)

With auth tokens (``_auth``), every route but ``/health`` needs one.

The application keeps no state beyond its :class:`ServerContext`, so several worker processes (or
replicas behind a load balancer) can serve one PostgreSQL database. ``app_from_env`` is the factory
each uvicorn worker calls.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from runbase.artifacts import get_artifact_repository
from runbase.server import (
    _artifact_proxy,
    _mlflow_experiments,
    _mlflow_logged_models,
    _mlflow_registry,
    _mlflow_tracking,
    _native,
    _sweeps_api,
    _ui_api,
    _ui_static,
)
from runbase.server._auth import TokenAuth, read_tokens
from runbase.server._context import ServerContext
from runbase.server._wire import Endpoints, error_response, internal_error_response, json_response
from runbase.store import Store, open_store

__all__ = ["MLFLOW_VERSION", "app_from_env", "build_app", "create_app", "prepare_store"]

#: The MLflow version whose REST API this server speaks, reported at ``/version``.
MLFLOW_VERSION: Final = "3.17.2"
#: Where experiments put their artifacts when the server proxies them.
PROXY_ARTIFACT_ROOT: Final = f"{_artifact_proxy.PROXY_SCHEME}:/"

ENV_BACKEND_STORE_URI: Final = "RUNBASE_SERVER_BACKEND_STORE_URI"
ENV_ARTIFACTS_DESTINATION: Final = "RUNBASE_SERVER_ARTIFACTS_DESTINATION"
ENV_SERVE_ARTIFACTS: Final = "RUNBASE_SERVER_SERVE_ARTIFACTS"
ENV_AUTH_TOKENS_FILE: Final = "RUNBASE_SERVER_AUTH_TOKENS_FILE"

#: The API modules mounted under MLflow's prefixes.
MLFLOW_ENDPOINTS: Final[tuple[Endpoints, ...]] = (
    _mlflow_experiments.endpoints,
    _mlflow_tracking.endpoints,
    _artifact_proxy.tracking_endpoints,
    _mlflow_logged_models.endpoints,
    _mlflow_registry.endpoints,
)


def create_app(
    backend_store_uri: str,
    artifacts_destination: str,
    *,
    serve_artifacts: bool = True,
    auth_tokens: Sequence[str] | None = None,
) -> Starlette:
    """The server over the store ``backend_store_uri``, keeping artifacts in
    ``artifacts_destination`` (a local path, a ``file://`` URI or ``s3://bucket/prefix``).

    With ``serve_artifacts`` (the default, as in ``mlflow server``) experiments get
    ``mlflow-artifacts:/<id>`` locations and clients send their files through the server.
    Without it, the destination itself becomes the artifact root that clients write to directly,
    and the proxy routes answer 503. With ``auth_tokens``, every request but ``/health`` must
    carry one of them (see ``_auth``).
    """
    artifacts = get_artifact_repository(artifacts_destination)
    store = _open_store(backend_store_uri, artifacts_destination, serve_artifacts)
    return build_app(
        ServerContext(store=store, artifacts=artifacts, serve_artifacts=serve_artifacts),
        auth_tokens=auth_tokens,
    )


def prepare_store(
    backend_store_uri: str, artifacts_destination: str, *, serve_artifacts: bool = True
) -> None:
    """Create the store's schema and default experiment as ``create_app`` would, then close it:
    run once before starting several workers, so they do not race to do it."""
    get_artifact_repository(artifacts_destination)  # a bad destination fails here too
    _open_store(backend_store_uri, artifacts_destination, serve_artifacts).close()


def _open_store(backend_store_uri: str, artifacts_destination: str, serve_artifacts: bool) -> Store:
    root = PROXY_ARTIFACT_ROOT if serve_artifacts else _as_uri(artifacts_destination)
    return open_store(backend_store_uri, artifact_root=root)


def app_from_env() -> Starlette:
    """The uvicorn factory: ``create_app`` configured by ``RUNBASE_SERVER_*`` variables."""
    tokens_file = os.environ.get(ENV_AUTH_TOKENS_FILE)
    return create_app(
        os.environ[ENV_BACKEND_STORE_URI],
        os.environ[ENV_ARTIFACTS_DESTINATION],
        serve_artifacts=os.environ.get(ENV_SERVE_ARTIFACTS, "true") == "true",
        auth_tokens=read_tokens(tokens_file) if tokens_file else None,
    )


def build_app(
    ctx: ServerContext,
    *,
    ui_dist: Path | None = None,
    auth_tokens: Sequence[str] | None = None,
) -> Starlette:
    """The application over an existing context; the store is closed when the app shuts down.

    ``ui_dist`` is the compiled web UI to serve at ``/`` (default: the one in the package);
    ``auth_tokens`` turns on token authentication for every route but ``/health``."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        ctx.store.close()

    def mlflow_routes() -> list[BaseRoute]:
        return [route for table in MLFLOW_ENDPOINTS for route in table.routes(ctx)]

    async def server_info(_request: Request) -> Response:
        return json_response(_server_info(ctx))

    routes: list[BaseRoute] = [
        Route("/health", _health, methods=["GET"]),
        Route("/version", _version, methods=["GET"]),
        Route("/api/3.0/mlflow/server-info", server_info, methods=["GET"]),
        Route("/ajax-api/3.0/mlflow/server-info", server_info, methods=["GET"]),
        Mount("/api/2.0/mlflow", routes=mlflow_routes()),
        Mount("/ajax-api/2.0/mlflow", routes=mlflow_routes()),
        Mount("/api/2.0/mlflow-artifacts", routes=_artifact_proxy.routes(ctx)),
        Mount("/ajax-api/2.0/mlflow-artifacts", routes=_artifact_proxy.routes(ctx)),
        # Before /api/v1: a Mount answers every path under its prefix.
        Mount("/api/v1/sweeps", routes=_sweeps_api.routes(ctx)),
        Mount("/api/v1/ui", routes=_ui_api.routes(ctx)),
        Mount("/api/v1", routes=_native.routes(ctx)),
        *_ui_static.routes(ui_dist or _ui_static.UI_DIST),
    ]
    middleware = [Middleware(TokenAuth, tokens=list(auth_tokens))] if auth_tokens else []
    return Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={HTTPException: _http_error, Exception: _unexpected_error},
        lifespan=lifespan,
    )


async def _health(_request: Request) -> Response:
    return PlainTextResponse("OK")


async def _version(_request: Request) -> Response:
    return PlainTextResponse(MLFLOW_VERSION)


def _server_info(ctx: ServerContext) -> Mapping[str, object]:
    return {
        "store_type": "SqlStore",
        "workspaces_enabled": False,
        "multipart_uploads_enabled": False,
        "multipart_downloads_enabled": False,
        "artifact_serving_enabled": ctx.serve_artifacts,
        "artifacts_presigned_only": False,
    }


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        response = error_response(
            "ENDPOINT_NOT_FOUND", f"No endpoint {request.method} {request.url.path}", 404
        )
    elif exc.status_code == 405:
        response = error_response(
            "BAD_REQUEST", f"Method {request.method} is not allowed on {request.url.path}", 405
        )
    else:
        response = error_response("BAD_REQUEST", str(exc.detail), exc.status_code)
    response.headers.update(exc.headers or {})
    return response


async def _unexpected_error(_request: Request, _exc: Exception) -> Response:
    # Starlette logs the exception after this answer; the process carries on.
    return internal_error_response()


def _as_uri(location: str) -> str:
    """A local path as a ``file://`` URI; a URI as it is."""
    scheme = urlsplit(location).scheme
    if len(scheme) > 1:
        return location
    return Path(location).expanduser().resolve().as_uri()
