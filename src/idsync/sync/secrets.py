"""Connector credentials encrypted at rest (Fernet: AES-128-CBC + HMAC-SHA256).

The key comes from the configuration (``IDSYNC_SECRET_KEY``) or from a key file
with owner-only permissions: ``IDSYNC_SECRET_KEY_FILE``, else beside a SQLite
database file (``hub.db`` → ``hub.key``: the two travel together and neither is
in the folder a command happens to run from), else in the user's configuration
folder (PostgreSQL). The file is created only for a database that holds no
credentials yet: a new key could not decrypt stored ones. The clear text exists
only in memory, inside the connector that needs it.
"""

from __future__ import annotations

import base64
import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from idsync.config import Settings, user_config_folder
from idsync.errors.catalogue import (
    SECRET_KEY_MALFORMED,
    SECRET_KEY_MISSING,
    SECRET_KEY_UNUSABLE,
    IdsyncError,
)
from idsync.logs import get_logger
from idsync.store.database import Database
from idsync.store.models import INTEGRATIONS

log = get_logger("idsync.secrets")

KEY_FILE_NAME = "idsync.key"
"""The key file's name in the configuration folder, and where idsync 0.1 kept it:
in the folder each process was started from."""


def key_file(db: Database, settings: Settings) -> Path:
    """Where the key file of this database is (whether or not it exists yet)."""
    if settings.secret_key_file:
        return Path(settings.secret_key_file).expanduser()
    name = db.url.database if db.is_sqlite else None
    if name and name != ":memory:" and not name.startswith("file:"):
        database = Path(name)
        beside = database.with_suffix(".key")
        return beside if beside != database else database.with_name(database.name + ".key")
    return user_config_folder() / KEY_FILE_NAME


@dataclass(frozen=True)
class _Sealed:
    """What the database already holds: how many integrations have credentials, one sample."""

    count: int
    sample: str | None


def load_key(db: Database, settings: Settings) -> bytes:
    if settings.secret_key:
        return settings.secret_key.encode()
    path = key_file(db, settings)
    if path.exists():
        return path.read_bytes().strip()
    sealed = _sealed(db)
    if not sealed.count:
        return _create(path)
    legacy = _legacy_key(path, sealed)
    if legacy is not None:
        return legacy
    raise IdsyncError(SECRET_KEY_MISSING, count=sealed.count, path=path.absolute())


def purpose_cipher(db: Database, settings: Settings, purpose: bytes) -> Fernet:
    """A Fernet key derived (HKDF-SHA256) from the credentials key for one purpose: what
    idsync hands a browser to bring back (a consent state, a pending sign-in, a token to
    show once) can be made and read only by idsync, and one purpose's cannot pass for
    another's."""
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(
        load_key(db, settings)
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def _sealed(db: Database) -> _Sealed:
    with db.read() as conn:
        stored = sa.select(INTEGRATIONS.c.secrets).where(INTEGRATIONS.c.secrets.is_not(None))
        count = conn.execute(sa.select(sa.func.count()).select_from(stored.subquery())).scalar()
        sample = conn.execute(stored.limit(1)).scalar()
    return _Sealed(int(count or 0), sample)


def _create(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # O_EXCL: two processes starting together must not write two different keys.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as handle:
        handle.write(Fernet.generate_key())
    return path.read_bytes().strip()


def _legacy_key(path: Path, sealed: _Sealed) -> bytes | None:
    """idsync 0.1's key in the current folder, if it is the one that opens the stored
    credentials (that old default may have served several databases: it is copied,
    not moved, and the administrator does it)."""
    legacy = Path.cwd() / KEY_FILE_NAME
    if not legacy.is_file() or legacy.resolve() == path.resolve() or sealed.sample is None:
        return None
    key = legacy.read_bytes().strip()
    try:
        Fernet(key).decrypt(sealed.sample.encode())
    except (ValueError, InvalidToken):
        return None
    copy = f"mkdir -p {shlex.quote(str(path.parent))} && cp -p {shlex.quote(str(legacy))} "
    log.warning(
        "credentials key read from the current folder (idsync 0.1's place); "
        "copy it to where idsync looks for it now",
        key_file=str(legacy),
        expected=str(path.absolute()),
        command=copy + shlex.quote(str(path.absolute())),
    )
    return key


class SecretBox:
    """Encrypts and decrypts integrations' credentials (JSON objects) of one database.

    The key is loaded on first use: an integration without credentials (a file
    import) never needs one, and never creates a key file.
    """

    def __init__(self, db: Database, settings: Settings) -> None:
        self._db = db
        self._settings = settings
        self._cipher: Fernet | None = None

    def _fernet(self) -> Fernet:
        if self._cipher is None:
            key = load_key(self._db, self._settings)
            try:
                self._cipher = Fernet(key)
            except ValueError as exc:
                raise IdsyncError(SECRET_KEY_MALFORMED, reason=str(exc)) from None
        return self._cipher

    def seal(self, secrets: dict[str, Any]) -> str:
        return self._fernet().encrypt(orjson.dumps(secrets)).decode()

    def open(self, token: str | None, integration: str) -> dict[str, Any]:
        if not token:
            return {}
        try:
            value = orjson.loads(self._fernet().decrypt(token.encode()))
        except InvalidToken:
            raise IdsyncError(
                SECRET_KEY_UNUSABLE, integration=integration, reason="wrong key or corrupted value"
            ) from None
        return dict(value)

    def __repr__(self) -> str:
        return "SecretBox(<key hidden>)"
