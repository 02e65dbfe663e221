"""A finding: what diagnosis concluded about a failing integration, and how it is kept.

``cause`` is a stable identifier other tools match on (``service_principal_removed``,
``client_secret_expired``, ``ldap_bind_failed``, ``deletion_threshold_exceeded``…);
``evidence`` is what the conclusion rests on (the error code, the upstream
identifiers, later the directory audit event); ``protected`` says what idsync kept
from harm; ``repair`` lists the steps, each a link to open or a command to run.
Diagnosis never changes data: it reads and records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from idsync.scim.values import format_datetime
from idsync.store import findings as rows
from idsync.store.database import Database
from idsync.store.findings import FindingRecord

Confidence = Literal["high", "medium", "low"]


@dataclass(frozen=True)
class Step:
    """One repair step: ``text`` to read, and a ``url`` to open or a ``command`` to run."""

    text: str
    url: str | None = None
    command: str | None = None
    by: Literal["idsync", "administrator", "tenant administrator"] = "administrator"
    """Who can take it: idsync itself, or only a person with that role."""

    def to_json(self) -> dict[str, Any]:
        step: dict[str, Any] = {"text": self.text, "by": self.by}
        if self.url:
            step["url"] = self.url
        if self.command:
            step["command"] = self.command
        return step


@dataclass(frozen=True)
class Finding:
    integration_id: str | None
    """None for the hub side (health/inbound.py): a client's token, not an integration."""
    integration: str
    """The integration's name, for people."""
    cause: str
    summary: str
    """One line: what happened, for an alert's subject or an overview's health column."""
    confidence: Confidence
    tracking_id: str
    evidence: dict[str, Any] = field(default_factory=dict)
    protected: dict[str, Any] = field(default_factory=dict)
    repair: tuple[Step, ...] = ()
    status: str = "open"
    created_at: datetime | None = None
    token_id: str | None = None
    """The hub token a directory still presents, for the hub side's findings."""

    def to_json(self) -> dict[str, Any]:
        return {
            "integration_id": self.integration_id,
            "integration": self.integration,
            **({"token_id": self.token_id} if self.token_id else {}),
            "cause": self.cause,
            "summary": self.summary,
            "confidence": self.confidence,
            "tracking_id": self.tracking_id,
            "evidence": self.evidence,
            "protected": self.protected,
            "repair": [step.to_json() for step in self.repair],
            "status": self.status,
            "created_at": format_datetime(self.created_at) if self.created_at else None,
        }


def record(db: Database, org_id: str, finding: Finding) -> Finding:
    """Store the finding (replacing the open one of the same cause: one per incident)."""
    values = {
        "org_id": org_id,
        "integration_id": finding.integration_id,
        "tracking_id": finding.tracking_id,
        "cause": finding.cause,
        "summary": finding.summary,
        "confidence": finding.confidence,
        "evidence": finding.evidence,
        "protected": finding.protected,
        "repair": {"steps": [step.to_json() for step in finding.repair]},
    }
    with db.write() as conn:
        stored = rows.save_finding(conn, values)
    return from_record(stored, finding.integration)


def complete(
    db: Database, integration_id: str, name: str, cause: str, evidence: dict[str, Any]
) -> Finding | None:
    """Add what was learnt since (the directory audit event: who, when) to the open
    finding of that cause; None when it is no longer open."""
    with db.write() as conn:
        stored = rows.add_evidence(conn, integration_id, cause, evidence)
    return from_record(stored, name) if stored else None


def resolve(db: Database, integration_id: str) -> int:
    """The integration is healthy again: its open findings are closed."""
    with db.write() as conn:
        return rows.resolve_findings(conn, integration_id)


def open_finding(db: Database, integration_id: str, name: str) -> Finding | None:
    with db.read() as conn:
        stored = rows.open_finding(conn, integration_id)
    return from_record(stored, name) if stored else None


def from_record(stored: FindingRecord, name: str) -> Finding:
    return Finding(
        integration_id=stored.integration_id,
        integration=name,
        cause=stored.cause,
        summary=stored.summary,
        confidence=stored.confidence,  # type: ignore[arg-type]
        tracking_id=stored.tracking_id,
        evidence=dict(stored.evidence),
        protected=dict(stored.protected),
        repair=tuple(Step(**step) for step in stored.repair.get("steps", ())),
        status=stored.status,
        created_at=stored.created_at,
    )
