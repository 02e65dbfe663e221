"""Validate an integration (``idsync validate``): the checklist of ``health/validate.py``
for an integration named by id or name. The faces get its types from here."""

from __future__ import annotations

from idsync.config import Settings
from idsync.health.validate import CHECKS, Check, Validation, validate
from idsync.manage.integrations import get_integration
from idsync.store.database import Database

__all__ = ["CHECKS", "Check", "Validation", "validate_integration"]


def validate_integration(db: Database, config: Settings, ref: str) -> Validation:
    """Every check of the integration (raises IDS-404 when there is no such integration)."""
    return validate(db, config, get_integration(db, ref))
