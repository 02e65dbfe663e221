"""An administrator's own sign-in to the tenant, to read what the integration's
application cannot: the directory audit log while its enterprise application is gone
or has lost its permissions.

The OAuth 2.0 authorization code flow with PKCE, through msal's
``PublicClientApplication.acquire_token_interactive``: msal listens on a loopback
port, the administrator opens the sign-in link in any browser (we print it rather
than open one: idsync often runs on a server), and msal redeems the code with its
verifier. The client is Microsoft Graph Command Line Tools, a public client every
tenant has, asking for the delegated ``AuditLog.Read.All`` only; the token is used
for the reads asked for and never stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import httpx
import msal

from idsync.connectors.entra import directory
from idsync.connectors.entra.auth import MsalHttp
from idsync.connectors.entra.client import GraphClient, JsonObject
from idsync.connectors.entra.settings import EntraSettings
from idsync.connectors.tls import trust

SIGN_IN_CLIENT_ID = "14d82eec-204b-4c2f-b7e8-296a70dab67e"
"""Microsoft Graph Command Line Tools (what ``Connect-MgGraph`` signs in with)."""
AUDIT_PERMISSION = "AuditLog.Read.All"


class SignInError(Exception):
    """The sign-in did not give a token: what the identity platform said, or the wait."""


def sign_in(
    settings: EntraSettings,
    show: Callable[[str], None],
    *,
    timeout: float,
    client_id: str = SIGN_IN_CLIENT_ID,
) -> str:
    """An access token of the administrator who signs in through the link ``show`` is
    given (raises SignInError)."""
    with httpx.Client(
        verify=trust(settings.ca_file, settings.integration), timeout=settings.timeout
    ) as http:
        app = msal.PublicClientApplication(
            client_id,
            authority=settings.authority_url,
            http_client=MsalHttp(http),
            instance_discovery=settings.uses_microsoft_authority,
        )
        try:
            result: dict[str, Any] = app.acquire_token_interactive(
                [f"{settings.graph_base}/{AUDIT_PERMISSION}"],
                prompt="select_account",
                timeout=timeout,
                auth_uri_callback=show,
            )
        except RuntimeError as exc:  # msal's BrowserInteractionTimeoutError and kin
            raise SignInError(str(exc) or type(exc).__name__) from exc
    token = result.get("access_token")
    if not isinstance(token, str):
        said = str(result.get("error_description") or result.get("error") or "no token")
        raise SignInError(said.splitlines()[0])
    return token


def directory_audits(
    settings: EntraSettings, token: str, *, activity: str, since: datetime
) -> Iterator[JsonObject]:
    """The directory audit log, read with the administrator's token."""
    client = GraphClient(settings, bearer=token)
    try:
        yield from directory.directory_audits(
            client, activity=activity, since=since, top=50, page_size=settings.page_size
        )
    finally:
        client.close()
