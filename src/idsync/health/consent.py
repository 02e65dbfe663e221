"""The admin-consent link that repairs a removed service principal by itself.

The link is the tenant's admin-consent URL with a ``redirect_uri`` at ``idsync serve``'s
``/consent/callback`` and a ``state`` that says which organisation and integration it
repairs. The state is a Fernet token (AES + HMAC-SHA256, with its creation time) under
a key derived (HKDF) from the credentials key: only idsync can make one, nobody can
change what it names, and it is refused once an hour old. The credentials key itself
never leaves the process, and the derived key is good for nothing else.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urlencode

import orjson
from cryptography.fernet import Fernet, InvalidToken

from idsync.config import Settings
from idsync.errors.catalogue import CONSENT_STATE_EXPIRED, CONSENT_STATE_INVALID, IdsyncError
from idsync.store.database import Database
from idsync.sync.secrets import purpose_cipher

CALLBACK_PATH = "/consent/callback"
STATE_LIFETIME_SECONDS = 3600
_PURPOSE = b"idsync admin-consent state v1"


@dataclass(frozen=True)
class ConsentState:
    org_id: str
    integration_id: str


class StateSigner:
    """Signs and verifies consent states with the key derived from the credentials key."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self._db = db
        self._settings = settings
        self._cipher: Fernet | None = None

    def _fernet(self) -> Fernet:
        if self._cipher is None:
            self._cipher = purpose_cipher(self._db, self._settings, _PURPOSE)
        return self._cipher

    def sign(self, org_id: str, integration_id: str, *, now: float | None = None) -> str:
        payload = orjson.dumps({"org": org_id, "integration": integration_id})
        stamp = int(time.time() if now is None else now)
        return self._fernet().encrypt_at_time(payload, stamp).decode()

    def verify(self, state: str) -> ConsentState:
        """The org and integration the state names; IDS-400-120/121 when it is not ours
        or too old (a Fernet token says which only once its signature holds)."""
        if not state:
            raise IdsyncError(CONSENT_STATE_INVALID, reason="no state")
        fernet = self._fernet()
        try:
            payload = fernet.decrypt(state.encode(), ttl=STATE_LIFETIME_SECONDS)
        except InvalidToken:
            try:
                fernet.decrypt(state.encode())
            except InvalidToken:
                raise IdsyncError(CONSENT_STATE_INVALID, reason="bad signature") from None
            raise IdsyncError(CONSENT_STATE_EXPIRED, hours=STATE_LIFETIME_SECONDS // 3600) from None
        try:
            named = orjson.loads(payload)
            return ConsentState(str(named["org"]), str(named["integration"]))
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise IdsyncError(CONSENT_STATE_INVALID, reason="malformed state") from None

    def __repr__(self) -> str:
        return "StateSigner(<key hidden>)"


def callback_url(settings: Settings) -> str | None:
    """``/consent/callback`` under the server's public URL; None when it is not known."""
    base = settings.callback_base
    return f"{base}{CALLBACK_PATH}" if base else None


def consent_link(plain: str, redirect_uri: str, state: str) -> str:
    """The tenant's admin-consent URL (``…/adminconsent?client_id=…``) with the callback."""
    separator = "&" if "?" in plain else "?"
    return f"{plain}{separator}{urlencode({'redirect_uri': redirect_uri, 'state': state})}"


def signed_link(
    db: Database, settings: Settings, org_id: str, integration_id: str, plain: str
) -> str | None:
    """The consent link that comes back to ``idsync serve`` for this integration, with
    a fresh state; None when the server's public URL is not known."""
    redirect_uri = callback_url(settings)
    if redirect_uri is None:
        return None
    return consent_link(plain, redirect_uri, StateSigner(db, settings).sign(org_id, integration_id))
