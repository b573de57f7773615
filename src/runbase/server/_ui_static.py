"""The web UI's files: the single page at ``/`` and its hashed assets under ``/assets``.

The UI is TypeScript in ``ui/`` at the top of the repository; the build hook (``hatch_build.py``,
or ``make ui``) compiles it into ``_ui_dist/`` next to this module, a git-ignored folder that
ships inside the wheel. An install made without Node.js has no such folder: ``/`` then answers
a page that says so and how to fix it, never a blank page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

__all__ = ["UI_DIST", "UI_MISSING_PAGE", "routes"]

UI_DIST: Final = Path(__file__).resolve().parent / "_ui_dist"

#: The page is the only HTML the server writes: what it shows comes from the bundle, built by
#: code that never inserts text as HTML; this policy keeps it so even if a bug did.
APP_CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; object-src 'none'; "
    "frame-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

UI_MISSING_PAGE: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>runbase: web UI not built</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:4rem auto;padding:0 1rem}
code,pre{background:#f3f4f6;padding:.1rem .3rem;border-radius:4px}pre{padding:.75rem}</style>
</head><body>
<h1>The runbase web UI is not built in this install</h1>
<p>This server is running: its APIs (<code>/api/v1</code>, MLflow's <code>/api/2.0/mlflow</code>)
work. Only the web pages are missing, because runbase was installed without Node.js, which
compiles them from the <code>ui/</code> folder of the source tree.</p>
<p>To get the UI, install Node.js 20 or newer with npm, then rebuild from the source tree:</p>
<pre>make ui                 # or: cd ui &amp;&amp; npm ci &amp;&amp; npm run build
pip install -e .        # or reinstall: the build hook compiles the UI when Node.js is found</pre>
<p>Wheels published for runbase include the compiled UI.</p>
</body></html>
"""


def routes(dist: Path = UI_DIST) -> list[BaseRoute]:
    """``/`` and ``/assets`` from ``dist``; the explanation page when it holds no build."""
    index = dist / "index.html"
    headers = {
        "Content-Security-Policy": APP_CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-cache",
    }

    if not index.is_file():

        async def missing(_request: Request) -> Response:
            return HTMLResponse(UI_MISSING_PAGE, status_code=503, headers=headers)

        return [Route("/", missing, methods=["GET", "HEAD"])]

    async def page(_request: Request) -> Response:
        return FileResponse(index, media_type="text/html", headers=headers)

    out: list[BaseRoute] = [Route("/", page, methods=["GET", "HEAD"])]
    if (dist / "assets").is_dir():
        out.append(Mount("/assets", app=_Assets(directory=dist / "assets"), name="ui-assets"))
    return out


class _Assets(StaticFiles):
    """Hashed file names never change content: cache them for good."""

    def file_response(self, *args: object, **kwargs: object) -> Response:
        response = super().file_response(*args, **kwargs)  # type: ignore[arg-type]
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response
