"""Certificate credentials: what an app registration holds, and the client assertion an
application signs with one (https://learn.microsoft.com/entra/identity-platform/certificate-credentials).

The assertion is a JWT signed with the certificate's private key (RS256, ``x5t``: the
certificate's SHA-1 thumbprint; or PS256 with ``x5t#S256``), its audience the token
endpoint and its issuer and subject the client id. The identity platform refuses it
with AADSTS700027 and a ``[Reason - …]`` naming why: the key is not on the app, it
has expired, or the signature does not match; AADSTS700024 when it is out of its
time range.
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from datetime import UTC
from typing import Any

import orjson
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from idsync.emulator.directory import Application, KeyCredential

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class AssertionRefused(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def key_credential(entry: Any) -> KeyCredential:
    """One ``keyCredentials`` item of a PATCH (``key``: the certificate, base64 DER)."""
    if not isinstance(entry, dict) or entry.get("type") != "AsymmetricX509Cert":
        raise ValueError("each keyCredential needs type 'AsymmetricX509Cert' and a key")
    try:
        der = base64.b64decode(str(entry.get("key") or ""), validate=True)
        certificate = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise ValueError("'key' must be a base64 DER X.509 certificate") from exc
    public_key = certificate.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise ValueError("only RSA certificates are supported")
    return KeyCredential(
        key_id=str(uuid.uuid4()),
        thumbprint=hashlib.sha1(der, usedforsecurity=False).hexdigest().upper(),
        public_key_pem=public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        start=certificate.not_valid_before_utc,
        end=certificate.not_valid_after_utc,
        display_name=str(entry.get("displayName") or certificate.subject.rfc4514_string()),
    )


def check_assertion(app: Application, assertion: str, token_endpoints: set[str]) -> None:
    """Raises AssertionRefused unless the assertion is signed with a current certificate
    of ``app`` and names it and this token endpoint (by any of its addresses)."""
    try:
        head, body, signature = assertion.split(".")
        header, claims = orjson.loads(_unb64(head)), orjson.loads(_unb64(body))
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise AssertionRefused(50027, "JWT token is invalid or malformed.") from exc
    used, key = _key(app, header)
    if key is None:
        raise _invalid(app, "The key was not found.", used)
    if key.expired or key.end.timestamp() < time.time():
        found = f"Found key 'Start={_shown(key.start)}, End={_shown(key.end)}'"
        raise _invalid(app, "The key used is expired.", used, found)
    if not _signed(key, header.get("alg"), f"{head}.{body}".encode(), _unb64(signature)):
        raise _invalid(
            app, "The provided signature value did not match the expected signature value.", used
        )
    now = time.time()
    if not claims.get("nbf", 0) - 300 <= now <= claims.get("exp", 0) + 300:
        raise AssertionRefused(700024, "Client assertion is not within its valid time range.")
    if claims.get("aud") not in token_endpoints or app.app_id not in (
        claims.get("iss"),
        claims.get("sub"),
    ):
        raise AssertionRefused(
            700021, "Client assertion application identifier doesn't match 'client_id' parameter."
        )


def _key(app: Application, header: dict[str, Any]) -> tuple[str, KeyCredential | None]:
    """The thumbprint the client named, and the app's certificate with it."""
    if "x5t" in header:
        used = _unb64(str(header["x5t"])).hex().upper()
        return used, next((k for k in app.certificates if k.thumbprint == used), None)
    return str(header.get("x5t#S256", "")), None


def _signed(key: KeyCredential, alg: Any, signed: bytes, signature: bytes) -> bool:
    public_key = serialization.load_pem_public_key(key.public_key_pem)
    assert isinstance(public_key, rsa.RSAPublicKey)
    scheme: padding.AsymmetricPadding
    if alg == "RS256":
        scheme = padding.PKCS1v15()
    elif alg == "PS256":
        scheme = padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH)
    else:
        return False
    try:
        public_key.verify(signature, signed, scheme, hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def _invalid(app: Application, reason: str, used: str, *more: str) -> AssertionRefused:
    parts = [f"Reason - {reason}", f"Thumbprint of key used by client: '{used}'", *more]
    return AssertionRefused(
        700027,
        f"Client assertion failed signature validation. [{', '.join(parts)}, Please visit "
        "the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys "
        f"for app Id '{app.app_id}'.]",
    )


def _shown(moment: Any) -> str:
    return str(moment.astimezone(UTC).strftime("%m/%d/%Y %H:%M:%S"))


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
