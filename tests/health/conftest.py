"""The sync tests' fixtures: an Entra emulator and an integration connected to it."""

from tests.sync.conftest import connected, emulator

__all__ = ["connected", "emulator"]
