"""Integrations as an administrator manages them: add, change, remove, list (running
their jobs is idsync.manage.jobs)."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from idsync.config import Settings
from idsync.connectors import registry
from idsync.connectors.description import Connector, Setting, put, setting, settings_of
from idsync.contract.mappings import DefaultMappings
from idsync.contract.records import OBJECT_TYPES
from idsync.errors.catalogue import (
    INTEGRATION_NOT_FOUND,
    INVALID_INTEGRATION,
    SECRET_KEY_UNUSABLE,
    IdsyncError,
)
from idsync.store import audit, orgs
from idsync.store import integrations as store
from idsync.store.database import Database
from idsync.store.integrations import IntegrationRecord as IntegrationRecord
from idsync.store.integrations import JobRecord as JobRecord
from idsync.sync.jobs import JobStatus
from idsync.sync.mapping import AttributeMapping
from idsync.sync.scoping import Scope
from idsync.sync.secrets import SecretBox

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


def audit_integration(
    conn: Any,
    integration: IntegrationRecord | None,
    org_id: str,
    activity: str,
    actor: str,
    details: dict[str, Any] | None = None,
    tracking_id: str | None = None,
    result: str = "success",
) -> None:
    audit.record(
        conn,
        org_id=org_id,
        category="IntegrationManagement",
        activity=activity,
        result=result,
        actor=actor,
        target=integration.id if integration else None,
        tracking_id=tracking_id,
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
    first_run_now: bool = True,
) -> IntegrationRecord:
    """``first_run_now``: the scheduler runs the first cycle at once (auto sync on);
    otherwise it waits for the administrator's first run (the console's add flow, whose
    consent step comes first), then runs on schedule."""
    with db.read() as conn:
        orgs.require_org(conn, org_id)
    registry.validate(kind, direction, name, settings, secrets)  # before anything is stored
    _validate_rules(default_mappings(kind, direction), options)
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
        integration_id = store.insert_integration(conn, values, status, due=first_run_now)
        record = store.find_integration(conn, integration_id)
        assert record is not None
        audit_integration(
            conn, record, org_id, "Add integration", actor, {"kind": kind, "name": name}
        )
    return record


def source_kinds() -> list[tuple[str, str]]:
    """(kind, title) of every connector a directory can be read from."""
    return [(c.kind, c.title) for c in registry.connectors() if "source" in c.directions]


def form_settings(kind: str) -> tuple[Setting, ...]:
    """The connector's settings a form asks for: those typed as text (a secret typed
    into a password field), not those the CLI reads from files (keys, JSON)."""
    return tuple(
        s
        for s in registry.connector(kind).settings
        if s.kind != "json_file" and (s.secret or not s.file)
    )


def add_from_form(
    db: Database,
    config: Settings,
    *,
    org_id: str,
    kind: str,
    name: str,
    values: Mapping[str, str],
    actor: str,
) -> IntegrationRecord:
    """Add an integration from a form's text values by setting name (the console's add
    flow): parsed and validated by the connector's own description, as the CLI's flags."""
    described = registry.connector(kind)
    direction = described.directions[0]
    settings: dict[str, Any] = {}
    secrets: dict[str, Any] = {}
    for item in form_settings(kind):
        raw = values.get(item.name, "").strip()
        if raw:
            value: Any = (
                raw.lower() in ("on", "true", "yes", "1") if item.kind == "boolean" else raw
            )
            put(secrets if item.secret else settings, item.name, item.parse(value))
    return add_integration(
        db,
        config,
        org_id=org_id,
        kind=kind,
        name=name.strip() or described.default_name,
        settings=settings,
        secrets=secrets,
        options=IntegrationOptions(**default_options(kind, direction)),
        actor=actor,
        direction=direction,
        first_run_now=False,
    )


MATCHING_ATTRIBUTES = ("userName", "externalId")


def default_mappings(kind: str, direction: str) -> DefaultMappings:
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


def get_job(db: Database, integration_id: str) -> JobRecord:
    """The integration's sync job as it is now (state machine: sync/jobs.py)."""
    with db.read() as conn:
        return store.get_job(conn, integration_id)


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
    what is read (settings, mappings, scoping) makes the next cycle read everything; one
    only to how it is read (a page size, a timeout) keeps the watermark and checkpoint."""
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
        _validate_rules(default_mappings(record.kind, record.direction), options)
    values.update(_option_values(options))
    if changes.name is not None:
        values["name"] = _checked_name(changes.name)
    changed = _changed(record, values, described)
    changed += [f"credentials.{name}" for name in sorted(changes.secrets)]
    full_read = any(_rereads(described, name) for name in changed)
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
            audit_integration(conn, record, record.org_id, "Update integration", actor, details)
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


def _rereads(described: Connector, changed: str) -> bool:
    """Whether a change of ``changed`` (a name ``_changed`` gives) makes the next cycle read
    everything: mappings, scoping and every setting but those that change how the source is
    read, never what (``setting(rereads=False)``: page sizes, timeouts, TLS trust). Each
    source resumes by position, not by page, so its checkpoint stays good across them."""
    if changed in ("mappings", "scoping"):
        return True
    if not changed.startswith("settings."):
        return False
    key = changed.removeprefix("settings.")
    parts = [item for item in described.settings if item.key == key]
    return not parts or any(item.rereads for item in parts)


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
        audit_integration(
            conn, record, record.org_id, "Remove integration", actor, {"name": record.name}
        )
    return record
