"""Parse MLflow's run-search filter grammar and ``order_by`` clauses into a small typed AST.

The grammar is MLflow's (``mlflow/utils/search_utils.py`` ``SearchUtils``)::

    filter     := comparison (AND comparison)*
    comparison := identifier comparator value | identifier IS [NOT] NULL
    identifier := entity "." key | attribute
    entity     := metric(s) | m | param(s) | parameter(s) | p | tag(s) | t
                | attribute(s) | attr | run | dataset(s)
    key        := word ("." word)* | `quoted` | "quoted" | 'quoted'
    value      := number | 'string' | "string" | "(" string ("," string)* [","] ")"
    order_by   := identifier [ASC | DESC]

Keywords, entity words and attribute names are case-insensitive; other keys are not. A bare
identifier names a run attribute (``status = 'FAILED'``, ``start_time DESC``). Beyond MLflow, a
final unquoted ``.min`` or ``.max`` on a metric key compares or sorts by that metric's minimum or
maximum instead of its latest value (``metrics.val_loss.min < 0.3``).

Other searches (logged models, registered models, model versions) speak the same syntax over
another vocabulary: a :class:`Grammar` names the entities, attributes and comparators each one
accepts, and ``parse_filter(text, grammar)`` checks against it. :data:`RUN_GRAMMAR` is the default.

Nothing here evaluates user text: a regex scanner produces positioned tokens, a recursive descent
parser builds frozen dataclasses, and every error names the offending token and its position.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from runbase.errors import InvalidInputError

__all__ = [
    "RUN_GRAMMAR",
    "Comparison",
    "FilterSyntaxError",
    "Grammar",
    "Identifier",
    "OrderKey",
    "parse_filter",
    "parse_order_by",
]


class FilterSyntaxError(InvalidInputError):
    """A filter or order_by clause that breaks the grammar.

    ``position`` is the 0-based offset of the offending token in ``text`` (the filter, or the one
    order_by clause at fault); ``detail`` is the message without the position and caret lines.
    """

    def __init__(self, detail: str, text: str, position: int, *, subject: str = "filter") -> None:
        self.detail = detail
        self.text = text
        self.position = position
        super().__init__(
            f"Invalid {subject} at position {position}: {detail}\n{_caret(text, position)}"
        )


@dataclass(frozen=True, slots=True)
class Identifier:
    """What a comparison or sort key refers to.

    ``kind`` is ``"metric"``, ``"param"``, ``"tag"``, ``"attribute"`` or ``"dataset"``. Attribute
    keys are canonical (``run_id``, ``run_name``, ``status``, ``user_id``, ``artifact_uri``,
    ``lifecycle_stage``, ``start_time``, ``end_time``); dataset keys are ``name``, ``digest`` or
    ``context``. ``aggregate`` (``"last"``, ``"min"`` or ``"max"``) only matters for metrics.
    """

    kind: str
    key: str
    aggregate: str = "last"


@dataclass(frozen=True, slots=True)
class _Clause:
    """What comparisons and sort keys share, so code can walk both (``_search.py`` does)."""

    identifier: Identifier


@dataclass(frozen=True, slots=True)
class Comparison(_Clause):
    """One ``AND``-ed clause. ``op`` is upper case: ``= != < <= > >= LIKE ILIKE IN NOT IN IS NULL
    IS NOT NULL``. ``value`` is a float for metrics and time attributes, a str for other ops, a
    tuple of str for ``IN``/``NOT IN``, and None for ``IS [NOT] NULL``."""

    op: str
    value: float | str | tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class OrderKey(_Clause):
    """One ``order_by`` clause."""

    ascending: bool = True


# --- vocabulary ---------------------------------------------------------------------------------

_ENTITIES = {
    **dict.fromkeys(("metrics", "metric", "m"), "metric"),
    **dict.fromkeys(("params", "param", "parameters", "parameter", "p"), "param"),
    **dict.fromkeys(("tags", "tag", "t"), "tag"),
    **dict.fromkeys(("attributes", "attribute", "attr", "run"), "attribute"),
    **dict.fromkeys(("datasets", "dataset"), "dataset"),
}
_ENTITY_HELP = {
    "metric": "metrics",
    "param": "params",
    "tag": "tags",
    "attribute": "attributes",
    "dataset": "datasets",
}

_NUMERIC_ATTRIBUTES = ("start_time", "end_time")
_STRING_ATTRIBUTES = ("run_id", "run_name", "status", "user_id", "artifact_uri", "lifecycle_stage")
_ATTRIBUTE_ALIASES = {
    **{name: name for name in (*_STRING_ATTRIBUTES, *_NUMERIC_ATTRIBUTES)},
    "run name": "run_name",  # MLflow's "run name" / "Run name" / "Run Name"
    "created": "start_time",  # MLflow's "created" / "Created"
    "run_uuid": "run_id",  # the deprecated field MLflow clients still send
}
_DATASET_FIELDS = ("name", "digest", "context")
_AGGREGATES = ("min", "max")


_NUMERIC_OPS = ("=", "!=", "<", "<=", ">", ">=")
_STRING_OPS = ("=", "!=", "LIKE", "ILIKE", "IN", "NOT IN")
_NULL_OPS = ("IS NULL", "IS NOT NULL")
_ALL_OPS = "=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN, IS NULL"


@dataclass(frozen=True)
class Grammar:
    """The vocabulary of one kind of search; the syntax is the same for every kind.

    ``entities`` and ``order_entities`` are the identifier kinds a filter and an order_by accept
    (``"attribute"`` is always needed for bare names). ``attributes`` and ``order_attributes``
    map lower-cased spellings to canonical names; ``numeric`` lists the canonical attributes
    compared with numbers. ``list_attributes`` are the string attributes that take ``IN`` and
    ``NOT IN`` (None: all of them). ``key_value_ops`` are the comparators of params and tags.
    ``aggregates`` allows a trailing ``.min``/``.max`` on metric keys.
    """

    entities: frozenset[str]
    attributes: Mapping[str, str]
    numeric: frozenset[str]
    order_entities: frozenset[str]
    order_attributes: Mapping[str, str]
    list_attributes: frozenset[str] | None = None
    key_value_ops: tuple[str, ...] = _STRING_OPS + _NULL_OPS
    aggregates: bool = False

    def entity_help(self, ordering: bool) -> str:
        kinds = self.order_entities if ordering else self.entities
        return ", ".join(label for kind, label in _ENTITY_HELP.items() if kind in kinds)

    def attribute_help(self, ordering: bool) -> str:
        names = self.order_attributes if ordering else self.attributes
        return ", ".join(dict.fromkeys(names.values()))


#: MLflow's run search: the grammar ``search_runs`` speaks.
RUN_GRAMMAR: Grammar = Grammar(
    entities=frozenset(("metric", "param", "tag", "attribute", "dataset")),
    attributes=_ATTRIBUTE_ALIASES,
    numeric=frozenset(_NUMERIC_ATTRIBUTES),
    order_entities=frozenset(("metric", "param", "tag", "attribute")),
    order_attributes=_ATTRIBUTE_ALIASES,
    aggregates=True,
)

# --- scanner ------------------------------------------------------------------------------------

_TOKEN_RE = re.compile(
    r"""
     (?P<ws>\s+)
    |(?P<sq>'(?:[^'\\]|\\.|'')*')
    |(?P<dq>"(?:[^"\\]|\\.|"")*")
    |(?P<bq>`(?:[^`]|``)*`)
    |(?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?(?![\w.]))
    |(?P<name>\w+(?:\.\w+)*)
    |(?P<op>[<>=!]+)
    |(?P<lparen>\()
    |(?P<rparen>\))
    |(?P<comma>,)
    |(?P<dot>\.)
    """,
    re.VERBOSE | re.DOTALL,
)
_QUOTED = ("sq", "dq", "bq")
_STRINGS = ("sq", "dq")
_ESCAPES = {  # SQL doubling of the delimiting quote, or a backslash before a quote or backslash
    "sq": re.compile(r"\\([\\'\"])|''"),
    "dq": re.compile(r"\\([\\'\"])|\"\""),
}


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # a group name of _TOKEN_RE, or "eof"
    text: str
    pos: int

    def shown(self) -> str:
        return "end of input" if self.kind == "eof" else repr(self.text)

    def word(self) -> str:
        """The upper-cased text of a plain word (keywords), or "" for anything else."""
        return self.text.upper() if self.kind == "name" else ""


def _tokenize(text: str, subject: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            char = text[pos]
            if char in "'\"`":
                detail = f"unterminated string or quoted key: {char} is never closed"
            else:
                detail = f"unexpected character {char!r}"
                if (
                    tokens
                    and tokens[-1].kind == "name"
                    and tokens[-1].pos + len(tokens[-1].text) == pos
                ):
                    detail += (
                        f" after {tokens[-1].text!r}; put a key with special characters in "
                        "backquotes, e.g. metrics.`val-loss`"
                    )
            raise FilterSyntaxError(detail, text, pos, subject=subject)
        kind = match.lastgroup
        assert kind is not None
        if kind != "ws":
            tokens.append(_Token(kind, match.group(), pos))
        pos = match.end()
    tokens.append(_Token("eof", "", len(text)))
    return tokens


def _unquote(token: _Token) -> str:
    body = token.text[1:-1]
    if token.kind == "bq":
        return body.replace("``", "`")
    # Other backslashes stay as written, so a LIKE pattern such as 'a\_b' reaches the database
    # untouched.
    return _ESCAPES[token.kind].sub(lambda m: m.group(1) or m.group()[0], body)


def _caret(text: str, position: int, width: int = 100) -> str:
    flat = re.sub(r"\s", " ", text)
    start = 0
    if len(flat) > width:  # show a window around the position
        start = max(0, min(position - width // 2, len(flat) - width))
        end = start + width
        flat = ("..." if start else "") + flat[start:end] + ("..." if end < len(flat) else "")
        start -= 3 if start else 0
    return f"  {flat}\n  {' ' * (position - start)}^"


# --- parser -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Target:
    identifier: Identifier
    label: str  # "metric 'acc'", for messages


class _Parser:
    def __init__(self, text: str, subject: str, grammar: Grammar) -> None:
        self.text = text
        self.subject = subject
        self.grammar = grammar
        self.tokens = _tokenize(text, subject)
        self.index = 0

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.peek()
        self.index = min(self.index + 1, len(self.tokens) - 1)
        return token

    def error(self, detail: str, position: int) -> FilterSyntaxError:
        return FilterSyntaxError(detail, self.text, position, subject=self.subject)

    # identifiers --------------------------------------------------------------------------------

    def identifier(self, *, ordering: bool = False) -> _Target:
        token = self.advance()
        if token.word() in ("AND", "OR"):
            raise self.error(f"expected an identifier before {token.text}", token.pos)
        if token.word() == "NOT":
            raise self.error("NOT is not supported; use !=, NOT IN or IS NOT NULL", token.pos)
        if token.kind == "name":
            head, *rest = token.text.split(".")
            if rest:
                kind = self.entity(head, token.pos, ordering=ordering)
                segments = _segments(token.text, token.pos)[1:]
                return self.keyed(kind, segments, token.pos, ordering=ordering)
            if self.peek().kind == "dot":
                kind = self.entity(head, token.pos, ordering=ordering)
                return self.key_after_dot(kind, token, ordering=ordering)
            return self.attribute(head, token.pos, ordering=ordering)
        if token.kind in _QUOTED:
            name = _unquote(token)
            if self.peek().kind == "dot":  # `params`.key, as MLflow allows
                kind = self.entity(name, token.pos, ordering=ordering)
                return self.key_after_dot(kind, token, ordering=ordering)
            return self.attribute(name, token.pos, ordering=ordering)
        if token.kind == "lparen":
            raise self.error(
                "parentheses are only allowed around IN lists, e.g. IN ('a', 'b')", token.pos
            )
        examples = ", ".join(
            f"{_ENTITY_HELP[kind]}.<key>"
            for kind in ("metric", "param", "tag")
            if kind in self.grammar.entities
        )
        raise self.error(
            f"expected an identifier such as {examples + ' or ' if examples else ''}"
            f"an attribute name, got {token.shown()}",
            token.pos,
        )

    def entity(self, word: str, position: int, *, ordering: bool) -> str:
        kind = _ENTITIES.get(word.lower())
        if ordering and kind in self.grammar.entities and kind not in self.grammar.order_entities:
            raise self.error(f"{_ENTITY_HELP[kind]} cannot be used in order_by", position)
        allowed = self.grammar.order_entities if ordering else self.grammar.entities
        if kind is None or kind not in allowed:
            raise self.error(
                f"Invalid entity type {word!r}. Valid: {self.grammar.entity_help(ordering)}",
                position,
            )
        return kind

    def key_after_dot(self, kind: str, prefix: _Token, *, ordering: bool) -> _Target:
        """The key after ``<entity>.`` when the scanner could not glue them into one word: a quoted
        key (``params.`my key```) or a quoted entity word (```params`.lr``)."""
        dot = self.advance()
        token = self.advance()
        adjacent = token.pos == dot.pos + 1
        if token.kind == "name" and adjacent:
            return self.keyed(kind, _segments(token.text, token.pos), prefix.pos, ordering=ordering)
        if token.kind not in _QUOTED or not adjacent:
            raise self.error(
                f"expected a key right after {prefix.text + dot.text!r}, got {token.shown()}",
                token.pos,
            )
        key = _unquote(token)
        if not key:
            raise self.error(f"empty key after {prefix.text + dot.text!r}", token.pos)
        if kind == "attribute":
            return self.attribute(key, token.pos, ordering=ordering)
        target = self.keyed(kind, [(key, token.pos)], prefix.pos, ordering=ordering, quoted=True)
        return self.quoted_aggregate(target, token)

    def quoted_aggregate(self, target: _Target, key_token: _Token) -> _Target:
        """A ``.min``/``.max`` right after a quoted metric key (``metrics.`val/loss`.min``):
        the only way to aggregate a key that is not a plain dotted word."""
        following = self.tokens[self.index : self.index + 2]
        if (
            target.identifier.kind != "metric"
            or not self.grammar.aggregates
            or len(following) < 2
            or following[0].kind != "dot"
            or following[0].pos != key_token.pos + len(key_token.text)
            or following[1].kind != "name"
            or following[1].pos != following[0].pos + 1
            or following[1].text not in _AGGREGATES
        ):
            return target
        self.advance()
        self.advance()
        identifier = Identifier("metric", target.identifier.key, following[1].text)
        return _Target(identifier, target.label)

    def keyed(
        self,
        kind: str,
        segments: list[tuple[str, int]],
        position: int,
        *,
        ordering: bool,
        quoted: bool = False,
    ) -> _Target:
        if kind == "attribute":
            key = ".".join(s for s, _ in segments)
            return self.attribute(key, segments[0][1], ordering=ordering)
        aggregate = "last"
        last, last_pos = segments[-1]
        if not quoted and len(segments) > 1 and last in _AGGREGATES and self.grammar.aggregates:
            if kind != "metric":
                quoted_key = ".".join(s for s, _ in segments)
                raise self.error(
                    f"'.{last}' aggregates apply only to metrics; if the {kind} key really is "
                    f"{quoted_key!r}, put it in backquotes: `{quoted_key}`",
                    last_pos,
                )
            aggregate = last
            segments = segments[:-1]
        key = ".".join(s for s, _ in segments)
        if kind == "dataset" and key not in _DATASET_FIELDS:
            raise self.error(
                f"Invalid dataset field {key!r}. Valid: {', '.join(_DATASET_FIELDS)}",
                segments[0][1],
            )
        return _Target(Identifier(kind, key, aggregate), f"{kind} {key!r}")

    def attribute(self, name: str, key_pos: int, *, ordering: bool = False) -> _Target:
        grammar = self.grammar
        canonical = (grammar.order_attributes if ordering else grammar.attributes).get(name.lower())
        if canonical is None:
            prefixed = [
                _ENTITY_HELP[kind]
                for kind in ("metric", "param", "tag", "dataset")
                if kind in (grammar.order_entities if ordering else grammar.entities)
            ]
            hint = ""
            if prefixed:
                listed = prefixed[-1]
                if len(prefixed) > 1:
                    listed = f"{', '.join(prefixed[:-1])} and {listed}"
                example = "params" if "params" in prefixed else prefixed[0]
                hint = f" ({listed} need their prefix, e.g. {example}.<key>)"
            raise self.error(
                f"Invalid attribute {name!r}. Valid attributes: "
                f"{grammar.attribute_help(ordering)}{hint}",
                key_pos,
            )
        return _Target(Identifier("attribute", canonical), f"attribute {canonical!r}")

    # comparisons --------------------------------------------------------------------------------

    def comparator(self) -> tuple[str, int]:
        token = self.advance()
        word = token.word()
        if token.kind == "op" and token.text in _NUMERIC_OPS:
            return token.text, token.pos
        if word in ("LIKE", "ILIKE", "IN"):
            return word, token.pos
        if word == "NOT":
            follow = self.advance()
            if follow.word() != "IN":
                raise self.error(
                    f"expected IN after NOT (NOT IN), got {follow.shown()}", follow.pos
                )
            return "NOT IN", token.pos
        if word == "IS":
            follow = self.advance()
            if follow.word() == "NULL":
                return "IS NULL", token.pos
            if follow.word() == "NOT" and self.peek().word() == "NULL":
                self.advance()
                return "IS NOT NULL", token.pos
            if follow.word() == "NOT":
                follow = self.advance()
            raise self.error(
                f"expected NULL or NOT NULL after IS, got {follow.shown()}", follow.pos
            )
        raise self.error(f"expected a comparator ({_ALL_OPS}), got {token.shown()}", token.pos)

    def comparison(self) -> Comparison:
        target = self.identifier()
        op, op_pos = self.comparator()
        ident = target.identifier
        grammar = self.grammar
        numeric = ident.kind == "metric" or (
            ident.kind == "attribute" and ident.key in grammar.numeric
        )
        if numeric:
            allowed: tuple[str, ...] = _NUMERIC_OPS
        elif ident.kind in ("param", "tag"):
            allowed = grammar.key_value_ops
        elif ident.kind == "attribute" and not (
            grammar.list_attributes is None or ident.key in grammar.list_attributes
        ):
            allowed = _STRING_OPS[:4]
        else:
            allowed = _STRING_OPS
        if op not in allowed:
            raise self.error(
                f"comparator {op} cannot be used with {target.label}; use one of "
                f"{', '.join(allowed)}",
                op_pos,
            )
        if op in _NULL_OPS:
            return Comparison(ident, op, None)
        if numeric:
            return Comparison(ident, op, self.number(target))
        if op in ("IN", "NOT IN"):
            return Comparison(ident, op, self.string_list(target, op))
        return Comparison(ident, op, self.string(target, op))

    def number(self, target: _Target) -> float:
        token = self.advance()
        if token.kind == "number":
            return float(token.text)
        if token.kind == "eof":
            raise self.error(f"missing value: {target.label} needs a number", token.pos)
        raise self.error(f"{target.label} needs a numeric value, got {token.shown()}", token.pos)

    def string(self, target: _Target, op: str) -> str:
        token = self.advance()
        if token.kind in _STRINGS:
            return _unquote(token)
        if token.kind == "eof":
            raise self.error(f"missing value: {target.label} needs a quoted string", token.pos)
        if token.kind == "number":
            raise self.error(
                f"{target.label} values are strings: quote the number, e.g. '{token.text}' "
                f"instead of {token.text}",
                token.pos,
            )
        if token.kind == "lparen":
            raise self.error(f"a list of values needs IN or NOT IN, not {op}", token.pos)
        raise self.error(
            f"{target.label} needs a quoted string value ('...' or \"...\"), got {token.shown()}",
            token.pos,
        )

    def string_list(self, target: _Target, op: str) -> tuple[str, ...]:
        token = self.advance()
        if token.kind != "lparen":
            raise self.error(
                f"{op} needs a parenthesized list, e.g. ('a', 'b'), got {token.shown()}", token.pos
            )
        values: list[str] = []
        while True:
            token = self.peek()
            if token.kind == "rparen" and values:
                self.advance()
                return tuple(values)
            if token.kind == "rparen":
                raise self.error(f"the {op} list is empty", token.pos)
            values.append(self.string(target, op))
            token = self.advance()
            if token.kind == "rparen":
                return tuple(values)
            if token.kind != "comma":
                raise self.error(
                    f"expected ',' or ')' in the {op} list, got {token.shown()}", token.pos
                )

    def filter(self) -> tuple[Comparison, ...]:
        comparisons = [self.comparison()]
        while True:
            token = self.advance()
            if token.kind == "eof":
                return tuple(comparisons)
            if token.word() == "AND":
                comparisons.append(self.comparison())
                continue
            if token.word() == "OR":
                raise self.error(
                    "OR is not supported: clauses can only be joined with AND (run one search "
                    "per alternative instead)",
                    token.pos,
                )
            raise self.error(
                f"expected AND or the end of the filter, got {token.shown()}", token.pos
            )

    def order_key(self) -> OrderKey:
        target = self.identifier(ordering=True)
        token = self.advance()
        ascending = True
        if token.word() in ("ASC", "DESC"):
            ascending = token.word() == "ASC"
            token = self.advance()
        if token.kind != "eof":
            hint = "; give each key its own order_by entry" if token.kind == "comma" else ""
            raise self.error(
                f"expected ASC, DESC or the end of the clause, got {token.shown()}{hint}", token.pos
            )
        return OrderKey(target.identifier, ascending)


def _segments(text: str, position: int) -> list[tuple[str, int]]:
    """Split a dotted word into (segment, offset) pairs."""
    out = []
    for part in text.split("."):
        out.append((part, position))
        position += len(part) + 1
    return out


# --- public entry points ------------------------------------------------------------------------


def parse_filter(text: str | None, grammar: Grammar = RUN_GRAMMAR) -> tuple[Comparison, ...]:
    """Parse a run-search filter such as ``params.batch_size = '24' and metrics.val_map > 0.7``
    (or a filter of another search, given its ``grammar``).

    None or blank text means no filter. Raises :class:`FilterSyntaxError` on any error.
    """
    if text is None or not text.strip():
        return ()
    return _Parser(text, "filter", grammar).filter()


def parse_order_by(
    clauses: Sequence[str] | None, grammar: Grammar = RUN_GRAMMAR
) -> tuple[OrderKey, ...]:
    """Parse ``order_by`` clauses such as ``["metrics.val_loss.min ASC", "start_time DESC"]``.

    Raises :class:`FilterSyntaxError`, whose ``position`` is an offset into the clause at fault.
    """
    if not clauses:
        return ()
    if isinstance(clauses, str):  # one clause passed where a list was expected
        clauses = [clauses]
    keys = []
    for clause in clauses:
        subject = f"order_by clause {clause!r}"
        if not clause.strip():
            raise FilterSyntaxError("the clause is empty", clause, 0, subject=subject)
        keys.append(_Parser(clause, subject, grammar).order_key())
    return tuple(keys)
