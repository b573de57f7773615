"""Expensive inputs kept between measurements and runs: large stores and fresh venvs, under
``bench/out/cache/`` (git-ignored), each named by a hash of everything it depends on.

A store of 100,000 runs takes minutes to build; the measurements that read it build it once and
then open the same file. The key holds the workload's parameters, the version of the tool, and
the source files whose change would change what is built (the store's schema, the scenario's own
builder), so a stale entry is never used: it is replaced, and older entries of the same kind are
removed, since each takes gigabytes.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import shutil
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

CACHE = Path(__file__).resolve().parent.parent / "out" / "cache"


def digest(
    parts: dict[str, Any], files: Iterable[Path] = (), code: Iterable[Callable[..., Any]] = ()
) -> str:
    """A short hash of ``parts`` (JSON), the contents of ``files`` and the source of the
    functions in ``code`` (the builder and what it calls: editing the rest of its module, its
    documentation say, keeps the entry)."""
    h = hashlib.sha256(json.dumps(parts, sort_keys=True).encode())
    for path in sorted(files):
        h.update(str(path.name).encode())
        h.update(path.read_bytes())
    for func in code:
        h.update(inspect.getsource(func).encode())
    return h.hexdigest()[:16]


def entry(kind: str, key: str, build: Callable[[Path], None]) -> tuple[Path, float | None]:
    """The cached folder ``kind-key``, filled by ``build(folder)`` if missing.

    Returns the folder and the seconds the build took (None when it was already there).
    ``build`` fills a temporary folder, renamed once complete, so an interrupted build leaves
    nothing that looks finished (and a SQLite file moves with its ``-wal`` beside it).
    """
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"{kind}-{key}"
    if path.exists():
        return path, None
    for old in CACHE.glob(f"{kind}-*"):
        _remove(old)  # other keys of this kind, and any half-built leftover
    partial = CACHE / f"{kind}-{key}.partial-{os.getpid()}"
    start = time.perf_counter()
    try:
        partial.mkdir()
        build(partial)
        partial.rename(path)
    finally:
        _remove(partial)
    return path, time.perf_counter() - start


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)


def runbase_store_files() -> list[Path]:
    """The runbase sources that define the tables of a store file: its schema and migrations.
    Read by path, so no runbase import is needed here."""
    import importlib.util

    spec = importlib.util.find_spec("runbase")
    if spec is None or spec.origin is None:
        raise RuntimeError("runbase is not importable in this interpreter")
    sql = Path(spec.origin).parent / "store" / "sql"
    return [sql / "_schema.py", *sorted((sql / "migrations" / "versions").glob("*.py"))]
