"""What a cycle reports: counts per action, where the time went, and the provisioning log."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from idsync.errors.catalogue import IdsyncError
from idsync.errors.tracking import new_tracking_id
from idsync.logs import get_logger
from idsync.store.types import utcnow

log = get_logger("idsync.sync")

ACTIONS = ("create", "update", "disable", "delete", "skip", "stagedDelete")


@dataclass
class Tally:
    """Counts of one cycle, kept as it goes (and saved with each checkpoint)."""

    counts: Counter[str] = field(default_factory=Counter)
    seconds: dict[str, float] = field(
        default_factory=lambda: {"read": 0.0, "diff": 0.0, "write": 0.0}
    )

    @contextmanager
    def timed(self, *keys: str) -> Iterator[None]:
        """Add the time spent in the block to each of ``keys`` (a phase and its detail)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.add_seconds(time.perf_counter() - started, *keys)

    def add_seconds(self, elapsed: float, *keys: str) -> None:
        for key in keys:
            self.seconds[key] = self.seconds.get(key, 0.0) + elapsed

    def add(self, key: str, n: int = 1) -> None:
        if n:
            self.counts[key] += n

    def as_dict(self) -> dict[str, Any]:
        return {
            "counts": dict(self.counts),
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }

    @classmethod
    def from_dict(cls, value: dict[str, Any] | None) -> Tally:
        tally = cls()
        if value:
            tally.counts.update(value.get("counts", {}))
            tally.seconds.update(value.get("seconds", {}))
        return tally


@dataclass(frozen=True)
class CycleReport:
    integration_id: str
    cycle_id: str
    mode: str
    outcome: str
    """How the cycle ended: succeeded, quarantined, failed, interrupted (or preview)."""
    status: str
    """The job's status after the cycle."""
    reason_code: str | None
    reason: str | None
    counts: dict[str, int]
    seconds: dict[str, float]
    started_at: datetime
    finished_at: datetime
    preview: list[dict[str, Any]] | None = None
    tracking_id: str | None = None
    """The cycle's: on its server log lines, its failures' findings and its alerts."""


class LogBook:
    """Provisioning log entries of one cycle, buffered and written with each page."""

    def __init__(
        self, org_id: str, integration_id: str, cycle_id: str, tracking_id: str | None = None
    ) -> None:
        self.base = {"org_id": org_id, "integration_id": integration_id, "cycle_id": cycle_id}
        self.tracking_id = tracking_id or new_tracking_id()
        """The cycle's: on every entry but a failure, which gets its own (and a log line)."""
        self.entries: list[dict[str, Any]] = []
        self.now = utcnow()
        """One timestamp per batch of entries (a page): reading the clock per entry
        costs more than the rest of building it."""

    def add(
        self,
        object_type: str,
        source_id: str,
        action: str,
        result: str,
        step: str,
        *,
        target_id: str | None = None,
        display: str | None = None,
        error: IdsyncError | None = None,
        reason: str | None = None,
        changes: dict[str, Any] | None = None,
    ) -> None:
        tracking_id = self.tracking_id
        if error is not None:
            error.for_integration(self.base["integration_id"])
        if result == "failure":
            tracking_id = new_tracking_id()
            log.warning(
                "object failed",
                tracking_id=tracking_id,
                cycle_tracking_id=self.tracking_id,
                integration=self.base["integration_id"],
                object_type=object_type,
                source_id=source_id,
                action=action,
                code=error.error.code if error else None,
            )
        self.entries.append(
            {
                **self.base,
                "occurred_at": self.now,
                "object_type": object_type,
                "source_id": source_id,
                "target_id": target_id,
                "display": display,
                "action": action,
                "result": result,
                "step": step,
                "error_code": error.error.code if error else None,
                "reason": error.message if error else reason,
                "recommended_action": error.action if error else None,
                "changes": changes,
                "tracking_id": tracking_id,
            }
        )

    def take(self) -> list[dict[str, Any]]:
        entries, self.entries = self.entries, []
        self.now = utcnow()
        return entries
