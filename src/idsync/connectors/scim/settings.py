"""What the SCIM connector needs to know: the application's SCIM base URL, its token, how to talk."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from idsync.connectors.retry import RetryPolicy
from idsync.connectors.scim.compat import Compat, parse_compat
from idsync.health.catalogue import INVALID_INTEGRATION, IdsyncError

_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


@dataclass(frozen=True, slots=True, repr=False)
class ScimSettings:
    """One SCIM integration's connection settings (a push target or a SCIM source)."""

    url: str
    """The SCIM base URL, e.g. ``https://app.example.com/scim/v2`` (RFC 7644 §3.13)."""
    token: str
    integration: str = "scim"
    """The integration's name, as administrators know it (used in every error message)."""
    ca_file: str | None = None
    """PEM bundle to trust; None: the system trust store."""
    tls_verify: bool = True
    """False only as an explicit, loudly warned opt-out (``--insecure-skip-tls-verify``)."""
    timeout: float = 30.0
    concurrency: int = 4
    """Requests in flight at once when Bulk is not used."""
    page_size: int = 100
    """``count`` of list requests (the application may answer with fewer)."""
    member_batch: int = 500
    """Members per PATCH operation at most (the byte limit applies as well)."""
    compat: Compat = field(default_factory=Compat)
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def __post_init__(self) -> None:
        _require_url(self.url)
        _require(bool(self.token.strip()), "the token is empty", "Give --token-file FILE.")
        _require(
            not any(ch.isspace() for ch in self.token.strip()),
            "the token contains whitespace",
            "The token file must hold the bearer token alone, on one line.",
        )
        _require(self.timeout > 0, "timeout must be positive", "Use seconds, e.g. 30.")
        _require(1 <= self.concurrency <= 64, "concurrency must be 1…64", "Start with 4.")
        _require(1 <= self.page_size <= 1000, "page_size must be 1…1000", "Use e.g. 100.")
        _require(1 <= self.member_batch <= 10_000, "member_batch must be 1…10000", "Use 500.")
        _require(
            self.ca_file is None or self.tls_verify,
            "a CA file and --insecure-skip-tls-verify exclude each other",
            "Keep verification on and give --ca-file.",
        )

    @property
    def base(self) -> str:
        return self.url.rstrip("/")

    @property
    def app(self) -> str:
        """How messages name the application: by its host."""
        return f"The SCIM application at {urlsplit(self.url).netloc}"

    def __repr__(self) -> str:
        return (
            f"ScimSettings(integration={self.integration!r}, url={self.url!r}, token=<hidden>, "
            f"ca_file={self.ca_file!r}, tls_verify={self.tls_verify!r}, "
            f"concurrency={self.concurrency}, compat={self.compat.describe()!r})"
        )


_OPTIONS = ("ca_file", "tls_verify", "timeout", "concurrency", "page_size", "member_batch")


def scim_settings(name: str, settings: dict[str, Any], secrets: dict[str, Any]) -> ScimSettings:
    """Validated settings from an integration's stored settings and secrets (token in
    ``secrets["token"]``); raises INVALID_INTEGRATION on bad values."""
    url = settings.get("url")
    token = secrets.get("token")
    _require(isinstance(url, str) and bool(url), "the SCIM URL is missing", "Give --url.")
    _require(isinstance(token, str), "the token is missing", "Give --token-file FILE.")
    options = {k: settings[k] for k in _OPTIONS if settings.get(k) is not None}
    try:
        return ScimSettings(
            url=str(url),
            token=str(token).strip(),
            integration=name,
            compat=parse_compat(settings.get("compat")),
            **options,
        )
    except TypeError as exc:  # a value of the wrong type in stored settings
        raise IdsyncError(
            INVALID_INTEGRATION, reason=str(exc), hint="Check idsync integration show."
        ) from None


def _require(condition: bool, reason: str, hint: str) -> None:
    if not condition:
        raise IdsyncError(INVALID_INTEGRATION, reason=reason, hint=hint)


def _require_url(url: str) -> None:
    # The token travels with every request: plain HTTP only to this machine.
    parts = urlsplit(url)
    _require(
        parts.scheme in ("https", "http") and bool(parts.hostname),
        f"the SCIM URL {url!r} is not an http(s) URL",
        "Use the application's SCIM base URL, e.g. https://app.example.com/scim/v2.",
    )
    _require(
        parts.scheme == "https" or (parts.hostname or "") in _LOOPBACK,
        f"the SCIM URL {url!r} is plain HTTP to another host: the token would travel in clear",
        "Use the application's https:// URL.",
    )
    _require(
        not parts.query and not parts.fragment and not parts.username,
        f"the SCIM URL {url!r} has a query, fragment or credentials",
        "Give the base URL only; the token goes in --token-file.",
    )
