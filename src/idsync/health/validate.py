"""``idsync validate``: a checklist that proves an integration is healthy, with evidence.

Each check has a stable name (other tools read them), passes or fails, and carries its
evidence as JSON. A check that meets an idsync error fails with the error's code and
message; the other checks still run. Validation reads the directory and the hub but
changes nothing: connectors' ``check()`` writes nothing, and ``counts_agree`` reads the
source the way a full cycle does, without applying anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, TypeVar

from idsync.config import Settings
from idsync.connectors import registry
from idsync.contract.checks import Health
from idsync.contract.errors import ConnectorError
from idsync.contract.protocols import Source, Target
from idsync.contract.records import OBJECT_TYPES, ObjectType, ReadStart
from idsync.errors.catalogue import IdsyncError
from idsync.errors.scrub import Scrubber
from idsync.scim.values import format_datetime
from idsync.store import integrations as store
from idsync.store import sync_state as state
from idsync.store.database import Database
from idsync.store.integrations import IntegrationRecord, JobRecord
from idsync.sync.jobs import JobStatus
from idsync.sync.scoping import Scope
from idsync.sync.secrets import SecretBox

CHECKS = (
    "credentials_accepted",
    "service_principal_present",
    "target_accepts",
    "job_active",
    "auto_sync_on",
    "last_cycle_succeeded",
    "counts_agree",
)
"""Every check, in the order they run; ``service_principal_present`` is for Entra only."""

LISTED = 20
"""Ids listed on each side of a difference in ``counts_agree`` (the counts are whole)."""

T = TypeVar("T")
Assignment = dict[ObjectType, set[str]]


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    passed: bool
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Validation:
    integration: IntegrationRecord
    checks: tuple[Check, ...]

    @property
    def healthy(self) -> bool:
        return all(check.passed for check in self.checks)

    def to_json(self) -> dict[str, Any]:
        """What ``validate --json`` prints: exactly ``healthy`` and ``checks``."""
        return {
            "healthy": self.healthy,
            "checks": [
                {"name": c.name, "passed": c.passed, "evidence": c.evidence} for c in self.checks
            ],
        }


def validate(db: Database, config: Settings, record: IntegrationRecord) -> Validation:
    """Run every check of the integration, in the order of :data:`CHECKS`."""
    with db.read() as conn:
        job = store.get_job(conn, record.id)
        cycle = state.last_finished_cycle(conn, record.id)
    with ExitStack() as stack:
        secrets, source, target = _open(stack, db, config, record)
        source_health = _health(source, record.id)
        checks = [_passed_if("credentials_accepted", source_health)]
        if record.kind == "entra":
            checks.append(_service_principal(source_health))
        checks += [
            _passed_if("target_accepts", _health(target, record.id)),
            _job_active(job),
            _auto_sync(record),
            _last_cycle(cycle),
            _counts(db, record, source, source_health),
        ]
    # The connectors scrub what they report; this is the last line of defence.
    scrub = Scrubber(_strings(secrets))
    return Validation(record, tuple(_scrubbed(check, scrub) for check in checks))


# --- the connectors --------------------------------------------------------------------------


def _open(
    stack: ExitStack, db: Database, config: Settings, record: IntegrationRecord
) -> tuple[dict[str, Any], Source | IdsyncError, Target | IdsyncError]:
    """The integration's credentials, source and target (each closed with ``stack``), or
    the error that prevented opening it."""
    try:
        secrets = SecretBox(db, config).open(record.secrets, record.name)
    except IdsyncError as exc:
        return {}, exc, exc
    source = _attempt(lambda: registry.open_source(db, record, secrets))
    if not isinstance(source, IdsyncError):
        stack.callback(source.close)
    target = _attempt(lambda: registry.open_target(db, record, secrets))
    if not isinstance(target, IdsyncError):
        stack.callback(target.close)
    return secrets, source, target


def _attempt(step: Callable[[], T]) -> T | IdsyncError:
    try:
        return step()
    except IdsyncError as exc:
        return exc


def _health(connector: Source | Target | IdsyncError, integration_id: str) -> Health:
    if isinstance(connector, IdsyncError):
        return Health(False, error_evidence(connector, integration_id))
    checked = _attempt(connector.check)
    if isinstance(checked, IdsyncError):
        return Health(False, error_evidence(checked, integration_id))
    return checked


def error_evidence(exc: IdsyncError, integration_id: str) -> dict[str, Any]:
    """An error as every check tells it: its catalogue code, message and action (whose
    commands name the integration by id, unique where a name may not be)."""
    exc.for_integration(integration_id)
    if isinstance(exc, ConnectorError):
        return dict(Health.failed(exc).details)
    return {
        "code": exc.error.code,
        "title": exc.error.title,
        "message": exc.message,
        "action": exc.action,
        "error": type(exc).__name__,
    }


def _passed_if(name: str, health: Health) -> Check:
    return Check(name, health.ok, dict(health.details))


# --- the checks ------------------------------------------------------------------------------


def _service_principal(source: Health) -> Check:
    """Entra: our enterprise application exists and is enabled, and the token carries the
    permissions a cycle needs. Without a token, the credentials' failure says why."""
    details = source.details
    if "service_principal_id" not in details:
        return Check("service_principal_present", False, dict(details))
    missing = details.get("roles_missing")
    evidence = {
        key: details.get(key)
        for key in (
            "service_principal_id",
            "account_enabled",
            "roles_granted",
            "roles_needed",
            "roles_missing",
        )
    }
    if missing is None:  # the token does not show its roles: the last cycle proves them
        evidence["note"] = "the access token does not list its permissions"
    return Check("service_principal_present", source.ok and not missing, evidence)


def _job_active(job: JobRecord) -> Check:
    evidence = {"status": job.status, "reason_code": job.reason_code, "reason": job.reason}
    return Check("job_active", job.status == JobStatus.ACTIVE, evidence)


def _auto_sync(record: IntegrationRecord) -> Check:
    evidence = {"auto_sync": record.auto_sync, "interval_seconds": record.interval_seconds}
    return Check("auto_sync_on", record.auto_sync, evidence)


def _last_cycle(cycle: Any) -> Check:
    if cycle is None:
        return Check("last_cycle_succeeded", False, {"cycle_id": None, "status": "no cycle yet"})
    evidence = {
        "cycle_id": cycle.id,
        "mode": cycle.mode,
        "status": cycle.status,
        "finished_at": format_datetime(cycle.finished_at) if cycle.finished_at else None,
        "error_code": cycle.error_code,
    }
    return Check("last_cycle_succeeded", cycle.status == "succeeded", evidence)


# --- counts_agree ----------------------------------------------------------------------------


def _counts(
    db: Database, record: IntegrationRecord, source: Source | IdsyncError, health: Health
) -> Check:
    """What the source holds in the integration's scope against what the target holds for
    it (its live links), per object type, read in full as a first cycle reads it."""
    if isinstance(source, IdsyncError) or not health.ok:
        skipped = "the source refused the credentials or could not be checked"
        return Check("counts_agree", False, {"skipped": skipped})
    try:
        assigned = _assigned(record, source)
        compared: dict[str, Any] = {
            t: _compare(db, record, source, t, assigned) for t in OBJECT_TYPES
        }
    except IdsyncError as exc:
        return Check("counts_agree", False, error_evidence(exc, record.id))
    agree = all(not c["only_in_source"] and not c["only_in_target"] for c in compared.values())
    return Check("counts_agree", agree, compared)


def _compare(
    db: Database,
    record: IntegrationRecord,
    source: Source,
    object_type: ObjectType,
    assigned: Assignment | None,
) -> dict[str, Any]:
    held, out_of_scope = _in_scope(record, source, object_type)
    if assigned is not None:
        out_of_scope += len(held - assigned[object_type])
        held &= assigned[object_type]
    with db.read() as conn:
        linked = set(state.active_links(conn, record.id, object_type))
    return {
        "source": len(held),
        "target": len(linked),
        "out_of_scope": out_of_scope,
        "only_in_source": sorted(held - linked)[:LISTED],
        "only_in_target": sorted(linked - held)[:LISTED],
    }


def _in_scope(
    record: IntegrationRecord, source: Source, object_type: ObjectType
) -> tuple[set[str], int]:
    """Source ids in scope, and how many objects the scope leaves out. As in a cycle
    (sync/pages.py), an object is out only when a record of it says so: a record without
    the attribute a rule reads leaves the verdict as it was."""
    scope = Scope.parse(record.scoping.get(object_type, ()))
    verdicts: dict[str, bool] = {}
    for obj in _objects(source, object_type):
        if obj.removed:
            verdicts.pop(obj.source_id, None)
            continue
        decided = scope.decides(obj)
        if decided is not None or obj.source_id not in verdicts:
            verdicts[obj.source_id] = decided is not False
    held = {source_id for source_id, inside in verdicts.items() if inside}
    return held, len(verdicts) - len(held)


def _objects(source: Source, object_type: ObjectType) -> Iterator[Any]:
    for page in source.read(object_type, ReadStart()):
        yield from page.objects


def _assigned(record: IntegrationRecord, source: Source) -> Assignment | None:
    """With group assignment (``scoping.groups``): the assigned groups and their direct
    user members, as the engine reads them at the start of a cycle; None without it."""
    wanted = record.scoping.get("groups") or []
    if not wanted:
        return None
    found = [g for g in (source.read_one("group", str(i)) for i in wanted) if g is not None]
    users = {m.source_id for g in found for m in g.members_added if m.object_type == "user"}
    return {"user": users, "group": {group.source_id for group in found}}


# --- no secret out ---------------------------------------------------------------------------


def _strings(value: Any) -> Iterator[str]:
    """Every text in the integration's credentials (a certificate's key is nested)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)


def _scrubbed(check: Check, scrub: Scrubber) -> Check:
    return Check(check.name, check.passed, _scrub_value(check.evidence, scrub))


def _scrub_value(value: Any, scrub: Scrubber) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, Mapping):
        return {key: _scrub_value(item, scrub) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub_value(item, scrub) for item in value]
    return value
