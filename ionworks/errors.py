"""Exceptions raised by the ionworks client.

Every error the SDK raises for a failed API call is an :class:`IonworksError`. Its
``str()`` is ``"error code: {status_code}, message: {message}"`` exactly as in the official
``ionworks-api`` client, so code that parses or logs those strings keeps working. The one
exception is :class:`JobFailedError` (no HTTP status to show): ``str()`` is its message,
``"Simulation <id> failed [<error_code>]: <the server's message>"``.

Subclasses group errors by HTTP status family so callers can catch what they care about::

    IonworksError
    ├── APIConnectionError          no response (DNS, refused, reset, timeout)
    │   └── APITimeoutError         the request timed out
    ├── APIStatusError              the server answered 4xx/5xx
    │   ├── BadRequestError         400
    │   ├── AuthenticationError     401
    │   ├── PermissionDeniedError   403
    │   ├── NotFoundError           404
    │   ├── ConflictError           409
    │   ├── ValidationError         422 (and other 4xx not listed here)
    │   ├── RateLimitError          429
    │   └── ServerError             5xx
    ├── APIResponseValidationError  a 2xx body that does not have the expected shape
    ├── JobFailedError              a waited-on resource ended failed/canceled
    ├── MeasurementValidationError  client-side data checks (also a ValueError)
    └── MeasurementProcessingError  the server could not process an uploaded measurement

None of the names shadow builtins (``TimeoutError`` / ``ConnectionError`` stay the builtins).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "APIConnectionError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "IonworksError",
    "JobFailedError",
    "MeasurementProcessingError",
    "MeasurementValidationError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServerError",
    "ValidationError",
    "error_from_response",
]


class IonworksError(Exception):
    """Base error. ``message`` may be a string, or (for FastAPI 422 bodies) a list."""

    def __init__(
        self,
        message: Any,
        status_code: int | None = None,
        *,
        error_code: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        # The official client accepts a whole error object as ``message``.
        if isinstance(message, Mapping):
            data = dict(message)
            error_code = error_code or _as_str(message.get("error_code"))
            message = message.get("message", str(dict(message)))
        self.message: Any = message
        self.status_code = status_code
        self.error_code = error_code
        self.data: dict[str, Any] | None = dict(data) if data is not None else None
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"error code: {self.status_code}, message: {self.message}"

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild,
            (type(self), self.message, self.status_code, self.error_code, self.data),
        )


def _rebuild(
    cls: type[IonworksError],
    message: Any,
    status_code: int | None,
    error_code: str | None,
    data: dict[str, Any] | None,
) -> IonworksError:
    err = cls.__new__(cls)
    IonworksError.__init__(err, message, status_code, error_code=error_code, data=data)
    return err


def _as_str(value: Any) -> str | None:
    return None if value is None else str(value)


class APIConnectionError(IonworksError):
    """The request never got a response (connection refused/reset, DNS, timeout)."""


class APITimeoutError(APIConnectionError):
    """The request timed out."""


class APIStatusError(IonworksError):
    """The server answered with a 4xx or 5xx status."""


class BadRequestError(APIStatusError):
    """400 Bad Request."""


class AuthenticationError(APIStatusError):
    """401 Unauthorized: missing or wrong API key / token."""


class PermissionDeniedError(APIStatusError):
    """403 Forbidden."""


class NotFoundError(APIStatusError):
    """404 Not Found (also what another key's resources look like)."""


class ConflictError(APIStatusError):
    """409 Conflict."""


class ValidationError(APIStatusError):
    """422 Unprocessable Entity and other 4xx the server used to reject the input."""


class RateLimitError(APIStatusError):
    """429 Too Many Requests (after retries were exhausted)."""


class ServerError(APIStatusError):
    """5xx (after retries were exhausted)."""


class APIResponseValidationError(IonworksError):
    """A successful response whose body does not have the documented shape."""


class JobFailedError(IonworksError):
    """A waited-on simulation / pipeline ended ``failed`` or ``canceled``.

    ``records`` holds the final record(s) of the failed resource(s). ``error_code`` is the
    server's code for the (first) failure (our local server's: ``job_failed``,
    ``worker_died``, ``server_error``, ``canceled``), else its status (``failed`` or
    ``canceled``); ``status_code`` is None (no HTTP status). ``str()`` is the message, e.g.
    ``"Simulation <id> failed [job_failed]: <the server's message>"``.
    """

    def __init__(
        self, message: str, records: list[Any] | None = None, *, error_code: str | None = None
    ) -> None:
        self.records: list[Any] = list(records or [])
        super().__init__(message, None, error_code=error_code or _failure_code(self.records))

    def __str__(self) -> str:
        return str(self.message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_failed, (type(self), self.message, self.records, self.error_code))


def _rebuild_failed(
    cls: type[JobFailedError], message: str, records: list[Any], error_code: str | None
) -> JobFailedError:
    return cls(message, records, error_code=error_code)


def _failure_code(records: list[Any]) -> str | None:
    """The ``error_code`` of the first record that has one, else the first record's status
    (records are dicts or response models)."""
    for key in ("error_code", "status"):
        for record in records:
            value = record.get(key) if isinstance(record, Mapping) else getattr(record, key, None)
            if value:
                return str(value)
    return None


class MeasurementValidationError(IonworksError, ValueError):
    """Client-side data checks failed (e.g. an inline DataFrame over 1,000 rows)."""


class MeasurementProcessingError(IonworksError):
    """The server could not process an upload (or did not finish within the wait's timeout).

    ``failures`` maps each failed measurement id to its reason; the records exist (without
    steps) and can be read or deleted. A batch wait reports every failure together."""

    def __init__(self, message: str, failures: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.failures = dict(failures or {})

    @property
    def measurement_id(self) -> str | None:
        """The first (for a single upload: the only) failed measurement id."""
        return next(iter(self.failures), None)

    def __str__(self) -> str:
        if len(getattr(self, "failures", {})) == 1:
            return f"measurement {self.measurement_id}: {self.message}"
        return str(self.message)


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: ValidationError,
    429: RateLimitError,
}


def status_error_class(status: int) -> type[APIStatusError]:
    """The exception class for an HTTP error status."""
    if status in _STATUS_CLASSES:
        return _STATUS_CLASSES[status]
    if status >= 500:
        return ServerError
    if 400 <= status < 500:
        return ValidationError
    return APIStatusError


def error_from_response(status: int, body: Any, reason: str = "") -> APIStatusError:
    """Build the error for an HTTP error response, following wire.md §2.

    ``body`` is the decoded JSON body (or ``None`` / raw text when it was not JSON).
    """
    cls = status_error_class(status)
    if isinstance(body, Mapping):
        if "error_code" in body:
            return cls(body, status)
        detail = body.get("detail", body.get("message", reason or f"HTTP {status}"))
        if isinstance(detail, Mapping):
            return cls(detail, status)
        return cls(detail, status)
    prefix = f"{status} {reason}".strip()
    if isinstance(body, str) and body.strip():
        return cls(f"{prefix}: {body.strip()[:500]}", status)
    return cls(prefix, status)
