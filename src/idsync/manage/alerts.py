"""Alerts as an administrator manages them: where an org's alerts go, a test alert, and
sending one when a job changes status (docs/health.md, "Alerts").

The webhook secret is sealed with the credentials key (``sync/secrets.py``) and never
leaves this module but to sign; the settings as shown and audited say only whether one
is set.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from idsync.config import Settings
from idsync.errors.catalogue import (
    ALERT_NOT_DELIVERED,
    ALERTS_NOT_SET,
    INVALID_ARGUMENT,
    IdsyncError,
)
from idsync.errors.tracking import new_tracking_id
from idsync.health.alerts import Alert
from idsync.health.findings import Step
from idsync.logs import get_logger
from idsync.manage.alert_delivery import DeliveryError, post_webhook, send_email
from idsync.store import alerts as rows
from idsync.store import audit, orgs
from idsync.store.alerts import AlertSettingsRecord
from idsync.store.database import Database
from idsync.store.types import utcnow
from idsync.sync.secrets import SecretBox

log = get_logger("idsync.alerts")


@dataclass(frozen=True)
class AlertSettings:
    """An org's alert settings as shown: the secret only as whether one is set."""

    org_id: str
    webhook_url: str | None
    webhook_secret_set: bool
    webhook_enabled: bool
    recipients: list[str]
    email_enabled: bool


@dataclass(frozen=True)
class Delivery:
    channel: str
    delivered: bool
    attempts: int = 0
    reason: str | None = None


def get_settings(db: Database, org_id: str) -> AlertSettings:
    with db.read() as conn:
        orgs.require_org(conn, org_id)
        return _shown(rows.get_settings(conn, org_id))


def configure(
    db: Database,
    config: Settings,
    org_id: str,
    *,
    actor: str,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    recipients: list[str] | None = None,
    webhook: bool | None = None,
    email: bool | None = None,
) -> AlertSettings:
    """Change what is given: a URL or recipients turn their channel on, ``webhook``/``email``
    False turn it off (keeping its settings)."""
    with db.read() as conn:
        orgs.require_org(conn, org_id)
        current = rows.get_settings(conn, org_id)
    changed = _changes(webhook_url, webhook_secret, recipients, webhook, email)
    updated = _apply(db, config, current, changed, webhook_url, webhook_secret, recipients)
    _check_webhook(updated)
    with db.write() as conn:
        rows.save_settings(conn, updated)
        audit.record(
            conn,
            org_id=org_id,
            category="OrganisationManagement",
            activity="Update alert settings",
            result="success",
            actor=actor,
            target=org_id,
            details=changed,
        )
    return _shown(updated)


def _changes(
    url: str | None,
    secret: str | None,
    recipients: list[str] | None,
    webhook: bool | None,
    email: bool | None,
) -> dict[str, Any]:
    """What the audit log keeps: the webhook's origin (a URL's path may be a credential,
    as Slack's are) and whether the secret changed, never the secret."""
    changed: dict[str, Any] = {}
    if url is not None:
        _valid_url(url)
        changed["webhook_url"] = _origin(url)
    if secret is not None:
        changed["webhook_secret_changed"] = True
    if recipients is not None:
        changed["email"] = [_valid_address(r) for r in recipients]
    if webhook is not None or url is not None:
        changed["webhook_enabled"] = webhook if webhook is not None else True
    if email is not None or recipients is not None:
        changed["email_enabled"] = email if email is not None else True
    return changed


def _apply(
    db: Database,
    config: Settings,
    current: AlertSettingsRecord,
    changed: dict[str, Any],
    url: str | None,
    secret: str | None,
    recipients: list[str] | None,
) -> AlertSettingsRecord:
    updated = current
    if url is not None:
        updated = replace(updated, webhook_url=url)
    if secret is not None:
        sealed = SecretBox(db, config).seal({"webhook_secret": secret})
        updated = replace(updated, webhook_secret=sealed)
    if recipients is not None:
        updated = replace(updated, recipients=tuple(recipients))
    if "webhook_enabled" in changed:
        updated = replace(updated, webhook_enabled=changed["webhook_enabled"])
    if "email_enabled" in changed:
        updated = replace(
            updated, email_enabled=changed["email_enabled"] and bool(updated.recipients)
        )
    return updated


def _check_webhook(record: AlertSettingsRecord) -> None:
    if record.webhook_enabled and not record.webhook_secret:
        raise IdsyncError(
            INVALID_ARGUMENT,
            what="The webhook",
            reason="it has no signing secret",
            hint="Give one with --webhook-secret-file FILE (the file holds the secret alone).",
        )


def _valid_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise IdsyncError(
            INVALID_ARGUMENT,
            what="The webhook URL",
            reason="it is not an http:// or https:// URL",
            hint="Give the receiver's full URL, e.g. https://alerts.example.com/idsync.",
        )


def _valid_address(address: str) -> str:
    local, at, domain = address.strip().rpartition("@")
    if not at or not local or "." not in domain or " " in address.strip():
        raise IdsyncError(
            INVALID_ARGUMENT,
            what=f"The e-mail address {address!r}",
            reason="it is not an address",
            hint="Give addresses such as ops@example.com, one per --email.",
        )
    return address.strip()


def _origin(url: str) -> str:
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


def _shown(record: AlertSettingsRecord) -> AlertSettings:
    return AlertSettings(
        org_id=record.org_id,
        webhook_url=record.webhook_url,
        webhook_secret_set=bool(record.webhook_secret),
        webhook_enabled=record.webhook_enabled,
        recipients=list(record.recipients),
        email_enabled=record.email_enabled,
    )


def send_test(db: Database, config: Settings, org_id: str, *, actor: str) -> list[Delivery]:
    """Send a test alert through every enabled channel, now; what became of each."""
    with db.read() as conn:
        org = orgs.require_org(conn, org_id)
        current = rows.get_settings(conn, org_id)
    if not (current.webhook_enabled or current.email_enabled):
        raise IdsyncError(ALERTS_NOT_SET, org=org_id)
    alert = Alert(
        event="test",
        org_id=org_id,
        org=org.name,
        integration_id="",
        integration="idsync",
        job_status="",
        cause="test",
        summary=f"A test alert for {org.name}: alerts reach you.",
        tracking_id=new_tracking_id(),
        time=utcnow(),
        repair=Step("Nothing to do.", by="idsync"),
        public_url=config.public_url or None,
    )
    results = _deliver(db, config, current, alert)
    with db.write() as conn:
        audit.record(
            conn,
            org_id=org_id,
            category="OrganisationManagement",
            activity="Send test alert",
            result="success" if all(r.delivered for r in results) else "failure",
            actor=actor,
            target=org_id,
            tracking_id=alert.tracking_id,
            details={r.channel: r.delivered for r in results},
        )
    failed = [f"{r.channel}: {r.reason}" for r in results if not r.delivered]
    if failed:
        raise IdsyncError(
            ALERT_NOT_DELIVERED,
            reasons="; ".join(failed),
            tracking_id=alert.tracking_id,
            org=org_id,
        )
    return results


def notify(db: Database, config: Settings, alert: Alert) -> threading.Thread | None:
    """Send the alert from a thread: a receiver that is slow or down never holds the
    cycle. The thread is not a daemon, so a command that ends right after the cycle
    (``idsync sync run``) still delivers before it exits (a few seconds at most)."""
    with db.read() as conn:
        current = rows.get_settings(conn, alert.org_id)
    if not (current.webhook_enabled or current.email_enabled):
        return None
    thread = threading.Thread(
        target=_deliver, args=(db, config, current, alert), name="idsync-alert", daemon=False
    )
    thread.start()
    return thread


def _deliver(
    db: Database, config: Settings, current: AlertSettingsRecord, alert: Alert
) -> list[Delivery]:
    results: list[Delivery] = []
    if current.webhook_enabled and current.webhook_url:
        results.append(_channel("webhook", alert, lambda: _post(db, config, current, alert)))
    if current.email_enabled and current.recipients:
        results.append(
            _channel("email", alert, lambda: send_email(config, current.recipients, alert))
        )
    return results


def _post(db: Database, config: Settings, current: AlertSettingsRecord, alert: Alert) -> int:
    try:
        secret = SecretBox(db, config).open(current.webhook_secret, "alerts").get("webhook_secret")
    except IdsyncError as exc:
        raise DeliveryError(exc.message) from None
    return post_webhook(str(current.webhook_url), str(secret or ""), alert)


def _channel(name: str, alert: Alert, send: Any) -> Delivery:
    fields = {
        "channel": name,
        "alert": alert.event,
        "org": alert.org_id,
        "integration": alert.integration_id,
        "tracking_id": alert.tracking_id,
    }
    try:
        attempts = int(send())
    except DeliveryError as exc:
        log.warning("alert not delivered", reason=str(exc), **fields)
        return Delivery(name, False, reason=str(exc))
    except Exception as exc:
        # A bug here must not end the thread silently nor print a traceback with the
        # alert's settings in its frames: one line, the other channel still tried.
        reason = f"{type(exc).__name__}: {exc}"
        log.error("alert not delivered", reason=reason, **fields)
        return Delivery(name, False, reason=reason)
    log.info("alert sent", attempts=attempts, **fields)
    return Delivery(name, True, attempts)
