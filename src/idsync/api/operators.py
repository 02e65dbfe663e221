"""Who makes a console or management-API request: an operator with a session cookie
(browsers) or an API key (scripts), and the CSRF check on every change a session makes.

Cookies are HttpOnly (scripts in the page never read them), SameSite=Lax (other sites'
pages do not send them along with their requests' bodies) and Secure when the public URL
is https. A session's changes also need its CSRF token (a hidden form field, or the
``X-CSRF-Token`` header from the console's script): SameSite alone leaves out older
browsers and same-site subdomains. API keys are not sent by browsers on their own, so
requests made with one need no CSRF token.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from idsync.config import Settings
from idsync.errors.catalogue import SESSION_REQUIRED, IdsyncError
from idsync.manage import operators
from idsync.store.database import Database
from idsync.store.operators import OperatorRecord, SessionRecord

COOKIE = "idsync_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Principal:
    operator: OperatorRecord
    session: SessionRecord | None
    """None for an API key."""
    address: str

    @property
    def actor(self) -> str:
        return operators.actor(
            self.operator, self.address, "console" if self.session else "API key"
        )

    @property
    def csrf_token(self) -> str:
        return self.session.csrf_token if self.session else ""

    def authorize(self, action: str, org_id: str | None = None) -> None:
        operators.authorize(self.operator, action, org_id)


def address_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def principal(request: Request, db: Database) -> Principal:
    """The operator making the request, or IDS-401-131. A session's request that changes
    something must carry the session's CSRF token (IDS-403-131)."""
    address = address_of(request)
    authorization = request.headers.get("authorization", "")
    scheme, _, secret = authorization.partition(" ")
    if scheme.lower() == "bearer" and secret.strip():
        record = await run_in_threadpool(operators.operator_for_key, db, secret.strip())
        return Principal(record, None, address)
    if authorization:
        raise IdsyncError(SESSION_REQUIRED, reason="only 'Bearer <API key>' is accepted")
    record, session = await run_in_threadpool(
        operators.session_for, db, request.cookies.get(COOKIE)
    )
    if request.method not in _SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER)
        if sent is None and _is_form(request):
            sent = str((await request.form()).get(CSRF_FIELD) or "")
        operators.check_csrf(session, sent)
    return Principal(record, session, address)


def _is_form(request: Request) -> bool:
    kind = request.headers.get("content-type", "")
    return kind.startswith(("application/x-www-form-urlencoded", "multipart/form-data"))


def set_session_cookie(response: Response, secret: str, settings: Settings) -> None:
    response.set_cookie(
        COOKIE,
        secret,
        max_age=int(operators.SESSION_MAX.total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",
        secure=(settings.public_url or "").startswith("https://"),
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax")
