"""The database schema (SQLAlchemy 2 declarative). Migrations in ``migrations/`` follow it.

Design notes:

* Every row that belongs to an organisation carries ``org_id``, and every query
  filters on it first: tenancy is enforced by the indexes' leading column.
* A SCIM resource is stored as its attributes in ``doc`` (a JSON document), plus
  the attributes clients look up on every sync copied into indexed columns in
  their comparison form (``*_key``: NFC, lowercased unless caseExact).
* A group membership is one row. Member lists are never stored as arrays, so
  adding one member to a 100k-member group writes one row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from idsync.store.types import JSONDocument, UTCDateTime, utcnow

ID = String(36)
"""Resource ids: UUID strings (RFC 7643 §3.1 wants them stable and non-reassignable)."""


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSONDocument,
    }


class Org(Base):
    __tablename__ = "orgs"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    schema_revision: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    """Bumped whenever the org's custom schemas change, so cached models are rebuilt."""
    group_patch_response: Mapped[str] = mapped_column(
        String(20), default="representation", server_default=text("'representation'")
    )
    """``representation`` (RFC 7644 §3.5.2's 200 with the group) or ``minimal`` (204)."""
    patch_upsert: Mapped[str] = mapped_column(
        String(10), default="entra", server_default=text("'entra'")
    )
    """Which clients' PATCH value filters that match nothing create the value: ``entra``
    (requests recognisably Entra ID's), ``all``, or ``none`` (RFC 7644 §3.5.2.3's noTarget)."""


class OrgSchema(Base):
    """A custom extension schema an organisation declares for one resource type."""

    __tablename__ = "org_schemas"

    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True)
    schema_id: Mapped[str] = mapped_column(String(300), primary_key=True)
    resource_type: Mapped[str] = mapped_column(String(50))
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    definition: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"))
    user_name: Mapped[str] = mapped_column(Text)
    user_name_key: Mapped[str] = mapped_column(Text)
    external_id: Mapped[str | None] = mapped_column(Text)
    display_name: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    doc: Mapped[dict[str, Any]]
    password_hash: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    owner_integration_id: Mapped[str | None] = mapped_column(ID)
    """The integration that provisions this user; None: created by hand or over SCIM."""

    __table_args__ = (
        Index("ux_users_org_user_name", "org_id", "user_name_key", unique=True),
        # externalId is not unique in RFC 7643, but Entra and Okta match on it: a
        # second user with the same externalId would be a duplicate created by a
        # client retry, which is exactly what must never happen.
        Index("ux_users_org_external_id", "org_id", "external_id", unique=True),
        Index("ix_users_org_updated", "org_id", "updated_at"),
        Index("ix_users_org_id", "org_id", "id"),
    )


class Group(Base):
    __tablename__ = "groups"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"))
    display_name: Mapped[str] = mapped_column(Text)
    display_name_key: Mapped[str] = mapped_column(Text)
    external_id: Mapped[str | None] = mapped_column(Text)
    doc: Mapped[dict[str, Any]]
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    owner_integration_id: Mapped[str | None] = mapped_column(ID)

    __table_args__ = (
        # Unique, as Entra ID requires: it matches groups by displayName, and two
        # groups with one name would make every later match ambiguous.
        Index("ux_groups_org_display_name", "org_id", "display_name_key", unique=True),
        Index("ux_groups_org_external_id", "org_id", "external_id", unique=True),
        Index("ix_groups_org_updated", "org_id", "updated_at"),
        Index("ix_groups_org_id", "org_id", "id"),
    )


def _partial(condition: str) -> dict[str, Any]:
    return {"sqlite_where": text(condition), "postgresql_where": text(condition)}


_WHERE_USER = _partial("user_id IS NOT NULL")
_WHERE_GROUP = _partial("member_group_id IS NOT NULL")


class Membership(Base):
    """One member of one group: a user or a nested group, never both."""

    __tablename__ = "memberships"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"))
    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    member_group_id: Mapped[str | None] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    owner_integration_id: Mapped[str | None] = mapped_column(ID)
    """A sync cycle only ever removes memberships its own integration added."""
    seen_cycle: Mapped[str | None] = mapped_column(ID)
    """The last full sync cycle that found this membership in the source."""

    __table_args__ = (
        CheckConstraint(
            "(user_id IS NULL) <> (member_group_id IS NULL)", name="ck_memberships_one_member"
        ),
        # Partial: a row indexes only the kind of member it holds. A directory sync
        # inserts a million user memberships; entries for their NULL member_group_id
        # would cost two more B-tree inserts each and serve no query.
        Index("ux_memberships_group_user", "group_id", "user_id", unique=True, **_WHERE_USER),
        Index(
            "ux_memberships_group_group", "group_id", "member_group_id", unique=True, **_WHERE_GROUP
        ),
        Index("ix_memberships_user", "user_id", **_WHERE_USER),
        Index("ix_memberships_member_group", "member_group_id", **_WHERE_GROUP),
    )


class Token(Base):
    """A bearer token for one organisation's SCIM API. Only its SHA-256 is stored."""

    __tablename__ = "tokens"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(32))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class AuditEvent(Base):
    """An administrative or security event, queryable by org, date, category and activity."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    org_id: Mapped[str | None] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"))
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    category: Mapped[str] = mapped_column(String(50))
    activity: Mapped[str] = mapped_column(String(100))
    result: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(200))
    target: Mapped[str | None] = mapped_column(String(300))
    tracking_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    count: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    """How many events this row stands for (repeated rejections are counted, not repeated)."""
    aggregate_key: Mapped[str | None] = mapped_column(String(200))
    """Names the events a counted row gathers (source, token prefix, time window)."""

    __table_args__ = (
        Index("ix_audit_org_time", "org_id", "occurred_at"),
        Index("ix_audit_activity", "activity", "occurred_at"),
        Index("ix_audit_aggregate_key", "aggregate_key", unique=True),
        Index("ix_audit_time", "occurred_at"),
    )


# --- sync: integrations, their jobs, and what each cycle did ---------------------------------


class Integration(Base):
    """A connected directory or application of one organisation, with its sync settings."""

    __tablename__ = "integrations"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    direction: Mapped[str] = mapped_column(String(10))
    """``source`` (a directory read into the hub) or ``target`` (an application pushed to)."""
    name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(String(200))
    settings: Mapped[dict[str, Any]]
    """Connection settings without secrets (URLs, tenant and client ids, base DNs)."""
    secrets: Mapped[str | None] = mapped_column(Text)
    """Credentials as one encrypted token (Fernet); never stored or logged in clear."""
    matching_attribute: Mapped[str] = mapped_column(String(100))
    mappings: Mapped[dict[str, Any]]
    scoping: Mapped[dict[str, Any]]
    interval_seconds: Mapped[int] = mapped_column(Integer)
    auto_sync: Mapped[bool] = mapped_column(Boolean)
    deletion_threshold: Mapped[int] = mapped_column(Integer)
    adopt_existing: Mapped[bool] = mapped_column(Boolean)
    """Let cycles take over hub objects they match that no integration owns."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ux_integrations_org_name", "org_id", "name_key", unique=True),)


class SyncJob(Base):
    """The sync job of one integration: its status (Entra's vocabulary) and its state."""

    __tablename__ = "sync_jobs"

    integration_id: Mapped[str] = mapped_column(
        ForeignKey("integrations.id", ondelete="CASCADE"), primary_key=True
    )
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20))
    reason_code: Mapped[str | None] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    watermark: Mapped[dict[str, Any]]
    """Per object type, where the next incremental read starts (empty: read everything)."""
    checkpoint: Mapped[dict[str, Any] | None]
    """Progress of an unfinished cycle, so a crash resumes instead of starting over."""
    successive_failures: Mapped[int] = mapped_column(Integer, default=0)
    quarantined_at: Mapped[datetime | None]
    next_run_at: Mapped[datetime | None]
    running_since: Mapped[datetime | None]
    running_by: Mapped[str | None] = mapped_column(String(200))
    last_cycle_id: Mapped[str | None] = mapped_column(ID)
    last_cycle_at: Mapped[datetime | None]
    counts: Mapped[dict[str, Any]]
    removals: Mapped[dict[str, Any] | None]
    """Per object type, how the latest read saw removals (``Removals.to_json()``)."""
    tracking_id: Mapped[str | None] = mapped_column(String(64))
    """Of the work that last changed the status (a cycle, an administrator's action)."""
    evidence: Mapped[dict[str, Any] | None]
    """What the other side said when the job last failed (AADSTS code, trace and
    correlation IDs, request-id, LDAP result, HTTP status), secrets removed."""
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class SyncCycle(Base):
    __tablename__ = "sync_cycles"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    integration_id: Mapped[str] = mapped_column(ForeignKey("integrations.id", ondelete="CASCADE"))
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"))
    mode: Mapped[str] = mapped_column(String(20))
    """``initial``, ``incremental``, ``full`` (a full read after the first) or ``preview``."""
    status: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    counts: Mapped[dict[str, Any]]
    timings: Mapped[dict[str, Any]]
    error_code: Mapped[str | None] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    tracking_id: Mapped[str | None] = mapped_column(String(64))
    """On every server log line the cycle writes."""
    evidence: Mapped[dict[str, Any] | None]
    """Upstream identifiers of the failure that ended the cycle, if one did."""

    __table_args__ = (
        Index("ix_sync_cycles_integration", "integration_id", "started_at"),
        Index("ix_sync_cycles_tracking", "tracking_id"),
    )


class ProvisioningLogEntry(Base):
    """What one cycle did (or refused to do) to one object, and why."""

    __tablename__ = "provisioning_log"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"))
    integration_id: Mapped[str] = mapped_column(ForeignKey("integrations.id", ondelete="CASCADE"))
    cycle_id: Mapped[str] = mapped_column(ID)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    object_type: Mapped[str] = mapped_column(String(10))
    source_id: Mapped[str] = mapped_column(Text)
    target_id: Mapped[str | None] = mapped_column(ID)
    display: Mapped[str | None] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(20))
    """create, update, disable, delete, skip or stagedDelete."""
    result: Mapped[str] = mapped_column(String(10))
    """success, failure, skipped or staged."""
    step: Mapped[str] = mapped_column(String(10))
    """Where it ended: import, scope, match, diff or export."""
    error_code: Mapped[str | None] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    recommended_action: Mapped[str | None] = mapped_column(Text)
    changes: Mapped[dict[str, Any] | None]
    tracking_id: Mapped[str | None] = mapped_column(String(64))
    """A failure's own (on its server log line); otherwise the cycle's."""

    __table_args__ = (
        Index("ix_provisioning_log_integration", "integration_id", "id"),
        Index("ix_provisioning_log_source", "integration_id", "source_id"),
        Index("ix_provisioning_log_tracking", "tracking_id"),
    )


class SyncObject(Base):
    """The link between a source object and the target object a cycle made of it."""

    __tablename__ = "sync_objects"

    integration_id: Mapped[str] = mapped_column(
        ForeignKey("integrations.id", ondelete="CASCADE"), primary_key=True
    )
    object_type: Mapped[str] = mapped_column(String(10), primary_key=True)
    source_id: Mapped[str] = mapped_column(String(300), primary_key=True)
    target_id: Mapped[str | None] = mapped_column(ID)
    digest: Mapped[str | None] = mapped_column(String(32))
    """Hash of the mapped attributes last exported: an unchanged object costs no write."""
    state: Mapped[str] = mapped_column(String(10))
    """``active``, ``disabled`` (out of scope or soft-deleted) or ``removed``."""
    seen_cycle: Mapped[str | None] = mapped_column(ID)
    """The last full cycle that read this object: unseen ones are gone from the source."""
    pending_ref: Mapped[str | None] = mapped_column(String(300))
    """A user's manager (a source id) not yet resolvable when the user was written."""

    __table_args__ = (
        Index("ix_sync_objects_target", "integration_id", "target_id"),
        Index(
            "ix_sync_objects_pending_ref",
            "integration_id",
            "pending_ref",
            **_partial("pending_ref IS NOT NULL"),
        ),
    )


class SyncPending(Base):
    """A deletion or disable a cycle decided on, applied only once the cycle knows it is safe.

    ``staged`` ones wait for an administrator's approval (deletion threshold).
    """

    __tablename__ = "sync_pending"

    integration_id: Mapped[str] = mapped_column(
        ForeignKey("integrations.id", ondelete="CASCADE"), primary_key=True
    )
    object_type: Mapped[str] = mapped_column(String(10), primary_key=True)
    source_id: Mapped[str] = mapped_column(String(300), primary_key=True)
    target_id: Mapped[str] = mapped_column(ID)
    action: Mapped[str] = mapped_column(String(10))
    """``disable`` or ``delete``."""
    reason: Mapped[str] = mapped_column(Text)
    cycle_id: Mapped[str] = mapped_column(ID)
    staged: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SyncPendingMember(Base):
    """A membership the source reported whose member is not (yet) in the target: a user
    out of scope, failed into escrow, or a nested group read later. Added once it is."""

    __tablename__ = "sync_pending_members"

    integration_id: Mapped[str] = mapped_column(
        ForeignKey("integrations.id", ondelete="CASCADE"), primary_key=True
    )
    group_source_id: Mapped[str] = mapped_column(String(300), primary_key=True)
    member_type: Mapped[str] = mapped_column(String(10), primary_key=True)
    member_source_id: Mapped[str] = mapped_column(String(300), primary_key=True)


class SyncEscrow(Base):
    """An object that failed to export, retried in later cycles with backoff."""

    __tablename__ = "sync_escrow"

    integration_id: Mapped[str] = mapped_column(
        ForeignKey("integrations.id", ondelete="CASCADE"), primary_key=True
    )
    object_type: Mapped[str] = mapped_column(String(10), primary_key=True)
    source_id: Mapped[str] = mapped_column(String(300), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer)
    error_code: Mapped[str | None] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    first_failed_at: Mapped[datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)


class PushObject(Base):
    """An object a push integration created in (or adopted into) a SCIM application, with
    the assignments last sent: the next update sends only what differs from them."""

    __tablename__ = "push_objects"

    integration_id: Mapped[str] = mapped_column(
        ForeignKey("integrations.id", ondelete="CASCADE"), primary_key=True
    )
    object_type: Mapped[str] = mapped_column(String(10), primary_key=True)
    target_id: Mapped[str] = mapped_column(String(300), primary_key=True)
    """The application's id (any string: not every application uses UUIDs)."""
    assignments: Mapped[dict[str, Any]]
    """SCIM path → value last pushed."""


class PushMember(Base):
    """A membership a push integration added to a group in a SCIM application. Member lists
    are never read back from the application: a one-member change costs one small PATCH."""

    __tablename__ = "push_members"

    integration_id: Mapped[str] = mapped_column(
        ForeignKey("integrations.id", ondelete="CASCADE"), primary_key=True
    )
    group_id: Mapped[str] = mapped_column(String(300), primary_key=True)
    member_type: Mapped[str] = mapped_column(String(10), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(300), primary_key=True)
    seen_cycle: Mapped[str | None] = mapped_column(ID)
    """The last full reconcile that reported it (see ``Target.remove_unlisted_members``)."""


class Finding(Base):
    """What diagnosis concluded about a failing integration: the cause, the evidence,
    what idsync protected and how to repair it (see idsync.health)."""

    __tablename__ = "findings"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"))
    integration_id: Mapped[str] = mapped_column(ForeignKey("integrations.id", ondelete="CASCADE"))
    tracking_id: Mapped[str] = mapped_column(String(64))
    """The failure's (the cycle's or the job change's), so debug info finds the finding."""
    cause: Mapped[str] = mapped_column(String(60))
    summary: Mapped[str] = mapped_column(Text)
    confidence: Mapped[str] = mapped_column(String(10))
    evidence: Mapped[dict[str, Any]]
    protected: Mapped[dict[str, Any]]
    repair: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(10))
    """``open`` until validation or a clean cycle shows the integration healthy: ``resolved``."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_findings_integration", "integration_id", "created_at"),
        Index("ix_findings_tracking", "tracking_id"),
    )


class AlertSettings(Base):
    """Where an organisation's alerts go (see idsync.health.alerts): a webhook, whose
    signing secret is encrypted like integrations' credentials, and e-mail recipients."""

    __tablename__ = "alert_settings"

    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True)
    webhook_url: Mapped[str | None] = mapped_column(Text)
    webhook_secret: Mapped[str | None] = mapped_column(Text)
    """Fernet-encrypted (``sync/secrets.py``): signing needs the secret itself, not a hash."""
    webhook_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    email_to: Mapped[dict[str, Any]]
    """``{"recipients": [...]}``."""
    email_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


def _table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


# The tables, typed for SQLAlchemy Core statements (the hot paths use Core, not the ORM).
ORGS = _table(Org)
ORG_SCHEMAS = _table(OrgSchema)
USERS = _table(User)
GROUPS = _table(Group)
MEMBERSHIPS = _table(Membership)
TOKENS = _table(Token)
AUDIT_EVENTS = _table(AuditEvent)
INTEGRATIONS = _table(Integration)
SYNC_JOBS = _table(SyncJob)
SYNC_CYCLES = _table(SyncCycle)
PROVISIONING_LOG = _table(ProvisioningLogEntry)
SYNC_OBJECTS = _table(SyncObject)
SYNC_PENDING = _table(SyncPending)
SYNC_ESCROW = _table(SyncEscrow)
SYNC_PENDING_MEMBERS = _table(SyncPendingMember)
PUSH_OBJECTS = _table(PushObject)
PUSH_MEMBERS = _table(PushMember)
FINDINGS = _table(Finding)
ALERT_SETTINGS = _table(AlertSettings)
