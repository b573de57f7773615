from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from runbase.data import (
    DIGEST_LENGTH,
    dataset,
    fingerprint_array,
    fingerprint_dataframe,
    fingerprint_files,
)
from runbase.entities import Dataset
from runbase.errors import InvalidInputError


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """images/: a.png, b.png, labels/x.txt — with fixed mtimes."""
    root = tmp_path / "images"
    (root / "labels").mkdir(parents=True)
    for i, rel in enumerate(["a.png", "b.png", "labels/x.txt"]):
        path = root / rel
        path.write_bytes(b"0123456789"[: i + 3])
        os.utime(path, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000 + i))
    return root


def _is_digest(value: str) -> bool:
    return len(value) == DIGEST_LENGTH and all(c in "0123456789abcdef" for c in value)


# -- files -------------------------------------------------------------------------------------
def test_files_fingerprint_is_stable(folder: Path) -> None:
    first = fingerprint_files(folder)
    assert _is_digest(first)
    assert fingerprint_files(folder) == first
    assert fingerprint_files(str(folder)) == first
    assert fingerprint_files([folder]) == first


def test_files_fingerprint_changes_when_a_file_is_added(folder: Path) -> None:
    before = fingerprint_files(folder)
    (folder / "labels" / "y.txt").write_text("")
    assert fingerprint_files(folder) != before


def test_files_fingerprint_changes_when_a_file_is_resized(folder: Path) -> None:
    before = fingerprint_files(folder)
    stat = (folder / "a.png").stat()
    (folder / "a.png").write_bytes(b"longer content")
    os.utime(folder / "a.png", ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same mtime
    assert fingerprint_files(folder) != before


def test_files_fingerprint_changes_when_a_file_is_touched(folder: Path) -> None:
    before = fingerprint_files(folder)
    stat = (folder / "a.png").stat()
    os.utime(folder / "a.png", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    assert fingerprint_files(folder) != before


def test_files_fingerprint_changes_when_a_file_is_renamed(folder: Path) -> None:
    before = fingerprint_files(folder)
    (folder / "a.png").rename(folder / "c.png")
    assert fingerprint_files(folder) != before


def test_files_fingerprint_does_not_read_contents(folder: Path) -> None:
    before = fingerprint_files(folder)
    stat = (folder / "a.png").stat()
    (folder / "a.png").write_bytes(b"XYZ")  # same size
    os.utime(folder / "a.png", ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert fingerprint_files(folder) == before  # the documented trade-off


def test_files_fingerprint_ignores_order_and_location(folder: Path, tmp_path: Path) -> None:
    files = [folder / "a.png", folder / "b.png", folder / "labels" / "x.txt"]
    assert fingerprint_files(files) == fingerprint_files(list(reversed(files)))
    assert fingerprint_files(files) == fingerprint_files(folder)  # same root, same manifest
    assert fingerprint_files(files + files) == fingerprint_files(files)
    moved = folder.rename(tmp_path / "elsewhere")
    assert fingerprint_files(moved) == fingerprint_files(
        [moved / "labels" / "x.txt", moved / "a.png", moved / "b.png"]
    )


def test_files_fingerprint_independent_of_walk_order(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = fingerprint_files(folder)
    real_walk = os.walk

    def reversed_walk(top: str, **kwargs: Any) -> Iterator[tuple[str, list[str], list[str]]]:
        for dirpath, dirnames, filenames in real_walk(top, **kwargs):
            dirnames.reverse()
            yield dirpath, dirnames, list(reversed(filenames))

    monkeypatch.setattr(os, "walk", reversed_walk)
    assert fingerprint_files(folder) == before


def test_files_root_sets_relative_paths(folder: Path) -> None:
    one = fingerprint_files(folder / "labels", root=folder)
    assert one != fingerprint_files(folder / "labels")  # "labels/x.txt" vs "x.txt"
    assert one == fingerprint_files(folder / "labels" / "x.txt", root=folder)
    with pytest.raises(InvalidInputError, match="is not inside the root"):
        fingerprint_files(folder, root=folder / "labels")


def test_files_symlinks_are_followed_without_cycles(folder: Path, tmp_path: Path) -> None:
    before = fingerprint_files(folder)
    (folder / "loop").symlink_to(folder)
    assert fingerprint_files(folder) == before
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "e.txt").write_text("e")
    (folder / "more").symlink_to(extra)
    assert fingerprint_files(folder) != before


def test_files_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="does not exist"):
        fingerprint_files(tmp_path / "missing")
    with pytest.raises(InvalidInputError, match="at least one file"):
        fingerprint_files([])
    with pytest.raises(InvalidInputError, match="not int"):
        fingerprint_files([3])  # type: ignore[list-item]


def test_empty_folder_has_a_fingerprint(tmp_path: Path) -> None:
    assert _is_digest(fingerprint_files(tmp_path))


# -- DataFrames --------------------------------------------------------------------------------
def _frame() -> pd.DataFrame:
    return pd.DataFrame({"x": [1, 2, 3], "y": [0.5, 1.5, 2.5], "name": ["a", "b", "c"]})


def test_dataframe_fingerprint_is_stable() -> None:
    digest = fingerprint_dataframe(_frame())
    assert _is_digest(digest)
    assert fingerprint_dataframe(_frame()) == digest
    assert fingerprint_dataframe(_frame().copy()) == digest


def test_dataframe_fingerprint_differs_by_one_cell() -> None:
    other = _frame()
    other.loc[1, "y"] = 1.25
    assert fingerprint_dataframe(other) != fingerprint_dataframe(_frame())


def test_dataframe_fingerprint_differs_by_column_name() -> None:
    renamed = _frame().rename(columns={"y": "z"})
    assert fingerprint_dataframe(renamed) != fingerprint_dataframe(_frame())


def test_dataframe_fingerprint_differs_by_dtype() -> None:
    wider = _frame().astype({"x": "int32"})
    assert fingerprint_dataframe(wider) != fingerprint_dataframe(_frame())


def test_dataframe_fingerprint_differs_by_index_and_order() -> None:
    base = fingerprint_dataframe(_frame())
    assert fingerprint_dataframe(_frame().set_axis([10, 11, 12])) != base
    assert fingerprint_dataframe(_frame()[["y", "x", "name"]]) != base
    assert fingerprint_dataframe(_frame().iloc[::-1]) != base


def test_dataframe_column_name_types_matter() -> None:
    assert fingerprint_dataframe(pd.DataFrame({1: [1]})) != fingerprint_dataframe(
        pd.DataFrame({"1": [1]})
    )


def test_dataframe_errors() -> None:
    with pytest.raises(InvalidInputError, match="needs a DataFrame"):
        fingerprint_dataframe([1, 2])  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="Cannot fingerprint this DataFrame"):
        fingerprint_dataframe(pd.DataFrame({"a": [[1], [2]]}))


# -- arrays ------------------------------------------------------------------------------------
def test_array_fingerprint_is_stable() -> None:
    digest = fingerprint_array(np.arange(12).reshape(3, 4))
    assert _is_digest(digest)
    assert fingerprint_array(np.arange(12).reshape(3, 4)) == digest


def test_array_fingerprint_differs_by_dtype_shape_and_value() -> None:
    base = np.arange(12, dtype=np.int64).reshape(3, 4)
    digests = {
        fingerprint_array(base),
        fingerprint_array(base.astype(np.int32)),
        fingerprint_array(base.astype(np.float64)),
        fingerprint_array(base.reshape(4, 3)),
        fingerprint_array(base.reshape(12)),
        fingerprint_array(base + np.eye(3, 4, dtype=np.int64)),
    }
    assert len(digests) == 6


def test_array_layout_does_not_matter() -> None:
    base = np.arange(12).reshape(3, 4)
    assert fingerprint_array(np.asfortranarray(base)) == fingerprint_array(base)
    assert fingerprint_array(base.T) == fingerprint_array(base.T.copy())
    assert fingerprint_array(base.tolist()) == fingerprint_array(base)


def test_array_fingerprint_odd_dtypes() -> None:
    assert _is_digest(fingerprint_array(np.array(5)))
    assert _is_digest(fingerprint_array(np.zeros((0, 3))))
    assert _is_digest(fingerprint_array(np.array(["2024-01-01"], dtype="datetime64[D]")))
    assert _is_digest(fingerprint_array(np.array(["a", "bc"])))
    with pytest.raises(InvalidInputError, match="dtype object"):
        fingerprint_array(np.array([{}, []], dtype=object))


# -- dataset() ---------------------------------------------------------------------------------
def test_dataset_from_folder(folder: Path) -> None:
    ds = dataset(folder)
    assert ds == Dataset(
        name="images",
        digest=fingerprint_files(folder),
        source_type="local",
        source=str(folder),
        schema="",
        profile=json.dumps({"num_files": 3, "num_bytes": 3 + 4 + 5}),
    )
    assert dataset(str(folder), name="train", source="s3://b/images").name == "train"
    assert dataset(str(folder), source="s3://b/images").source == "s3://b/images"


def test_dataset_from_file_and_file_list(folder: Path) -> None:
    one = dataset(folder / "a.png")
    assert (one.name, one.source, one.source_type) == ("a.png", str(folder / "a.png"), "local")
    listed = dataset([folder / "a.png", str(folder / "labels" / "x.txt")])
    assert (listed.name, listed.source) == ("images", str(folder))
    assert json.loads(listed.profile)["num_files"] == 2


def test_dataset_from_dataframe() -> None:
    frame = pd.DataFrame(
        {
            "i": np.array([1, 2, 3], dtype=np.int32),
            "n": [1, 2, 3],
            "f": [0.5, None, 1.0],
            "s": ["a", "b", "c"],
            "b": [True, False, True],
        }
    )
    ds = dataset(frame)
    assert (ds.name, ds.source_type) == ("dataset", "code")
    script = getattr(sys.modules["__main__"], "__file__", None)
    assert ds.source == (os.path.abspath(script) if script else "<interactive>")
    assert ds.digest == fingerprint_dataframe(frame)
    assert json.loads(ds.profile) == {"num_rows": 3, "num_elements": 15}
    assert json.loads(ds.schema) == {
        "mlflow_colspec": [
            {"type": "integer", "name": "i", "required": True},
            {"type": "long", "name": "n", "required": True},
            {"type": "double", "name": "f", "required": False},
            {"type": "string", "name": "s", "required": True},
            {"type": "boolean", "name": "b", "required": True},
        ]
    }


def test_dataset_from_dataframe_with_unclear_types_has_no_schema() -> None:
    ds = dataset(pd.DataFrame({"mixed": [1, "a"]}))
    assert ds.schema == ""


def test_dataset_source_types(tmp_path: Path) -> None:
    frame = _frame()
    assert dataset(frame, source="s3://bucket/x.csv").source_type == "s3"
    assert dataset(frame, source="https://example.com/x.csv").source_type == "http"
    assert dataset(frame, source=tmp_path.as_uri()).source_type == "local"
    local = dataset(frame, name="train", source="data/x.csv")
    assert (local.name, local.source_type) == ("train", "local")
    assert local.source == os.path.abspath("data/x.csv")


def test_dataset_from_array() -> None:
    features = np.zeros((5, 3, 2), dtype=np.float32)
    ds = dataset(features, name="features")
    assert (ds.name, ds.source_type) == ("features", "code")
    assert ds.digest == fingerprint_array(features)
    assert json.loads(ds.profile) == {
        "features_shape": [5, 3, 2],
        "features_size": 30,
        "features_nbytes": 120,
    }
    spec = json.loads(json.loads(ds.schema)["mlflow_tensorspec"]["features"])
    assert spec == [{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 3, 2]}}]


@pytest.mark.parametrize(
    ("data", "type_name"),
    [({"a": 1}, "dict"), (3.5, "float"), ([1, 2], "list"), (pd.Series([1]), "pandas")],
)
def test_dataset_unsupported_type(data: object, type_name: str) -> None:
    with pytest.raises(InvalidInputError, match=f"Cannot make a dataset from a {type_name}"):
        dataset(data)
