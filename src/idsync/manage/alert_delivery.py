"""Sending an alert: a signed JSON POST to the org's webhook, an e-mail over SMTP.

Both retry transient failures (5xx, 429, timeouts, refused connections) with
exponential backoff, a few times: a receiver restarting should not lose an alert, and
a receiver that is down must not hold anything for long (alerts are sent from a
thread, see ``manage/alerts.py``). Errors name what failed, never a secret.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
import time
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

import httpx
import orjson

from idsync.config import Settings
from idsync.errors.scrub import Scrubber
from idsync.health.alerts import (
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Alert,
    sign,
)

ATTEMPTS = 4
"""Tries per channel: the first, then after 0.5 s, 1 s and 2 s."""
BACKOFF_SECONDS = 0.5
WEBHOOK_TIMEOUT_SECONDS = 5.0


class DeliveryError(Exception):
    """The alert could not be delivered; the message is safe to log."""


class _Transient(Exception):
    """Worth another attempt."""


def post_webhook(
    url: str,
    secret: str,
    alert: Alert,
    *,
    attempts: int = ATTEMPTS,
    backoff: float = BACKOFF_SECONDS,
) -> int:
    """POST the alert, signed; how many attempts it took."""
    body = orjson.dumps(alert.to_json())

    def attempt() -> None:
        # A fresh timestamp per attempt: the receiver's replay window counts from the send.
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "idsync-alerts",
            EVENT_HEADER: alert.event,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(secret, timestamp, body),
        }
        try:
            response = httpx.post(
                url, content=body, headers=headers, timeout=WEBHOOK_TIMEOUT_SECONDS
            )
        except httpx.TransportError as exc:
            raise _Transient(f"{type(exc).__name__}: {exc}") from None
        if response.status_code >= 500 or response.status_code == 429:
            raise _Transient(f"the receiver answered {response.status_code}")
        if response.status_code >= 300:
            # The receiver refuses it (a wrong URL, a signature it rejects): retrying
            # the same request cannot help.
            raise DeliveryError(f"the receiver answered {response.status_code}")

    return _with_retries(attempt, attempts, backoff, Scrubber([secret]))


def send_email(
    settings: Settings,
    recipients: tuple[str, ...],
    alert: Alert,
    *,
    attempts: int = ATTEMPTS,
    backoff: float = BACKOFF_SECONDS,
) -> int:
    """Send the alert to the recipients through the instance's SMTP server."""
    if not settings.smtp_host:
        raise DeliveryError("no SMTP server is set (IDSYNC_SMTP_HOST)")
    password = _password(settings)
    message = _message(settings, recipients, alert)

    def attempt() -> None:
        try:
            with smtplib.SMTP(
                settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_seconds
            ) as smtp:
                if settings.smtp_starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if settings.smtp_user:
                    smtp.login(settings.smtp_user, password)
                smtp.send_message(message)
        except (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, OSError) as exc:
            raise _Transient(f"{type(exc).__name__}: {exc}") from None
        except smtplib.SMTPResponseException as exc:
            reason = f"the SMTP server answered {exc.smtp_code}"
            if 400 <= exc.smtp_code < 500:
                raise _Transient(reason) from None
            raise DeliveryError(reason) from None
        except smtplib.SMTPException as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from None

    return _with_retries(attempt, attempts, backoff, Scrubber([password]))


def _with_retries(
    attempt: Callable[[], None], attempts: int, backoff: float, scrub: Scrubber
) -> int:
    reason = ""
    for number in range(1, attempts + 1):
        try:
            attempt()
            return number
        except _Transient as exc:
            reason = str(exc)
        except DeliveryError as exc:
            raise DeliveryError(scrub(str(exc))) from None
        if number < attempts:
            time.sleep(backoff * 2 ** (number - 1))
    raise DeliveryError(scrub(f"{reason} (after {attempts} attempts)"))


def _password(settings: Settings) -> str:
    if not settings.smtp_password_file:
        return ""
    try:
        return Path(settings.smtp_password_file).expanduser().read_text().strip()
    except OSError as exc:
        raise DeliveryError(
            f"the SMTP password file {settings.smtp_password_file} cannot be read: {exc.strerror}"
        ) from None


def _message(settings: Settings, recipients: tuple[str, ...], alert: Alert) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.smtp_from or f"idsync@{socket.getfqdn()}"
    message["To"] = ", ".join(recipients)
    message["Subject"] = alert.subject()
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain="idsync")
    message["X-Idsync-Event"] = alert.event
    message["X-Idsync-Tracking-Id"] = alert.tracking_id
    message.set_content(alert.text())
    return message
