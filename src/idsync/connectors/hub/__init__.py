"""The hub itself as a connector: the target of directory sync, the source of a push."""

from idsync.connectors.hub.source import HubSource
from idsync.connectors.hub.target import HubTarget

__all__ = ["HubSource", "HubTarget"]
