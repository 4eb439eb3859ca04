"""Errors every layer raises and every face (CLI, REST, SDK) reports the same way.

LmopsError                 base; `status_code` is what the REST API answers
 +-- InvalidInput          400: the caller sent something malformed; `field` names it
 |    +-- InvalidFilter    400: a search filter failed to parse; `position` says where
 +-- Unauthorized          401
 +-- Forbidden             403
 +-- NotFound              404: an id or name that does not exist
 +-- Conflict              409: a write that contradicts what is stored (write-once params)
 +-- PayloadTooLarge       413: a request body past its size limit
 +-- UnsupportedMediaType  415: a body in a content type the route does not read
 +-- Unavailable           503: the store or server cannot take it now; retrying may work
 +-- MissingExtra          a feature needs an optional extra that is not installed
 +-- RemoteError           the server answered with an error the client cannot map
"""

from __future__ import annotations

from typing import Any, ClassVar


class LmopsError(Exception):
    """Base of every error lmops raises on purpose."""

    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message}


class InvalidInput(LmopsError):
    status_code = 400
    code = "invalid_input"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "field": self.field}


class InvalidFilter(InvalidInput):
    code = "invalid_filter"

    def __init__(self, message: str, *, position: int) -> None:
        super().__init__(f"{message} (at position {position})", field="filter")
        self.position = position

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "position": self.position}


class Unauthorized(LmopsError):
    status_code = 401
    code = "unauthorized"


class Forbidden(LmopsError):
    status_code = 403
    code = "forbidden"


class NotFound(LmopsError):
    status_code = 404
    code = "not_found"


class Conflict(LmopsError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(LmopsError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(LmopsError):
    status_code = 415
    code = "unsupported_media_type"


class Unavailable(LmopsError):
    status_code = 503
    code = "unavailable"


class MissingExtra(LmopsError):
    code = "missing_extra"

    def __init__(self, feature: str, extra: str) -> None:
        super().__init__(f"{feature} needs the '{extra}' extra: pip install 'lmops[{extra}]'")


def require_modules(modules: tuple[str, ...], feature: str, extra: str) -> None:
    """Raise MissingExtra naming the missing modules, before a heavy import fails deep down."""
    from importlib.util import find_spec

    missing = [name for name in modules if find_spec(name) is None]
    if missing:
        raise MissingExtra(f"{feature} (missing: {', '.join(missing)})", extra)


class RemoteError(LmopsError):
    code = "remote_error"


_BY_CODE: dict[str, type[LmopsError]] = {
    cls.code: cls
    for cls in (
        InvalidInput,
        InvalidFilter,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        Unavailable,
    )
}


def error_from_response(status: int, body: dict[str, Any]) -> LmopsError:
    """Rebuild the error a server reported, so remote callers catch the same classes."""
    message = str(body.get("message") or body.get("detail") or f"server answered {status}")
    cls = _BY_CODE.get(str(body.get("error")))
    if cls is InvalidFilter:
        err: LmopsError = InvalidInput(message, field="filter")
    elif cls is InvalidInput:
        err = InvalidInput(message, field=body.get("field"))
    elif cls is not None:
        err = cls(message)
    elif status in (502, 503, 504):
        err = Unavailable(f"{status}: {message}")
    else:
        err = RemoteError(f"{status}: {message}")
    return err
