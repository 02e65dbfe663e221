"""Alert settings as stored: one row per organisation (see idsync.manage.alerts)."""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy import Connection

from idsync.store.models import ALERT_SETTINGS
from idsync.store.types import utcnow


@dataclass(frozen=True)
class AlertSettingsRecord:
    org_id: str
    webhook_url: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)
    """Encrypted; never shown."""
    webhook_enabled: bool = False
    recipients: tuple[str, ...] = ()
    email_enabled: bool = False


def get_settings(conn: Connection, org_id: str) -> AlertSettingsRecord:
    """The org's alert settings; nothing configured when it has no row."""
    row = conn.execute(sa.select(ALERT_SETTINGS).where(ALERT_SETTINGS.c.org_id == org_id)).first()
    if row is None:
        return AlertSettingsRecord(org_id)
    return AlertSettingsRecord(
        org_id=org_id,
        webhook_url=row.webhook_url,
        webhook_secret=row.webhook_secret,
        webhook_enabled=bool(row.webhook_enabled),
        recipients=tuple((row.email_to or {}).get("recipients", ())),
        email_enabled=bool(row.email_enabled),
    )


def save_settings(conn: Connection, record: AlertSettingsRecord) -> None:
    values = {
        "webhook_url": record.webhook_url,
        "webhook_secret": record.webhook_secret,
        "webhook_enabled": record.webhook_enabled,
        "email_to": {"recipients": list(record.recipients)},
        "email_enabled": record.email_enabled,
        "updated_at": utcnow(),
    }
    exists = conn.execute(
        sa.select(ALERT_SETTINGS.c.org_id).where(ALERT_SETTINGS.c.org_id == record.org_id)
    ).first()
    if exists:
        conn.execute(
            ALERT_SETTINGS.update().where(ALERT_SETTINGS.c.org_id == record.org_id).values(values)
        )
    else:
        conn.execute(ALERT_SETTINGS.insert().values(org_id=record.org_id, **values))
