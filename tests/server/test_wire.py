"""Request fields, JSON bodies and page tokens, read with MLflow's checks and messages."""

from __future__ import annotations

import asyncio
import base64
import math
from typing import Any

import pytest
from starlette.requests import Request

from runbase.errors import InvalidInputError
from runbase.server._wire import (
    Fields,
    decode_json_object,
    decode_offset_token,
    double,
    encode_offset_token,
    read_body,
)

DOCS = " See the API docs for more information about request parameters."


def test_wrong_type_message_is_mlflows() -> None:
    with pytest.raises(InvalidInputError) as caught:
        Fields({"run_id": 31}).run_id()
    assert caught.value.message == (
        "Invalid value 31 for parameter 'run_id' supplied. Hint: Value was of type 'int'." + DOCS
    )


def test_missing_and_empty_required_fields() -> None:
    for data in ({}, {"run_id": ""}, {"run_id": None}):
        with pytest.raises(InvalidInputError) as caught:
            Fields(data).run_id()
        assert caught.value.message == "Missing value for required parameter 'run_id'." + DOCS


def test_run_uuid_stands_in_for_run_id() -> None:
    assert Fields({"run_uuid": "abc"}).run_id() == "abc"
    assert Fields({"run_id": "a", "run_uuid": "b"}).run_id() == "a"


def test_nested_paths_in_messages() -> None:
    (metric,) = Fields({"metrics": [{"key": "m", "value": 1}]}).objects("metrics")
    with pytest.raises(InvalidInputError, match=r"'metrics\[0\]\.timestamp'"):
        metric.required_integer("timestamp")
    with pytest.raises(InvalidInputError, match=r"Invalid value 5 for parameter 'metrics\[1\]'"):
        Fields({"metrics": [{}, 5]}).objects("metrics")
    dataset = Fields({"datasets": [{"dataset": {"name": 3}}]}).objects("datasets")[0]
    with pytest.raises(InvalidInputError, match=r"'datasets\[0\]\.dataset\.name'"):
        dataset.object("dataset").required_string("name")


@pytest.mark.parametrize(
    ("value", "expected"),
    [(5, 5), ("7", 7), (" 8 ", 8), (3.0, 3), ("-2", -2), (None, None)],
)
def test_integers_accept_json_numbers_and_proto_strings(value: Any, expected: int | None) -> None:
    assert Fields({"n": value}).integer("n") == expected


@pytest.mark.parametrize("value", [True, 1.5, "x", "1.5", [1], 2**63, {"a": 1}])
def test_integers_refuse_the_rest(value: Any) -> None:
    with pytest.raises(InvalidInputError, match=r"Invalid value .* for parameter 'n'"):
        Fields({"n": value}).integer("n")


def test_doubles_take_proto_spellings() -> None:
    f = Fields({"a": "NaN", "b": "Infinity", "c": "-Infinity", "d": "2.5", "e": 3, "f": 1e308})
    assert math.isnan(f.required_double("a"))
    assert f.required_double("b") == math.inf
    assert f.required_double("c") == -math.inf
    assert (f.double("d"), f.double("e"), f.double("f")) == (2.5, 3.0, 1e308)
    for bad in ("abc", True, [1.0]):
        with pytest.raises(InvalidInputError, match="parameter 'v'"):
            Fields({"v": bad}).double("v")


def test_booleans() -> None:
    f = Fields({"a": True, "b": "false", "c": "TRUE", "d": 1})
    assert (f.boolean("a"), f.boolean("b"), f.boolean("c"), f.boolean("z")) == (
        True,
        False,
        True,
        None,
    )
    with pytest.raises(InvalidInputError, match="parameter 'd'"):
        f.boolean("d")


def test_enums_by_name_or_number() -> None:
    names = ("ACTIVE_ONLY", "DELETED_ONLY", "ALL")
    assert Fields({"v": "ALL"}).enum("v", names) == "ALL"
    assert Fields({"v": "deleted_only"}).enum("v", names) == "DELETED_ONLY"
    assert Fields({"v": 1}).enum("v", names) == "ACTIVE_ONLY"
    assert Fields({"v": "3"}).enum("v", names) == "ALL"
    assert Fields({}).enum("v", names) is None
    for bad in ("NOPE", 0, 4, True):
        with pytest.raises(InvalidInputError, match="parameter 'v'"):
            Fields({"v": bad}).enum("v", names)


def test_string_lists_and_key_values() -> None:
    assert Fields({"ids": "1"}).strings("ids") == ["1"]  # a repeated query parameter given once
    assert Fields({"ids": ["1", "2"]}).strings("ids") == ["1", "2"]
    assert Fields({}).strings("ids") == []
    with pytest.raises(InvalidInputError, match="parameter 'ids'"):
        Fields({"ids": [1]}).strings("ids")
    tags = Fields({"tags": [{"key": "a", "value": "1"}, {"key": "b"}]})
    assert tags.key_values("tags") == {"a": "1", "b": ""}
    with pytest.raises(InvalidInputError, match=r"'tags\[0\]\.key'"):
        Fields({"tags": [{"value": "x"}]}).key_values("tags")


def test_json_bodies() -> None:
    assert decode_json_object(b"") == {}
    assert decode_json_object(b"  \n") == {}
    assert decode_json_object(b'{"a": 1}') == {"a": 1}
    # Python's json module writes bare NaN; older MLflow clients double-encode.
    assert math.isnan(decode_json_object(b'{"v": NaN}')["v"])
    assert decode_json_object(b'"{\\"a\\": 2}"') == {"a": 2}
    with pytest.raises(InvalidInputError, match="Malformed JSON"):
        decode_json_object(b"{bad")
    with pytest.raises(InvalidInputError, match="must be a JSON object, not list"):
        decode_json_object(b"[1, 2]")


def _request(chunks: list[bytes], headers: dict[str, str]) -> Request:
    messages = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "query_string": b"",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
    }
    return Request(scope, receive)


def test_body_limit_by_header_and_by_stream() -> None:
    with pytest.raises(InvalidInputError, match="at most 10 bytes"):
        asyncio.run(read_body(_request([b"{}"], {"content-length": "11"}), 10))
    with pytest.raises(InvalidInputError, match="at most 10 bytes"):
        asyncio.run(read_body(_request([b"123456", b"789012"], {}), 10))
    assert asyncio.run(read_body(_request([b"12345", b"67890"], {}), 10)) == b"1234567890"


def test_doubles_out() -> None:
    assert double(1.5) == 1.5
    assert (double(math.nan), double(math.inf), double(-math.inf)) == (
        "NaN",
        "Infinity",
        "-Infinity",
    )


def test_page_tokens() -> None:
    token = encode_offset_token(20)
    assert base64.b64decode(token) == b'{"offset": 20}'  # MLflow's own format
    assert decode_offset_token(token) == 20
    assert decode_offset_token(None) == decode_offset_token("") == 0
    with pytest.raises(InvalidInputError, match="Invalid page token, could not base64-decode"):
        decode_offset_token("not base64!")
    for bad in (b"[1]", b'{"offset": -1}', b'{"offset": "3"}', b"nope"):
        with pytest.raises(InvalidInputError, match="Invalid page token"):
            decode_offset_token(base64.b64encode(bad).decode())
