"""Opening the artifact repository an artifact URI names."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit
from urllib.request import url2pathname

from runbase.artifacts._local import LocalArtifactRepository
from runbase.artifacts.base import ArtifactRepository
from runbase.errors import InvalidInputError

__all__ = ["REPOSITORY_FACTORIES", "get_artifact_repository"]


def _local_from_path(uri: str, _tracking_uri: str | None) -> ArtifactRepository:
    return LocalArtifactRepository(Path(uri).expanduser())


def _local_from_file_uri(uri: str, _tracking_uri: str | None) -> ArtifactRepository:
    """``file:///abs/path`` (percent-encoded, as ``Path.as_uri()`` writes it) or ``file:/abs``."""
    parts = urlsplit(uri)
    if parts.netloc not in ("", "localhost"):
        raise InvalidInputError(
            f"Unsupported artifact URI {uri!r}: a file URI cannot name a host "
            f"({parts.netloc!r}); write file:///absolute/path"
        )
    if "?" in uri or "#" in uri:
        raise InvalidInputError(
            f"Unsupported artifact URI {uri!r}: a file URI has no query or fragment "
            "(percent-encode '?' as %3F and '#' as %23)"
        )
    path = Path(url2pathname(parts.path))
    if not path.is_absolute():
        raise InvalidInputError(
            f"Unsupported artifact URI {uri!r}: a file URI needs an absolute path "
            "(file:///absolute/path)"
        )
    return LocalArtifactRepository(path)


def _from_server(uri: str, tracking_uri: str | None) -> ArtifactRepository:
    from runbase.artifacts._http import from_mlflow_artifacts_uri

    return from_mlflow_artifacts_uri(uri, tracking_uri)


def _s3(uri: str, _tracking_uri: str | None) -> ArtifactRepository:
    from runbase.artifacts._s3 import S3ArtifactRepository

    return S3ArtifactRepository(uri)


#: URI scheme → the function that opens a repository for such a URI, given the URI and the
#: tracking URI (which locates a server's artifact proxy). ``""`` is a plain local path. A new
#: backend is one more entry here.
REPOSITORY_FACTORIES: Final[dict[str, Callable[[str, str | None], ArtifactRepository]]] = {
    "": _local_from_path,
    "file": _local_from_file_uri,
    "mlflow-artifacts": _from_server,
    "s3": _s3,
}


def get_artifact_repository(uri: str, *, tracking_uri: str | None = None) -> ArtifactRepository:
    """The repository for an artifact URI: ``file:///abs/path``, a plain local path,
    ``s3://bucket/prefix`` (S3 or an S3-compatible store, see ``runbase.artifacts._s3``), or
    ``mlflow-artifacts:/path`` on the tracking server ``tracking_uri`` (``http(s)://...``).

    Any other scheme raises :class:`~runbase.errors.InvalidInputError` naming the scheme and the
    ones that are supported.
    """
    if not isinstance(uri, str) or not uri:
        raise InvalidInputError(f"An artifact URI must be a non-empty string, got {uri!r}")
    scheme = urlsplit(uri).scheme.lower()
    if len(scheme) == 1:  # a Windows drive: C:\runs\artifacts
        scheme = ""
    factory = REPOSITORY_FACTORIES.get(scheme)
    if factory is None:
        raise InvalidInputError(
            f"Unsupported artifact URI scheme {scheme!r} in {uri!r}: supported are file:// URIs "
            "and plain local paths, s3://bucket/prefix, and mlflow-artifacts: URIs through a "
            "tracking server"
        )
    return factory(uri, tracking_uri)
