"""What the SCIM connector needs to know: the application's SCIM base URL, its token, how to talk."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from idsync.connectors.description import setting, settings_of
from idsync.connectors.retry import RetryPolicy
from idsync.connectors.scim.compat import Compat, parse_compat
from idsync.errors.catalogue import INVALID_INTEGRATION, IdsyncError

_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


@dataclass(frozen=True, slots=True, repr=False)
class ScimSettings:
    """One SCIM integration's connection settings (a push target or a SCIM source)."""

    url: str = setting(
        help="The application's SCIM base URL (…/scim/v2).",
        metavar="URL",
        example="https://app.example.com/scim/v2",
    )
    """The SCIM base URL, e.g. ``https://app.example.com/scim/v2`` (RFC 7644 §3.13)."""
    token: str = setting(
        help="File holding the application's bearer token (- : standard input); stored encrypted.",
        flag="--token-file",
        secret=True,
        example="app-token-1",
    )
    integration: str = "scim"
    """The integration's name, as administrators know it (used in every error message)."""
    ca_file: str | None = setting(
        None,
        kind="path",
        help="PEM CA bundle to trust (default: the system's).",
        example="/etc/ssl/corp-root-ca.pem",
        rereads=False,
    )
    """PEM bundle to trust; None: the system trust store."""
    tls_verify: bool = setting(
        True,
        help="Check the application's certificate. --insecure-skip-tls-verify is for testing "
        "only: anyone on the path can read the token.",
        flag="--verify-tls",
        off_flag="--insecure-skip-tls-verify",
        rereads=False,
    )
    """False only as an explicit, loudly warned opt-out (``--insecure-skip-tls-verify``)."""
    timeout: float = setting(
        30.0, help="Seconds to wait for each response.", example="60", rereads=False
    )
    concurrency: int = setting(
        4,
        help="Requests in flight at once, Bulk requests included (1-64).",
        example="8",
        rereads=False,
    )
    """Requests in flight at once: single requests, or Bulk requests (RFC 7644 §3.7)."""
    page_size: int = setting(
        100, help="Objects asked for per list request (1-1000).", example="200", rereads=False
    )
    """``count`` of list requests (the application may answer with fewer)."""
    member_batch: int = setting(
        500, help="Members per group PATCH at most (1-10000).", example="100", rereads=False
    )
    """Members per PATCH operation at most (the byte limit applies as well)."""
    compat: Compat = setting(
        default_factory=Compat,
        kind="list",
        separator=",",
        help="A preset or switch=value for the application's known deviations, e.g. "
        "entra-compatible or bulk=off; repeatable or comma-separated, later words win "
        "(docs/scim-push.md).",
        metavar="WORDS",
        example="entra-compatible,filter=off",
    )
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


def scim_settings(
    name: str, settings: Mapping[str, Any], secrets: Mapping[str, Any]
) -> ScimSettings:
    """Validated settings from an integration's stored settings and secrets (token in
    ``secrets["token"]``); raises INVALID_INTEGRATION on bad values."""
    known = {s.key for s in settings_of(ScimSettings) if not s.secret}
    unknown = sorted(set(settings) - known)
    _require(
        not unknown,
        f"unknown SCIM settings {', '.join(unknown)}",
        "Known: " + ", ".join(sorted(known)) + ".",
    )
    url = settings.get("url")
    token = secrets.get("token")
    _require(isinstance(url, str) and bool(url), "the SCIM URL is missing", "Give --url.")
    _require(isinstance(token, str), "the token is missing", "Give --token-file FILE.")
    options = {k: v for k, v in settings.items() if k not in ("url", "compat") and v is not None}
    try:
        return ScimSettings(
            url=str(url),
            token=str(token).strip(),
            integration=name,
            compat=parse_compat(_compat_words(settings.get("compat"))),
            **options,
        )
    except TypeError as exc:  # a value of the wrong type in stored settings
        raise IdsyncError(
            INVALID_INTEGRATION,
            reason=str(exc),
            hint=f"Check the stored settings: idsync integration show {shlex.quote(name)}",
        ) from None


def _compat_words(value: Any) -> Any:
    # Earlier versions stored {"preset": name, switch: value}: the preset comes first.
    if isinstance(value, dict) and "preset" in value:
        rest = {k: v for k, v in value.items() if k != "preset"}
        return [str(value["preset"]), *(f"{k}={v}" for k, v in rest.items())]
    return value


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
