"""What the Entra connector needs to know: the tenant, the app registration, where to reach them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from idsync.connectors.description import setting, settings_of
from idsync.connectors.retry import RetryPolicy
from idsync.errors.catalogue import INVALID_INTEGRATION, IdsyncError

MICROSOFT_AUTHORITY = "https://login.microsoftonline.com"
MICROSOFT_GRAPH = "https://graph.microsoft.com"

# Hosts whose authorities msal may validate through Microsoft's instance discovery
# endpoint; any other host (a sovereign cloud proxy, the local emulator) is trusted as
# configured and discovered from its own /v2.0/.well-known/openid-configuration.
MICROSOFT_LOGIN_HOSTS = frozenset(
    {
        "login.microsoftonline.com",
        "login.microsoftonline.us",
        "login.chinacloudapi.cn",
        "login.microsoft.com",
        "login.windows.net",
        "login.partner.microsoftonline.cn",
    }
)


@dataclass(frozen=True, slots=True, repr=False)
class ClientCertificate:
    """A certificate credential: the PEM private key and the SHA-1 thumbprint Entra shows for it."""

    private_key: str = setting(
        help="PEM file of the certificate's private key (- : standard input); stored encrypted.",
        flag="--certificate-key",
        example="-----BEGIN PRIVATE KEY-----",
    )
    thumbprint: str = setting(
        help="SHA-1 thumbprint of that certificate, as the app registration shows it.",
        flag="--certificate-thumbprint",
        file=False,
        metavar="HEX",
        example="5CA4CAEBC6F0B65C1CFD5D1D3AF79F1E2F1A8F9B",
    )

    def __repr__(self) -> str:
        return f"ClientCertificate(thumbprint={self.thumbprint!r}, private_key=<hidden>)"


@dataclass(frozen=True, slots=True, repr=False)
class EntraSettings:
    """One Entra ID integration's connection settings (client credentials flow)."""

    tenant_id: str = setting(
        help="Directory (tenant) id.", metavar="ID", example="72f988bf-86f1-41af-91ab-2d7cd011db47"
    )
    client_id: str = setting(
        help="Application (client) id of the app registration.",
        metavar="ID",
        example="00000000-0000-0000-0000-00000000c1d5",
    )
    client_secret: str | None = setting(
        None,
        help="File holding the client secret (- : standard input); stored encrypted. Or use a "
        "certificate.",
        flag="--client-secret-file",
        secret=True,
        excludes=("certificate",),
        example="client-secret-value",
    )
    certificate: ClientCertificate | None = setting(
        None, help="A certificate credential.", secret=True, excludes=("client_secret",)
    )
    integration: str = "entra"
    """The integration's name, as administrators know it (used in every error message)."""
    authority: str = setting(
        MICROSOFT_AUTHORITY,
        help="Login endpoint (another cloud's, or the emulator's).",
        metavar="URL",
        example="https://login.microsoftonline.us",
    )
    graph_url: str = setting(
        MICROSOFT_GRAPH,
        help="Microsoft Graph endpoint.",
        metavar="URL",
        example="https://graph.microsoft.us",
    )
    ca_file: str | None = setting(
        None,
        kind="path",
        help="PEM CA bundle to trust for both endpoints (default: the system's).",
        example="/etc/ssl/corp-root-ca.pem",
        rereads=False,
    )
    """PEM bundle to trust for both hosts; None: the system trust store."""
    page_size: int = setting(
        999, help="Objects per Graph page (1-999).", example="500", rereads=False
    )
    """Sent as ``Prefer: odata.maxpagesize`` on delta queries and as ``$top`` on lists."""
    timeout: float = setting(
        30.0, help="Seconds to wait for each response.", example="60", rereads=False
    )
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    extra_user_attributes: tuple[str, ...] = setting(
        (),
        flag="--extra-user-attribute",
        help="A Graph user property to read on top of the defaults, for custom mappings; "
        "repeatable.",
        metavar="PROPERTY",
        example="companyName",
    )
    """User properties to read on top of the defaults (Graph names, e.g. ``companyName``)."""

    def __post_init__(self) -> None:
        _require(bool(self.tenant_id.strip()), "the tenant id is empty", "Give --tenant-id.")
        _require(bool(self.client_id.strip()), "the client id is empty", "Give --client-id.")
        _require(
            (self.client_secret is None) != (self.certificate is None),
            "give either a client secret or a certificate, exactly one",
            "Use --client-secret-file FILE, or --certificate-key FILE and "
            "--certificate-thumbprint HEX.",
        )
        for name in ("authority", "graph_url"):
            _require_https(name, getattr(self, name))
        _require(1 <= self.page_size <= 999, "page_size must be 1…999", "Graph pages hold 999.")
        _require(self.timeout > 0, "timeout must be positive", "Use seconds, e.g. 30.")

    @property
    def system(self) -> str:
        return f"Entra ID tenant {self.tenant_id}"

    @property
    def authority_url(self) -> str:
        """``{authority}/{tenant}``; an authority given with the tenant already is taken as is."""
        base = self.authority.rstrip("/")
        if base.lower().endswith(f"/{self.tenant_id.lower()}"):
            return base
        return f"{base}/{self.tenant_id}"

    @property
    def graph_base(self) -> str:
        return self.graph_url.rstrip("/")

    @property
    def graph_scope(self) -> str:
        # Client credentials ask for the resource's static permissions with "/.default"
        # (Microsoft identity platform: OAuth 2.0 client credentials flow).
        return f"{self.graph_base}/.default"

    @property
    def consent_url(self) -> str:
        # The admin consent endpoint re-creates a deleted service principal
        # (Microsoft identity platform: admin consent).
        return f"{self.authority_url}/adminconsent?client_id={self.client_id}"

    @property
    def uses_microsoft_authority(self) -> bool:
        return (urlsplit(self.authority).hostname or "").lower() in MICROSOFT_LOGIN_HOSTS

    def client_credential(self) -> str | dict[str, str]:
        """What msal's ``ConfidentialClientApplication`` takes as ``client_credential``."""
        if self.certificate is not None:
            return {
                "private_key": self.certificate.private_key,
                "thumbprint": self.certificate.thumbprint,
            }
        assert self.client_secret is not None  # __post_init__ guarantees one of the two
        return self.client_secret

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in self._public_fields().items())
        return f"EntraSettings({shown})"

    def _public_fields(self) -> dict[str, Any]:
        credential = "<hidden>" if self.client_secret is not None else None
        return {
            "integration": self.integration,
            "tenant_id": self.tenant_id,
            "client_id": self.client_id,
            "client_secret": credential,
            "certificate": self.certificate,
            "authority": self.authority,
            "graph_url": self.graph_url,
            "ca_file": self.ca_file,
        }


def entra_settings(
    name: str, settings: Mapping[str, Any], secrets: Mapping[str, Any]
) -> EntraSettings:
    """Validated settings from an integration's stored settings and secrets (the client
    secret in ``secrets["client_secret"]``, a certificate in ``secrets["certificate"]``)."""
    known = {s.key for s in settings_of(EntraSettings) if not s.secret}
    unknown = sorted(set(settings) - known)
    _require(
        not unknown,
        f"unknown Entra ID settings {', '.join(unknown)}",
        "Known: " + ", ".join(sorted(known)) + ".",
    )
    for key in ("tenant_id", "client_id"):
        _require(
            isinstance(settings.get(key), str),
            f"{key} is missing",
            f"Give --{key.replace('_', '-')}.",
        )
    options = {k: v for k, v in settings.items() if v is not None}
    if "extra_user_attributes" in options:
        options["extra_user_attributes"] = tuple(options["extra_user_attributes"])
    return EntraSettings(
        client_secret=secrets.get("client_secret"),
        certificate=_certificate(secrets.get("certificate")),
        integration=name,
        **options,
    )


def _certificate(value: Any) -> ClientCertificate | None:
    if value is None:
        return None
    parts = value if isinstance(value, Mapping) else {}
    _require(
        bool(parts.get("private_key")) and bool(parts.get("thumbprint")),
        "a certificate needs both its private key and its thumbprint",
        "Give --certificate-key FILE and --certificate-thumbprint HEX.",
    )
    return ClientCertificate(str(parts["private_key"]), str(parts["thumbprint"]))


def _require(condition: bool, reason: str, hint: str) -> None:
    if not condition:
        raise IdsyncError(INVALID_INTEGRATION, reason=reason, hint=hint)


def _require_https(name: str, url: str) -> None:
    # Tokens and secrets travel to both URLs: never over plain HTTP.
    parts = urlsplit(url)
    _require(
        parts.scheme == "https" and bool(parts.hostname),
        f"{name} {url!r} is not an https:// URL",
        f"Use e.g. {MICROSOFT_AUTHORITY if name == 'authority' else MICROSOFT_GRAPH}.",
    )
