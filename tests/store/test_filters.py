"""The run-search filter and order_by parser: MLflow's grammar plus metric aggregates."""

from __future__ import annotations

import dataclasses
import random

import pytest

from runbase.errors import InvalidInputError
from runbase.store import filters
from runbase.store.filters import (
    Comparison,
    FilterSyntaxError,
    Identifier,
    OrderKey,
    parse_filter,
    parse_order_by,
)

Value = float | str | tuple[str, ...] | None


def metric(key: str, op: str, value: Value, aggregate: str = "last") -> Comparison:
    return Comparison(Identifier("metric", key, aggregate), op, value)


def param(key: str, op: str, value: Value) -> Comparison:
    return Comparison(Identifier("param", key), op, value)


def tag(key: str, op: str, value: Value) -> Comparison:
    return Comparison(Identifier("tag", key), op, value)


def attr(key: str, op: str, value: Value) -> Comparison:
    return Comparison(Identifier("attribute", key), op, value)


def dataset(key: str, op: str, value: Value) -> Comparison:
    return Comparison(Identifier("dataset", key), op, value)


def test_public_api() -> None:
    assert sorted(filters.__all__) == [
        "Comparison",
        "FilterSyntaxError",
        "Grammar",
        "Identifier",
        "OrderKey",
        "RUN_GRAMMAR",
        "parse_filter",
        "parse_order_by",
    ]
    assert issubclass(FilterSyntaxError, InvalidInputError)
    assert FilterSyntaxError.error_code == "INVALID_PARAMETER_VALUE"


def test_nodes_are_frozen_and_hashable() -> None:
    comparison = metric("acc", ">", 0.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        comparison.op = "<"  # type: ignore[misc]
    assert {comparison, metric("acc", ">", 0.5)} == {comparison}
    assert Identifier("metric", "acc").aggregate == "last"
    assert OrderKey(Identifier("param", "lr")).ascending is True


@pytest.mark.parametrize("text", [None, "", "   ", "\n\t "])
def test_no_filter(text: str | None) -> None:
    assert parse_filter(text) == ()


# --- valid filters ------------------------------------------------------------------------------

WORKFLOW_7 = "params.batch_size = '24' and metrics.val_map > 0.7"

VALID = {
    # PRODUCT.md workflow 7, and AND in any case
    WORKFLOW_7: (param("batch_size", "=", "24"), metric("val_map", ">", 0.7)),
    "params.a = 'x' AND tags.b != 'y' And metrics.c <= 1": (
        param("a", "=", "x"),
        tag("b", "!=", "y"),
        metric("c", "<=", 1.0),
    ),
    "params.a='x'and metrics.m>=-1": (param("a", "=", "x"), metric("m", ">=", -1.0)),
    "\n  params.a = 'x'\n  AND\tmetrics.m < 2\n": (param("a", "=", "x"), metric("m", "<", 2.0)),
    # entity prefixes
    "metrics.m = 1": (metric("m", "=", 1.0),),
    "metric.m = 1": (metric("m", "=", 1.0),),
    "m.m = 1": (metric("m", "=", 1.0),),
    "params.p = 'v'": (param("p", "=", "v"),),
    "param.p = 'v'": (param("p", "=", "v"),),
    "parameters.p = 'v'": (param("p", "=", "v"),),
    "parameter.p = 'v'": (param("p", "=", "v"),),
    "p.p = 'v'": (param("p", "=", "v"),),
    "tags.t = 'v'": (tag("t", "=", "v"),),
    "tag.t = 'v'": (tag("t", "=", "v"),),
    "t.t = 'v'": (tag("t", "=", "v"),),
    "attributes.status = 'FAILED'": (attr("status", "=", "FAILED"),),
    "attribute.status = 'FAILED'": (attr("status", "=", "FAILED"),),
    "attr.status = 'FAILED'": (attr("status", "=", "FAILED"),),
    "run.status = 'FAILED'": (attr("status", "=", "FAILED"),),
    "datasets.name = 'mnist'": (dataset("name", "=", "mnist"),),
    "dataset.name = 'mnist'": (dataset("name", "=", "mnist"),),
    "PARAMS.p = 'v'": (param("p", "=", "v"),),
    "`params`.p = 'v'": (param("p", "=", "v"),),
    "`attributes`.`run name` = 'r'": (attr("run_name", "=", "r"),),
    # key quoting and dotted keys
    "params.model.encoder.depth = '3'": (param("model.encoder.depth", "=", "3"),),
    "params.`my key` = 'x'": (param("my key", "=", "x"),),
    "params.`model.encoder.depth` = '3'": (param("model.encoder.depth", "=", "3"),),
    "tags.\"mlflow.runName\" = 'r'": (tag("mlflow.runName", "=", "r"),),
    "tags.`mlflow.runName` = 'r'": (tag("mlflow.runName", "=", "r"),),
    "tags.mlflow.runName = 'r'": (tag("mlflow.runName", "=", "r"),),
    "params.'odd key' = 'x'": (param("odd key", "=", "x"),),
    "metrics.`val-loss` < 1": (metric("val-loss", "<", 1.0),),
    "metrics.`a``b` < 1": (metric("a`b", "<", 1.0),),
    "metrics.1acc > 0": (metric("1acc", ">", 0.0),),
    "metrics.précision > 0": (metric("précision", ">", 0.0),),
    # metric aggregates (beyond MLflow)
    "metrics.val_loss.min < 0.3": (metric("val_loss", "<", 0.3, "min"),),
    "metrics.val_loss.max < 0.3": (metric("val_loss", "<", 0.3, "max"),),
    "metrics.a.b.min < 0.3": (metric("a.b", "<", 0.3, "min"),),
    "metrics.min < 0.3": (metric("min", "<", 0.3),),
    "metrics.val_loss.MIN < 0.3": (metric("val_loss.MIN", "<", 0.3),),
    "metrics.`val_loss.min` < 0.3": (metric("val_loss.min", "<", 0.3),),
    'metrics."val_loss.max" < 0.3': (metric("val_loss.max", "<", 0.3),),
    "metrics.`val/loss`.min < 0.3": (metric("val/loss", "<", 0.3, "min"),),
    "metrics.`val/loss`.max < 0.3 and metrics.`a b`.min > 0": (
        metric("val/loss", "<", 0.3, "max"),
        metric("a b", ">", 0.0, "min"),
    ),
    "m.loss.min <= 0 and metrics.loss.max >= 1": (
        metric("loss", "<=", 0.0, "min"),
        metric("loss", ">=", 1.0, "max"),
    ),
    # numbers
    "metrics.m != 3": (metric("m", "!=", 3.0),),
    "metrics.m > -2.5": (metric("m", ">", -2.5),),
    "metrics.m > +2": (metric("m", ">", 2.0),),
    "metrics.m > .5": (metric("m", ">", 0.5),),
    "metrics.m > 5.": (metric("m", ">", 5.0),),
    "metrics.m > 1e-3": (metric("m", ">", 0.001),),
    "metrics.m > -1.5E+3": (metric("m", ">", -1500.0),),
    "metrics.m > 007": (metric("m", ">", 7.0),),
    # strings and escapes
    'params.a = "double"': (param("a", "=", "double"),),
    "params.a = ''": (param("a", "=", ""),),
    "params.a = 'it''s'": (param("a", "=", "it's"),),
    "params.a = 'it\\'s'": (param("a", "=", "it's"),),
    'params.a = "say ""hi"""': (param("a", "=", 'say "hi"'),),
    'params.a = "say \\"hi\\""': (param("a", "=", 'say "hi"'),),
    "params.a = 'keep \"\" as is'": (param("a", "=", 'keep "" as is'),),
    "params.a = 'back\\\\slash'": (param("a", "=", "back\\slash"),),
    "params.a LIKE 'a\\_b%'": (param("a", "LIKE", "a\\_b%"),),
    "params.a = 'AND x = 1 OR'": (param("a", "=", "AND x = 1 OR"),),
    "params.a = 'multi\nline'": (param("a", "=", "multi\nline"),),
    # param and tag comparators, any case
    "params.a != 'x'": (param("a", "!=", "x"),),
    "params.a LIKE 'u%'": (param("a", "LIKE", "u%"),),
    "params.a like 'u%'": (param("a", "LIKE", "u%"),),
    "params.a ILIKE 'U%'": (param("a", "ILIKE", "U%"),),
    "tags.a iLike 'U%'": (tag("a", "ILIKE", "U%"),),
    "params.a IN ('x', 'y')": (param("a", "IN", ("x", "y")),),
    "tags.a not in ('x')": (tag("a", "NOT IN", ("x",)),),
    "params.a IS NULL": (param("a", "IS NULL", None),),
    "params.a is null": (param("a", "IS NULL", None),),
    "tags.a IS NOT NULL": (tag("a", "IS NOT NULL", None),),
    "tags.a Is Not Null and params.b is null": (
        tag("a", "IS NOT NULL", None),
        param("b", "IS NULL", None),
    ),
    # IN lists
    "attributes.run_id IN ('a', \"b\", 'c')": (attr("run_id", "IN", ("a", "b", "c")),),
    "attributes.run_id NOT IN ('a',)": (attr("run_id", "NOT IN", ("a",)),),
    "attributes.run_id in('a','b')": (attr("run_id", "IN", ("a", "b")),),
    "attributes.status IN ('FAILED', 'KILLED')": (attr("status", "IN", ("FAILED", "KILLED")),),
    "params.a IN ('it''s', '')": (param("a", "IN", ("it's", "")),),
    # attributes: canonical names, bare names and aliases
    "attributes.run_id = 'abc'": (attr("run_id", "=", "abc"),),
    "attributes.run_name LIKE 'run-00%'": (attr("run_name", "LIKE", "run-00%"),),
    "attributes.user_id ILIKE 'ALICE'": (attr("user_id", "ILIKE", "ALICE"),),
    "attributes.artifact_uri != 'x'": (attr("artifact_uri", "!=", "x"),),
    "attributes.lifecycle_stage = 'active'": (attr("lifecycle_stage", "=", "active"),),
    "attributes.start_time >= 1050": (attr("start_time", ">=", 1050.0),),
    "attributes.end_time < 2000.5": (attr("end_time", "<", 2000.5),),
    "status = 'FAILED'": (attr("status", "=", "FAILED"),),
    "run_name = 'r'": (attr("run_name", "=", "r"),),
    "start_time > 5": (attr("start_time", ">", 5.0),),
    "`run name` = 'r'": (attr("run_name", "=", "r"),),
    "\"Run Name\" = 'r'": (attr("run_name", "=", "r"),),
    "attributes.`Run name` = 'r'": (attr("run_name", "=", "r"),),
    "created > 5": (attr("start_time", ">", 5.0),),
    "attributes.Created > 5": (attr("start_time", ">", 5.0),),
    "attributes.run_uuid = 'abc'": (attr("run_id", "=", "abc"),),
    "tags.group = 'odd' and status = 'FAILED'": (
        tag("group", "=", "odd"),
        attr("status", "=", "FAILED"),
    ),
    # datasets
    "datasets.digest = 'f94e5e59'": (dataset("digest", "=", "f94e5e59"),),
    "datasets.context IN ('training', 'validation')": (
        dataset("context", "IN", ("training", "validation")),
    ),
    "datasets.name NOT IN ('a')": (dataset("name", "NOT IN", ("a",)),),
    "datasets.name LIKE 'mn%'": (dataset("name", "LIKE", "mn%"),),
    "datasets.name ILIKE 'MN%'": (dataset("name", "ILIKE", "MN%"),),
    "datasets.name != 'x'": (dataset("name", "!=", "x"),),
}


@pytest.mark.parametrize(("text", "expected"), list(VALID.items()))
def test_valid_filters(text: str, expected: tuple[Comparison, ...]) -> None:
    assert parse_filter(text) == expected


def test_metric_values_are_floats() -> None:
    (comparison,) = parse_filter("metrics.m = 3")
    assert type(comparison.value) is float
    (comparison,) = parse_filter("attributes.start_time = 3")
    assert type(comparison.value) is float


def test_all_numeric_ops() -> None:
    for op in ("=", "!=", "<", "<=", ">", ">="):
        assert parse_filter(f"metrics.m {op} 1") == (metric("m", op, 1.0),)
        assert parse_filter(f"end_time {op} 1") == (attr("end_time", op, 1.0),)


# --- errors -------------------------------------------------------------------------------------

ERRORS = [
    # (filter, position, fragments of the message)
    ("params.a = '1' OR params.b = '2'", 15, ["OR is not supported", "AND"]),
    ("params.a = '1' or params.b = '2'", 15, ["OR is not supported"]),
    ("params.a = 'x' and", 18, ["expected an identifier", "got end of input"]),
    ("params.a = 'x' AND AND params.b = 'y'", 19, ["expected an identifier before AND"]),
    ("AND params.a = 'x'", 0, ["expected an identifier before AND"]),
    ("params.a = 'x' extra", 15, ["expected AND or the end of the filter, got 'extra'"]),
    ("params.a = 'x' params.b = 'y'", 15, ["got 'params.b'"]),
    ("params.a = 'x' ; params.b = 'y'", 15, ["unexpected character ';'"]),
    ("(params.a = 'x')", 0, ["parentheses are only allowed around IN lists"]),
    ("params.a = 'x' and (metrics.m > 1)", 19, ["parentheses are only allowed around IN lists"]),
    ("NOT params.a = 'x'", 0, ["NOT is not supported"]),
    ("= 'x'", 0, ["expected an identifier", "got '='"]),
    # comparators
    (
        "params.batch_size foo '24'",
        18,
        [
            "expected a comparator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN, IS NULL), "
            "got 'foo'"
        ],
    ),
    ("params.a <> 'x'", 9, ["expected a comparator", "got '<>'"]),
    ("params.a == 'x'", 9, ["expected a comparator", "got '=='"]),
    ("params.a", 8, ["expected a comparator", "got end of input"]),
    ("params.a NOT LIKE 'x'", 13, ["expected IN after NOT", "got 'LIKE'"]),
    ("params.a IS 'x'", 12, ["expected NULL or NOT NULL after IS", "got \"'x'\""]),
    ("params.a IS NOT 'x'", 16, ["expected NULL or NOT NULL after IS", "got \"'x'\""]),
    ("params.a > 'x'", 9, ["comparator > cannot be used with param 'a'", "LIKE", "IS NULL"]),
    ("tags.a <= 'x'", 7, ["comparator <= cannot be used with tag 'a'"]),
    ("metrics.m LIKE 1", 10, ["comparator LIKE cannot be used with metric 'm'", "=, !=, <"]),
    ("metrics.m IN (1)", 10, ["comparator IN cannot be used with metric 'm'"]),
    ("metrics.m IS NULL", 10, ["comparator IS NULL cannot be used with metric 'm'"]),
    ("attributes.status > 'x'", 18, ["comparator > cannot be used with attribute 'status'"]),
    ("attributes.status IS NULL", 18, ["comparator IS NULL cannot be used with attribute"]),
    ("start_time LIKE '1%'", 11, ["comparator LIKE cannot be used with attribute 'start_time'"]),
    ("datasets.name < 'x'", 14, ["comparator < cannot be used with dataset 'name'"]),
    ("datasets.name IS NULL", 14, ["comparator IS NULL cannot be used with dataset 'name'"]),
    # values
    ("metrics.m >", 11, ["missing value: metric 'm' needs a number"]),
    ("params.a =", 10, ["missing value: param 'a' needs a quoted string"]),
    ("metrics.m > 'a'", 12, ["metric 'm' needs a numeric value, got \"'a'\""]),
    ('metrics.m > "0.5"', 12, ["metric 'm' needs a numeric value"]),
    ("metrics.val_loss.min < 'low'", 23, ["metric 'val_loss' needs a numeric value"]),
    ("metrics.m = nan", 12, ["needs a numeric value, got 'nan'"]),
    ("metrics.m = 1abc", 12, ["needs a numeric value, got '1abc'"]),
    ("metrics.m = 0.7and params.a = 'x'", 12, ["needs a numeric value, got '0.7and'"]),
    ("metrics.m = - 1", 12, ["unexpected character '-'"]),
    ("attributes.start_time > '5'", 24, ["attribute 'start_time' needs a numeric value"]),
    ("params.x = 3", 11, ["param 'x' values are strings: quote the number, e.g. '3'"]),
    ("tags.x = 1.5", 9, ["tag 'x' values are strings: quote the number, e.g. '1.5'"]),
    ("attributes.status = 1", 20, ["values are strings: quote the number"]),
    ("params.x = x", 11, ["param 'x' needs a quoted string value", "got 'x'"]),
    ("params.x = `x`", 11, ["needs a quoted string value", "got '`x`'"]),
    ("params.x = ('a')", 11, ["a list of values needs IN or NOT IN, not ="]),
    ("params.x IN 'a'", 12, ["IN needs a parenthesized list", "got \"'a'\""]),
    ("params.x NOT IN 'a'", 16, ["NOT IN needs a parenthesized list"]),
    ("attributes.run_id IN ()", 22, ["the IN list is empty"]),
    ("attributes.run_id IN ('a' 'b')", 26, ["expected ',' or ')' in the IN list, got \"'b'\""]),
    ("attributes.run_id IN ('a', 3)", 27, ["values are strings: quote the number, e.g. '3'"]),
    ("attributes.run_id IN ('a'", 25, ["expected ',' or ')' in the IN list, got end of input"]),
    ("attributes.run_id IN ('a',,)", 26, ["needs a quoted string value", "got ','"]),
    # quoting
    ("params.a = 'unterminated", 11, ["unterminated string or quoted key: ' is never closed"]),
    ('params.a = "unterminated', 11, ['unterminated string or quoted key: " is never closed']),
    ("params.`a = 'x'", 7, ["unterminated string or quoted key: ` is never closed"]),
    ("params.a = 'x\\'", 11, ["unterminated string"]),
    ("metrics.val-loss > 1", 11, ["unexpected character '-' after 'metrics.val'", "backquotes"]),
    ("metrics.a/b > 1", 9, ["unexpected character '/'", "backquotes"]),
    # identifiers
    (
        "metricz.a > 1",
        0,
        ["Invalid entity type 'metricz'. Valid: metrics, params, tags, attributes, datasets"],
    ),
    ("foo.bar = 1", 0, ["Invalid entity type 'foo'"]),
    ("`foo`.bar = 1", 0, ["Invalid entity type 'foo'"]),
    (
        "attributes.foo = 'x'",
        11,
        [
            "Invalid attribute 'foo'. Valid attributes: run_id, run_name, status, user_id, "
            "artifact_uri, lifecycle_stage, start_time, end_time"
        ],
    ),
    ("foo = 'x'", 0, ["Invalid attribute 'foo'", "need their prefix, e.g. params.<key>"]),
    ("batch_size = '24'", 0, ["Invalid attribute 'batch_size'"]),
    ("runName = 'x'", 0, ["Invalid attribute 'runName'"]),
    ("attributes.start_time.min > 1", 11, ["Invalid attribute 'start_time.min'"]),
    ("datasets.source = 'x'", 9, ["Invalid dataset field 'source'. Valid: name, digest, context"]),
    ("metrics. = 1", 9, ["expected a key right after 'metrics.', got '='"]),
    ("params. a = 'x'", 8, ["expected a key right after 'params.', got 'a'"]),
    ("metrics.`` > 1", 8, ["empty key after 'metrics.'"]),
    ("tags.\"\" = 'x'", 5, ["empty key after 'tags.'"]),
    ("`` = 'x'", 0, ["Invalid attribute ''"]),
    ("metrics.m.`min` > 1", 9, ["expected a comparator", "got '.'"]),
    ("params.a.min = '1'", 9, ["'.min' aggregates apply only to metrics", "`a.min`"]),
    ("tags.x.max = '1'", 7, ["'.max' aggregates apply only to metrics", "`x.max`"]),
    ("datasets.name.min = 'x'", 14, ["'.min' aggregates apply only to metrics"]),
    ("1 = 1", 0, ["expected an identifier", "got '1'"]),
]


@pytest.mark.parametrize(("text", "position", "fragments"), ERRORS)
def test_filter_errors(text: str, position: int, fragments: list[str]) -> None:
    with pytest.raises(FilterSyntaxError) as info:
        parse_filter(text)
    error = info.value
    assert error.position == position
    assert error.text == text
    message = str(error)
    first_line, echoed, caret = message.split("\n")
    assert first_line.startswith(f"Invalid filter at position {position}: ")
    for fragment in fragments:
        assert fragment in first_line
    # The filter is echoed with a caret under the offending character.
    assert echoed == "  " + text.replace("\n", " ").replace("\t", " ")
    assert caret == "  " + " " * position + "^"
    assert error.message == message
    assert error.detail == first_line.split(": ", 1)[1]


def test_error_message_exact() -> None:
    with pytest.raises(FilterSyntaxError) as info:
        parse_filter("params.batch_size foo '24'")
    assert str(info.value) == (
        "Invalid filter at position 18: expected a comparator "
        "(=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN, IS NULL), got 'foo'\n"
        "  params.batch_size foo '24'\n"
        "                    ^"
    )


def test_long_filter_shows_a_window_around_the_error() -> None:
    text = " AND ".join(f"params.p{i:03d} = 'v'" for i in range(30)) + " AND params.x > 'v'"
    with pytest.raises(FilterSyntaxError) as info:
        parse_filter(text)
    position = text.rindex(">")
    assert info.value.position == position
    _, echoed, caret = str(info.value).split("\n")
    assert echoed.startswith("  ...") and len(echoed) <= 2 + 3 + 100 + 3
    assert echoed[caret.index("^")] == ">"


def test_errors_are_invalid_input() -> None:
    with pytest.raises(InvalidInputError, match="OR is not supported"):
        parse_filter("params.a = '1' OR params.b = '2'")


def test_scanner_never_crashes() -> None:
    """Random soup of grammar pieces: either a parse or a FilterSyntaxError, nothing else."""
    pieces = [
        "metrics.m", "params.p", "tags.`t`", "datasets.name", "status", "created", "and", "OR",
        "NOT", "IN", "IS", "NULL", "LIKE", "=", "!=", ">=", "<", "'s'", '"d"', "`b`", "1", "-2.5",
        "1e3", "(", ")", ",", ".", "min", "'", '"', "`", "\\", ";", "-", " ", "é", "\n",
    ]  # fmt: skip
    rng = random.Random(7)
    parsed = 0
    for _ in range(3000):
        text = "".join(rng.choice(pieces) + rng.choice(["", " "]) for _ in range(rng.randint(1, 8)))
        position = _error_position(text)
        if position is None:
            parsed += 1
        else:
            assert 0 <= position <= len(text), text
    assert parsed > 0


def _error_position(text: str) -> int | None:
    try:
        parse_filter(text)
    except FilterSyntaxError as error:
        return error.position
    return None


# --- order_by -----------------------------------------------------------------------------------

ORDER_VALID = {
    "metrics.val_map": OrderKey(Identifier("metric", "val_map")),
    "metrics.val_map DESC": OrderKey(Identifier("metric", "val_map"), ascending=False),
    "metrics.val_map desc": OrderKey(Identifier("metric", "val_map"), ascending=False),
    "metrics.val_map ASC": OrderKey(Identifier("metric", "val_map")),
    "metrics.val_map asc": OrderKey(Identifier("metric", "val_map")),
    "metrics.val_loss.min ASC": OrderKey(Identifier("metric", "val_loss", "min")),
    "metrics.val_loss.max DESC": OrderKey(Identifier("metric", "val_loss", "max"), False),
    "metrics.`val_loss.min`": OrderKey(Identifier("metric", "val_loss.min")),
    "metrics.`val/loss`.max DESC": OrderKey(Identifier("metric", "val/loss", "max"), False),
    "m.loss": OrderKey(Identifier("metric", "loss")),
    "params.arch": OrderKey(Identifier("param", "arch")),
    "params.`my key` DESC": OrderKey(Identifier("param", "my key"), False),
    "params.model.encoder.depth": OrderKey(Identifier("param", "model.encoder.depth")),
    'tags."mlflow.runName" DESC': OrderKey(Identifier("tag", "mlflow.runName"), False),
    "attributes.run_name DESC": OrderKey(Identifier("attribute", "run_name"), False),
    "attr.end_time": OrderKey(Identifier("attribute", "end_time")),
    "start_time DESC": OrderKey(Identifier("attribute", "start_time"), False),
    "run_id": OrderKey(Identifier("attribute", "run_id")),
    "status ASC": OrderKey(Identifier("attribute", "status")),
    "created DESC": OrderKey(Identifier("attribute", "start_time"), False),
    "`Run name`": OrderKey(Identifier("attribute", "run_name")),
    "  user_id   DESC  ": OrderKey(Identifier("attribute", "user_id"), False),
}


@pytest.mark.parametrize(("clause", "expected"), list(ORDER_VALID.items()))
def test_order_by(clause: str, expected: OrderKey) -> None:
    assert parse_order_by([clause]) == (expected,)


@pytest.mark.parametrize("clauses", [None, [], ()])
def test_no_order_by(clauses: list[str] | None) -> None:
    assert parse_order_by(clauses) == ()


def test_order_by_several_clauses_keep_their_order() -> None:
    assert parse_order_by(["params.arch", "attributes.run_name DESC", "metrics.m.min"]) == (
        OrderKey(Identifier("param", "arch")),
        OrderKey(Identifier("attribute", "run_name"), False),
        OrderKey(Identifier("metric", "m", "min")),
    )


def test_order_by_accepts_a_single_string() -> None:
    assert parse_order_by("start_time DESC") == (
        OrderKey(Identifier("attribute", "start_time"), False),
    )


ORDER_ERRORS = [
    ("datasets.name", 0, ["datasets cannot be used in order_by"]),
    ("metrics.m foo", 10, ["expected ASC, DESC or the end of the clause, got 'foo'"]),
    ("metrics.m ASC DESC", 14, ["got 'DESC'"]),
    ("metrics.m DESC, params.a", 14, ["got ','", "its own order_by entry"]),
    ("metrics.m > 1", 10, ["got '>'"]),
    ("", 0, ["the clause is empty"]),
    ("   ", 0, ["the clause is empty"]),
    ("foo DESC", 0, ["Invalid attribute 'foo'"]),
    ("metricz.m", 0, ["Invalid entity type 'metricz'"]),
    ("params.a.max", 9, ["'.max' aggregates apply only to metrics"]),
    ("params.`a", 7, ["unterminated string or quoted key"]),
    ("DESC", 0, ["Invalid attribute 'DESC'"]),
]


@pytest.mark.parametrize(("clause", "position", "fragments"), ORDER_ERRORS)
def test_order_by_errors(clause: str, position: int, fragments: list[str]) -> None:
    with pytest.raises(FilterSyntaxError) as info:
        parse_order_by(["start_time DESC", clause])
    assert info.value.position == position
    first_line, _, caret = str(info.value).split("\n")
    assert first_line.startswith(f"Invalid order_by clause {clause!r} at position {position}: ")
    for fragment in fragments:
        assert fragment in first_line
    assert caret == "  " + " " * position + "^"
