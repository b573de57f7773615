"""Artifacts in S3 or an S3-compatible object store, under ``s3://bucket/prefix``.

The artifact ``a/b.txt`` of the repository ``s3://bucket/root`` is the object ``root/a/b.txt``
of ``bucket``. S3 has no folders: a folder is the common prefix of the objects below it, so it
exists while it holds a file, and an empty folder of a local source is not stored. Objects whose
keys are no safe artifact path (written by other tools: ``a/../b``, ``a\\b``...) are not listed
and stop a download before anything is written.

A ``PUT`` replaces an object whole, so every write is atomic: ``open_writer`` spools to a
temporary file (in memory up to 8 MiB) and uploads it when the block ends, in parts when it is
large. ``open_reader`` streams the object's body.

The endpoint is ``MLFLOW_S3_ENDPOINT_URL`` when set (as in MLflow), else boto3's own
configuration (``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL``, ``~/.aws/config``); credentials
and region come from boto3's usual chain. ``MLFLOW_S3_IGNORE_TLS=true`` skips certificate checks.
Each repository has one boto3 client (clients are thread-safe); clients come from one boto3
session per process, so credentials are resolved once, as with boto3's default session.
"""

from __future__ import annotations

import io
import mimetypes
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, BinaryIO, Final, cast
from urllib.parse import urlsplit

from runbase.artifacts._local import _walk as walk
from runbase.artifacts._paths import invalid_path, join, safe_relative_path
from runbase.artifacts.base import ArtifactRepository, FileInfo, LocalPath
from runbase.errors import InvalidInputError, NotFoundError, StoreError

__all__ = ["ENV_ENDPOINT_URL", "ENV_IGNORE_TLS", "S3ArtifactRepository"]

#: MLflow's variables: the S3 endpoint (MinIO, Ceph, a local test server...), and TLS checks.
ENV_ENDPOINT_URL: Final = "MLFLOW_S3_ENDPOINT_URL"
ENV_IGNORE_TLS: Final = "MLFLOW_S3_IGNORE_TLS"

_HINT: Final = "S3 artifact storage needs boto3: pip install 'runbase[s3]'"
#: ``open_writer`` keeps up to this much in memory before spilling to a temporary file.
_SPOOL_BYTES: Final = 8 * 1024 * 1024
_CHUNK: Final = 1024 * 1024
#: S3 lists and deletes at most 1,000 keys per request.
_MAX_PAGE: Final = 1000
_MISSING_CODES: Final = frozenset(("NoSuchKey", "404", "NotFound"))

_session_lock = threading.Lock()
_session: Any = None


def _new_client() -> Any:
    """A boto3 S3 client for the configured endpoint (see the module docstring)."""
    try:
        import boto3
        from botocore.config import Config
    except ModuleNotFoundError:
        raise StoreError(_HINT) from None
    global _session
    endpoint = os.environ.get(ENV_ENDPOINT_URL) or None
    verify = False if os.environ.get(ENV_IGNORE_TLS, "").lower() == "true" else None
    config = Config(max_pool_connections=32, retries={"mode": "standard"})
    with _session_lock:  # a boto3 session is not thread-safe; the clients it makes are
        if _session is None:
            _session = boto3.session.Session()
        return _session.client("s3", endpoint_url=endpoint, verify=verify, config=config)


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``(bucket, prefix)`` of ``s3://bucket[/prefix]``; the prefix is a checked relative path."""
    parts = urlsplit(uri)
    if parts.scheme.lower() != "s3" or not parts.netloc:
        raise InvalidInputError(f"Unsupported artifact URI {uri!r}: write s3://bucket/prefix")
    if parts.query or parts.fragment or "?" in uri or "#" in uri:
        raise InvalidInputError(f"Unsupported artifact URI {uri!r}: no query or fragment allowed")
    if "@" in parts.netloc or ":" in parts.netloc:
        raise InvalidInputError(
            f"Unsupported artifact URI {uri!r}: {parts.netloc!r} is not a bucket name (set the "
            f"endpoint with {ENV_ENDPOINT_URL} and credentials through boto3's configuration)"
        )
    return parts.netloc, safe_relative_path(parts.path.lstrip("/"))


class _BodyReader(io.RawIOBase):
    """A botocore ``StreamingBody`` as a raw binary file; closing it releases the connection."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self._body.read(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


class S3ArtifactRepository(ArtifactRepository):
    """An :class:`~runbase.artifacts.base.ArtifactRepository` on ``s3://bucket/prefix``.

    ``client`` is a boto3 S3 client to use instead of a new one; ``page_size`` (at most 1,000)
    is how many keys one listing or delete request handles.
    """

    def __init__(self, uri: str, *, client: Any = None, page_size: int = _MAX_PAGE) -> None:
        self.bucket, self.prefix = parse_s3_uri(uri)
        if not 1 <= page_size <= _MAX_PAGE:
            raise InvalidInputError(f"page_size must be 1 to {_MAX_PAGE}, got {page_size}")
        self._page_size = page_size
        self._owns_client = client is None
        self._client = _new_client() if client is None else client

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    @property
    def client(self) -> Any:
        return self._client

    def __repr__(self) -> str:
        return f"S3ArtifactRepository({self.uri!r})"

    def close(self) -> None:
        """Release the client's connections (not those of a client that was passed in)."""
        if self._owns_client:
            self._client.close()

    # -- helpers -----------------------------------------------------------------------------
    def _key(self, rel: str) -> str:
        return join(self.prefix, rel)

    def _folder(self, rel: str) -> str:
        """The key prefix of the objects below the folder ``rel`` (``""``: the root)."""
        key = self._key(rel)
        return f"{key}/" if key else ""

    def _where(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def _file(self, artifact_file: str) -> str:
        rel = safe_relative_path(artifact_file)
        if not rel:
            raise invalid_path(artifact_file, "a file path is needed, not the root")
        return rel

    @contextmanager
    def _errors(self, action: str, key: str) -> Iterator[None]:
        """boto3's errors as StoreError, naming the object or prefix."""
        from boto3.exceptions import Boto3Error
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except (ClientError, BotoCoreError, Boto3Error) as exc:
            raise StoreError(f"S3 could not {action} {self._where(key)}: {exc}") from exc

    def _pages(self, prefix: str, *, delimiter: bool) -> Iterator[dict[str, Any]]:
        """ListObjectsV2 pages of ``prefix``: direct children when ``delimiter``, else all."""
        paginator = self._client.get_paginator("list_objects_v2")
        args: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if delimiter:
            args["Delimiter"] = "/"
        with self._errors("list", prefix):
            yield from paginator.paginate(**args, PaginationConfig={"PageSize": self._page_size})

    def _below(self, rel: str) -> Iterator[str]:
        """The keys of every object below the folder ``rel``, recursively."""
        for page in self._pages(self._folder(rel), delimiter=False):
            for obj in page.get("Contents", ()):
                yield obj["Key"]

    def _is_folder(self, rel: str) -> bool:
        with self._errors("list", self._folder(rel)):
            answer = self._client.list_objects_v2(
                Bucket=self.bucket, Prefix=self._folder(rel), MaxKeys=1
            )
        return bool(answer.get("KeyCount", 0))

    def _upload(self, source: IO[bytes], rel: str) -> None:
        """Upload a file object (in parts when it is large; the object appears when whole)."""
        key = self._key(rel)
        extra = _content_type(rel)
        with self._errors("write", key):
            self._client.upload_fileobj(source, self.bucket, key, ExtraArgs=extra)

    def _try_get(self, rel: str) -> Any:
        """The GetObject answer for the object of ``rel``; None when there is none."""
        from botocore.exceptions import ClientError

        key = self._key(rel)
        try:
            with self._errors("read", key):
                return self._client.get_object(Bucket=self.bucket, Key=key)
        except StoreError as exc:
            cause = exc.__cause__
            if isinstance(cause, ClientError) and _code(cause) in _MISSING_CODES:
                return None
            raise

    def _get(self, rel: str, artifact_file: str) -> Any:
        """The GetObject answer for the file ``rel``; NotFoundError, or refused for a folder."""
        answer = self._try_get(rel)
        if answer is not None:
            return answer
        if self._is_folder(rel):
            raise invalid_path(artifact_file, "it is a folder")
        raise NotFoundError(f"No artifact {rel!r} at {self._where(self._key(rel))}")

    # -- writes ------------------------------------------------------------------------------
    def log_artifact(self, local_file: LocalPath, artifact_path: str | None = None) -> None:
        source = Path(local_file)
        if not source.is_file():
            raise InvalidInputError(f"log_artifact needs a local file; {str(source)!r} is not one")
        rel = self._file(join(safe_relative_path(artifact_path), source.name))
        with source.open("rb") as file:
            self._upload(file, rel)

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
                self._upload(file, rel)

    def write_bytes(self, artifact_file: str, data: bytes) -> None:
        rel = self._file(artifact_file)
        key = self._key(rel)
        with self._errors("write", key):
            self._client.put_object(Bucket=self.bucket, Key=key, Body=data, **_content_type(rel))

    @contextmanager
    def open_writer(self, artifact_file: str) -> Iterator[BinaryIO]:
        rel = self._file(artifact_file)
        with tempfile.SpooledTemporaryFile(_SPOOL_BYTES) as buffer:
            yield cast(BinaryIO, buffer)
            buffer.seek(0)
            self._upload(cast(IO[bytes], buffer), rel)

    def delete_artifacts(self, artifact_path: str | None = None) -> None:
        rel = safe_relative_path(artifact_path)
        batch = [self._key(rel)] if rel else []  # the file itself, then what is below it
        for key in self._below(rel):
            batch.append(key)
            if len(batch) >= self._page_size:
                self._delete(batch)
                batch = []
        if batch:
            self._delete(batch)

    def _delete(self, keys: list[str]) -> None:
        objects = [{"Key": key} for key in keys]
        with self._errors("delete", keys[0]):
            answer = self._client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True}
            )
        errors = answer.get("Errors") or []
        if errors:
            first = errors[0]
            raise StoreError(
                f"S3 could not delete {len(errors)} objects, first "
                f"{self._where(first.get('Key', '?'))}: {first.get('Code')} {first.get('Message')}"
            )

    # -- reads -------------------------------------------------------------------------------
    def read_bytes(self, artifact_file: str) -> bytes:
        rel = self._file(artifact_file)
        answer = self._get(rel, artifact_file)
        with self._errors("read", self._key(rel)), answer["Body"] as body:
            return cast(bytes, body.read())

    def open_reader(self, artifact_file: str) -> BinaryIO:
        rel = self._file(artifact_file)
        answer = self._get(rel, artifact_file)
        return io.BufferedReader(_BodyReader(answer["Body"]), buffer_size=_CHUNK)

    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        rel = safe_relative_path(path)
        prefix = self._folder(rel)
        infos = []
        for page in self._pages(prefix, delimiter=True):
            for common in page.get("CommonPrefixes", ()):
                info = _info(rel, common["Prefix"][len(prefix) :].rstrip("/"), True, None)
                if info is not None:
                    infos.append(info)
            for obj in page.get("Contents", ()):
                info = _info(rel, obj["Key"][len(prefix) :], False, int(obj["Size"]))
                if info is not None:
                    infos.append(info)
        return sorted(infos, key=lambda info: info.path)

    def download_artifacts(self, artifact_path: str, dst_path: LocalPath) -> Path:
        rel = safe_relative_path(artifact_path)
        local = Path(os.path.abspath(dst_path))
        target = local / rel if rel else local
        answer = self._try_get(rel) if rel else None
        if answer is not None:  # a file
            self._save(answer, target)
            return target
        prefix = self._folder(rel)
        entries = []
        for key in self._below(rel):  # every key is checked before the first download
            sub = key[len(prefix) :]
            try:
                entries.append((key, sub.endswith("/"), safe_relative_path(sub)))
            except InvalidInputError:
                raise invalid_path(
                    sub, f"the object {self._where(key)} is outside the artifact root"
                ) from None
        if not entries and rel:
            raise NotFoundError(f"No artifact {rel!r} at {self._where(self._key(rel))}")
        target.mkdir(parents=True, exist_ok=True)
        for key, is_marker, sub in entries:
            if is_marker or not sub:  # a zero-byte "folder/" object some tools create
                (target / sub).mkdir(parents=True, exist_ok=True)
                continue
            with self._errors("read", key):
                answer = self._client.get_object(Bucket=self.bucket, Key=key)
            self._save(answer, target / sub)
        return target

    def _save(self, answer: Any, target: Path) -> None:
        """Stream a GetObject answer into ``target`` through a temporary file next to it."""
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".{target.name[:100]}.{uuid.uuid4().hex}.download")
        try:
            with answer["Body"] as body, temp.open("xb") as file:
                shutil.copyfileobj(body, file, _CHUNK)
            os.replace(temp, target)
        finally:
            temp.unlink(missing_ok=True)


def _code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _content_type(rel: str) -> dict[str, str]:
    kind = mimetypes.guess_type(rel)[0]
    return {"ContentType": kind} if kind else {}


def _info(rel: str, name: str, is_dir: bool, size: int | None) -> FileInfo | None:
    """The listing entry for ``name`` in the folder ``rel``; None when it cannot be addressed
    as an artifact (a folder marker, an empty segment, a refused path)."""
    path = join(rel, name)
    if not name or "/" in name:
        return None
    try:
        if safe_relative_path(path) != path:
            return None
    except InvalidInputError:
        return None
    return FileInfo(path, is_dir, size)
