"""Access tokens: JWT-shaped, as Entra's are, signed with a key only the emulator holds.

Entra access tokens for Graph are JWTs whose claims name the tenant (``tid``), the
client app (``appid``), the service principal (``oid``, ``idtyp: app``) and the granted
application permissions (``roles``); delegated tokens carry ``scp`` and the user's
``oid``/``upn`` instead (https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference).
Clients must treat them as opaque; the emulator signs them with HMAC-SHA256 and checks
signature, expiry and tenant here, and the Graph layer checks that the service principal
they were issued to still exists.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

GRAPH_AUDIENCE = "https://graph.microsoft.com"
APP_TOKEN_LIFETIME = 3599  # what Entra returns as expires_in for client credentials
ADMIN_TOKEN_LIFETIME = 10 * 365 * 86400


class TokenError(Exception):
    """Why a bearer token is refused (Graph's message for it)."""


@dataclass(frozen=True, slots=True)
class Principal:
    kind: str  # "app" or "user"
    tenant_id: str
    app_id: str
    object_id: str  # service principal id (app) or user id (user)
    permissions: frozenset[str]
    token_id: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


ID_TOKEN_KID = "idsync-emulator-rs256"  # noqa: S105 - a key id, not a secret


class TokenIssuer:
    def __init__(self, key: bytes, issuer_base: str = "https://sts.windows.net") -> None:
        self._key = key
        self._issuer_base = issuer_base
        # ID tokens are for relying parties, which check them against the published keys
        # (discovery's jwks_uri): RS256 with a key made for this process, as Entra signs.
        self._id_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwks(self) -> dict[str, Any]:
        """The public key ID tokens are signed with, as a JWK set (RFC 7517)."""
        numbers = self._id_key.public_key().public_numbers()
        return {
            "keys": [
                {
                    "kty": "RSA",
                    "use": "sig",
                    "alg": "RS256",
                    "kid": ID_TOKEN_KID,
                    "n": _b64(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
                    "e": _b64(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
                }
            ]
        }

    def _sign(self, claims: dict[str, Any]) -> str:
        header = _b64(orjson.dumps({"typ": "JWT", "alg": "HS256", "kid": "idsync-emulator"}))
        body = _b64(orjson.dumps(claims))
        signature = hmac.new(self._key, f"{header}.{body}".encode(), hashlib.sha256).digest()
        return f"{header}.{body}.{_b64(signature)}"

    def _base(self, tenant_id: str, lifetime: int) -> dict[str, Any]:
        now = int(time.time())
        return {
            "aud": GRAPH_AUDIENCE,
            "iss": f"{self._issuer_base}/{tenant_id}/",
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "tid": tenant_id,
            "uti": _b64(uuid.uuid4().bytes),
            "ver": "1.0",
        }

    def app_token(
        self, tenant_id: str, app_id: str, sp_id: str, roles: list[str], app_name: str
    ) -> str:
        claims = self._base(tenant_id, APP_TOKEN_LIFETIME)
        claims.update(
            {
                "app_displayname": app_name,
                "appid": app_id,
                "appidacr": "1",
                "idp": f"{self._issuer_base}/{tenant_id}/",
                "idtyp": "app",
                "oid": sp_id,
                "roles": roles,
                "sub": sp_id,
            }
        )
        return self._sign(claims)

    def user_token(
        self,
        tenant_id: str,
        client_app_id: str,
        user: dict[str, Any],
        scopes: list[str],
        lifetime: int = ADMIN_TOKEN_LIFETIME,
    ) -> str:
        claims = self._base(tenant_id, lifetime)
        claims.update(
            {
                "appid": client_app_id,
                "appidacr": "0",
                "idtyp": "user",
                "name": user["displayName"],
                "oid": user["id"],
                "scp": " ".join(scopes),
                "sub": user["id"],
                "upn": user["userPrincipalName"],
                "wids": ["62e90394-69f5-4237-9190-012177145e10"],  # Global Administrator
            }
        )
        return self._sign(claims)

    def id_token(
        self,
        tenant_id: str,
        client_app_id: str,
        user: dict[str, Any],
        nonce: str,
        login_base: str,
    ) -> str:
        """OpenID Connect's ID token for a sign-in (v2.0 claims), RS256-signed; its issuer
        is the one discovery names (``{login_base}/{tenant}/v2.0``)."""
        now = int(time.time())
        header = _b64(orjson.dumps({"typ": "JWT", "alg": "RS256", "kid": ID_TOKEN_KID}))
        body = _b64(
            orjson.dumps(
                {
                    "aud": client_app_id,
                    "iss": f"{login_base}/{tenant_id}/v2.0",
                    "iat": now,
                    "nbf": now,
                    "exp": now + APP_TOKEN_LIFETIME,
                    "name": user["displayName"],
                    "nonce": nonce,
                    "oid": user["id"],
                    "preferred_username": user["userPrincipalName"],
                    "email": user.get("mail") or user["userPrincipalName"],
                    "sub": user["id"],
                    "tid": tenant_id,
                    "ver": "2.0",
                }
            )
        )
        signed = f"{header}.{body}".encode()
        signature = self._id_key.sign(signed, padding.PKCS1v15(), hashes.SHA256())
        return f"{header}.{body}.{_b64(signature)}"

    def validate(self, token: str, tenant_id: str) -> Principal:
        try:
            header, body, signature = token.split(".")
            expected = hmac.new(self._key, f"{header}.{body}".encode(), hashlib.sha256).digest()
            if not hmac.compare_digest(expected, _unb64(signature)):
                raise TokenError("Access token validation failure. Invalid signature.")
            claims = orjson.loads(_unb64(body))
        except (ValueError, orjson.JSONDecodeError) as exc:
            # Graph's wording for a token that is not a JWT at all.
            raise TokenError("IDX14100: JWT is not well formed, there are no dots (.).") from exc
        if not isinstance(claims, dict) or claims.get("aud") != GRAPH_AUDIENCE:
            raise TokenError("Access token validation failure. Invalid audience.")
        if claims.get("exp", 0) < time.time():
            raise TokenError("Lifetime validation failed, the token is expired.")
        if claims.get("tid") != tenant_id:
            raise TokenError("Access token validation failure. Invalid issuer.")
        if claims.get("idtyp") == "app":
            permissions = frozenset(claims.get("roles", []))
            kind = "app"
        else:
            permissions = frozenset(str(claims.get("scp", "")).split())
            kind = "user"
        return Principal(
            kind=kind,
            tenant_id=claims["tid"],
            app_id=claims.get("appid", ""),
            object_id=claims.get("oid", ""),
            permissions=permissions,
            token_id=claims.get("uti", ""),
        )
