"""The SCIM connector: any SCIM 2.0 application as a push target, or a SCIM server as a source.

``scim_settings(name, settings, secrets)`` validates an integration's settings;
``ScimTarget(settings, db, integration_id)`` pushes (with a ledger of what it
pushed, in ``push_objects`` / ``push_members``); ``ScimSource(settings)`` reads.
"""

from idsync.connectors.scim.compat import PRESETS, Compat, parse_compat
from idsync.connectors.scim.discovery import Capabilities
from idsync.connectors.scim.settings import ScimSettings, scim_settings
from idsync.connectors.scim.source import ScimSource
from idsync.connectors.scim.target import ScimTarget

__all__ = [
    "PRESETS",
    "Capabilities",
    "Compat",
    "ScimSettings",
    "ScimSource",
    "ScimTarget",
    "parse_compat",
    "scim_settings",
]
