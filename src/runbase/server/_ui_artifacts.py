"""A run's artifacts for the web UI: listing, the images-by-step index, and files served for
preview or download.

Every read goes through the server's own artifact destination (``ServerContext.artifacts``):
an ``mlflow-artifacts:/`` run root maps into it, and a ``file://`` root (runs logged by the
embedded client, as ``runbase ui`` shows them) or an ``s3://`` one (runs logged straight to the
bucket of a server started with ``--no-serve-artifacts``) is read only when it lies inside it.
A run whose artifacts are elsewhere gets a clear error, never a read of another folder: the
artifact URI is client-chosen text.

Files are served so that a logged file can never run as part of the UI: only raster images and
SVG keep their type (SVG under a sandboxing Content-Security-Policy), text is ``text/plain``,
anything else is ``application/octet-stream``; every answer carries ``nosniff`` and a CSP
``sandbox``.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final
from urllib.parse import urlsplit
from urllib.request import url2pathname

import msgspec

from runbase.artifacts import S3ArtifactRepository, safe_relative_path
from runbase.artifacts._s3 import parse_s3_uri
from runbase.errors import InvalidInputError
from runbase.server._artifact_proxy import content_disposition, guess_mime_type, proxied_path
from runbase.server._context import ServerContext

__all__ = [
    "ArtifactFile",
    "ArtifactListBody",
    "ImageSeries",
    "ImageStep",
    "ImagesBody",
    "ServedFile",
    "chunks",
    "images",
    "list_files",
    "open_file",
    "parse_image_name",
    "run_root",
]

#: Folder that ``log_image(key=..., step=...)`` writes to (MLflow's layout).
IMAGES_DIR: Final = "images"
#: ``<key with / as ~><sep>step<sep><n><sep>timestamp<sep><ms><sep><uuid>.<ext>``; ``sep`` is
#: ``+`` (runbase, recent MLflow) or ``%`` (older MLflow). MLflow's ``%compressed`` thumbnails
#: are skipped.
_IMAGE_NAME: Final = re.compile(
    r"^(?P<key>.+?)(?P<sep>[+%])step(?P=sep)(?P<step>-?\d+)(?P=sep)timestamp(?P=sep)"
    r"(?P<ts>\d+)(?P=sep)(?P<uuid>[0-9a-fA-F-]+)\.(?P<ext>png|jpe?g|gif|webp)$"
)
_INLINE_IMAGES: Final = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".svg": "image/svg+xml",
}
#: No script, no plugin, no form, no navigation: a served file is inert even opened directly.
SANDBOX_CSP: Final = "sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'"
CHUNK: Final = 1024 * 1024


class ArtifactFile(msgspec.Struct):
    path: str
    is_dir: bool
    file_size: int | None = None


class ArtifactListBody(msgspec.Struct):
    root_uri: str
    files: list[ArtifactFile]


class ImageStep(msgspec.Struct):
    step: int
    timestamp: int
    path: str


class ImageSeries(msgspec.Struct):
    key: str
    steps: list[ImageStep]


class ImagesBody(msgspec.Struct):
    images: list[ImageSeries]


@dataclass(frozen=True)
class ServedFile:
    """What the route needs to stream a file: the open reader and the response headers."""

    reader: BinaryIO
    media_type: str
    headers: dict[str, str]


def run_root(ctx: ServerContext, artifact_uri: str) -> str:
    """The run's artifact root as a path inside the server's artifact destination."""
    proxied = proxied_path(artifact_uri)
    if proxied is not None:
        return proxied
    parts = urlsplit(artifact_uri)
    root = getattr(ctx.artifacts, "root", None)
    if parts.scheme in ("file", "") and isinstance(root, Path):
        if parts.scheme == "file" and parts.netloc in ("", "localhost"):
            local = Path(url2pathname(parts.path))
        else:
            local = Path(artifact_uri)
        resolved = Path(os.path.abspath(local))
        try:
            relative = resolved.relative_to(root)
        except ValueError:
            pass
        else:
            return safe_relative_path(relative.as_posix())
    if parts.scheme == "s3" and isinstance(ctx.artifacts, S3ArtifactRepository):
        inside = _inside_s3(ctx.artifacts, artifact_uri)
        if inside is not None:
            return inside
    raise InvalidInputError(
        f"This server does not serve the artifacts at {artifact_uri!r}: they are outside its "
        "artifact destination"
    )


def _inside_s3(destination: S3ArtifactRepository, artifact_uri: str) -> str | None:
    """The path of ``s3://bucket/prefix`` inside the destination; None when it is not inside."""
    try:
        bucket, prefix = parse_s3_uri(artifact_uri)
    except InvalidInputError:
        return None
    if bucket != destination.bucket:
        return None
    if not destination.prefix:
        return prefix
    if prefix == destination.prefix or prefix.startswith(destination.prefix + "/"):
        return prefix[len(destination.prefix) :].lstrip("/")
    return None


def _inside(root: str, path: str | None) -> str:
    rel = safe_relative_path(path)
    return posixpath.join(root, rel) if rel else root


def list_files(ctx: ServerContext, artifact_uri: str, path: str | None) -> ArtifactListBody:
    root = run_root(ctx, artifact_uri)
    rel = safe_relative_path(path)
    infos = ctx.artifacts.list_artifacts(_inside(root, rel))
    files = [
        ArtifactFile(posixpath.join(rel, posixpath.basename(i.path)), i.is_dir, i.file_size)
        for i in infos
    ]
    files.sort(key=lambda f: (not f.is_dir, f.path))
    return ArtifactListBody(artifact_uri, files)


def parse_image_name(name: str) -> tuple[str, int, int] | None:
    """``(key, step, timestamp)`` of a file logged by ``log_image(key=...)``, else None."""
    match = _IMAGE_NAME.match(name)
    if match is None:
        return None
    return match["key"].replace("~", "/"), int(match["step"]), int(match["ts"])


def images(ctx: ServerContext, artifact_uri: str) -> ImagesBody:
    """Every image series of the run, keys sorted, steps ascending (the latest file of a step
    wins when a step was logged twice)."""
    root = run_root(ctx, artifact_uri)
    by_key: dict[str, dict[int, ImageStep]] = {}
    for info in ctx.artifacts.list_artifacts(_inside(root, IMAGES_DIR)):
        if info.is_dir:
            continue
        name = posixpath.basename(info.path)
        parsed = parse_image_name(name)
        if parsed is None:
            continue
        key, step, stamp = parsed
        steps = by_key.setdefault(key, {})
        known = steps.get(step)
        if known is None or known.timestamp <= stamp:
            steps[step] = ImageStep(step, stamp, f"{IMAGES_DIR}/{name}")
    return ImagesBody(
        [
            ImageSeries(key, [steps[s] for s in sorted(steps)])
            for key, steps in sorted(by_key.items())
        ]
    )


def open_file(
    ctx: ServerContext, artifact_uri: str, path: str | None, *, download: bool
) -> ServedFile:
    root = run_root(ctx, artifact_uri)
    rel = safe_relative_path(path)
    if not rel:
        raise InvalidInputError("The artifact path must name a file")
    reader = ctx.artifacts.open_reader(posixpath.join(root, rel))
    name = posixpath.basename(rel)
    extension = posixpath.splitext(name)[1].lower()
    media_type = _INLINE_IMAGES.get(extension)
    if media_type is None:
        guessed = guess_mime_type(name)
        media_type = "text/plain; charset=utf-8" if guessed == "text/plain" else guessed
        if not media_type.startswith("text/plain"):
            media_type = "application/octet-stream"
    headers = {
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": SANDBOX_CSP,
        "Cache-Control": "private, max-age=60",
    }
    if download:
        headers["Content-Disposition"] = content_disposition(name)
    size = _size(reader)
    if size is not None:
        headers["Content-Length"] = str(size)
    return ServedFile(reader, media_type, headers)


def chunks(reader: BinaryIO) -> Iterator[bytes]:
    with reader:
        while chunk := reader.read(CHUNK):
            yield chunk


def _size(reader: BinaryIO) -> int | None:
    try:
        return os.fstat(reader.fileno()).st_size
    except (OSError, AttributeError, ValueError):
        return None
