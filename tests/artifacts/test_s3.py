"""The artifact contract on S3, against a real S3-compatible server on loopback (``s3server``)."""

from __future__ import annotations

import re
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from test_local import UNSAFE_PATHS

from runbase.artifacts import FileInfo, S3ArtifactRepository, get_artifact_repository
from runbase.errors import InvalidInputError, NotFoundError, StoreError
from s3server import all_keys


@pytest.fixture
def repo(s3_bucket: str) -> S3ArtifactRepository:
    return S3ArtifactRepository(f"s3://{s3_bucket}/root/1/run/artifacts")


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


def _files(folder: Path) -> dict[str, bytes]:
    return {k: v for k, v in _tree(folder).items() if v is not None}


# -- writes and reads --------------------------------------------------------------------------
def test_write_read_round_trip_lands_under_the_prefix(
    repo: S3ArtifactRepository, s3_client: Any, s3_bucket: str
) -> None:
    repo.write_bytes("report/deep/summary.txt", b"some text")
    assert repo.read_bytes("report/deep/summary.txt") == b"some text"
    assert repo.read_bytes("./report//deep/summary.txt") == b"some text"
    assert all_keys(s3_client, s3_bucket) == {
        "root/1/run/artifacts/report/deep/summary.txt": b"some text"
    }
    head = s3_client.head_object(
        Bucket=s3_bucket, Key="root/1/run/artifacts/report/deep/summary.txt"
    )
    assert head["ContentType"] == "text/plain"
    repo.write_bytes("100%25 done.bin", b"raw")  # the key is the path as it is, not decoded
    assert all_keys(s3_client, s3_bucket)["root/1/run/artifacts/100%25 done.bin"] == b"raw"
    assert repo.read_bytes("100%25 done.bin") == b"raw"


def test_overwrite_replaces(repo: S3ArtifactRepository) -> None:
    repo.write_bytes("f.bin", b"old" * 1000)
    repo.write_bytes("f.bin", b"new")
    assert repo.read_bytes("f.bin") == b"new"
    assert repo.list_artifacts() == [FileInfo("f.bin", False, 3)]


def test_concurrent_writers_share_one_client(repo: S3ArtifactRepository) -> None:
    payloads = [bytes([i]) * 100_000 for i in range(6)]
    threads = [threading.Thread(target=repo.write_bytes, args=("f.bin", p)) for p in payloads]
    threads += [
        threading.Thread(target=repo.write_bytes, args=(f"own/{i}.bin", p))
        for i, p in enumerate(payloads)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert repo.read_bytes("f.bin") in payloads
    assert [repo.read_bytes(f"own/{i}.bin") for i in range(6)] == payloads


def test_large_stream_write_and_read(
    repo: S3ArtifactRepository, s3_client: Any, s3_bucket: str
) -> None:
    chunk = 1024 * 1024
    with repo.open_writer("ckpt/model.bin") as file:  # 12 MiB: spills to disk, multipart upload
        for i in range(12):
            file.write(bytes([i]) * chunk)
        assert repo.list_artifacts("ckpt") == []  # nothing visible before the end
    key = "root/1/run/artifacts/ckpt/model.bin"
    head = s3_client.head_object(Bucket=s3_bucket, Key=key)
    assert head["ContentLength"] == 12 * chunk
    assert "-" in head["ETag"]  # uploaded in parts
    with repo.open_reader("ckpt/model.bin") as reader:
        assert reader.read(3) == b"\x00\x00\x00"
        assert reader.read(chunk) == b"\x00" * (chunk - 3) + b"\x01" * 3
        rest = reader.read()
    assert len(rest) == 11 * chunk - 3 and rest[-1:] == b"\x0b"
    with repo.open_reader("ckpt/model.bin") as reader:  # read in a loop, as the proxy does
        sizes = []
        while block := reader.read(chunk):
            sizes.append(len(block))
    assert sum(sizes) == 12 * chunk


def test_failed_stream_write_leaves_old_content(repo: S3ArtifactRepository) -> None:
    repo.write_bytes("f.txt", b"old")

    def upload() -> None:
        with repo.open_writer("f.txt") as file:
            file.write(b"half of the new")
            raise ConnectionError("client went away")

    with pytest.raises(ConnectionError):
        upload()
    assert repo.read_bytes("f.txt") == b"old"


def test_log_artifact_into_folder(repo: S3ArtifactRepository, source: Path) -> None:
    repo.log_artifact(source / "a.txt")
    repo.log_artifact(source / "sub" / "b.txt", "docs/nested")
    repo.log_artifact(str(source / "a.txt"), "docs/nested")
    assert repo.read_bytes("a.txt") == b"alpha"
    assert repo.read_bytes("docs/nested/b.txt") == b"beta"
    assert repo.read_bytes("docs/nested/a.txt") == b"alpha"
    with pytest.raises(InvalidInputError, match="needs a local file"):
        repo.log_artifact(source / "missing.txt")
    with pytest.raises(InvalidInputError, match="needs a local folder"):
        repo.log_artifacts(source / "a.txt")


def test_log_artifacts_copies_recursively(
    repo: S3ArtifactRepository, source: Path, tmp_path: Path
) -> None:
    repo.log_artifacts(source)
    repo.log_artifacts(source, "copy")
    assert repo.read_bytes("sub/deeper/c.bin") == b"\x00\x01\x02"
    out = repo.download_artifacts("copy", tmp_path / "dl")
    assert _files(out) == _files(source)  # S3 keeps files; an empty folder is not stored
    assert "empty" not in {f.path for f in repo.list_artifacts()}


def test_log_artifacts_checks_every_name_before_uploading(
    repo: S3ArtifactRepository, source: Path, s3_client: Any, s3_bucket: str
) -> None:
    (source / "sub" / "bad#name.txt").write_text("x")
    with pytest.raises(InvalidInputError, match=r"'sub/bad#name\.txt': '#' is not allowed"):
        repo.log_artifacts(source)
    assert all_keys(s3_client, s3_bucket) == {}


def test_read_missing_is_not_found_naming_the_object(repo: S3ArtifactRepository) -> None:
    where = re.escape(f"s3://{repo.bucket}/root/1/run/artifacts/nope.txt")
    with pytest.raises(NotFoundError, match=rf"No artifact 'nope\.txt' at {where}"):
        repo.read_bytes("nope.txt")
    with pytest.raises(NotFoundError, match=where):
        repo.open_reader("nope.txt")
    repo.write_bytes("file", b"x")
    with pytest.raises(NotFoundError):
        repo.read_bytes("file/below")


def test_file_paths_must_name_files(repo: S3ArtifactRepository) -> None:
    repo.write_bytes("folder/x.txt", b"x")
    for call in (repo.read_bytes, repo.open_reader):
        with pytest.raises(InvalidInputError, match="a file path is needed"):
            call("")
        with pytest.raises(InvalidInputError, match="it is a folder"):
            call("folder")
    with pytest.raises(InvalidInputError, match="a file path is needed"):
        repo.write_bytes("", b"x")


# -- listing -----------------------------------------------------------------------------------
def test_list_direct_children_sorted_with_repo_paths(
    repo: S3ArtifactRepository, source: Path
) -> None:
    repo.log_artifacts(source)
    repo.write_bytes("0.txt", b"1234")
    repo.write_bytes("sub2/x.txt", b"x")  # a sibling whose name starts like "sub"
    assert repo.list_artifacts() == [
        FileInfo("0.txt", False, 4),
        FileInfo("a.txt", False, 5),
        FileInfo("sub", True, None),
        FileInfo("sub2", True, None),
    ]
    assert repo.list_artifacts("sub") == [
        FileInfo("sub/b.txt", False, 4),
        FileInfo("sub/deeper", True, None),
    ]
    assert repo.list_artifacts("./sub/deeper/") == [FileInfo("sub/deeper/c.bin", False, 3)]
    assert repo.list_artifacts("nope") == []
    assert repo.list_artifacts("a.txt") == []  # a file lists as nothing, as in MLflow


def test_listing_hides_objects_that_are_no_artifact_path(
    repo: S3ArtifactRepository, s3_client: Any, s3_bucket: str, tmp_path: Path
) -> None:
    """Objects written by other tools: a folder marker is a folder, unsafe keys are hidden."""
    base = "root/1/run/artifacts/"
    for key in ("marker/", "ok.txt", "bad\\name", "a//double", "x/../../escape"):
        s3_client.put_object(Bucket=s3_bucket, Key=base + key, Body=b"z")
    assert repo.list_artifacts() == [
        FileInfo("a", True, None),
        FileInfo("marker", True, None),
        FileInfo("ok.txt", False, 1),
        FileInfo("x", True, None),
    ]
    assert repo.list_artifacts("marker") == []
    assert repo.list_artifacts("a") == []  # "a//double" cannot be addressed
    with pytest.raises(InvalidInputError, match="outside the artifact root"):
        repo.download_artifacts("", tmp_path / "dl")
    assert not (tmp_path / "dl").exists()  # refused before anything was written
    s3_client.delete_object(Bucket=s3_bucket, Key=base + "x/../../escape")
    s3_client.delete_object(Bucket=s3_bucket, Key=base + "bad\\name")
    out = repo.download_artifacts("", tmp_path / "dl")
    assert _tree(out) == {"a": None, "a/double": b"z", "marker": None, "ok.txt": b"z"}


def test_pagination_of_listing_download_and_delete(s3_bucket: str, tmp_path: Path) -> None:
    repo = S3ArtifactRepository(f"s3://{s3_bucket}/p", page_size=2)
    names = [f"f{i}.txt" for i in range(5)]
    for name in names:
        repo.write_bytes(name, name.encode())
        repo.write_bytes(f"d/{name}", name.encode())
    repo.write_bytes("e/x.txt", b"x")
    listed = repo.list_artifacts()
    assert [f.path for f in listed] == ["d", "e", *names]
    assert len(repo.list_artifacts("d")) == 5
    out = repo.download_artifacts("d", tmp_path / "dl")
    assert _files(out) == {name: name.encode() for name in names}
    repo.delete_artifacts()
    assert repo.list_artifacts() == []
    with pytest.raises(InvalidInputError, match="page_size"):
        S3ArtifactRepository(f"s3://{s3_bucket}", page_size=1001)


# -- download ----------------------------------------------------------------------------------
def test_download_file(repo: S3ArtifactRepository, tmp_path: Path) -> None:
    repo.write_bytes("report/summary.txt", b"text")
    local = repo.download_artifacts("report/summary.txt", tmp_path / "dl")
    assert local == tmp_path / "dl" / "report" / "summary.txt"
    assert local.read_bytes() == b"text"
    repo.write_bytes("report/summary.txt", b"new")
    assert repo.download_artifacts("report/summary.txt", tmp_path / "dl").read_bytes() == b"new"
    assert sorted(p.name for p in local.parent.iterdir()) == ["summary.txt"]  # no temp left


def test_download_folder_and_everything(
    repo: S3ArtifactRepository, source: Path, tmp_path: Path
) -> None:
    repo.log_artifacts(source, "data")
    local = repo.download_artifacts("data/sub", tmp_path / "dl")
    assert local == tmp_path / "dl" / "data" / "sub"
    assert _tree(local) == _tree(source / "sub")
    everything = repo.download_artifacts("", tmp_path / "all")
    assert everything == tmp_path / "all"
    assert _files(everything / "data") == _files(source)


def test_download_missing_is_not_found(repo: S3ArtifactRepository, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="No artifact 'nope' at s3://"):
        repo.download_artifacts("nope", tmp_path / "dl")
    assert not (tmp_path / "dl").exists()
    assert repo.download_artifacts("", tmp_path / "empty") == tmp_path / "empty"


# -- delete ------------------------------------------------------------------------------------
def test_delete_file_folder_and_all(
    repo: S3ArtifactRepository, source: Path, s3_client: Any, s3_bucket: str
) -> None:
    other = S3ArtifactRepository(f"s3://{s3_bucket}/root/1/run/artifacts-other")
    other.write_bytes("keep.txt", b"k")  # a neighbour whose prefix starts like ours
    repo.log_artifacts(source)
    repo.write_bytes("sub2/x.txt", b"x")
    repo.delete_artifacts("a.txt")
    repo.delete_artifacts("sub/deeper")
    repo.delete_artifacts("never/there")  # no error
    assert [f.path for f in repo.list_artifacts()] == ["sub", "sub2"]
    assert [f.path for f in repo.list_artifacts("sub")] == ["sub/b.txt"]
    repo.delete_artifacts("sub")
    assert [f.path for f in repo.list_artifacts()] == ["sub2"]
    repo.delete_artifacts()
    assert repo.list_artifacts() == []
    assert all_keys(s3_client, s3_bucket) == {"root/1/run/artifacts-other/keep.txt": b"k"}
    repo.write_bytes("again.txt", b"x")
    assert repo.read_bytes("again.txt") == b"x"


# -- unsafe paths ------------------------------------------------------------------------------
@pytest.mark.parametrize("path", UNSAFE_PATHS)
def test_unsafe_paths_touch_nothing(
    repo: S3ArtifactRepository,
    source: Path,
    tmp_path: Path,
    s3_client: Any,
    s3_bucket: str,
    path: str,
) -> None:
    repo.write_bytes("existing.txt", b"x")
    before = all_keys(s3_client, s3_bucket)
    rule = re.escape(f"Invalid artifact path {path!r}: ")
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
    assert all_keys(s3_client, s3_bucket) == before
    assert not (tmp_path / "dl").exists()


# -- URIs, configuration and errors ------------------------------------------------------------
def test_opened_by_uri_with_one_client(s3_bucket: str) -> None:
    repo = get_artifact_repository(f"s3://{s3_bucket}/a/b/")
    assert isinstance(repo, S3ArtifactRepository)
    assert (repo.bucket, repo.prefix, repr(repo)) == (
        s3_bucket,
        "a/b",
        f"S3ArtifactRepository('s3://{s3_bucket}/a/b')",
    )
    client = repo.client
    repo.write_bytes("x.txt", b"x")
    repo.list_artifacts()
    assert repo.client is client
    repo.close()
    whole = get_artifact_repository(f"s3://{s3_bucket}")
    assert isinstance(whole, S3ArtifactRepository) and whole.uri == f"s3://{s3_bucket}"
    assert whole.read_bytes("a/b/x.txt") == b"x"


def test_a_client_passed_in_is_used_and_left_open(s3_bucket: str, s3_client: Any) -> None:
    repo = S3ArtifactRepository(f"s3://{s3_bucket}/given", client=s3_client)
    assert repo.client is s3_client
    repo.write_bytes("x.txt", b"x")
    repo.close()
    assert s3_client.get_object(Bucket=s3_bucket, Key="given/x.txt")["Body"].read() == b"x"


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("s3:///no-bucket", "write s3://bucket/prefix"),
        ("s3://bucket/a/../b", "'..' segments"),
        ("s3://bucket/x?versionId=1", "no query or fragment"),
        ("s3://key:secret@bucket/x", "is not a bucket name"),
    ],
)
def test_bad_s3_uris(s3_env: str, uri: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        get_artifact_repository(uri)


def test_boto3_endpoint_variable_when_mlflows_is_unset(
    s3_bucket: str, monkeypatch: pytest.MonkeyPatch, s3_env: str
) -> None:
    monkeypatch.delenv("MLFLOW_S3_ENDPOINT_URL")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_env)
    repo = S3ArtifactRepository(f"s3://{s3_bucket}/via-boto3")
    repo.write_bytes("x.txt", b"boto3")
    assert repo.read_bytes("x.txt") == b"boto3"


def test_missing_bucket_is_a_store_error_naming_it(s3_env: str) -> None:
    repo = S3ArtifactRepository("s3://no-such-bucket-here/root")
    with pytest.raises(StoreError, match=r"could not write s3://no-such-bucket-here/root/x\.txt"):
        repo.write_bytes("x.txt", b"x")
    with pytest.raises(StoreError, match="NoSuchBucket"):
        repo.list_artifacts()


def test_unreachable_endpoint_is_a_store_error(
    monkeypatch: pytest.MonkeyPatch, s3_env: str
) -> None:
    from liveserver import free_port

    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    repo = S3ArtifactRepository("s3://bucket/root")
    with pytest.raises(StoreError, match=r"could not read s3://bucket/root/x\.txt: .*connect"):
        repo.read_bytes("x.txt")


def test_without_boto3_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(StoreError, match=re.escape("pip install 'runbase[s3]'")):
        get_artifact_repository("s3://bucket/root")
