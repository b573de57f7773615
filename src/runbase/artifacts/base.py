"""The artifact repository contract: where a run's files live (a local folder, S3...).

Contract
--------
* **Paths.** Artifact paths are relative to the repository root and use ``/`` between folders;
  ``None`` or ``""`` names the root where a folder is meant. Every path goes through
  :func:`~runbase.artifacts.safe_relative_path` before storage is touched, so ``..``, absolute
  paths, backslashes, control characters and their percent-encoded forms are refused with
  :class:`~runbase.errors.InvalidInputError`, and nothing is written. A backend on a file system
  also refuses paths that resolve outside the root through a symlink.
* **Snapshots.** Listings return frozen :class:`FileInfo` values.
* **Atomic writes.** A reader sees a file's old content or its new content, never a part:
  ``write_bytes``, ``log_artifact`` and ``open_writer`` write a temporary file next to the target
  and rename it (on a file system), or upload the object whole (on S3, where a PUT replaces it).
* **Streams.** ``open_writer`` and ``open_reader`` move a file of any size through a file object,
  so a server can proxy uploads and downloads without holding them in memory.
* **Overwrites.** Writing a file that exists replaces it.
* **Errors.** Bad paths or local sources raise InvalidInputError; reading or downloading an
  artifact that does not exist raises :class:`~runbase.errors.NotFoundError`. Listing or deleting
  something that does not exist is not an error.
* **Thread safety.** A repository may be shared by threads; writes to different files do not
  interfere, and two writes to one file leave one of them whole.
"""

from __future__ import annotations

import abc
import os
from contextlib import AbstractContextManager
from pathlib import Path
from typing import BinaryIO

import msgspec

__all__ = ["ArtifactRepository", "FileInfo", "LocalPath"]

#: A local file or folder, as callers pass it.
LocalPath = str | os.PathLike[str]


class FileInfo(msgspec.Struct, frozen=True):
    """One entry of a listing, as MLflow's ``FileInfo``.

    ``path`` is relative to the repository root (``"images/a.png"``, not ``"a.png"``);
    ``file_size`` is in bytes, and None for a folder.
    """

    path: str
    is_dir: bool
    file_size: int | None = None


class ArtifactRepository(abc.ABC):
    """Stores a run's artifacts under one root (see the module docstring for the contract)."""

    @abc.abstractmethod
    def log_artifact(self, local_file: LocalPath, artifact_path: str | None = None) -> None:
        """Copy one local file into the folder ``artifact_path``, keeping its file name."""

    @abc.abstractmethod
    def log_artifacts(self, local_dir: LocalPath, artifact_path: str | None = None) -> None:
        """Copy the contents of a local folder, recursively, into the folder ``artifact_path``.

        Symlinks in ``local_dir`` are followed (their targets are copied). Every destination is
        checked before the first file is copied.
        """

    @abc.abstractmethod
    def write_bytes(self, artifact_file: str, data: bytes) -> None:
        """Write ``data`` to the file ``artifact_file`` atomically, creating its folders."""

    @abc.abstractmethod
    def open_writer(self, artifact_file: str) -> AbstractContextManager[BinaryIO]:
        """A binary file to write ``artifact_file`` through, creating its folders.

        The file appears, whole and at once, when the ``with`` block ends without an error; when
        the block raises, nothing is written and an existing file keeps its old content.
        """

    @abc.abstractmethod
    def read_bytes(self, artifact_file: str) -> bytes:
        """The content of the file ``artifact_file``; NotFoundError when there is none."""

    @abc.abstractmethod
    def open_reader(self, artifact_file: str) -> BinaryIO:
        """The file ``artifact_file`` opened for binary reading; the caller closes it.

        NotFoundError when there is no such file; InvalidInputError when it is a folder.
        """

    @abc.abstractmethod
    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        """The direct children of the folder ``path`` (the root by default), sorted by path.

        A missing folder gives ``[]``; so does a file path, as in MLflow.
        """

    @abc.abstractmethod
    def download_artifacts(self, artifact_path: str, dst_path: LocalPath) -> Path:
        """Copy the file or folder ``artifact_path`` to ``dst_path / artifact_path``; return that.

        As in MLflow the artifact keeps its relative path under ``dst_path`` (``"a/b.txt"`` lands
        at ``dst_path/a/b.txt``); ``""`` copies the whole repository into ``dst_path``.
        ``dst_path`` is created when missing and existing files in it are overwritten.
        """

    @abc.abstractmethod
    def delete_artifacts(self, artifact_path: str | None = None) -> None:
        """Delete the file or folder ``artifact_path``; everything when it is None."""
