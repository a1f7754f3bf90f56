"""Domain errors. The API maps each to one HTTP status (api/errors.py); nothing else does."""
from __future__ import annotations


class LvyueError(Exception):
    """Base of the errors a use case may raise on purpose."""

    status = 500
    title = "Internal error"

    def __init__(self, detail: str, errors: dict[str, list[str]] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or {}


class Invalid(LvyueError):
    """Well-formed but invalid input; `errors` maps field paths to messages."""

    status = 422
    title = "Invalid input"


class Malformed(LvyueError):
    status = 400
    title = "Malformed request"


class Unauthenticated(LvyueError):
    status = 401
    title = "Authentication required"


class Forbidden(LvyueError):
    status = 403
    title = "Forbidden"


class NotFound(LvyueError):
    status = 404
    title = "Not found"


class Conflict(LvyueError):
    status = 409
    title = "Conflict"


class TooLarge(LvyueError):
    status = 413
    title = "Request body too large"


class TooManyRequests(LvyueError):
    """The caller holds (or the process serves) as many of a bounded resource as allowed; retry later."""

    status = 429
    title = "Too many requests"

    def __init__(self, detail: str, retry_after: int, errors: dict[str, list[str]] | None = None):
        super().__init__(detail, errors)
        self.retry_after = retry_after
