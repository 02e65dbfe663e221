"""The Entra ID connector: users and groups from Microsoft Graph v1.0, app-only via msal.

``EntraSource`` implements :class:`idsync.contract.protocols.Source`; the rest of the
package is how: ``settings`` (what to connect to), ``auth`` (client credentials
tokens), ``client`` (Graph requests, retries, errors), ``users`` / ``groups`` (Graph
JSON to source objects), ``directory`` (service principals and the audit log).
"""

from typing import Any

from idsync.connectors.description import Connector, ScopingShortcut
from idsync.connectors.entra.mappings import GRAPH
from idsync.connectors.entra.settings import ClientCertificate, EntraSettings, entra_settings
from idsync.contract.protocols import Source


def _open(settings: EntraSettings) -> Source:
    # Imported here, when an integration is opened: the source brings msal (with requests
    # and PyJWT), a fifth of a second that commands which only describe or list
    # integrations should not pay (tests/test_architecture.py keeps it so).
    from idsync.connectors.entra.source import EntraSource

    return EntraSource(settings)


def _enabled_only(on: Any) -> dict[str, list[Any]]:
    return {"user": [{"attribute": "accountEnabled", "operator": "IS_TRUE"}]} if on else {}


CONNECTOR = Connector(
    kind="entra",
    title="Microsoft Entra ID",
    summary="Connect an Entra ID tenant: users and groups sync into the organisation by "
    "Graph delta queries.",
    directions=("source",),
    settings_class=EntraSettings,
    build=entra_settings,
    default_name="Entra ID",
    default_mappings={"source": GRAPH},
    open_source=_open,
    scoping_shortcuts=(
        ScopingShortcut(
            "--scope-group",
            "Provision only this group and its direct user members (Entra's \"assigned "
            'users and groups"); repeatable, by object id.',
            repeatable=True,
            rules=lambda ids: {"groups": list(ids)} if ids else {},
        ),
        ScopingShortcut(
            "--enabled-only",
            "Only provision enabled accounts.",
            repeatable=False,
            rules=_enabled_only,
        ),
    ),
)

__all__ = ["CONNECTOR", "ClientCertificate", "EntraSettings", "entra_settings"]
