"""Which connector serves which kind of integration: the one place that knows them all."""

from __future__ import annotations

from typing import Any

from idsync.connectors.base import Source, Target
from idsync.connectors.hub import HubTarget
from idsync.health.catalogue import INVALID_INTEGRATION, IdsyncError
from idsync.store.database import Database
from idsync.store.integrations import IntegrationRecord

SOURCE_KINDS = ("entra",)


def open_source(integration: IntegrationRecord, secrets: dict[str, Any]) -> Source:
    if integration.kind == "entra":
        from idsync.connectors.entra import EntraSource

        return EntraSource(entra_settings(integration.name, integration.settings, secrets))
    raise IdsyncError(
        INVALID_INTEGRATION,
        reason=f"integrations of kind {integration.kind!r} cannot be synced yet",
        hint="Supported sources: " + ", ".join(SOURCE_KINDS),
    )


def open_target(db: Database, integration: IntegrationRecord) -> Target:
    """Sources sync into the organisation's own store."""
    return HubTarget(db, integration.org_id, integration.id)


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
