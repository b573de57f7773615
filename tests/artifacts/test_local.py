from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import pytest

from runbase.artifacts import (
    ArtifactRepository,
    FileInfo,
    LocalArtifactRepository,
    get_artifact_repository,
)
from runbase.errors import InvalidInputError, NotFoundError

# The rules and their messages are tested in test_paths.py; here every method must refuse these
# paths before touching the disk.
UNSAFE_PATHS = [
    "../x",
    "a/../../x",
    "%2e%2e/x",
    "%252e%252e/x",
    "/etc/passwd",
    "a\\b",
    "a\x00b",
    "a\nb",
    "C:/x",
    "a#b",
    "a?b",
    "~/x",
]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "artifacts"


@pytest.fixture
def repo(root: Path) -> LocalArtifactRepository:
    return LocalArtifactRepository(root)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A local folder: a.txt, sub/b.txt, sub/deeper/c.bin, empty/."""
    folder = tmp_path / "source"
    (folder / "sub" / "deeper").mkdir(parents=True)
    (folder / "empty").mkdir()
    (folder / "a.txt").write_text("alpha")
    (folder / "sub" / "b.txt").write_text("beta")
    (folder / "sub" / "deeper" / "c.bin").write_bytes(b"\x00\x01\x02")
    return folder


def _tree(folder: Path) -> dict[str, bytes | None]:
    return {
        p.relative_to(folder).as_posix(): (p.read_bytes() if p.is_file() else None)
        for p in sorted(folder.rglob("*"))
    }


# -- writes and reads --------------------------------------------------------------------------
def test_root_is_created_lazily(repo: LocalArtifactRepository, root: Path) -> None:
    assert repo.list_artifacts() == []
    assert not root.exists()
    repo.write_bytes("x.txt", b"x")
    assert (root / "x.txt").read_bytes() == b"x"


def test_write_read_round_trip(repo: LocalArtifactRepository) -> None:
    repo.write_bytes("report/deep/summary.txt", b"some text")
    assert repo.read_bytes("report/deep/summary.txt") == b"some text"
    assert repo.read_bytes("./report//deep/summary.txt") == b"some text"


def test_overwrite_replaces_atomically(repo: LocalArtifactRepository, root: Path) -> None:
    repo.write_bytes("f.bin", b"old" * 1000)
    repo.write_bytes("f.bin", b"new")
    assert repo.read_bytes("f.bin") == b"new"
    assert os.listdir(root) == ["f.bin"]  # no temporary file left behind


def test_concurrent_writers_leave_one_whole_file(repo: LocalArtifactRepository) -> None:
    payloads = [bytes([i]) * 200_000 for i in range(8)]
    threads = [threading.Thread(target=repo.write_bytes, args=("f.bin", p)) for p in payloads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert repo.read_bytes("f.bin") in payloads
    assert [f.path for f in repo.list_artifacts()] == ["f.bin"]


def test_failed_write_leaves_old_content_and_no_temp(
    repo: LocalArtifactRepository, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo.write_bytes("f.txt", b"old")

    def fail(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        repo.write_bytes("f.txt", b"new")
    assert (root / "f.txt").read_bytes() == b"old"
    assert os.listdir(root) == ["f.txt"]


def test_stream_write_and_read(repo: LocalArtifactRepository, root: Path) -> None:
    with repo.open_writer("ckpt/model.bin") as file:
        for i in range(4):
            file.write(bytes([i]) * 100_000)
        assert not (root / "ckpt" / "model.bin").exists()  # nothing visible before the end
        assert repo.list_artifacts("ckpt") == []  # nor listed
    with repo.open_reader("ckpt/model.bin") as reader:
        assert reader.read(3) == b"\x00\x00\x00"
        assert len(reader.read()) == 400_000 - 3
    assert os.listdir(root / "ckpt") == ["model.bin"]


def test_failed_stream_write_leaves_old_content_and_no_temp(
    repo: LocalArtifactRepository, root: Path
) -> None:
    repo.write_bytes("f.txt", b"old")

    def upload() -> None:
        with repo.open_writer("f.txt") as file:
            file.write(b"half of the new")
            raise ConnectionError("client went away")

    with pytest.raises(ConnectionError):
        upload()
    assert (root / "f.txt").read_bytes() == b"old"
    assert os.listdir(root) == ["f.txt"]


def test_log_artifact_into_folder(repo: LocalArtifactRepository, source: Path) -> None:
    repo.log_artifact(source / "a.txt")
    repo.log_artifact(source / "sub" / "b.txt", "docs/nested")
    repo.log_artifact(str(source / "a.txt"), "docs/nested")
    assert repo.read_bytes("a.txt") == b"alpha"
    assert repo.read_bytes("docs/nested/b.txt") == b"beta"
    assert repo.read_bytes("docs/nested/a.txt") == b"alpha"


def test_log_artifact_needs_a_file(repo: LocalArtifactRepository, source: Path) -> None:
    with pytest.raises(InvalidInputError, match="needs a local file"):
        repo.log_artifact(source / "missing.txt")
    with pytest.raises(InvalidInputError, match="needs a local file"):
        repo.log_artifact(source / "sub")


def test_log_artifacts_copies_recursively(
    repo: LocalArtifactRepository, root: Path, source: Path
) -> None:
    repo.log_artifacts(source)
    repo.log_artifacts(source, "copy")
    assert _tree(root / "copy") == _tree(source)
    assert repo.read_bytes("sub/deeper/c.bin") == b"\x00\x01\x02"
    assert (root / "empty").is_dir()


def test_log_artifacts_needs_a_folder(repo: LocalArtifactRepository, source: Path) -> None:
    with pytest.raises(InvalidInputError, match="needs a local folder"):
        repo.log_artifacts(source / "a.txt")


def test_log_artifacts_follows_symlinks_but_not_cycles(
    repo: LocalArtifactRepository, tmp_path: Path, source: Path
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "s.txt").write_text("shared")
    (source / "linked").symlink_to(shared)
    (source / "sub" / "loop").symlink_to(source)  # a cycle
    (source / "broken").symlink_to(tmp_path / "nowhere")
    repo.log_artifacts(source)
    assert repo.read_bytes("linked/s.txt") == b"shared"
    assert {f.path for f in repo.list_artifacts("sub")} == {"sub/b.txt", "sub/deeper"}
    assert "broken" not in {f.path for f in repo.list_artifacts()}


def test_log_artifacts_checks_every_name_before_copying(
    repo: LocalArtifactRepository, root: Path, source: Path
) -> None:
    (source / "sub" / "bad#name.txt").write_text("x")
    with pytest.raises(InvalidInputError, match=r"'sub/bad#name\.txt': '#' is not allowed"):
        repo.log_artifacts(source)
    assert not root.exists()


def test_read_missing_is_not_found(repo: LocalArtifactRepository) -> None:
    with pytest.raises(NotFoundError, match=r"No artifact 'nope\.txt'"):
        repo.read_bytes("nope.txt")
    repo.write_bytes("file", b"x")
    with pytest.raises(NotFoundError):
        repo.read_bytes("file/below")
    with pytest.raises(NotFoundError, match=r"No artifact 'nope\.txt'"):
        repo.open_reader("nope.txt")


def test_file_paths_must_name_files(repo: LocalArtifactRepository) -> None:
    repo.write_bytes("folder/x.txt", b"x")
    for call in (repo.read_bytes, lambda p: repo.write_bytes(p, b"y"), repo.open_reader):
        with pytest.raises(InvalidInputError, match="a file path is needed"):
            call("")
        with pytest.raises(InvalidInputError, match="it is a folder"):
            call("folder")


def test_file_in_the_way_of_a_folder(repo: LocalArtifactRepository) -> None:
    repo.write_bytes("a", b"x")
    with pytest.raises(InvalidInputError, match="a file is in the way"):
        repo.write_bytes("a/b.txt", b"y")


# -- listing -----------------------------------------------------------------------------------
def test_list_direct_children_sorted_with_repo_paths(
    repo: LocalArtifactRepository, source: Path
) -> None:
    repo.log_artifacts(source)
    repo.write_bytes("0.txt", b"1234")
    assert repo.list_artifacts() == [
        FileInfo("0.txt", False, 4),
        FileInfo("a.txt", False, 5),
        FileInfo("empty", True, None),
        FileInfo("sub", True, None),
    ]
    assert repo.list_artifacts("sub") == [
        FileInfo("sub/b.txt", False, 4),
        FileInfo("sub/deeper", True, None),
    ]
    assert repo.list_artifacts("./sub/deeper/") == [FileInfo("sub/deeper/c.bin", False, 3)]
    assert repo.list_artifacts("empty") == []


def test_list_missing_folder_or_file_is_empty(repo: LocalArtifactRepository) -> None:
    assert repo.list_artifacts("nope") == []
    repo.write_bytes("f.txt", b"x")
    assert repo.list_artifacts("f.txt") == []  # as MLflow's local repository


def test_file_info_is_frozen() -> None:
    info = FileInfo("a", False, 1)
    with pytest.raises(AttributeError):
        info.path = "b"  # type: ignore[misc]


# -- download ----------------------------------------------------------------------------------
def test_download_file(repo: LocalArtifactRepository, tmp_path: Path) -> None:
    repo.write_bytes("report/summary.txt", b"text")
    local = repo.download_artifacts("report/summary.txt", tmp_path / "dl")
    assert local == tmp_path / "dl" / "report" / "summary.txt"
    assert local.read_bytes() == b"text"


def test_download_folder(repo: LocalArtifactRepository, source: Path, tmp_path: Path) -> None:
    repo.log_artifacts(source, "data")
    local = repo.download_artifacts("data/sub", tmp_path / "dl")
    assert local == tmp_path / "dl" / "data" / "sub"
    assert _tree(local) == _tree(source / "sub")
    everything = repo.download_artifacts("", tmp_path / "all")
    assert everything == tmp_path / "all"
    assert _tree(everything / "data") == _tree(source)


def test_download_into_existing_folder_overwrites(
    repo: LocalArtifactRepository, tmp_path: Path
) -> None:
    repo.write_bytes("f.txt", b"new")
    (tmp_path / "dl").mkdir()
    (tmp_path / "dl" / "f.txt").write_text("old")
    assert repo.download_artifacts("f.txt", tmp_path / "dl").read_bytes() == b"new"


def test_download_missing_is_not_found(repo: LocalArtifactRepository, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="No artifact 'nope'"):
        repo.download_artifacts("nope", tmp_path / "dl")
    assert repo.download_artifacts("", tmp_path / "empty") == tmp_path / "empty"


# -- delete ------------------------------------------------------------------------------------
def test_delete_file_folder_and_all(
    repo: LocalArtifactRepository, root: Path, source: Path
) -> None:
    repo.log_artifacts(source)
    repo.delete_artifacts("a.txt")
    repo.delete_artifacts("sub/deeper")
    repo.delete_artifacts("never/there")  # no error
    assert [f.path for f in repo.list_artifacts()] == ["empty", "sub"]
    assert [f.path for f in repo.list_artifacts("sub")] == ["sub/b.txt"]
    repo.delete_artifacts()
    assert not root.exists()
    assert repo.list_artifacts() == []
    repo.write_bytes("again.txt", b"x")  # the root comes back on the next write
    assert repo.read_bytes("again.txt") == b"x"


def test_delete_all_under_a_linked_root(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    repo = LocalArtifactRepository(tmp_path / "alias")
    repo.write_bytes("a/b.txt", b"x")
    repo.write_bytes("c.txt", b"x")
    repo.delete_artifacts()
    assert (tmp_path / "alias").is_symlink()
    assert list((tmp_path / "real").iterdir()) == []


# -- unsafe paths and symlinks -----------------------------------------------------------------
@pytest.mark.parametrize("path", UNSAFE_PATHS)
def test_unsafe_paths_write_nothing(
    repo: LocalArtifactRepository, tmp_path: Path, source: Path, path: str
) -> None:
    rule = re.escape(f"Invalid artifact path {path!r}: ")
    before = _tree(tmp_path)
    with pytest.raises(InvalidInputError, match=rule):
        repo.write_bytes(path, b"x")
    with pytest.raises(InvalidInputError, match=rule):
        repo.log_artifact(source / "a.txt", path)
    with pytest.raises(InvalidInputError, match=rule):
        repo.log_artifacts(source, path)
    with pytest.raises(InvalidInputError, match=rule):
        repo.read_bytes(path)
    with pytest.raises(InvalidInputError, match=rule):
        repo.open_reader(path)
    with pytest.raises(InvalidInputError, match=rule), repo.open_writer(path) as file:
        file.write(b"x")
    with pytest.raises(InvalidInputError, match=rule):
        repo.list_artifacts(path)
    with pytest.raises(InvalidInputError, match=rule):
        repo.download_artifacts(path, tmp_path / "dl")
    with pytest.raises(InvalidInputError, match=rule):
        repo.delete_artifacts(path)
    assert _tree(tmp_path) == before


@pytest.fixture
def escape(repo: LocalArtifactRepository, root: Path, tmp_path: Path) -> Path:
    """``root/link`` → ``tmp_path/outside`` (holding secret.txt), and ``root/ok.txt``."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    repo.write_bytes("ok.txt", b"ok")
    (root / "link").symlink_to(outside)
    (root / "secret-link.txt").symlink_to(outside / "secret.txt")
    return outside


def test_symlink_out_of_root_is_refused(
    repo: LocalArtifactRepository, escape: Path, tmp_path: Path
) -> None:
    match = "outside the artifact root"
    with pytest.raises(InvalidInputError, match=match):
        repo.write_bytes("link/new.txt", b"x")
    with pytest.raises(InvalidInputError, match=match):
        repo.read_bytes("link/secret.txt")
    with pytest.raises(InvalidInputError, match=match):
        repo.read_bytes("secret-link.txt")
    with pytest.raises(InvalidInputError, match=match):
        repo.list_artifacts("link")
    with pytest.raises(InvalidInputError, match=match):
        repo.delete_artifacts("link/secret.txt")
    with pytest.raises(InvalidInputError, match=match):
        repo.download_artifacts("", tmp_path / "dl")  # the walk meets the link
    assert sorted(os.listdir(escape)) == ["secret.txt"]
    assert not (tmp_path / "dl").exists()
    assert [f.path for f in repo.list_artifacts()] == ["ok.txt"]  # escaping links are hidden


def test_symlink_inside_root_is_fine(repo: LocalArtifactRepository, root: Path) -> None:
    repo.write_bytes("real/x.txt", b"x")
    (root / "alias").symlink_to(root / "real")
    assert repo.read_bytes("alias/x.txt") == b"x"
    repo.delete_artifacts("alias")  # removes the link, not what it points to
    assert repo.read_bytes("real/x.txt") == b"x"


# -- opening by URI ----------------------------------------------------------------------------
def test_file_uri_with_spaces_and_percent(tmp_path: Path) -> None:
    folder = tmp_path / "my runs" / "100% done #1"
    uri = folder.as_uri()
    assert "%20" in uri and "%25" in uri and "%23" in uri
    repo = get_artifact_repository(uri)
    assert isinstance(repo, LocalArtifactRepository)
    assert repo.root == folder
    repo.write_bytes("a.txt", b"x")
    assert (folder / "a.txt").read_bytes() == b"x"


@pytest.mark.parametrize("form", ["file:{}", "file://localhost{}", "{}"])
def test_file_uri_forms_and_plain_paths(tmp_path: Path, form: str) -> None:
    repo = get_artifact_repository(form.format(tmp_path))
    assert isinstance(repo, ArtifactRepository)
    assert isinstance(repo, LocalArtifactRepository) and repo.root == tmp_path


def test_relative_plain_path_is_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    repo = get_artifact_repository("runs/artifacts")
    assert isinstance(repo, LocalArtifactRepository)
    assert repo.root == tmp_path / "runs" / "artifacts"


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("gs://bucket/path", r"scheme 'gs' in 'gs://bucket/path': supported are file:// URIs"),
        ("http://host/x", "scheme 'http'"),
        ("file://otherhost/x", "cannot name a host"),
        ("file:///a/b#frag", "no query or fragment"),
        ("file:relative/x", "needs an absolute path"),
        ("", "non-empty string"),
    ],
)
def test_bad_uris(uri: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        get_artifact_repository(uri)
