"""Artifacts behind a tracking server's artifact proxy (``/api/2.0/mlflow-artifacts/artifacts``).

A run logged through ``runbase server`` (or ``mlflow server``) has an artifact URI such as
``mlflow-artifacts:/1/<run>/artifacts``; the client resolves it against the tracking server's URL,
as MLflow does: ``<server>/api/2.0/mlflow-artifacts/artifacts/1/<run>/artifacts``. A host in the
URI (``mlflow-artifacts://host:5000/1/...``) overrides the tracking server's.

The proxy speaks MLflow's protocol: ``PUT <path>`` with the raw file as body, ``GET <path>``,
``DELETE <path>``, and ``GET ?path=<folder>`` listing a folder's direct children by base name.
Uploads and downloads are retried on connection failures and server errors (a PUT of the same
bytes is idempotent).
"""

from __future__ import annotations

import mimetypes
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, BinaryIO, Final, cast
from urllib.parse import quote, urlsplit

import httpx
import msgspec

from runbase._transport import Transport
from runbase.artifacts._local import _walk as walk
from runbase.artifacts._paths import invalid_path, join, safe_relative_path
from runbase.artifacts.base import ArtifactRepository, FileInfo, LocalPath
from runbase.errors import InvalidInputError, NotFoundError

__all__ = ["PROXY_PATH", "HttpArtifactRepository", "from_mlflow_artifacts_uri"]

PROXY_PATH: Final = "/api/2.0/mlflow-artifacts/artifacts"
#: Streamed uploads and downloads keep up to this much in memory before using a temporary file.
_SPOOL_BYTES: Final = 8 * 1024 * 1024


class _Entry(msgspec.Struct):
    path: str
    is_dir: bool = False
    file_size: int | None = None


class _Listing(msgspec.Struct):
    files: list[_Entry] = msgspec.field(default_factory=list)


_LISTING: Final = msgspec.json.Decoder(_Listing)


def from_mlflow_artifacts_uri(uri: str, tracking_uri: str | None) -> HttpArtifactRepository:
    """The repository for ``mlflow-artifacts:[//host]/path``, resolved against the tracking
    server ``tracking_uri`` (``http(s)://host[:port][/prefix]``)."""
    parts = urlsplit(uri)
    base = urlsplit(tracking_uri or "")
    if base.scheme not in ("http", "https"):
        raise InvalidInputError(
            f"The artifact URI {uri!r} lives on a tracking server, but the tracking URI is "
            f"{tracking_uri!r}: set an http(s):// tracking URI to reach it"
        )
    if parts.query or parts.fragment:
        raise InvalidInputError(f"Unsupported artifact URI {uri!r}: no query or fragment allowed")
    netloc = parts.netloc or base.netloc
    root = safe_relative_path(parts.path.lstrip("/"))
    return HttpArtifactRepository(f"{base.scheme}://{netloc}{base.path.rstrip('/')}", root)


class HttpArtifactRepository(ArtifactRepository):
    """An :class:`~runbase.artifacts.base.ArtifactRepository` on a server's artifact proxy.

    ``server_url`` is the tracking server (``http://host:5000``); ``root`` the repository's path
    under the proxy (``1/<run>/artifacts``).
    """

    def __init__(self, server_url: str, root: str, *, transport: Transport | None = None) -> None:
        self.server_url = server_url.rstrip("/")
        self._root = safe_relative_path(root)
        self._transport = transport or Transport(self.server_url + PROXY_PATH)

    def __repr__(self) -> str:
        return f"HttpArtifactRepository({self.server_url!r}, {self._root!r})"

    def close(self) -> None:
        self._transport.close()

    # -- helpers -----------------------------------------------------------------------------
    def _remote(self, rel: str) -> str:
        """The proxy path of ``rel`` (already safe), percent-encoded, without the proxy prefix."""
        return join(self._root, rel)

    def _url(self, rel: str) -> str:
        return "/" + quote(self._remote(rel), safe="/")

    def _file(self, artifact_file: str) -> str:
        rel = safe_relative_path(artifact_file)
        if not rel:
            raise invalid_path(artifact_file, "a file path is needed, not the root")
        return rel

    def _put(self, rel: str, content: bytes | IO[bytes]) -> None:
        kind = mimetypes.guess_type(rel)[0] or "application/octet-stream"
        response = self._transport.request(
            "PUT", self._url(rel), idempotent=True, content=content, headers={"Content-Type": kind}
        )
        response.close()

    # -- writes ------------------------------------------------------------------------------
    def log_artifact(self, local_file: LocalPath, artifact_path: str | None = None) -> None:
        source = Path(local_file)
        if not source.is_file():
            raise InvalidInputError(f"log_artifact needs a local file; {str(source)!r} is not one")
        rel = self._file(join(safe_relative_path(artifact_path), source.name))
        with source.open("rb") as file:
            self._put(rel, file)

    def log_artifacts(self, local_dir: LocalPath, artifact_path: str | None = None) -> None:
        source = Path(local_dir)
        if not source.is_dir():
            raise InvalidInputError(
                f"log_artifacts needs a local folder; {str(source)!r} is not one"
            )
        folder = safe_relative_path(artifact_path)
        files = [  # every destination is checked before the first upload
            (path, self._file(join(folder, sub)))
            for sub, path, is_dir in walk(source)
            if not is_dir and path.is_file()
        ]
        for path, rel in files:
            with path.open("rb") as file:
                self._put(rel, file)

    def write_bytes(self, artifact_file: str, data: bytes) -> None:
        self._put(self._file(artifact_file), data)

    @contextmanager
    def open_writer(self, artifact_file: str) -> Iterator[BinaryIO]:
        rel = self._file(artifact_file)
        with tempfile.SpooledTemporaryFile(_SPOOL_BYTES) as buffer:
            yield cast(BinaryIO, buffer)
            self._put(rel, buffer)

    def delete_artifacts(self, artifact_path: str | None = None) -> None:
        rel = safe_relative_path(artifact_path)
        self._transport.request("DELETE", self._url(rel), idempotent=True).close()

    # -- reads -------------------------------------------------------------------------------
    def read_bytes(self, artifact_file: str) -> bytes:
        rel = self._file(artifact_file)
        return self._get(rel).content

    def _get(self, rel: str, *, stream: bool = False) -> httpx.Response:
        try:
            return self._transport.request("GET", self._url(rel), idempotent=True, stream=stream)
        except NotFoundError:
            raise NotFoundError(f"No artifact {rel!r} under {self!r}") from None

    def open_reader(self, artifact_file: str) -> BinaryIO:
        rel = self._file(artifact_file)
        response = self._get(rel, stream=True)
        buffer = tempfile.SpooledTemporaryFile(_SPOOL_BYTES)  # noqa: SIM115 - the caller closes it
        try:
            for chunk in response.iter_bytes():
                buffer.write(chunk)
        except BaseException:
            buffer.close()
            raise
        finally:
            response.close()
        buffer.seek(0)
        return cast(BinaryIO, buffer)

    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        rel = safe_relative_path(path)
        response = self._transport.request(
            "GET", "", idempotent=True, params={"path": self._remote(rel)}
        )
        try:
            listing = _LISTING.decode(response.content)
        except msgspec.DecodeError as exc:
            raise InvalidInputError(f"Unexpected artifact listing from {self!r}: {exc}") from None
        infos = []
        for entry in listing.files:
            name = entry.path.rsplit("/", 1)[-1]
            if name in ("", ".", ".."):
                continue
            infos.append(
                FileInfo(join(rel, name), entry.is_dir, None if entry.is_dir else entry.file_size)
            )
        return sorted(infos, key=lambda info: info.path)

    def download_artifacts(self, artifact_path: str, dst_path: LocalPath) -> Path:
        rel = safe_relative_path(artifact_path)
        local = Path(os.path.abspath(dst_path))
        target = local / rel if rel else local
        entries = self.list_artifacts(rel)
        if not entries and rel:  # a file, or nothing (an empty listing means either)
            self._download_file(rel, target)
            return target
        target.mkdir(parents=True, exist_ok=True)
        for entry in entries:
            if entry.is_dir:
                self.download_artifacts(entry.path, local)
            else:
                self._download_file(entry.path, local / entry.path)
        return target

    def _download_file(self, rel: str, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".{target.name[:100]}.download")
        response = self._get(rel, stream=True)
        try:
            with temp.open("wb") as file:
                for chunk in response.iter_bytes():
                    file.write(chunk)
            os.replace(temp, target)
        finally:
            response.close()
            temp.unlink(missing_ok=True)
