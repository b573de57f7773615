"""Rules on registry and logged-model input, with MLflow's limits and messages
(``mlflow/utils/validation.py``), shared by every :class:`~runbase.store.models.ModelStore`."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from typing import Final

from runbase import _validation as v
from runbase.errors import InvalidInputError

MAX_REGISTRY_TAG_KEY_LENGTH: Final = 250
MAX_REGISTRY_TAG_VALUE_LENGTH: Final = 100_000
MAX_ALIAS_LENGTH: Final = 255
MAX_MODEL_NAME_LENGTH: Final = 256
MAX_LOGGED_MODEL_NAME_LENGTH: Final = 500
MAX_REGISTERED_MODELS_RESULTS: Final = 1000
MAX_MODEL_VERSIONS_RESULTS: Final = 200_000
#: Logged-model tag values hold ``mlflow.modelVersions`` JSON, which grows with registrations.
MAX_LOGGED_MODEL_TAG_VALUE_LENGTH: Final = MAX_REGISTRY_TAG_VALUE_LENGTH
MAX_MODEL_TYPE_LENGTH: Final = 500
MAX_RUN_ID_LENGTH: Final = 32
MAX_MODEL_ID_LENGTH: Final = 34
MAX_USER_ID_LENGTH: Final = 256
MAX_DATASET_NAME_LENGTH: Final = 500
MAX_DATASET_DIGEST_LENGTH: Final = 36

_ALIAS_RE: Final = re.compile(r"^[\w\-]*$")
_VERSION_ALIAS_RE: Final = re.compile(r"^[vV]\d+$")
_MODEL_ID_RE: Final = re.compile(r"^m-[0-9a-f]{32}$")
LATEST_ALIAS: Final = "latest"


def missing(path: str) -> InvalidInputError:
    return InvalidInputError(f"Missing value for required parameter '{path}'.")


def too_long(path: str, limit: int) -> InvalidInputError:
    return InvalidInputError(f"'{path}' exceeds the maximum length of {limit} characters")


def model_name(name: object, path: str = "name") -> str:
    """A registered model name: non-blank, no '/' or ':', a normalized path, ≤ 256 chars."""
    if not isinstance(name, str) or not name.strip():
        raise missing(path)
    if "/" in name or ":" in name:
        raise InvalidInputError(f"Invalid model name '{name}'. Names cannot contain '/' or ':'.")
    normalized = posixpath.normpath(name)
    if normalized != name or normalized == "." or normalized.startswith(".."):
        raise InvalidInputError(
            f"Invalid value '{name}' for parameter '{path}' supplied: names may be treated as "
            f"files in certain cases, and must not resolve to other names ({normalized!r})"
        )
    if len(name) > MAX_MODEL_NAME_LENGTH:
        raise too_long(path, MAX_MODEL_NAME_LENGTH)
    return name


_LOGGED_MODEL_NAME_BAD_CHARS: Final = ("/", ":", ".", "%", '"', "'")


def logged_model_name(name: object) -> str:
    """A logged model name: non-empty, none of ``/ : . % " '``, ≤ 500 chars."""
    if (
        not isinstance(name, str)
        or not name
        or any(c in name for c in _LOGGED_MODEL_NAME_BAD_CHARS)
    ):
        raise InvalidInputError(
            f"Invalid model name ({name!r}) provided. Model name must be a non-empty string "
            f"and cannot contain the following characters: {_LOGGED_MODEL_NAME_BAD_CHARS}"
        )
    if len(name) > MAX_LOGGED_MODEL_NAME_LENGTH:
        raise too_long("name", MAX_LOGGED_MODEL_NAME_LENGTH)
    return name


def model_id(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise missing("model_id")
    return value


def is_model_id(value: str) -> bool:
    return _MODEL_ID_RE.match(value) is not None


def version(value: object) -> int:
    """A version number given as an int or a decimal string (as the wire sends it)."""
    if isinstance(value, bool):
        value = str(value)
    try:
        return int(value)  # type: ignore[call-overload, no-any-return]
    except (TypeError, ValueError):
        raise InvalidInputError(f"Parameter 'version' must be an integer, got '{value}'.") from None


def alias(name: object, *, for_write: bool) -> str:
    """An alias name; ``for_write`` also rejects the reserved ``latest`` and ``v<N>`` names."""
    if not isinstance(name, str) or name == "":
        raise InvalidInputError("Registered model alias name cannot be empty.")
    if not _ALIAS_RE.match(name):
        raise InvalidInputError(
            f"Invalid alias name: '{name}'. Names may only contain alphanumerics, "
            "underscores (_), and dashes (-)."
        )
    if len(name) > MAX_ALIAS_LENGTH:
        raise too_long("Registered model alias name", MAX_ALIAS_LENGTH)
    if for_write and name.lower() == LATEST_ALIAS:
        raise InvalidInputError("'latest' alias name (case insensitive) is reserved.")
    if for_write and _VERSION_ALIAS_RE.match(name):
        raise InvalidInputError(f"Version alias name '{name}' is reserved.")
    return name


def registry_tags(tags: Mapping[str, str] | None) -> dict[str, str]:
    """Registered-model and model-version tags: keys as run tag keys, ≤ 250; values ≤ 100000."""
    out = {}
    for key, value in (tags or {}).items():
        v.validate_key("Tag key", key)
        if len(key) > MAX_REGISTRY_TAG_KEY_LENGTH:
            raise too_long("key", MAX_REGISTRY_TAG_KEY_LENGTH)
        if not isinstance(value, str):
            raise InvalidInputError(f"Tag value for {key!r} must be a string, got {value!r}")
        if len(value) > MAX_REGISTRY_TAG_VALUE_LENGTH:
            raise too_long("value", MAX_REGISTRY_TAG_VALUE_LENGTH)
        out[key] = value
    return out


def logged_model_tags(tags: Mapping[str, str] | None) -> dict[str, str]:
    out = {}
    for key, value in (tags or {}).items():
        v.validate_key("Tag key", key)
        out[key] = v.validate_value("Tag", key, value, MAX_LOGGED_MODEL_TAG_VALUE_LENGTH)
    return out


def logged_model_params(params: Mapping[str, str] | None) -> dict[str, str]:
    out = {}
    for key, value in (params or {}).items():
        v.validate_key("Param key", key)
        out[key] = v.validate_value("Param", key, value, v.MAX_PARAM_VALUE_LENGTH)
    return out


def text(value: object, path: str, limit: int | None = None) -> str:
    """An optional string field ("" when absent), at most ``limit`` characters if given."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInputError(f"Invalid value {value!r} for parameter '{path}' supplied.")
    if limit is not None and len(value) > limit:
        raise too_long(path, limit)
    return value


def optional(value: object, path: str, limit: int) -> str | None:
    """An optional string field kept in a bounded column: None when absent or empty."""
    return text(value, path, limit) or None


def max_results(value: object, limit: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError(
            f"Invalid value for max_results. It must be a positive integer, but got {value}"
        )
    if value > limit:
        raise InvalidInputError(
            "Invalid value for request parameter max_results. It must be at most "
            f"{limit}, but got value {value}"
        )
    return value
