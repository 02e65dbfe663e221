"""Alerts: what idsync tells an organisation when a job enters Quarantine or Disabled,
and when it is Active again (docs/health.md, "Alerts").

This module builds the message from a finding and the job, and signs a webhook body;
sending it (HTTP, SMTP) is the service layer's (``manage/alerts.py``). An alert never
holds a secret: it is made of the finding's summary, cause and first repair step,
which diagnosis already keeps free of them.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from idsync.health.findings import Finding, Step
from idsync.scim.values import format_datetime
from idsync.sync.jobs import JobStatus

Event = Literal["quarantined", "disabled", "recovered", "refused", "test"]

SIGNATURE_HEADER = "X-Idsync-Signature"
TIMESTAMP_HEADER = "X-Idsync-Timestamp"
EVENT_HEADER = "X-Idsync-Event"

_FAILING = (JobStatus.QUARANTINE, JobStatus.DISABLED)
_TITLES: dict[Event, str] = {
    "quarantined": "Quarantine",
    "disabled": "Disabled",
    "recovered": "Recovered",
    "refused": "Directory refused",
    "test": "Test alert",
}


@dataclass(frozen=True)
class Alert:
    event: Event
    org_id: str
    org: str
    integration_id: str
    integration: str
    job_status: str
    cause: str
    summary: str
    """The finding's one line; for ``recovered``, the one of the cause that was resolved."""
    tracking_id: str
    time: datetime
    repair: Step | None = None
    public_url: str | None = None
    details: str = ""
    """The command that shows the whole finding (default: doctor for the integration)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "org_id": self.org_id,
            "org": self.org,
            "integration_id": self.integration_id,
            "integration": self.integration,
            "job_status": self.job_status,
            "cause": self.cause,
            "summary": self.summary,
            "tracking_id": self.tracking_id,
            "time": format_datetime(self.time),
            "repair": self.repair.to_json() if self.repair else None,
            "link": self.link,
            "details": self.details_command,
            "public_url": self.public_url,
        }

    @property
    def details_command(self) -> str:
        return self.details or f"idsync doctor --integration {self.integration_id}"

    @property
    def link(self) -> str | None:
        """Where the repair starts: the first step's URL, else its command."""
        if self.repair is None:
            return None
        return self.repair.url or self.repair.command

    def subject(self) -> str:
        return f"[idsync] {_TITLES[self.event]}: {self.summary}"

    def text(self) -> str:
        """The e-mail's body: the same fields as the webhook's, for people."""
        lines = [
            self.summary,
            "",
            f"event        {self.event}",
            f"organisation {self.org} ({self.org_id})",
            f"integration  {self.integration} ({self.integration_id})"
            if self.integration_id
            else f"client       {self.integration}",
            f"job status   {self.job_status}",
            f"cause        {self.cause}",
            f"tracking ID  {self.tracking_id}",
            f"time         {format_datetime(self.time)}",
        ]
        if self.repair is not None:
            lines += ["", "Repair", self.repair.text]
            lines += [x for x in (self.repair.url, self.repair.command) if x]
        lines += ["", f"Details: {self.details_command}"]
        if self.public_url:
            lines.append(f"idsync: {self.public_url}")
        return "\n".join(lines) + "\n"


def transition(before: str | None, after: str) -> Event | None:
    """The alert a change of the job's status calls for: entering Quarantine or Disabled.
    Recovery is told by a resolved finding (a restart makes the job Active before the
    cycle that proves it healthy), see :func:`recovered`."""
    if after == before or after not in _FAILING:
        return None
    return "disabled" if after == JobStatus.DISABLED else "quarantined"


def was_failing(finding: Finding) -> bool:
    """Whether the finding was about a job in Quarantine or Disabled (not a failed cycle
    of a job that stayed Active): only its resolution is a recovery worth an alert."""
    return finding.evidence.get("job_status") in _FAILING


def from_finding(
    event: Event,
    finding: Finding,
    *,
    org_id: str,
    org: str,
    job_status: str,
    time: datetime,
    tracking_id: str | None = None,
    public_url: str = "",
) -> Alert:
    return Alert(
        event=event,
        org_id=org_id,
        org=org,
        integration_id=finding.integration_id or "",
        integration=finding.integration,
        job_status=job_status,
        cause=finding.cause,
        summary=finding.summary,
        tracking_id=tracking_id or finding.tracking_id,
        time=time,
        repair=finding.repair[0] if finding.repair else None,
        public_url=public_url or None,
    )


def from_inbound(finding: Finding, *, org: str, time: datetime, public_url: str = "") -> Alert:
    """The alert for a directory the hub refuses (health/inbound.py's finding)."""
    org_id = str(finding.evidence.get("org_id") or "")
    return Alert(
        event="refused",
        org_id=org_id,
        org=org,
        integration_id="",
        integration=finding.integration,
        job_status="-",
        cause=finding.cause,
        summary=finding.summary,
        tracking_id=finding.tracking_id,
        time=time,
        repair=finding.repair[0] if finding.repair else None,
        public_url=public_url or None,
        details=f"idsync doctor --org {org_id}",
    )


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The webhook signature: HMAC-SHA256 over ``<timestamp>.<body>`` with the org's
    secret, as ``sha256=<hex>``. The timestamp is signed so a captured request cannot be
    replayed later: receivers refuse old timestamps."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"
