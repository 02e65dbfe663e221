"""The hub: an organisation's identity store, served over SCIM and driven by the sync engine.

Operations here take a ``Tenant`` (which organisation, with which schemas) and
plain JSON-like values, and return plain values; the HTTP layer and the sync
engine's hub target both call them.
"""
