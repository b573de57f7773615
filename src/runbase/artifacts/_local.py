"""Artifacts as plain files under a local folder."""

from __future__ import annotations

import functools
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Final

from runbase.artifacts._paths import ensure_inside, invalid_path, join, safe_relative_path
from runbase.artifacts.base import ArtifactRepository, FileInfo, LocalPath
from runbase.errors import InvalidInputError, NotFoundError

__all__ = ["LocalArtifactRepository"]


class LocalArtifactRepository(ArtifactRepository):
    """An :class:`~runbase.artifacts.base.ArtifactRepository` on a local folder.

    The folder is created on the first write, so opening a repository for a run that never logs
    an artifact leaves nothing behind.
    """

    def __init__(self, root: LocalPath) -> None:
        self._root = Path(os.path.abspath(root))

    @property
    def root(self) -> Path:
        return self._root

    def __repr__(self) -> str:
        return f"LocalArtifactRepository({str(self._root)!r})"

    # -- writes ------------------------------------------------------------------------------
    def log_artifact(self, local_file: LocalPath, artifact_path: str | None = None) -> None:
        source = Path(local_file)
        if not source.is_file():
            raise InvalidInputError(f"log_artifact needs a local file; {str(source)!r} is not one")
        folder = safe_relative_path(artifact_path)
        _, target = self._file_target(join(folder, source.name))
        self._replace(target, functools.partial(shutil.copy2, source))

    def log_artifacts(self, local_dir: LocalPath, artifact_path: str | None = None) -> None:
        source = Path(local_dir)
        if not source.is_dir():
            raise InvalidInputError(
                f"log_artifacts needs a local folder; {str(source)!r} is not one"
            )
        folder, base = self._target(artifact_path)
        folders: list[Path] = [base]
        files: list[tuple[Path, Path]] = []
        for sub, path, is_dir in _walk(source):  # check every destination before copying
            if is_dir:
                folders.append(self._target(join(folder, sub))[1])
            elif path.is_file():  # not a broken symlink, a socket or a FIFO
                files.append((path, self._file_target(join(folder, sub))[1]))
        for target in folders:
            _make_folder(target, self._root)
        for path, target in files:
            self._replace(target, functools.partial(shutil.copy2, path))

    def write_bytes(self, artifact_file: str, data: bytes) -> None:
        _, target = self._file_target(artifact_file)
        self._replace(target, lambda temp: _write_new(temp, data))

    @contextmanager
    def open_writer(self, artifact_file: str) -> Iterator[BinaryIO]:
        _, target = self._file_target(artifact_file)
        _make_folder(target.parent, self._root)
        temp = _temp_name(target)
        try:
            with temp.open("xb") as file:
                yield file
            os.replace(temp, target)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise

    def delete_artifacts(self, artifact_path: str | None = None) -> None:
        rel, target = self._target(artifact_path)
        if not rel and target.is_symlink():  # a linked root: empty what it points to
            for child in target.iterdir():
                _remove(child)
        else:
            _remove(target)

    # -- reads -------------------------------------------------------------------------------
    def read_bytes(self, artifact_file: str) -> bytes:
        rel, target = self._file_target(artifact_file)
        try:
            return target.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            raise NotFoundError(f"No artifact {rel!r} under {str(self._root)!r}") from None

    def open_reader(self, artifact_file: str) -> BinaryIO:
        rel, target = self._file_target(artifact_file)
        try:
            return target.open("rb")
        except (FileNotFoundError, NotADirectoryError):
            raise NotFoundError(f"No artifact {rel!r} under {str(self._root)!r}") from None

    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        rel, folder = self._target(path)
        if not folder.is_dir():
            return []
        real_root = self._root.resolve()
        infos = []
        with os.scandir(folder) as entries:
            for entry in entries:
                if _TEMP_NAME.match(entry.name):
                    continue  # a write in progress: not an artifact until it is renamed
                try:
                    if entry.is_symlink() and not _resolves_inside(Path(entry.path), real_root):
                        continue  # reading it would be refused, so do not offer it
                    is_dir = entry.is_dir()
                    size = None if is_dir else entry.stat().st_size
                except OSError:  # a broken symlink, or deleted while we looked
                    continue
                infos.append(FileInfo(join(rel, entry.name), is_dir, size))
        return sorted(infos, key=lambda info: info.path)

    def download_artifacts(self, artifact_path: str, dst_path: LocalPath) -> Path:
        rel, source = self._target(artifact_path)
        local = Path(os.path.abspath(dst_path))
        if rel:
            local = local / rel
        if source.is_file():
            local.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, local)
            return local
        if rel and not source.is_dir():
            raise NotFoundError(f"No artifact {rel!r} under {str(self._root)!r}")
        entries = []
        for sub, path, is_dir in _walk(source):  # check every symlink before copying
            ensure_inside(self._root, join(rel, sub))
            if is_dir or path.is_file():
                entries.append((local / sub, path, is_dir))
        local.mkdir(parents=True, exist_ok=True)
        for out, path, is_dir in entries:
            if is_dir:
                out.mkdir(parents=True, exist_ok=True)
            else:
                shutil.copy2(path, out)
        return local

    # -- helpers -----------------------------------------------------------------------------
    def _target(self, path: str | None) -> tuple[str, Path]:
        rel = safe_relative_path(path)
        return rel, ensure_inside(self._root, rel)

    def _file_target(self, artifact_file: str) -> tuple[str, Path]:
        rel, target = self._target(artifact_file)
        if not rel:
            raise invalid_path(artifact_file, "a file path is needed, not the root")
        if target.is_dir():
            raise invalid_path(artifact_file, "it is a folder")
        return rel, target

    def _replace(self, target: Path, fill: Callable[[Path], object]) -> None:
        """Fill a temporary file next to ``target``, then rename it over ``target``."""
        _make_folder(target.parent, self._root)
        temp = _temp_name(target)
        try:
            fill(temp)
            os.replace(temp, target)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise


_TEMP_NAME: Final = re.compile(r"^\..*\.[0-9a-f]{32}\.tmp$", re.DOTALL)


def _temp_name(target: Path) -> Path:
    """A hidden file next to ``target``, so renaming it over ``target`` is atomic."""
    return target.with_name(f".{target.name[:100]}.{uuid.uuid4().hex}.tmp")


def _make_folder(folder: Path, root: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        rel = folder.relative_to(root).as_posix()
        where = str(root) if rel == "." else rel
        raise InvalidInputError(
            f"Cannot create the artifact folder {where!r}: a file is in the way"
        ) from None


def _remove(path: Path) -> None:
    """Delete a file, a symlink (not what it points to) or a folder tree; nothing if missing."""
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.is_dir():
        shutil.rmtree(path)


def _write_new(path: Path, data: bytes) -> None:
    with path.open("xb") as file:
        file.write(data)


def _resolves_inside(path: Path, real_root: Path) -> bool:
    return path.resolve().is_relative_to(real_root)


def _walk(top: Path) -> Iterator[tuple[str, Path, bool]]:
    """``(path relative to top, path, is_dir)`` for everything below ``top``, parents first.

    Symlinked folders are followed, except one that leads back to a folder above it (a cycle).
    A missing ``top`` yields nothing.
    """
    for dirpath, dirnames, filenames in os.walk(top, followlinks=True):
        here = Path(dirpath)
        real_here = here.resolve()
        dirnames[:] = sorted(d for d in dirnames if not _is_cycle(here / d, real_here))
        rel_here = here.relative_to(top).as_posix()
        rel_here = "" if rel_here == "." else rel_here
        for name in dirnames:
            yield join(rel_here, name), here / name, True
        for name in sorted(filenames):
            yield join(rel_here, name), here / name, False


def _is_cycle(folder: Path, real_parent: Path) -> bool:
    real = folder.resolve()
    return real_parent == real or real_parent.is_relative_to(real)
