"""The sync tests' fixtures (an Entra emulator and an integration connected to it), and
which tests run on both databases.

Diagnosis, its findings and debug info are stored, so test_doctor.py and
test_debug_info.py run on SQLite and PostgreSQL. Alerts, validation, repair and the
breaks and the sign-in only read and write through the same stores and services: they run on SQLite,
which keeps the suite's time in bounds (each starts an emulator and runs cycles).
"""

from __future__ import annotations

import pytest

from tests.sync.conftest import connected, emulator

__all__ = ["connected", "emulator"]

_DATABASE_PARAMETERS = ("database_url", "private_database")
_ONE_DATABASE = {
    "test_alerts.py",
    "test_validate.py",
    "test_repair.py",
    "test_breaks.py",
    "test_who.py",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    dropped = [item for item in items if _second_database(item)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item not in dropped]


def _second_database(item: pytest.Item) -> bool:
    callspec = getattr(item, "callspec", None)
    return (
        item.path.name in _ONE_DATABASE
        and callspec is not None
        and "postgresql" in (callspec.params.get(name) for name in _DATABASE_PARAMETERS)
    )
