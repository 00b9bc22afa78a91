"""Domain errors: the only exceptions services raise on purpose.

Each carries a stable ``code`` (the GraphQL ``extensions.code`` of the contract),
an optional ``field`` naming the one input at fault and a ``hint`` telling the
user what to do. The GraphQL layer maps them; services never know about GraphQL.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base class: an expected failure whose message is safe to show to the user."""

    code = "INTERNAL"

    def __init__(self, message: str, *, field: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.hint = hint


class BadInput(DomainError):
    """The request is malformed or violates a rule; nothing was changed."""

    code = "BAD_USER_INPUT"


class Unauthenticated(DomainError):
    """No valid credentials were presented."""

    code = "UNAUTHENTICATED"

    def __init__(self, message: str = "Sign in first: this needs a valid bearer token.", **kw: str | None) -> None:
        super().__init__(message, **kw)


class Forbidden(DomainError):
    """Authenticated, but not allowed (e.g. a read-only macaroon asked to pay)."""

    code = "FORBIDDEN"


class NotFound(DomainError):
    """The object does not exist *for this user* (other users' objects answer this too)."""

    code = "NOT_FOUND"


class Conflict(DomainError):
    """The change collides with existing state (duplicate email, wallet already imported...)."""

    code = "CONFLICT"


class RateLimited(DomainError):
    """Too many attempts; retry later."""

    code = "RATE_LIMITED"


class UpstreamUnavailable(DomainError):
    """A backend we depend on (chain server, LND node, price API, Redis) did not answer."""

    code = "UPSTREAM_UNAVAILABLE"


ERROR_CODES = (
    "BAD_USER_INPUT",
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "NOT_FOUND",
    "CONFLICT",
    "RATE_LIMITED",
    "UPSTREAM_UNAVAILABLE",
    "INTERNAL",
)
