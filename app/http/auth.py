"""The one authentication seam of the HTTP layer: GraphQL over HTTP, WebSocket connections and
report downloads all turn a credential into a viewer here.

A credential is the ``Authorization`` header (``Bearer <token>``) of a request, or the
``authorization`` field of a WebSocket's ``connection_init`` payload. What a token is (a session
token, an API key) is the accounts service's business (:meth:`AccountService.authenticate`).
"""

from __future__ import annotations

from dataclasses import dataclass

from app.security.tokens import bearer_from_header
from app.services.accounts import AccountService, Viewer


class InvalidCredentials(Exception):
    """A credential was sent but is malformed, unknown, expired or revoked."""


@dataclass(frozen=True, slots=True)
class Authenticated:
    viewer: Viewer
    token: str


async def authenticate(accounts: AccountService, authorization: object) -> Authenticated | None:
    """The viewer of ``authorization``; ``None`` when nothing was sent (anonymous).

    Raises :class:`InvalidCredentials` when something was sent that does not authenticate: a
    caller never mistakes a bad token for an anonymous request."""
    if authorization is None:
        return None
    token = bearer_from_header(authorization) if isinstance(authorization, str) else None
    viewer = await accounts.authenticate(token) if token else None
    if viewer is None or token is None:
        raise InvalidCredentials
    return Authenticated(viewer, token)
