"""Which connector serves which kind of integration: the one place that knows them all.

An integration either brings a directory into the organisation (direction
``source``: Entra ID, LDAP/AD, a SCIM server, a file → the hub) or pushes the
organisation out to an application (direction ``push``: the hub → a SCIM app).
Connectors are imported only when an integration of their kind is opened.
"""

from __future__ import annotations

from typing import Any

from idsync.connectors.base import Source, Target
from idsync.connectors.hub import HubSource, HubTarget
from idsync.health.catalogue import INVALID_INTEGRATION, IdsyncError
from idsync.store.database import Database
from idsync.store.integrations import IntegrationRecord

SOURCE_KINDS = ("entra", "ldap", "scim", "file")
PUSH_KINDS = ("scim",)
DIRECTIONS = ("source", "push")
NEEDS_SECRETS = frozenset({"entra", "ldap", "scim"})
"""Kinds that cannot run without credentials (a file needs none)."""


def validate(
    kind: str, direction: str, name: str, settings: dict[str, Any], secrets: dict[str, Any]
) -> Any:
    """The connector's validated settings (raises INVALID_INTEGRATION on bad values)."""
    kinds = PUSH_KINDS if direction == "push" else SOURCE_KINDS
    if direction not in DIRECTIONS or kind not in kinds:
        raise IdsyncError(
            INVALID_INTEGRATION,
            reason=f"idsync cannot {'push to' if direction == 'push' else 'read from'} {kind!r}",
            hint=f"Sources: {', '.join(SOURCE_KINDS)}; push targets: {', '.join(PUSH_KINDS)}.",
        )
    if kind == "entra":
        return entra_settings(name, settings, secrets)
    if kind == "ldap":
        from idsync.connectors.ldap import LdapSettings

        return LdapSettings.from_integration(name, settings, secrets)
    if kind == "scim":
        from idsync.connectors.scim import scim_settings

        return scim_settings(name, settings, secrets)
    from idsync.connectors.file import file_settings

    return file_settings(name, settings)


def open_source(db: Database, integration: IntegrationRecord, secrets: dict[str, Any]) -> Source:
    if integration.direction == "push":
        return HubSource(db, integration.org_id)
    settings = validate(
        integration.kind, integration.direction, integration.name, integration.settings, secrets
    )
    if integration.kind == "entra":
        from idsync.connectors.entra import EntraSource

        return EntraSource(settings)
    if integration.kind == "ldap":
        from idsync.connectors.ldap import LdapSource

        return LdapSource(settings)
    if integration.kind == "scim":
        from idsync.connectors.scim import ScimSource

        return ScimSource(settings)
    from idsync.connectors.file import FileSource

    return FileSource(settings)


def open_target(db: Database, integration: IntegrationRecord, secrets: dict[str, Any]) -> Target:
    """Sources sync into the organisation's own store; a push writes to its application."""
    if integration.direction != "push":
        return HubTarget(db, integration.org_id, integration.id)
    from idsync.connectors.scim import ScimTarget

    settings = validate(
        integration.kind, integration.direction, integration.name, integration.settings, secrets
    )
    return ScimTarget(settings, db, integration.id)


def entra_settings(name: str, settings: dict[str, Any], secrets: dict[str, Any]) -> Any:
    """Validated Entra settings (raises INVALID_INTEGRATION on bad values)."""
    from idsync.connectors.entra.settings import ClientCertificate, EntraSettings

    certificate = secrets.get("certificate")
    options = {
        k: v
        for k, v in settings.items()
        if k in ("authority", "graph_url", "ca_file", "page_size", "timeout")
    }
    return EntraSettings(
        tenant_id=settings["tenant_id"],
        client_id=settings["client_id"],
        client_secret=secrets.get("client_secret"),
        certificate=ClientCertificate(**certificate) if certificate else None,
        integration=name,
        **{k: v for k, v in options.items() if v is not None},
    )
