"""The ``hub`` target: a cycle's writes into the organisation's own store."""

from idsync.connectors.hub.target import HubTarget

__all__ = ["HubTarget"]
