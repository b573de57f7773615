from __future__ import annotations

from pathlib import Path

import pytest

from runbase.artifacts import safe_relative_path
from runbase.artifacts._paths import MAX_DECODE_ROUNDS, ensure_inside
from runbase.errors import InvalidInputError

# (path, the rule its message must name)
UNSAFE = [
    ("../x", r"'\.\.' segments"),
    ("a/../../x", r"'\.\.' segments"),
    ("a/..", r"'\.\.' segments"),
    ("..", r"'\.\.' segments"),
    ("%2e%2e/x", r"'\.\.' segments are not allowed \(after percent-decoding\)"),
    ("%2E%2E/x", r"'\.\.' segments"),
    ("a/%2e%2e/%2e%2e/x", r"'\.\.' segments"),
    ("%252e%252e/x", r"'\.\.' segments .*percent-decoding"),
    ("..%2fx", r"'\.\.' segments"),
    ("/etc/passwd", "absolute paths"),
    ("%2fetc/passwd", "absolute paths"),
    ("a\\b", "backslashes"),
    ("..\\x", "backslashes"),
    ("a%5cb", "backslashes"),
    ("a\x00b", "NUL bytes"),
    ("a%00b", "NUL bytes"),
    ("a\nb", "control characters"),
    ("a\tb", "control characters"),
    ("a\x7fb", "control characters"),
    ("C:/x", "Windows drives"),
    ("c:x", "Windows drives"),
    ("a/D:/x", "Windows drives"),
    ("a#b", "'#' is not allowed"),
    ("a?b", r"'\?' is not allowed"),
    ("a%23b", "'#' is not allowed"),
    ("~/x", "leading '~'"),
    ("~root/x", "leading '~'"),
]


@pytest.mark.parametrize(("path", "rule"), UNSAFE)
def test_unsafe_paths_are_refused(path: str, rule: str) -> None:
    with pytest.raises(InvalidInputError, match=rule) as caught:
        safe_relative_path(path)
    assert caught.value.message.startswith(f"Invalid artifact path {path!r}: ")


def test_message_names_path_and_rule() -> None:
    with pytest.raises(InvalidInputError) as caught:
        safe_relative_path("../escape.txt")
    assert caught.value.message == (
        "Invalid artifact path '../escape.txt': '..' segments are not allowed"
    )


def test_endless_percent_encoding_is_refused() -> None:
    path = "x"
    for _ in range(MAX_DECODE_ROUNDS + 1):
        path = path.replace("%", "%25") if "%" in path else "%78"
    with pytest.raises(InvalidInputError, match="rounds of percent-encoding"):
        safe_relative_path(path)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (None, ""),
        ("", ""),
        (".", ""),
        ("./", ""),
        ("a", "a"),
        ("a/b.txt", "a/b.txt"),
        ("./a/./b/", "a/b"),
        ("a//b///c", "a/b/c"),
        ("a b/c-d_e.f", "a b/c-d_e.f"),
        ("images/pred~overlay+step+0.png", "images/pred~overlay+step+0.png"),
        ("a/~b", "a/~b"),
        ("100%25.txt", "100%25.txt"),  # checked decoded, kept raw
        ("50%.txt", "50%.txt"),
        ("a..b/c..", "a..b/c.."),
        ("...", "..."),
        ("ab:c", "ab:c"),
        ("données/测试.txt", "données/测试.txt"),
    ],
)
def test_safe_paths_are_normalised(path: str | None, expected: str) -> None:
    assert safe_relative_path(path) == expected


def test_non_string_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="must be a string, not int"):
        safe_relative_path(3)  # type: ignore[arg-type]


def test_ensure_inside(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "a").mkdir(parents=True)
    assert ensure_inside(root, "") == root
    assert ensure_inside(root, "a/b.txt") == root / "a" / "b.txt"
    assert ensure_inside(root, "not/yet/there") == root / "not" / "yet" / "there"


def test_ensure_inside_refuses_symlink_out(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "outside").mkdir()
    (root / "link").symlink_to(tmp_path / "outside")
    with pytest.raises(InvalidInputError, match="outside the artifact root"):
        ensure_inside(root, "link/x.txt")


def test_ensure_inside_allows_root_that_is_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    assert ensure_inside(tmp_path / "alias", "a.txt") == tmp_path / "alias" / "a.txt"
