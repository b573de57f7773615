"""Errors raised by runbase.

Every error carries an MLflow-compatible ``error_code`` so the server can map it to the HTTP status
and JSON body that MLflow clients expect.
"""

from __future__ import annotations

__all__ = [
    "AlreadyExistsError",
    "InvalidInputError",
    "NotFoundError",
    "RunbaseError",
    "ServerUnavailableError",
    "StoreError",
]


class RunbaseError(Exception):
    """Base class of all runbase errors."""

    error_code: str = "INTERNAL_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInputError(RunbaseError, ValueError):
    """The caller sent something that breaks a rule (bad key, changed param, bad filter...)."""

    error_code = "INVALID_PARAMETER_VALUE"


class NotFoundError(RunbaseError, LookupError):
    """The experiment, run, metric or artifact named does not exist."""

    error_code = "RESOURCE_DOES_NOT_EXIST"


class AlreadyExistsError(RunbaseError):
    """A resource with that name already exists."""

    error_code = "RESOURCE_ALREADY_EXISTS"


class StoreError(RunbaseError):
    """The store failed for a reason that is not the caller's fault (disk full, DB down...)."""

    error_code = "INTERNAL_ERROR"


class ServerUnavailableError(StoreError):
    """A tracking server could not be reached, or answered with a server error (5xx), even after
    retries. Metric points logged meanwhile wait in the client's spool."""
