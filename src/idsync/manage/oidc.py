"""Operators' sign-in with an OpenID Connect provider (Entra ID, any other, the emulator):
the authorization code flow with PKCE (OpenID Connect Core 1.0 §3.1, RFC 7636).

authlib builds the authorization request and redeems the code; joserfc checks the ID
token (its signature against the provider's published keys, issuer, audience, expiry and
the nonce). The provider says who signed in; idsync decides what they may do: the e-mail
address (``email``, else ``preferred_username``) must be an operator's, whose role applies.
What the browser must bring back (state, nonce, PKCE verifier, where to go next) travels
in a short-lived cookie encrypted with a key derived from the credentials key, so any API
process can finish a sign-in another one started.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
from authlib.integrations.httpx_client import OAuth2Client
from cryptography.fernet import Fernet, InvalidToken
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from idsync.config import Settings
from idsync.errors.catalogue import NOT_AN_OPERATOR, OIDC_SIGN_IN_FAILED, IdsyncError
from idsync.manage import operators
from idsync.store import operators as rows
from idsync.store.database import Database
from idsync.store.types import utcnow
from idsync.sync.secrets import purpose_cipher

CALLBACK_PATH = "/admin/login/oidc/callback"
PENDING_SECONDS = 600
SCOPES = "openid profile email"
_PURPOSE = b"idsync operator sign-in with OpenID Connect"


def enabled(config: Settings) -> bool:
    return bool(config.oidc_issuer and config.oidc_client_id)


@dataclass(frozen=True)
class Started:
    url: str
    """The provider's authorization endpoint, with this sign-in's request."""
    pending: str
    """The cookie that brings state, nonce and verifier back to the callback."""


def start(db: Database, config: Settings, redirect_uri: str, next_page: str) -> Started:
    provider = _discovery(config)
    state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
    with _client(config, redirect_uri) as client:
        url, _ = client.create_authorization_url(
            provider["authorization_endpoint"],
            state=state,
            nonce=nonce,
            code_verifier=verifier,
            response_mode="query",
        )
    payload = {"state": state, "nonce": nonce, "verifier": verifier, "next": next_page}
    return Started(url, _cipher(db, config).encrypt(orjson.dumps(payload)).decode())


def finish(
    db: Database,
    config: Settings,
    params: dict[str, str],
    pending: str | None,
    redirect_uri: str,
    address: str,
) -> tuple[operators.SignedIn, str]:
    """A session for the operator the provider signed in, and where to go next."""
    waiting = _pending(db, config, pending)
    if params.get("error"):
        said = (params.get("error_description") or "").splitlines()
        _fail(config, f"{params['error']}: {said[0]}" if said else params["error"])
    if not secrets.compare_digest(params.get("state", ""), waiting["state"]):
        _fail(config, "the answer is not for the sign-in this browser started")
    provider = _discovery(config)
    with _client(config, redirect_uri) as client:
        try:
            token = client.fetch_token(
                provider["token_endpoint"],
                code=params.get("code", ""),
                code_verifier=waiting["verifier"],
            )
        except Exception as exc:  # authlib raises its OAuthError or httpx's errors
            _fail(config, f"the code was not redeemed ({exc})")
    claims = _claims(config, provider, str(token.get("id_token", "")), waiting["nonce"])
    email = str(claims.get("email") or claims.get("preferred_username") or "")
    return _session(db, config, email, address), str(waiting["next"])


def _session(db: Database, config: Settings, email: str, address: str) -> operators.SignedIn:
    with db.read() as conn:
        found = rows.find_operator(conn, email) if email else None
    if found is None:
        raise IdsyncError(
            NOT_AN_OPERATOR, email=email or "(no e-mail claim)", provider=config.oidc_name
        )
    return operators.new_session(
        db, found[0], address, utcnow(), f"Sign in with {config.oidc_name}"
    )


def _claims(
    config: Settings, provider: dict[str, Any], id_token: str, nonce: str
) -> dict[str, Any]:
    keys = KeySet.import_key_set(_get_json(config, provider["jwks_uri"]))  # type: ignore[arg-type]
    try:
        decoded = jwt.decode(id_token, keys, algorithms=["RS256", "PS256", "ES256"])
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": provider["issuer"]},
            aud={"essential": True, "value": config.oidc_client_id},
            nonce={"essential": True, "value": nonce},
            exp={"essential": True},
            leeway=60,
        ).validate(decoded.claims)
    except (JoseError, ValueError) as exc:
        _fail(config, f"the ID token was not accepted ({exc})")
    return dict(decoded.claims)


def _pending(db: Database, config: Settings, pending: str | None) -> dict[str, Any]:
    if not pending:
        raise _failure(config, "this browser started no sign-in (or blocks cookies)")
    try:
        payload = _cipher(db, config).decrypt(pending.encode(), ttl=PENDING_SECONDS)
    except InvalidToken:
        _fail(
            config, f"the sign-in took longer than {PENDING_SECONDS // 60} minutes, or is not ours"
        )
    value: dict[str, Any] = orjson.loads(payload)
    return value


def _fail(config: Settings, reason: str) -> Any:
    raise _failure(config, reason)


def _failure(config: Settings, reason: str) -> IdsyncError:
    return IdsyncError(OIDC_SIGN_IN_FAILED, provider=config.oidc_name, reason=reason)


def _cipher(db: Database, config: Settings) -> Fernet:
    return purpose_cipher(db, config, _PURPOSE)


def _client(config: Settings, redirect_uri: str) -> OAuth2Client:
    secret = (
        Path(config.oidc_client_secret_file).read_text().strip()
        if config.oidc_client_secret_file
        else None
    )
    return OAuth2Client(
        client_id=config.oidc_client_id,
        client_secret=secret,
        scope=SCOPES,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_post" if secret else "none",
        verify=_verify(config),
        timeout=15,
    )


def _verify(config: Settings) -> Any:
    return config.oidc_ca_file or True


_DISCOVERED: dict[str, tuple[float, dict[str, Any]]] = {}
_DISCOVERY_SECONDS = 3600


def _discovery(config: Settings) -> dict[str, Any]:
    """The provider's metadata (OpenID Connect Discovery 1.0 §4), kept an hour."""
    url = config.oidc_issuer.rstrip("/") + "/.well-known/openid-configuration"
    cached = _DISCOVERED.get(url)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    found = _get_json(config, url)
    _DISCOVERED[url] = (time.monotonic() + _DISCOVERY_SECONDS, found)
    return found


def _get_json(config: Settings, url: str) -> dict[str, Any]:
    try:
        answer = httpx.get(url, verify=_verify(config), timeout=15)
        answer.raise_for_status()
        value: dict[str, Any] = answer.json()
    except (httpx.HTTPError, ValueError) as exc:
        _fail(config, f"{url} did not answer ({exc.__class__.__name__}: {exc})")
    return value
