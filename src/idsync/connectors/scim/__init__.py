"""The SCIM connector: any SCIM 2.0 application as a push target, or a SCIM server as a source.

``scim_settings(name, settings, secrets)`` validates an integration's settings;
``ScimTarget(settings, db, integration_id)`` pushes (with a ledger of what it
pushed, in ``push_objects`` / ``push_members``); ``ScimSource(settings)`` reads.
"""

from idsync.connectors.description import Connector
from idsync.connectors.scim.compat import PRESETS, Compat, parse_compat
from idsync.connectors.scim.discovery import Capabilities
from idsync.connectors.scim.mappings import PUSH, SOURCE
from idsync.connectors.scim.settings import ScimSettings, scim_settings
from idsync.connectors.scim.source import ScimSource
from idsync.connectors.scim.target import ScimTarget

CONNECTOR = Connector(
    kind="scim",
    title="SCIM 2.0 application",
    summary="Connect a SCIM 2.0 application: push the organisation to it, or read it as a source.",
    directions=("push", "source"),
    settings_class=ScimSettings,
    build=scim_settings,
    default_name="SCIM application",
    default_mappings={"source": SOURCE, "push": PUSH},
    open_source=ScimSource,
    open_target=ScimTarget,
    # Objects already in the application are another integration's or someone else's:
    # left alone (IDS-409-013) unless the administrator says --adopt-existing.
    job_defaults={"push": {"adopt_existing": False}},
)

__all__ = [
    "CONNECTOR",
    "PRESETS",
    "Capabilities",
    "Compat",
    "ScimSettings",
    "ScimSource",
    "ScimTarget",
    "parse_compat",
    "scim_settings",
]
