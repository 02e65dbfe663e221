"""Which connector serves which kind of integration: each connector package's description.

An integration either brings a directory into the organisation (direction
``source``: Entra ID, LDAP/AD, a SCIM server, a file → the hub) or pushes the
organisation out to an application (direction ``push``: the hub → a SCIM app).
Everything else about a kind (its settings, their validation, how to open it) is
in its package's ``CONNECTOR`` (:class:`idsync.connectors.description.Connector`).
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any

from idsync.connectors.description import DIRECTIONS, Connector
from idsync.connectors.hub import HubSource, HubTarget
from idsync.contract.protocols import Source, Target
from idsync.errors.catalogue import INVALID_INTEGRATION, IdsyncError
from idsync.store.database import Database
from idsync.store.integrations import IntegrationRecord

KINDS = ("entra", "ldap", "scim", "file")
"""The connector packages under idsync.connectors, in the order forms list them."""


@cache
def connector(kind: str) -> Connector:
    """The description of a kind (its package is imported on first use)."""
    if kind not in KINDS:
        raise IdsyncError(
            INVALID_INTEGRATION,
            reason=f"idsync has no connector {kind!r}",
            hint=f"Kinds: {', '.join(KINDS)}.",
        )
    described: Connector = importlib.import_module(f"idsync.connectors.{kind}").CONNECTOR
    return described


def connectors() -> tuple[Connector, ...]:
    return tuple(connector(kind) for kind in KINDS)


def _pushes_to() -> str:
    return ", ".join(c.kind for c in connectors() if "push" in c.directions)


def validate(
    kind: str, direction: str, name: str, settings: dict[str, Any], secrets: dict[str, Any]
) -> Any:
    """The connector's validated settings (raises INVALID_INTEGRATION on bad values)."""
    described = connector(kind)
    if direction not in DIRECTIONS or direction not in described.directions:
        raise IdsyncError(
            INVALID_INTEGRATION,
            reason=f"idsync cannot {'push to' if direction == 'push' else 'read from'} {kind!r}",
            hint=f"Sources: {', '.join(KINDS)}; push targets: {_pushes_to()}.",
        )
    return described.build(name, settings, secrets)


def open_source(db: Database, integration: IntegrationRecord, secrets: dict[str, Any]) -> Source:
    if integration.direction == "push":
        return HubSource(db, integration.org_id)
    settings = validate(
        integration.kind, integration.direction, integration.name, integration.settings, secrets
    )
    opener = connector(integration.kind).open_source
    assert opener is not None  # validate() accepted the direction
    source: Source = opener(settings)
    return source


def open_target(db: Database, integration: IntegrationRecord, secrets: dict[str, Any]) -> Target:
    """Sources sync into the organisation's own store; a push writes to its application."""
    if integration.direction != "push":
        return HubTarget(db, integration.org_id, integration.id)
    settings = validate(
        integration.kind, integration.direction, integration.name, integration.settings, secrets
    )
    opener = connector(integration.kind).open_target
    assert opener is not None  # validate() accepted the direction
    target: Target = opener(settings, db, integration.id)
    return target
