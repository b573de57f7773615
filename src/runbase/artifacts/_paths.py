"""Artifact paths: the one check every repository runs before it touches storage.

An artifact path is relative to the repository root, uses ``/`` between folders, and names
nothing outside the root. :func:`safe_relative_path` enforces that on the text; ``ensure_inside``
is the second line of defence on the file system (it follows symlinks).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final
from urllib.parse import unquote

from runbase.errors import InvalidInputError

__all__ = ["ensure_inside", "join", "safe_relative_path"]

#: Percent-decoding stops after this many rounds; a path still changing by then is refused.
MAX_DECODE_ROUNDS: Final = 8

_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE: Final = re.compile(r"^[A-Za-z]:")


def invalid_path(path: str, rule: str) -> InvalidInputError:
    return InvalidInputError(f"Invalid artifact path {path!r}: {rule}")


def safe_relative_path(path: str | None) -> str:
    """Check an artifact path and return it normalised; ``""`` means the repository root.

    ``None``, ``""`` and ``"."`` give ``""``; ``.`` segments, repeated and trailing slashes are
    dropped (``"a//./b/"`` → ``"a/b"``). The path is
    refused with :class:`~runbase.errors.InvalidInputError` when it, or any round of
    percent-decoding it (``%2e%2e``, ``%252e%252e``...: a URL layer may decode it later), has
    ``..`` segments, a leading ``/`` or ``~``, a backslash, a NUL byte or another control
    character, ``#`` or ``?``, or a Windows drive (``C:``) at the start of a segment.

    The returned path is the raw one (not decoded): ``"100%25.txt"`` stays a file of that name.
    Whether the root is acceptable (a file is needed, say) is for the caller to decide.
    """
    if path is None:
        return ""
    if not isinstance(path, str):
        raise InvalidInputError(f"An artifact path must be a string, not {type(path).__name__}")
    layer = path
    for round_ in range(MAX_DECODE_ROUNDS):
        _check(path, layer, decoded=round_ > 0)
        decoded = unquote(layer)
        if decoded == layer:
            break
        layer = decoded
    else:
        raise invalid_path(path, f"more than {MAX_DECODE_ROUNDS} rounds of percent-encoding")
    return "/".join(segment for segment in path.split("/") if segment not in ("", "."))


def _check(path: str, layer: str, *, decoded: bool) -> None:
    """Raise when ``layer`` (``path`` itself or a percent-decoding of it) breaks a rule."""
    rule = _broken_rule(layer)
    if rule is not None:
        raise invalid_path(path, rule + (" (after percent-decoding)" if decoded else ""))


def _broken_rule(layer: str) -> str | None:
    if "\x00" in layer:
        return "NUL bytes are not allowed"
    if _CONTROL.search(layer):
        return "control characters are not allowed"
    if "\\" in layer:
        return "backslashes are not allowed; separate folders with '/'"
    if layer.startswith("/"):
        return "absolute paths are not allowed"
    segments = layer.split("/")
    if any(_DRIVE.match(segment) for segment in segments):
        return "Windows drives such as 'C:' are not allowed"
    for char in "#?":
        if char in layer:
            return f"{char!r} is not allowed"
    if layer.startswith("~"):
        return "a leading '~' is not allowed"
    if ".." in segments:
        return "'..' segments are not allowed"
    return None


def join(folder: str, name: str) -> str:
    """Join two already safe relative paths; ``""`` is the root."""
    return f"{folder}/{name}" if folder and name else folder or name


def ensure_inside(root: Path, relative: str) -> Path:
    """``root / relative``, refused unless it resolves (symlinks followed) inside ``root``.

    ``relative`` must already have passed :func:`safe_relative_path`; this catches what text
    cannot show: a symlink in the repository that points elsewhere.
    """
    target = root / relative if relative else root
    real_root = root.resolve()
    real = target.resolve()
    if real != real_root and not real.is_relative_to(real_root):
        raise invalid_path(relative, "it resolves outside the artifact root (through a symlink)")
    return target
