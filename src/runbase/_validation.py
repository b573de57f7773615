"""Rules on names, keys and values, shared by every store and the client.

The limits are MLflow's, so a run that logs to runbase can be imported into MLflow and back.
"""

from __future__ import annotations

import posixpath
import re
from typing import Final

from runbase.errors import InvalidInputError

MAX_KEY_LENGTH: Final = 250
MAX_PARAM_VALUE_LENGTH: Final = 6000
MAX_TAG_VALUE_LENGTH: Final = 8000
MAX_EXPERIMENT_NAME_LENGTH: Final = 500
MAX_RUN_NAME_LENGTH: Final = 250
MAX_RESULTS_LIMIT: Final = 50_000

_KEY_RE: Final = re.compile(r"^[/\w.\- :]*$")


#: Keys that passed ``validate_key``: a sweep logs the same keys in every run, each checked by
#: the client and by the store. Emptied when full, so it stays small.
_VALID_KEYS: Final[set[str]] = set()
_VALID_KEYS_MAX: Final = 100_000


def validate_key(kind: str, key: object) -> str:
    """Check a metric, param or tag key; ``kind`` names it in the error ("Param key")."""
    if type(key) is str and key in _VALID_KEYS:
        return key
    if not isinstance(key, str):
        raise InvalidInputError(f"{kind} must be a string, got {type(key).__name__}: {key!r}")
    if not key:
        raise InvalidInputError(f"{kind} must not be empty")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidInputError(
            f"{kind} '{key[:40]}...' exceeds the maximum length of {MAX_KEY_LENGTH} characters"
        )
    if not _KEY_RE.match(key):
        raise InvalidInputError(
            f"Invalid {kind.lower()} {key!r}: names may only contain alphanumerics, underscores "
            "(_), dashes (-), periods (.), spaces ( ), colons (:) and slashes (/)"
        )
    # A normalized path check rejects '..' segments and leading '/', which would otherwise turn
    # keys into path tricks when a key names a file (images, exports).
    if posixpath.normpath(key) != key or key.startswith("/") or ".." in key.split("/"):
        raise InvalidInputError(
            f"Invalid {kind.lower()} {key!r}: it must be a normalized path (no '..', no leading "
            "'/', no '//' or trailing '/')"
        )
    if type(key) is str:  # not a subclass, which could compare equal to another string
        if len(_VALID_KEYS) >= _VALID_KEYS_MAX:
            _VALID_KEYS.clear()
        _VALID_KEYS.add(key)
    return key


def validate_value(kind: str, key: str, value: object, limit: int) -> str:
    if not isinstance(value, str):
        raise InvalidInputError(f"{kind} value for {key!r} must be a string, got {value!r}")
    if len(value) > limit:
        raise InvalidInputError(
            f"{kind} value for {key!r} has {len(value)} characters; the limit is {limit}"
        )
    return value


def validate_metric_value(key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            # numpy scalars and 0-d tensors convert; strings and lists must not slip through.
            if isinstance(value, (str, bytes)):
                raise TypeError
            return float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise InvalidInputError(
                f"Metric {key!r} must be a number, got {type(value).__name__}: {value!r}"
            ) from None
    return float(value)


def validate_step(key: str, step: object) -> int:
    if isinstance(step, bool) or not isinstance(step, int):
        try:
            as_int: int = int(step)  # type: ignore[call-overload]
        except (TypeError, ValueError):
            raise InvalidInputError(
                f"Step of metric {key!r} must be an integer: {step!r}"
            ) from None
        if as_int != step:
            raise InvalidInputError(f"Step of metric {key!r} must be an integer: {step!r}")
        return as_int
    if not -(2**63) <= step < 2**63:
        raise InvalidInputError(f"Step of metric {key!r} is out of the 64-bit range: {step}")
    return step


def validate_experiment_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError(f"Experiment name must be a non-empty string, got {name!r}")
    if len(name) > MAX_EXPERIMENT_NAME_LENGTH:
        raise InvalidInputError(
            f"Experiment name exceeds the maximum length of {MAX_EXPERIMENT_NAME_LENGTH} characters"
        )
    return name


def validate_run_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError(f"Run name must be a non-empty string, got {name!r}")
    if len(name) > MAX_RUN_NAME_LENGTH:
        raise InvalidInputError(
            f"Run name exceeds the maximum length of {MAX_RUN_NAME_LENGTH} characters"
        )
    return name


def validate_max_results(max_results: object) -> int:
    if isinstance(max_results, bool) or not isinstance(max_results, int):
        raise InvalidInputError(f"max_results must be an integer, got {max_results!r}")
    if not 1 <= max_results <= MAX_RESULTS_LIMIT:
        raise InvalidInputError(
            f"Invalid value {max_results} for parameter 'max_results': "
            f"it must be between 1 and {MAX_RESULTS_LIMIT}"
        )
    return max_results
