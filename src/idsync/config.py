"""The one configuration object of idsync.

Every setting has a default, can be set from the environment (``IDSYNC_*``),
and the CLI overrides a few of them from its flags. Nothing else reads the
environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

DEFAULT_DATABASE_URL = "sqlite:///idsync.db"


def _flag(raw: str) -> bool:
    return raw.strip().lower() not in ("0", "false", "no", "off")


_CONVERT: dict[str, Any] = {"int": int, "float": float, "bool": _flag}


@dataclass(frozen=True)
class Settings:
    """Runtime settings, immutable once built."""

    database_url: str = DEFAULT_DATABASE_URL
    """SQLAlchemy URL: ``sqlite:///path.db`` (embedded) or ``postgresql://…`` (production)."""

    public_url: str = ""
    """Base URL clients reach the hub at, e.g. ``https://idsync.example.com``.

    Used for ``meta.location`` and ``$ref``. Empty means: derive it from each
    request's scheme and Host header.
    """

    serve_url: str = ""
    """Where ``idsync serve`` listens (``http://{host}:{port}``), set by ``serve`` itself for
    its own processes. The admin-consent callback (``/consent/callback``) is built on
    ``public_url`` when set, else on this; empty in both: no callback is offered
    (docs/health.md, "Repair")."""

    log_level: str = "info"
    log_format: str = "json"
    """``json`` (one JSON object per line, for log pipelines) or ``console``."""

    max_request_bytes: int = 1_048_576
    """Largest request body accepted outside ``/Bulk`` (413 beyond)."""

    bulk_max_operations: int = 1000
    bulk_max_payload_bytes: int = 4_194_304

    default_page_size: int = 100
    max_page_size: int = 1000
    """Also advertised as ``filter.maxResults``."""

    token_cache_seconds: float = 1.0
    """How long an API process trusts a token it verified before reading it again.

    A token revoked from elsewhere stops working within this time (0 reads the
    token on every request).
    """

    token_touch_seconds: int = 60
    """How stale a token's ``last_used_at`` may get before a request refreshes it.

    Writing it on every request would turn every read into a write.
    """

    secret_key: str = ""
    """Key that encrypts connector credentials at rest (a Fernet key, urlsafe base64).

    Empty: the key is read from a key file, created on first use (``sync/secrets.py``).
    """

    secret_key_file: str = ""
    """Where that key file is. Empty: beside a SQLite database file (``hub.db`` →
    ``hub.key``), else ``idsync.key`` in the user's configuration folder."""

    provisioning_log_days: float = 30
    """How long provisioning-log entries are kept (Entra keeps its logs 30 days);
    each completed cycle prunes its integration's older entries."""

    scheduler_poll_seconds: float = 5.0
    """How often ``idsync serve`` looks for sync jobs that are due."""

    audit_log_days: float = 90
    """How long audit-log rows are kept (security reviews often look back 90 days; Entra
    keeps its audit log 30). Pruned by ``idsync serve``'s scheduler and as rejections
    are recorded."""

    rejected_token_limit: int = 30
    """Requests from one address whose credentials one kind of refusal (one token prefix)
    may get per window; past it they are answered 429 without being checked."""

    rejected_token_window_seconds: int = 60

    sign_in_lock_after: int = 5
    """Failed console sign-ins in a row that lock an operator's account."""

    sign_in_locked_minutes: int = 15
    """How long a locked account stays locked (or until a new password is set)."""

    sign_in_address_limit: int = 20
    """Failed sign-ins from one address, whatever the account, from which that address is
    refused; counted in windows ``sign_in_locked_minutes`` long, this one and the one
    before."""

    oidc_issuer: str = ""
    """An OpenID Connect provider operators may sign in to the console with, by its issuer
    (Entra ID: ``https://login.microsoftonline.com/<tenant id>/v2.0``); empty: passwords only."""

    oidc_client_id: str = ""
    """idsync's application (client) id at that provider."""

    oidc_client_secret_file: str = ""
    """A file holding the client secret alone (empty: a public client, PKCE only)."""

    oidc_name: str = "OpenID Connect"
    """The provider's name on the sign-in button, e.g. ``Microsoft Entra ID``."""

    oidc_ca_file: str = ""
    """PEM bundle to trust for the provider (empty: the system's)."""

    smtp_host: str = ""
    """The SMTP server alert e-mails go through; empty: no e-mail is sent."""

    smtp_port: int = 587

    smtp_from: str = ""
    """The alerts' From address; empty: ``idsync@<this host's name>``."""

    smtp_starttls: bool = True
    """Upgrade the connection with STARTTLS before sending (``false`` for a local relay)."""

    smtp_user: str = ""
    """Sign in to the SMTP server with this user (and the password in ``smtp_password_file``)."""

    smtp_password_file: str = ""
    """A file that holds the SMTP password alone: a password never stands in the environment."""

    smtp_timeout_seconds: float = 10.0

    @property
    def callback_base(self) -> str:
        """The base URL the admin-consent callback is reached at; empty when unknown."""
        return (self.public_url or self.serve_url).rstrip("/")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from ``IDSYNC_<FIELD>`` variables, then apply non-None overrides."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in fields(cls):
            raw = env.get(f"IDSYNC_{field.name.upper()}")
            if raw is None or raw == "":
                continue
            values[field.name] = _CONVERT.get(str(field.type), str)(raw)
        settings = cls(**values)
        return settings.with_overrides(**overrides)

    def with_overrides(self, **overrides: Any) -> Settings:
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


def user_config_folder(environ: Mapping[str, str] | None = None) -> Path:
    """idsync's folder under ``$XDG_CONFIG_HOME`` (``~/.config`` when unset, or when
    not absolute, as the XDG Base Directory Specification says)."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME", "")
    return (Path(base) if os.path.isabs(base) else Path.home() / ".config") / "idsync"
