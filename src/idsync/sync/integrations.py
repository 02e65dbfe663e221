"""Integrations as an administrator manages them: add, change, remove, run, approve."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from idsync.config import Settings
from idsync.connectors import registry
from idsync.connectors.description import Connector, Setting, put, setting, settings_of
from idsync.contract.mappings import DefaultMappings
from idsync.contract.protocols import Source, Target
from idsync.contract.records import OBJECT_TYPES, ObjectType
from idsync.errors.catalogue import (
    DELETION_THRESHOLD,
    INTEGRATION_NOT_FOUND,
    INVALID_INTEGRATION,
    JOB_BUSY,
    SECRET_KEY_UNUSABLE,
    SOURCE_SHRANK,
    IdsyncError,
)
from idsync.store import audit, orgs
from idsync.store import integrations as store
from idsync.store import sync_state as state
from idsync.store.database import Database
from idsync.store.integrations import IntegrationRecord, JobRecord
from idsync.store.types import utcnow
from idsync.sync.engine import Cycle, ProgressCallback, apply_removals
from idsync.sync.follow import follow
from idsync.sync.mapping import AttributeMapping
from idsync.sync.report import CycleReport, Tally
from idsync.sync.scoping import Scope
from idsync.sync.secrets import SecretBox
from idsync.sync.status import PAUSED_REASON, JobStatus

DEFAULT_INTERVAL_SECONDS = 40 * 60
"""Entra's provisioning service runs about every 40 minutes; idsync keeps that default."""
DEFAULT_DELETION_THRESHOLD = 500
"""Entra's accidental-deletions prevention threshold defaults to 500."""


@dataclass(frozen=True)
class IntegrationOptions:
    """The job options every kind of integration shares. Declared like a connector's
    settings, so the CLI's and the console's forms are derived from the same place."""

    interval_seconds: int = setting(
        DEFAULT_INTERVAL_SECONDS,
        kind="minutes",
        flag="--interval",
        help="Minutes between cycles.",
        example="60",
    )
    auto_sync: bool = setting(True, help="Run cycles on schedule.")
    deletion_threshold: int = setting(
        DEFAULT_DELETION_THRESHOLD,
        help="Stage, for approval, a cycle's deletions and disables beyond this many "
        "(0: no limit).",
        example="100",
    )
    adopt_existing: bool = setting(
        False,
        help="Take over objects with the same userName/displayName that no integration owns "
        "(a push: also those another push integration to the same application owns).",
    )
    matching_attribute: Literal["userName", "externalId"] = setting(
        "userName",
        help="How a new object finds an existing one in the target: userName (displayName "
        "for groups) or externalId.",
        example="externalId",
    )
    mappings: Mapping[str, Any] | None = setting(
        None,
        kind="json_file",
        help="JSON file of attribute mapping overrides (docs/sync.md).",
        example='{"user": [{"target": "title", "source": "department"}]}',
    )
    scoping: Mapping[str, Any] | None = setting(
        None,
        kind="json_file",
        help="JSON file of scoping rules (docs/sync.md).",
        example='{"user": [{"attribute": "department", "operator": "EQUALS", "value": "Sales"}]}',
    )


JOB_OPTIONS = settings_of(IntegrationOptions)


def default_options(kind: str, direction: str) -> dict[str, Any]:
    """A new integration's job options, before the administrator's choices: the shared
    defaults, then the connector's own (a file is re-read only when asked)."""
    described = registry.connector(kind)
    defaults = {s.name: s.default for s in JOB_OPTIONS}
    return {**defaults, **described.job_defaults.get(direction, {})}


@dataclass(frozen=True)
class Changes:
    """What an administrator asks to change in an integration (nothing is left out by
    omission: an empty field changes nothing). Values are in the stored form
    (:meth:`~idsync.connectors.description.Setting.parse`)."""

    settings: Mapping[str, Any] = field(default_factory=dict)
    """Connector settings by name."""
    secrets: Mapping[str, Any] = field(default_factory=dict)
    """Credentials by setting name (``password``, ``certificate.thumbprint``)."""
    options: Mapping[str, Any] = field(default_factory=dict)
    """Job options by :class:`IntegrationOptions` field name."""
    unset: Sequence[str] = ()
    """Settings or job options (by name or flag) to take back to their default."""
    name: str | None = None
    scoping_rules: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    """Rules added to the scoping (a connector's scoping shortcuts, e.g. ``--enabled-only``)."""


def _audit(
    conn: Any,
    integration: IntegrationRecord | None,
    org_id: str,
    activity: str,
    actor: str,
    details: dict[str, Any] | None = None,
) -> None:
    audit.record(
        conn,
        org_id=org_id,
        category="IntegrationManagement",
        activity=activity,
        result="success",
        actor=actor,
        target=integration.id if integration else None,
        details=details or {},
    )


def add_integration(
    db: Database,
    config: Settings,
    *,
    org_id: str,
    kind: str,
    name: str,
    settings: dict[str, Any],
    secrets: dict[str, Any],
    options: IntegrationOptions,
    actor: str,
    direction: str = "source",
) -> IntegrationRecord:
    with db.read() as conn:
        orgs.require_org(conn, org_id)
    registry.validate(kind, direction, name, settings, secrets)  # before anything is stored
    _validate_rules(_defaults(kind, direction), options)
    values = {
        "org_id": org_id,
        "kind": kind,
        "direction": direction,
        "name": name,
        "settings": settings,
        "secrets": SecretBox(db, config).seal(secrets) if secrets else None,
        "matching_attribute": options.matching_attribute,
        "mappings": dict(options.mappings or {}),
        "scoping": dict(options.scoping or {}),
        "interval_seconds": options.interval_seconds,
        "auto_sync": options.auto_sync,
        "deletion_threshold": options.deletion_threshold,
        "adopt_existing": options.adopt_existing,
    }
    configured = bool(secrets) or not registry.connector(kind).needs_secrets
    status = JobStatus.NOT_RUN if configured else JobStatus.NOT_CONFIGURED
    with db.write() as conn:
        if store.find_integration(conn, name, org_id) is not None:
            raise IdsyncError(
                INVALID_INTEGRATION,
                reason=f"the organisation already has an integration named {name!r}",
                hint="Choose another --name.",
            )
        integration_id = store.insert_integration(conn, values, status)
        record = store.find_integration(conn, integration_id)
        assert record is not None
        _audit(conn, record, org_id, "Add integration", actor, {"kind": kind, "name": name})
    return record


MATCHING_ATTRIBUTES = ("userName", "externalId")


def _defaults(kind: str, direction: str) -> DefaultMappings:
    mappings: DefaultMappings = registry.connector(kind).default_mappings[direction]  # type: ignore[index]
    return mappings


def _validate_rules(defaults: DefaultMappings, options: IntegrationOptions) -> None:
    if options.matching_attribute not in MATCHING_ATTRIBUTES:
        raise IdsyncError(
            INVALID_INTEGRATION,
            reason=f"matching attribute {options.matching_attribute!r} is not supported",
            hint="Use userName (displayName for groups, as Entra does) or externalId.",
        )
    try:
        for object_type in OBJECT_TYPES:
            AttributeMapping.for_integration(
                defaults, object_type, (options.mappings or {}).get(object_type, ())
            )
            Scope.parse((options.scoping or {}).get(object_type, ()))
    except (ValueError, KeyError, TypeError) as exc:
        raise IdsyncError(
            INVALID_INTEGRATION, reason=str(exc), hint="See docs/sync.md for mappings and scoping."
        ) from None


def get_integration(db: Database, ref: str, org_id: str | None = None) -> IntegrationRecord:
    with db.read() as conn:
        record = store.find_integration(conn, ref, org_id)
    if record is None:
        raise IdsyncError(INTEGRATION_NOT_FOUND, integration=ref)
    return record


def list_integrations(
    db: Database, org_id: str | None = None
) -> list[tuple[IntegrationRecord, JobRecord]]:
    with db.read() as conn:
        return [(i, store.get_job(conn, i.id)) for i in store.list_integrations(conn, org_id)]


def get_job(db: Database, integration_id: str) -> JobRecord:
    with db.read() as conn:
        return store.get_job(conn, integration_id)


@dataclass(frozen=True)
class Updated:
    record: IntegrationRecord
    changed: list[str]
    """What changed, by name (``settings.user_base_dns``, ``credentials.password``,
    ``interval_seconds``); never a value."""
    full_read: bool
    """The next cycle reads everything (what is read, or how it is mapped, changed)."""


def update_integration(
    db: Database, config: Settings, ref: str, changes: Changes, *, actor: str
) -> Updated:
    """Change an integration: its connector's settings are merged with the stored ones
    and validated whole, as when it was added, before anything is stored. A change to
    what is read (settings, mappings, scoping) makes the next cycle read everything."""
    record = get_integration(db, ref)
    described = registry.connector(record.kind)
    _check_names(described, changes)
    unset = [_resolve(described, word) for word in changes.unset]
    settings = _merged(record.settings, described, changes.settings, unset)
    values: dict[str, Any] = {"settings": settings}
    if changes.settings or changes.secrets or any(s in described.settings for s in unset):
        box = SecretBox(db, config)
        secrets = _merged_secrets(box, record, described, changes)
        registry.validate(record.kind, record.direction, record.name, settings, secrets)
        if changes.secrets:
            values["secrets"] = box.seal(secrets)
    options = _merged_options(record, changes, unset)
    if options != _options_of(record):
        _validate_rules(_defaults(record.kind, record.direction), options)
    values.update(_option_values(options))
    if changes.name is not None:
        values["name"] = _checked_name(changes.name)
    changed = _changed(record, values, described)
    changed += [f"credentials.{name}" for name in sorted(changes.secrets)]
    full_read = any(
        name.startswith("settings.") or name in ("mappings", "scoping") for name in changed
    )
    with db.write() as conn:
        if changes.name is not None:
            _require_unique_name(conn, record, changes.name)
        store.update_integration(conn, record.id, values)
        job: dict[str, Any] = {}
        if changes.secrets and store.get_job(conn, record.id).status == JobStatus.NOT_CONFIGURED:
            job["status"] = JobStatus.NOT_RUN
        if full_read:
            # As after Entra's restart with resetScope Watermark: the next cycle re-reads
            # everything, so objects a changed base, filter, mapping or scope now covers
            # are provisioned even if they did not change in the directory.
            job.update(watermark={}, checkpoint=None)
        if job:
            store.update_job(conn, record.id, **job)
        if changed:
            details = {"changed": changed, "full_read_next": full_read}
            _audit(conn, record, record.org_id, "Update integration", actor, details)
    return Updated(get_integration(db, record.id), changed, full_read)


def _check_names(described: Connector, changes: Changes) -> None:
    names = {s.name: s for s in described.settings}
    for name in changes.settings:
        _require_setting(described, name in names and not names[name].secret, name)
    for name in changes.secrets:
        _require_setting(described, name in names and names[name].secret, name)
    for name in changes.options:
        _require_setting(described, any(s.name == name for s in JOB_OPTIONS), name)


def _require_setting(described: Connector, known: bool, name: str) -> None:
    if not known:
        raise IdsyncError(
            INVALID_INTEGRATION,
            reason=f"{name!r} is not a setting of {described.title} integrations",
            hint="Its settings: "
            + ", ".join(s.flag for s in (*described.settings, *JOB_OPTIONS))
            + ".",
        )


def _resolve(described: Connector, word: str) -> Setting:
    """A setting or job option by name (``user_base_dns``) or flag (``user-base``)."""
    wanted = word.strip().lstrip("-")
    for candidate in (*described.settings, *JOB_OPTIONS):
        if wanted in (candidate.name, candidate.flag[2:], candidate.name.replace("_", "-")):
            if candidate.required or candidate.secret:
                raise IdsyncError(
                    INVALID_INTEGRATION,
                    reason=f"{candidate.flag} has no default to go back to",
                    hint=f"Give a new value with {candidate.flag}.",
                )
            return candidate
    raise IdsyncError(
        INVALID_INTEGRATION,
        reason=f"{word!r} is not a setting of {described.title} integrations",
        hint="Settings with a default: "
        + ", ".join(
            s.flag[2:] for s in (*described.settings, *JOB_OPTIONS) if not (s.required or s.secret)
        )
        + ".",
    )


def _merged(
    stored: Mapping[str, Any],
    described: Connector,
    given: Mapping[str, Any],
    unset: Sequence[Setting],
) -> dict[str, Any]:
    merged = copy.deepcopy(dict(stored))
    for name, value in given.items():
        excluded = described.setting(name)
        for other in excluded.excludes if excluded else ():
            merged.pop(other, None)
        put(merged, name, value)
    for item in unset:
        if item in described.settings:
            merged.pop(item.name, None)
    return merged


def _merged_secrets(
    box: SecretBox, record: IntegrationRecord, described: Connector, changes: Changes
) -> dict[str, Any]:
    try:
        stored = box.open(record.secrets, record.name)
    except IdsyncError as exc:
        # Credentials stored with another key: storing them all again is the way out.
        if exc.error is not SECRET_KEY_UNUSABLE or not changes.secrets:
            raise
        stored = {}
    return _merged(stored, described, changes.secrets, ())


def _options_of(record: IntegrationRecord) -> IntegrationOptions:
    return IntegrationOptions(
        interval_seconds=record.interval_seconds,
        auto_sync=record.auto_sync,
        deletion_threshold=record.deletion_threshold,
        adopt_existing=record.adopt_existing,
        matching_attribute=record.matching_attribute,  # type: ignore[arg-type]
        mappings=record.mappings,
        scoping=record.scoping,
    )


def _merged_options(
    record: IntegrationRecord, changes: Changes, unset: Sequence[Setting]
) -> IntegrationOptions:
    values = asdict(_options_of(record))
    defaults = default_options(record.kind, record.direction)
    values.update({s.name: defaults[s.name] for s in unset if s in JOB_OPTIONS})
    values.update(changes.options)
    if changes.scoping_rules:
        values["scoping"] = add_rules(values["scoping"], changes.scoping_rules)
    return replace(IntegrationOptions(), **values)


def add_rules(
    scoping: Mapping[str, Any] | None, rules: Mapping[str, Sequence[Any]]
) -> dict[str, Any]:
    """Scoping with more rules (and assigned groups), each once."""
    merged = {key: list(value) for key, value in (scoping or {}).items()}
    for key, added in rules.items():
        current = merged.setdefault(key, [])
        current.extend(rule for rule in added if rule not in current)
    return merged


def _option_values(options: IntegrationOptions) -> dict[str, Any]:
    values = asdict(options)
    values["mappings"] = dict(options.mappings or {})
    values["scoping"] = dict(options.scoping or {})
    return values


def _changed(
    record: IntegrationRecord, values: Mapping[str, Any], described: Connector
) -> list[str]:
    """The names of what differs from the record (settings as ``settings.<name>``; a
    setting left out counts as its default)."""
    changed = [
        name
        for name, value in values.items()
        if name not in ("settings", "secrets") and getattr(record, name) != value
    ]
    stored, wanted = record.settings, values["settings"]
    for key in sorted(set(stored) | set(wanted)):
        item = described.setting(key)
        default = item.default if item else None
        if stored.get(key, default) != wanted.get(key, default):
            changed.append(f"settings.{key}")
    return changed


def _checked_name(name: str) -> str:
    if not name.strip():
        raise IdsyncError(
            INVALID_INTEGRATION, reason="the name is empty", hint="Give --name a name."
        )
    return name.strip()


def _require_unique_name(conn: Any, record: IntegrationRecord, name: str) -> None:
    other = store.find_integration(conn, name, record.org_id)
    if other is not None and other.id != record.id:
        raise IdsyncError(
            INVALID_INTEGRATION,
            reason=f"the organisation already has an integration named {name!r}",
            hint="Choose another --name.",
        )


def remove_integration(db: Database, ref: str, *, actor: str) -> IntegrationRecord:
    record = get_integration(db, ref)
    with db.write() as conn:
        store.delete_integration(conn, record.id)
        _audit(conn, record, record.org_id, "Remove integration", actor, {"name": record.name})
    return record


def run_cycle(
    db: Database,
    config: Settings,
    ref: str,
    *,
    full: bool = False,
    preview: bool = False,
    progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
    even_if_paused: bool = False,
    actor: str = "scheduler",
    follow_running: bool = False,
    following: Callable[[JobRecord], None] | None = None,
) -> CycleReport:
    """Run one cycle of the integration's job. A paused job is refused (IDS-409-015) unless
    ``even_if_paused``; such a run is recorded in the audit log, and the job stays paused.

    While another process runs the job's cycle, it is refused (IDS-409-014), or, with
    ``follow_running``, followed to its end (``following`` is told): its report is this
    call's, as if it had run it here."""
    record = get_integration(db, ref)
    if even_if_paused and not preview:
        _audit_paused_run(db, record, actor)
    options: dict[str, Any] = {
        "full": full,
        "preview": preview,
        "progress": progress,
        "log_days": config.provisioning_log_days,
        "should_stop": should_stop,
        "even_if_paused": even_if_paused,
    }
    while True:
        try:
            with _connected(db, config, record) as (source, target):
                return Cycle(
                    db,
                    record,
                    source,
                    target,
                    defaults=_defaults(record.kind, record.direction),
                    **options,
                ).run()
        except IdsyncError as exc:
            if not follow_running or exc.error is not JOB_BUSY:
                raise
        if following is not None:
            following(get_job(db, record.id))
        report = follow(db, record, progress)
        if report is not None:
            return report


def _audit_paused_run(db: Database, record: IntegrationRecord, actor: str) -> None:
    with db.write() as conn:
        if store.get_job(conn, record.id).status == JobStatus.PAUSED:
            _audit(conn, record, record.org_id, "Run paused sync job", actor)


@contextmanager
def _connected(
    db: Database, config: Settings, record: IntegrationRecord
) -> Iterator[tuple[Source, Target]]:
    """The integration's source and target, closed whatever happens."""
    secrets = SecretBox(db, config).open(record.secrets, record.name)
    source = registry.open_source(db, record, secrets)
    try:
        target = registry.open_target(db, record, secrets)
        try:
            yield source, target
        finally:
            target.close()
    finally:
        source.close()


def provision_one(
    db: Database, config: Settings, ref: str, object_type: ObjectType, source_id: str
) -> list[dict[str, Any]]:
    """Provision one object now; returns its provisioning log entries."""
    record = get_integration(db, ref)
    with _connected(db, config, record) as (source, target):
        cycle = Cycle(db, record, source, target, defaults=_defaults(record.kind, record.direction))
        cycle_id = cycle.run_one(object_type, source_id)
    with db.read() as conn:
        entries = state.read_log(conn, record.id, cycle_id=cycle_id, limit=1000)
    return list(reversed(entries))


RESETS = ("watermark", "escrow", "quarantine", "full")


def restart(db: Database, ref: str, resets: list[str], *, actor: str) -> JobRecord:
    """Entra's "restart provisioning": clear what the administrator asks, make the job due now."""
    record = get_integration(db, ref)
    unknown = sorted(set(resets) - set(RESETS))
    if unknown:
        raise IdsyncError(
            INVALID_INTEGRATION,
            reason=f"unknown reset {', '.join(unknown)}",
            hint="Use any of: " + ", ".join(RESETS),
        )
    everything = "full" in resets
    values: dict[str, Any] = {"next_run_at": utcnow()}
    if everything or "watermark" in resets:
        values.update(watermark={}, checkpoint=None)
    if everything or "quarantine" in resets:
        values.update(
            status=JobStatus.ACTIVE,
            reason_code=None,
            reason=None,
            quarantined_at=None,
            successive_failures=0,
        )
    with db.write() as conn:
        if everything or "escrow" in resets:
            state.clear_escrow(conn, record.id)
        store.update_job(conn, record.id, **values)
        _audit(conn, record, record.org_id, "Restart sync job", actor, {"reset": sorted(resets)})
    return get_job(db, record.id)


def set_paused(db: Database, ref: str, paused: bool, *, actor: str) -> JobRecord:
    record = get_integration(db, ref)
    with db.write() as conn:
        job = store.get_job(conn, record.id)
        resumed = JobStatus.ACTIVE if job.last_cycle_id else JobStatus.NOT_RUN
        store.update_job(
            conn,
            record.id,
            status=JobStatus.PAUSED if paused else resumed,
            reason_code=None,
            reason=PAUSED_REASON if paused else None,
        )
        _audit(
            conn, record, record.org_id, "Pause sync job" if paused else "Resume sync job", actor
        )
    return get_job(db, record.id)


def approve_deletes(db: Database, config: Settings, ref: str, *, actor: str) -> dict[str, int]:
    """Apply the removals a cycle staged (deletion threshold or a shrunken source)."""
    record = get_integration(db, ref)
    with db.read() as conn:
        staged = state.list_pending(conn, record.id, staged=True)
    tally = Tally()
    job = get_job(db, record.id)
    secrets = SecretBox(db, config).open(record.secrets, record.name)
    target = registry.open_target(db, record, secrets)
    try:
        apply_removals(db, record, target, staged, job.last_cycle_id or "approval", tally)
    finally:
        target.close()
    with db.write() as conn:
        if job.status == JobStatus.QUARANTINE and job.reason_code in (
            DELETION_THRESHOLD.code,
            SOURCE_SHRANK.code,
        ):
            store.update_job(
                conn,
                record.id,
                status=JobStatus.ACTIVE,
                reason_code=None,
                reason=None,
                quarantined_at=None,
            )
        _audit(conn, record, record.org_id, "Approve staged deletions", actor, dict(tally.counts))
    return dict(tally.counts)
