"""An earlier migration's module, for a later one that reuses or restores what it made.

Alembic loads revisions by path, not as modules of a package, so a revision file cannot be
imported by name; this loads one from the ``versions`` folder."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

VERSIONS = Path(__file__).with_name("versions")


def earlier_revision(filename: str) -> ModuleType:
    """The module of ``versions/filename`` (e.g. ``0014_memberships_org_lock.py``)."""
    path = VERSIONS / filename
    spec = importlib.util.spec_from_file_location(f"idsync_migration_{path.stem}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
