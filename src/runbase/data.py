"""Dataset fingerprints: short digests that tell whether two runs saw the same data.

A digest is the first 8 hex characters of a SHA-256, as short as MLflow's dataset digests.

* **Files and folders** (:func:`fingerprint_files`) are fingerprinted from their *manifest*:
  each file's path relative to a root, its size and its modification time (ns). File contents
  are never read, so a terabyte dataset takes as long as listing it. The price: a copy that
  does not keep modification times (plain ``cp``; ``cp -p``, ``rsync -a`` and
  ``shutil.copy2`` keep them) gets a new fingerprint, and an edit that keeps a file's size and
  mtime goes unnoticed. Moving the whole dataset elsewhere keeps the fingerprint.
* **DataFrames** (:func:`fingerprint_dataframe`) hash every cell and the index with
  ``pandas.util.hash_pandas_object``, plus the column names and dtypes. Stable for a given
  pandas version.
* **Arrays** (:func:`fingerprint_array`) hash the dtype, the shape and the bytes.

:func:`dataset` wraps any of these in a :class:`~runbase.entities.Dataset` to log as a run input.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

import numpy as np
import numpy.typing as npt

from runbase.entities import Dataset
from runbase.errors import InvalidInputError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DIGEST_LENGTH",
    "dataset",
    "fingerprint_array",
    "fingerprint_dataframe",
    "fingerprint_files",
]

DIGEST_LENGTH: Final = 8

#: The name of a dataset built from in-memory data when none is given, as in MLflow.
DEFAULT_NAME: Final = "dataset"

PathLike = str | os.PathLike[str]


def _digest(*parts: bytes | memoryview) -> str:
    sha = hashlib.sha256()
    for part in parts:
        sha.update(part)
    return sha.hexdigest()[:DIGEST_LENGTH]


# -- files -------------------------------------------------------------------------------------
def fingerprint_files(paths: PathLike | Iterable[PathLike], root: PathLike | None = None) -> str:
    """Fingerprint files and folders (walked recursively) from their sizes and mtimes.

    Paths enter the manifest relative to ``root``, which defaults to the folder that holds them
    all (a single folder is its own root; a single file's root is its folder). Contents are not
    read: see the module docstring for what that means. Symlinks are followed.
    """
    _, manifest = _manifest(_as_paths(paths), root)
    return _digest(_manifest_bytes(manifest))


def _manifest(items: list[Path], root: PathLike | None) -> tuple[Path, list[tuple[str, int, int]]]:
    """The root and the sorted ``(relative posix path, size, mtime_ns)`` of every file."""
    base = Path(os.path.abspath(root)) if root is not None else _common_root(items)
    entries: dict[str, tuple[int, int]] = {}
    for item in items:
        for file in _files(item) if item.is_dir() else [item]:
            try:
                rel = file.relative_to(base).as_posix()
            except ValueError:
                raise InvalidInputError(
                    f"Dataset file {str(file)!r} is not inside the root {str(base)!r}"
                ) from None
            stat = file.stat()
            entries[rel] = (stat.st_size, stat.st_mtime_ns)
    return base, sorted((rel, size, mtime) for rel, (size, mtime) in entries.items())


def _manifest_bytes(manifest: list[tuple[str, int, int]]) -> bytes:
    # JSON keeps the encoding unambiguous whatever a file name holds (tabs, newlines...).
    return json.dumps(manifest, separators=(",", ":")).encode()


def _as_paths(paths: PathLike | Iterable[PathLike]) -> list[Path]:
    items: list[Any] = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    if not items:
        raise InvalidInputError("A dataset needs at least one file or folder; got none")
    result = []
    for item in items:
        if not isinstance(item, str | os.PathLike):
            raise InvalidInputError(
                f"Dataset paths must be str or os.PathLike, not {type(item).__name__}: {item!r}"
            )
        path = Path(os.path.abspath(item))
        if not path.exists():
            raise InvalidInputError(f"Dataset path {str(path)!r} does not exist")
        result.append(path)
    return result


def _common_root(paths: list[Path]) -> Path:
    folders = [str(path if path.is_dir() else path.parent) for path in paths]
    try:
        return Path(os.path.commonpath(folders))
    except ValueError:  # different drives on Windows
        raise InvalidInputError(
            "Dataset paths share no common folder; pass root= to fingerprint them together"
        ) from None


def _files(folder: Path) -> Iterator[Path]:
    """Every regular file below ``folder``; symlinked folders are followed, except cycles."""
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        here = Path(dirpath)
        real_here = here.resolve()
        dirnames[:] = [name for name in dirnames if not _is_cycle(here / name, real_here)]
        for name in filenames:
            path = here / name
            if path.is_file():  # skips broken symlinks, sockets, FIFOs
                yield path


def _is_cycle(folder: Path, real_parent: Path) -> bool:
    real = folder.resolve()
    return real_parent == real or real_parent.is_relative_to(real)


# -- DataFrames and arrays ---------------------------------------------------------------------
def fingerprint_dataframe(df: pd.DataFrame) -> str:
    """Fingerprint a pandas DataFrame: its cells and index, column names and dtypes."""
    pandas = _import_pandas()
    if not isinstance(df, pandas.DataFrame):
        raise InvalidInputError(f"fingerprint_dataframe needs a DataFrame, not {_type_name(df)}")
    columns = [[type(name).__name__, str(name), str(dtype)] for name, dtype in df.dtypes.items()]
    try:
        row_hashes = pandas.util.hash_pandas_object(df, index=True).to_numpy()
    except TypeError as exc:  # unhashable cells, such as lists
        raise InvalidInputError(f"Cannot fingerprint this DataFrame: {exc}") from None
    return _digest(json.dumps(columns).encode(), row_hashes.tobytes())


def fingerprint_array(arr: npt.ArrayLike) -> str:
    """Fingerprint a numpy array (or anything ``np.asarray`` takes): dtype, shape and bytes."""
    array = np.asarray(arr)
    if array.dtype.hasobject:
        raise InvalidInputError(
            "Cannot fingerprint an array of Python objects (dtype object): its bytes are "
            "pointers. Convert it to a numeric or string dtype first"
        )
    header = json.dumps({"dtype": str(array.dtype.descr), "shape": list(array.shape)})
    flat = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
    return _digest(header.encode(), flat.data)


# -- datasets ----------------------------------------------------------------------------------
def dataset(data: Any, name: str | None = None, source: str | None = None) -> Dataset:
    """A :class:`~runbase.entities.Dataset` for ``data``, fingerprinted.

    ``data`` is one of:

    * a file or folder path, or a list of them: ``source_type`` ``"local"``; ``source`` the
      absolute path (for a list, the folder that holds them all); ``name`` the file or folder
      name; ``profile`` ``{"num_files", "num_bytes"}``.
    * a pandas DataFrame: ``schema`` in MLflow's ``{"mlflow_colspec": [...]}`` form (empty when
      a column's type cannot be told), ``profile`` ``{"num_rows", "num_elements"}`` as in
      MLflow's ``from_pandas``.
    * a numpy array: ``schema`` in MLflow's ``{"mlflow_tensorspec": ...}`` form, ``profile``
      ``{"features_shape", "features_size", "features_nbytes"}`` as in MLflow's ``from_numpy``.

    For in-memory data ``name`` defaults to ``"dataset"``. Without ``source`` the
    ``source_type`` is ``"code"`` and ``source`` the running script's absolute path
    (``"<interactive>"`` in a REPL or notebook), as MLflow's ``from_pandas`` records the code
    that made the data when no source is given. With a ``source``, the type comes from its URI
    scheme: ``"local"`` for a path (made absolute) or ``file:`` URI, ``"http"`` for http(s),
    else the scheme itself (``"s3"``...).

    The context a run used the dataset in ("training"...) belongs to ``log_input``, not here.
    """
    if isinstance(data, str | os.PathLike) or (
        isinstance(data, list | tuple) and all(isinstance(x, str | os.PathLike) for x in data)
    ):
        return _files_dataset(data, name, source)
    pandas = sys.modules.get("pandas")  # a DataFrame means pandas is imported already
    if pandas is not None and isinstance(data, pandas.DataFrame):
        return _frame_dataset(data, name, source)
    if isinstance(data, np.ndarray):
        return _array_dataset(data, name, source)
    raise InvalidInputError(
        f"Cannot make a dataset from a {_type_name(data)}: pass a file or folder path, a list "
        "of paths, a pandas DataFrame or a numpy array"
    )


def _files_dataset(data: Any, name: str | None, source: str | None) -> Dataset:
    items = _as_paths(data)
    root, manifest = _manifest(items, None)
    where = items[0] if len(items) == 1 else root
    profile = {"num_files": len(manifest), "num_bytes": sum(size for _, size, _ in manifest)}
    return Dataset(
        name=name or where.name or str(where),
        digest=_digest(_manifest_bytes(manifest)),
        source_type="local",
        source=source if source is not None else str(where),
        profile=json.dumps(profile),
    )


def _frame_dataset(df: pd.DataFrame, name: str | None, source: str | None) -> Dataset:
    source_type, source = _source(source)
    colspec = _colspec(df)
    return Dataset(
        name=name or DEFAULT_NAME,
        digest=fingerprint_dataframe(df),
        source_type=source_type,
        source=source,
        schema=json.dumps({"mlflow_colspec": colspec}) if colspec is not None else "",
        profile=json.dumps({"num_rows": len(df), "num_elements": int(df.size)}),
    )


def _array_dataset(array: npt.NDArray[Any], name: str | None, source: str | None) -> Dataset:
    source_type, source = _source(source)
    shape = [int(n) for n in array.shape]
    spec = [
        {"type": "tensor", "tensor-spec": {"dtype": str(array.dtype), "shape": [-1, *shape[1:]]}}
    ]
    profile = {
        "features_shape": shape,
        "features_size": int(array.size),
        "features_nbytes": int(array.nbytes),
    }
    return Dataset(
        name=name or DEFAULT_NAME,
        digest=fingerprint_array(array),
        source_type=source_type,
        source=source,
        schema=json.dumps({"mlflow_tensorspec": {"features": json.dumps(spec), "targets": None}}),
        profile=json.dumps(profile),
    )


def _source(source: str | None) -> tuple[str, str]:
    """``(source_type, source)`` for in-memory data."""
    if source is None:
        return "code", _running_code()
    scheme = urlsplit(source).scheme.lower()
    if len(scheme) <= 1:  # a plain path (or a Windows drive)
        return "local", os.path.abspath(source)
    if scheme == "file":
        return "local", source
    if scheme in ("http", "https"):
        return "http", source
    return scheme, source


def _running_code() -> str:
    """The script that made in-memory data, as MLflow's code source names it."""
    path = getattr(sys.modules.get("__main__"), "__file__", None)
    return os.path.abspath(path) if isinstance(path, str) else "<interactive>"


def _colspec(df: pd.DataFrame) -> list[dict[str, Any]] | None:
    """MLflow's column specs (``type``, ``name``, ``required``), or None when a type is unclear."""
    specs = []
    for position, name in enumerate(df.columns):
        column = df.iloc[:, position]
        kind = _column_type(column)
        if kind is None:
            return None
        specs.append({"type": kind, "name": str(name), "required": not bool(column.isna().any())})
    return specs


def _column_type(column: pd.Series[Any]) -> str | None:
    """The MLflow data type of a column, following MLflow's numpy mapping."""
    pandas = _import_pandas()
    dtype = column.dtype
    if isinstance(dtype, pandas.CategoricalDtype):
        return _column_type(pandas.Series(dtype.categories))
    kind, size = dtype.kind, getattr(dtype, "itemsize", 8)
    if kind == "b":
        return "boolean"
    if kind in "iu":
        if size < 4 or (kind == "i" and size == 4):
            return "integer"
        return "long" if size < 8 or kind == "i" else None  # uint64 fits neither
    if kind == "f":
        return "float" if size <= 4 else "double"
    if kind == "M":
        return "datetime"
    if kind in "OUST":
        inferred = pandas.api.types.infer_dtype(column, skipna=True)
        return {"string": "string", "bytes": "binary"}.get(inferred)
    return None


def _import_pandas() -> Any:
    try:
        import pandas
    except ModuleNotFoundError:
        raise InvalidInputError(
            "This needs pandas, which is not installed: pip install 'runbase[pandas]'"
        ) from None
    return pandas


def _type_name(value: object) -> str:
    cls = type(value)
    return (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )
