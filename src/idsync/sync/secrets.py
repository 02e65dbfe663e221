"""Connector credentials encrypted at rest (Fernet: AES-128-CBC + HMAC-SHA256).

The key comes from the configuration (``IDSYNC_SECRET_KEY``) or, for the embedded
default, from a key file created on first use with owner-only permissions. The
clear text exists only in memory, inside the connector that needs it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
from cryptography.fernet import Fernet, InvalidToken

from idsync.config import Settings
from idsync.health.catalogue import SECRET_KEY_MALFORMED, SECRET_KEY_UNUSABLE, IdsyncError


def load_key(settings: Settings) -> bytes:
    if settings.secret_key:
        return settings.secret_key.encode()
    path = Path(settings.secret_key_file)
    if not path.exists():
        # O_EXCL: two processes starting together must not write two different keys.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_bytes().strip()
        with os.fdopen(fd, "wb") as handle:
            handle.write(Fernet.generate_key())
    return path.read_bytes().strip()


class SecretBox:
    """Encrypts and decrypts one integration's credentials (a JSON object)."""

    def __init__(self, key: bytes) -> None:
        try:
            self._fernet = Fernet(key)
        except ValueError as exc:
            raise IdsyncError(SECRET_KEY_MALFORMED, reason=str(exc)) from None

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        return cls(load_key(settings))

    def seal(self, secrets: dict[str, Any]) -> str:
        return self._fernet.encrypt(orjson.dumps(secrets)).decode()

    def open(self, token: str | None, integration: str) -> dict[str, Any]:
        if not token:
            return {}
        try:
            value = orjson.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken:
            raise IdsyncError(
                SECRET_KEY_UNUSABLE, integration=integration, reason="wrong key or corrupted value"
            ) from None
        return dict(value)

    def __repr__(self) -> str:
        return "SecretBox(<key hidden>)"
