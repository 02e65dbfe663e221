"""Connectors: the directories and applications a cycle reads from and writes to.

``base`` holds the interface every connector implements and ``errors`` the
failures the engine knows how to react to; each connector is a package
(``entra/``, ``hub/``, …) that the engine reaches only through that interface.
"""
