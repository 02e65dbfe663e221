"""The database schema (SQLAlchemy 2 Core tables). Migrations in ``migrations/`` follow it.

Design notes:

* Every row that belongs to an organisation carries ``org_id``, and every query
  filters on it first: tenancy is enforced by the indexes' leading column.
* A SCIM resource is stored as its attributes in ``doc`` (a JSON document), plus
  the attributes clients look up on every sync copied into indexed columns in
  their comparison form (``*_key``: NFC, lowercased unless caseExact).
* A group membership is one row. Member lists are never stored as arrays, so
  adding one member to a 100k-member group writes one row.
* Core tables, not ORM classes: every query is a Core statement (the hot paths most
  of all), and leaving ``sqlalchemy.orm`` and its mappers out takes about a sixth off
  every command's start-up.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)

from idsync.store.types import JSONDocument, UTCDateTime, utcnow

METADATA = MetaData()

ID = String(36).with_variant(String(36, collation="C"), "postgresql")
"""Resource ids: UUID strings (RFC 7643 §3.1 wants them stable and non-reassignable),
compared byte by byte on PostgreSQL as on SQLite (migration 0015)."""
BIG_ID = BigInteger().with_variant(Integer, "sqlite")
"""Row ids of the tables that grow without bound (SQLite's rowid is 64-bit already)."""


def _partial(condition: str) -> dict[str, Any]:
    return {"sqlite_where": text(condition), "postgresql_where": text(condition)}


_WHERE_USER = _partial("user_id IS NOT NULL")
_WHERE_GROUP = _partial("member_group_id IS NOT NULL")


ORGS = Table(
    "orgs",
    METADATA,
    Column("id", ID, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("name_key", String(200), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False, default=utcnow),
    # Bumped whenever the org's custom schemas change, so cached models are rebuilt.
    Column("schema_revision", Integer, nullable=False, default=0, server_default=text("0")),
    # ``representation`` (RFC 7644 §3.5.2's 200 with the group) or ``minimal`` (204).
    Column(
        "group_patch_response",
        String(20),
        nullable=False,
        default="representation",
        server_default=text("'representation'"),
    ),
    # Which clients' PATCH value filters that match nothing create the value: ``entra``
    # (requests recognisably Entra ID's), ``all``, or ``none`` (RFC 7644 §3.5.2.3's noTarget).
    Column(
        "patch_upsert", String(10), nullable=False, default="entra", server_default=text("'entra'")
    ),
    # The org's "Allow directory sync" switch: off, no integration of the org runs a cycle.
    Column("directory_sync", Boolean, nullable=False, default=True, server_default=text("true")),
)


# A custom extension schema an organisation declares for one resource type.
ORG_SCHEMAS = Table(
    "org_schemas",
    METADATA,
    Column("org_id", ID, ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True),
    Column("schema_id", String(300), primary_key=True),
    Column("resource_type", String(50), nullable=False),
    Column("required", Boolean, nullable=False, default=False),
    Column("definition", JSONDocument, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False, default=utcnow),
)


USERS = Table(
    "users",
    METADATA,
    Column("id", ID, primary_key=True),
    Column("org_id", ID, ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False),
    Column("user_name", Text, nullable=False),
    Column("user_name_key", Text, nullable=False),
    Column("external_id", Text),
    Column("display_name", Text),
    Column("active", Boolean, nullable=False, default=True),
    Column("doc", JSONDocument, nullable=False),
    Column("password_hash", Text),
    Column("version", Integer, nullable=False, default=1),
    Column("created_at", UTCDateTime(), nullable=False, default=utcnow),
    Column("updated_at", UTCDateTime(), nullable=False, default=utcnow),
    # The integration that provisions this user; None: created by hand or over SCIM.
    Column("owner_integration_id", ID),
    Index("ux_users_org_user_name", "org_id", "user_name_key", unique=True),
    # externalId is not unique in RFC 7643, but Entra and Okta match on it: a
    # second user with the same externalId would be a duplicate created by a
    # client retry, which is exactly what must never happen.
    Index("ux_users_org_external_id", "org_id", "external_id", unique=True),
    Index("ix_users_org_updated", "org_id", "updated_at"),
    Index("ix_users_org_id", "org_id", "id"),
)


GROUPS = Table(
    "groups",
    METADATA,
    Column("id", ID, primary_key=True),
    Column("org_id", ID, ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False),
    Column("display_name", Text, nullable=False),
    Column("display_name_key", Text, nullable=False),
    Column("external_id", Text),
    Column("doc", JSONDocument, nullable=False),
    Column("version", Integer, nullable=False, default=1),
    Column("created_at", UTCDateTime(), nullable=False, default=utcnow),
    Column("updated_at", UTCDateTime(), nullable=False, default=utcnow),
    Column("owner_integration_id", ID),
    # Unique, as Entra ID requires: it matches groups by displayName, and two
    # groups with one name would make every later match ambiguous.
    Index("ux_groups_org_display_name", "org_id", "display_name_key", unique=True),
    Index("ux_groups_org_external_id", "org_id", "external_id", unique=True),
    Index("ix_groups_org_updated", "org_id", "updated_at"),
    Index("ix_groups_org_id", "org_id", "id"),
)


# One member of one group: a user or a nested group, never both.
MEMBERSHIPS = Table(
    "memberships",
    METADATA,
    Column("id", BIG_ID, primary_key=True),
    # No foreign key: the group's key already ties the membership to its org, and
    # PostgreSQL would check this one row by row (5 s per million memberships).
    Column("org_id", ID, nullable=False),
    # Foreign keys on SQLite; on PostgreSQL, triggers that check a whole statement's rows
    # at once (migration 0012: the per-row checks were half of a first load's writes).
    Column("group_id", ID, ForeignKey("groups.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", ID, ForeignKey("users.id", ondelete="CASCADE")),
    Column("member_group_id", ID, ForeignKey("groups.id", ondelete="CASCADE")),
    Column("created_at", UTCDateTime(), nullable=False, default=utcnow),
    # A sync cycle only ever removes memberships its own integration added.
    Column("owner_integration_id", ID),
    # The last full sync cycle that found this membership in the source.
    Column("seen_cycle", ID),
    CheckConstraint(
        "(user_id IS NULL) <> (member_group_id IS NULL)", name="ck_memberships_one_member"
    ),
    # Every row: it is the index by group, for the cascade of a group's deletion and
    # every "members of these groups" read (a partial one cannot answer ``group_id =
    # ?`` alone). Nested groups' rows are few; NULL user_ids never clash.
    Index("ux_memberships_group_user", "group_id", "user_id", unique=True),
    # Partial: a row indexes only the kind of member it holds. A directory sync
    # inserts a million user memberships; entries for their NULL member_group_id
    # would cost two more B-tree inserts each and serve no query.
    Index("ux_memberships_group_group", "group_id", "member_group_id", unique=True, **_WHERE_GROUP),
    Index("ix_memberships_user", "user_id", **_WHERE_USER),
    Index("ix_memberships_member_group", "member_group_id", **_WHERE_GROUP),
)


# A bearer token for one organisation's SCIM API. Only its SHA-256 is stored.
TOKENS = Table(
    "tokens",
    METADATA,
    Column("id", ID, primary_key=True),
    Column("org_id", ID, ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("prefix", String(32), nullable=False),
    Column("secret_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False, default=utcnow),
    Column("expires_at", UTCDateTime()),
    Column("last_used_at", UTCDateTime()),
    Column("revoked_at", UTCDateTime()),
)


# An administrative or security event, queryable by org, date, category and activity.
AUDIT_EVENTS = Table(
    "audit_events",
    METADATA,
    Column("id", BIG_ID, primary_key=True),
    Column("org_id", ID, ForeignKey("orgs.id", ondelete="CASCADE")),
    Column("occurred_at", UTCDateTime(), nullable=False, default=utcnow),
    Column("category", String(50), nullable=False),
    Column("activity", String(100), nullable=False),
    Column("result", String(20), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("target", String(300)),
    Column("tracking_id", String(64)),
    Column("details", JSONDocument, nullable=False, default=dict),
    # How many events this row stands for (repeated rejections are counted, not repeated).
    Column("count", Integer, nullable=False, default=1, server_default=text("1")),
    # Names the events a counted row gathers (source, token prefix, time window).
    Column("aggregate_key", String(200)),
    Index("ix_audit_org_time", "org_id", "occurred_at"),
    Index("ix_audit_activity", "activity", "occurred_at"),
    Index("ix_audit_aggregate_key", "aggregate_key", unique=True),
    Index("ix_audit_time", "occurred_at"),
)


# --- sync: integrations, their jobs, and what each cycle did ---------------------------------


# A connected directory or application of one organisation, with its sync settings.
INTEGRATIONS = Table(
    "integrations",
    METADATA,
    Column("id", ID, primary_key=True),
    Column("org_id", ID, ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(20), nullable=False),
    # ``source`` (a directory read into the hub) or ``target`` (an application pushed to).
    Column("direction", String(10), nullable=False),
    Column("name", String(200), nullable=False),
    Column("name_key", String(200), nullable=False),
    # Connection settings without secrets (URLs, tenant and client ids, base DNs).
    Column("settings", JSONDocument, nullable=False),
    # Credentials as one encrypted token (Fernet); never stored or logged in clear.
    Column("secrets", Text),
    Column("matching_attribute", String(100), nullable=False),
    Column("mappings", JSONDocument, nullable=False),
    Column("scoping", JSONDocument, nullable=False),
    Column("interval_seconds", Integer, nullable=False),
    Column("auto_sync", Boolean, nullable=False),
    Column("deletion_threshold", Integer, nullable=False),
    # Let cycles take over hub objects they match that no integration owns.
    Column("adopt_existing", Boolean, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False, default=utcnow),
    Column("updated_at", UTCDateTime(), nullable=False, default=utcnow),
    Index("ux_integrations_org_name", "org_id", "name_key", unique=True),
)


# The sync job of one integration: its status (Entra's vocabulary) and its state.
SYNC_JOBS = Table(
    "sync_jobs",
    METADATA,
    Column(
        "integration_id", ID, ForeignKey("integrations.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("org_id", ID, ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False),
    Column("status", String(20), nullable=False),
    Column("reason_code", String(20)),
    Column("reason", Text),
    # Per object type, where the next incremental read starts (empty: read everything).
    Column("watermark", JSONDocument, nullable=False),
    # Progress of an unfinished cycle, so a crash resumes instead of starting over.
    Column("checkpoint", JSONDocument),
    Column("successive_failures", Integer, nullable=False, default=0),
    Column("quarantined_at", UTCDateTime()),
    Column("next_run_at", UTCDateTime()),
    Column("running_since", UTCDateTime()),
    Column("running_by", String(200)),
    Column("last_cycle_id", ID),
    Column("last_cycle_at", UTCDateTime()),
    Column("counts", JSONDocument, nullable=False),
    # Per object type, how the latest read saw removals (``Removals.to_json()``).
    Column("removals", JSONDocument),
    # Of the work that last changed the status (a cycle, an administrator's action).
    Column("tracking_id", String(64)),
    # What the other side said when the job last failed (AADSTS code, trace and
    # correlation IDs, request-id, LDAP result, HTTP status), secrets removed.
    Column("evidence", JSONDocument),
    Column("updated_at", UTCDateTime(), nullable=False, default=utcnow),
)


SYNC_CYCLES = Table(
    "sync_cycles",
    METADATA,
    Column("id", ID, primary_key=True),
    Column("integration_id", ID, ForeignKey("integrations.id", ondelete="CASCADE"), nullable=False),
    Column("org_id", ID, ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False),
    # ``initial``, ``incremental``, ``full`` (a full read after the first) or ``preview``.
    Column("mode", String(20), nullable=False),
    Column("status", String(20), nullable=False),
    Column("started_at", UTCDateTime(), nullable=False, default=utcnow),
    Column("finished_at", UTCDateTime()),
    Column("counts", JSONDocument, nullable=False),
    Column("timings", JSONDocument, nullable=False),
    Column("error_code", String(20)),
    Column("reason", Text),
    # On every server log line the cycle writes.
    Column("tracking_id", String(64)),
    # Upstream identifiers of the failure that ended the cycle, if one did.
    Column("evidence", JSONDocument),
    Index("ix_sync_cycles_integration", "integration_id", "started_at"),
    Index("ix_sync_cycles_tracking", "tracking_id"),
)


# What one cycle did (or refused to do) to one object, and why.
PROVISIONING_LOG = Table(
    "provisioning_log",
    METADATA,
    Column("id", BIG_ID, primary_key=True),
    Column("org_id", ID, ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False),
    Column("integration_id", ID, ForeignKey("integrations.id", ondelete="CASCADE"), nullable=False),
    Column("cycle_id", ID, nullable=False),
    Column("occurred_at", UTCDateTime(), nullable=False, default=utcnow),
    Column("object_type", String(10), nullable=False),
    Column("source_id", Text, nullable=False),
    Column("target_id", ID),
    Column("display", Text),
    # create, update, disable, delete, skip or stagedDelete.
    Column("action", String(20), nullable=False),
    # success, failure, skipped or staged.
    Column("result", String(10), nullable=False),
    # Where it ended: import, scope, match, diff or export.
    Column("step", String(10), nullable=False),
    Column("error_code", String(20)),
    Column("reason", Text),
    Column("recommended_action", Text),
    Column("changes", JSONDocument),
    # A failure's own (on its server log line); otherwise the cycle's.
    Column("tracking_id", String(64)),
    Index("ix_provisioning_log_integration", "integration_id", "id"),
    Index("ix_provisioning_log_source", "integration_id", "source_id"),
    Index("ix_provisioning_log_tracking", "tracking_id"),
)


# The link between a source object and the target object a cycle made of it.
SYNC_OBJECTS = Table(
    "sync_objects",
    METADATA,
    Column(
        "integration_id", ID, ForeignKey("integrations.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("object_type", String(10), primary_key=True),
    Column("source_id", String(300), primary_key=True),
    Column("target_id", ID),
    # Hash of the mapped attributes last exported: an unchanged object costs no write.
    Column("digest", String(32)),
    # ``active``, ``disabled`` (out of scope or soft-deleted) or ``removed``.
    Column("state", String(10), nullable=False),
    # The last full cycle that read this object: unseen ones are gone from the source.
    Column("seen_cycle", ID),
    # A user's manager (a source id) not yet resolvable when the user was written.
    Column("pending_ref", String(300)),
    Index("ix_sync_objects_target", "integration_id", "target_id"),
    Index(
        "ix_sync_objects_pending_ref",
        "integration_id",
        "pending_ref",
        **_partial("pending_ref IS NOT NULL"),
    ),
)


# A deletion or disable a cycle decided on, applied only once the cycle knows it is safe.
#
# ``staged`` ones wait for an administrator's approval (deletion threshold).
SYNC_PENDING = Table(
    "sync_pending",
    METADATA,
    Column(
        "integration_id", ID, ForeignKey("integrations.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("object_type", String(10), primary_key=True),
    Column("source_id", String(300), primary_key=True),
    Column("target_id", ID, nullable=False),
    # ``disable`` or ``delete``.
    Column("action", String(10), nullable=False),
    Column("reason", Text, nullable=False),
    Column("cycle_id", ID, nullable=False),
    Column("staged", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime(), nullable=False, default=utcnow),
)


# A membership the source reported whose member is not (yet) in the target: a user
# out of scope, failed into escrow, or a nested group read later. Added once it is.
SYNC_PENDING_MEMBERS = Table(
    "sync_pending_members",
    METADATA,
    Column(
        "integration_id", ID, ForeignKey("integrations.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("group_source_id", String(300), primary_key=True),
    Column("member_type", String(10), primary_key=True),
    Column("member_source_id", String(300), primary_key=True),
)


# An object that failed to export, retried in later cycles with backoff.
SYNC_ESCROW = Table(
    "sync_escrow",
    METADATA,
    Column(
        "integration_id", ID, ForeignKey("integrations.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("object_type", String(10), primary_key=True),
    Column("source_id", String(300), primary_key=True),
    Column("attempts", Integer, nullable=False),
    Column("error_code", String(20)),
    Column("reason", Text),
    Column("first_failed_at", UTCDateTime(), nullable=False, default=utcnow),
    Column("next_attempt_at", UTCDateTime(), nullable=False, default=utcnow),
)


# An object a push integration created in (or adopted into) a SCIM application, with
# the assignments last sent: the next update sends only what differs from them.
PUSH_OBJECTS = Table(
    "push_objects",
    METADATA,
    Column(
        "integration_id", ID, ForeignKey("integrations.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("object_type", String(10), primary_key=True),
    # The application's id (any string: not every application uses UUIDs).
    Column("target_id", String(300), primary_key=True),
    # SCIM path → value last pushed.
    Column("assignments", JSONDocument, nullable=False),
)


# A create a push integration sent and has not yet remembered the answer of, by its key
# (userName or displayName, folded). POST has no idempotency key (RFC 7644 §3.3): if the
# process dies between the application's create and the ledger's row, the next cycle finds
# the object by its key, and this row tells it the object is its own.
PUSH_CREATING = Table(
    "push_creating",
    METADATA,
    Column(
        "integration_id", ID, ForeignKey("integrations.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("object_type", String(10), primary_key=True),
    Column("key", Text, primary_key=True),
)


# A membership a push integration added to a group in a SCIM application. Member lists
# are never read back from the application: a one-member change costs one small PATCH.
PUSH_MEMBERS = Table(
    "push_members",
    METADATA,
    Column(
        "integration_id", ID, ForeignKey("integrations.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("group_id", String(300), primary_key=True),
    Column("member_type", String(10), primary_key=True),
    Column("member_id", String(300), primary_key=True),
    # The last full reconcile that reported it (see ``Target.remove_unlisted_members``).
    Column("seen_cycle", ID),
)


# What diagnosis concluded about a failing integration: the cause, the evidence,
# what idsync protected and how to repair it (see idsync.health).
FINDINGS = Table(
    "findings",
    METADATA,
    Column("id", ID, primary_key=True),
    Column("org_id", ID, ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False),
    Column("integration_id", ID, ForeignKey("integrations.id", ondelete="CASCADE"), nullable=False),
    # The failure's (the cycle's or the job change's), so debug info finds the finding.
    Column("tracking_id", String(64), nullable=False),
    Column("cause", String(60), nullable=False),
    Column("summary", Text, nullable=False),
    Column("confidence", String(10), nullable=False),
    Column("evidence", JSONDocument, nullable=False),
    Column("protected", JSONDocument, nullable=False),
    Column("repair", JSONDocument, nullable=False),
    # ``open`` until validation or a clean cycle shows the integration healthy: ``resolved``.
    Column("status", String(10), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False, default=utcnow),
    Column("updated_at", UTCDateTime(), nullable=False, default=utcnow),
    Column("resolved_at", UTCDateTime()),
    Index("ix_findings_integration", "integration_id", "created_at"),
    Index("ix_findings_tracking", "tracking_id"),
)


# Where an organisation's alerts go (see idsync.health.alerts): a webhook, whose
# signing secret is encrypted like integrations' credentials, and e-mail recipients.
ALERT_SETTINGS = Table(
    "alert_settings",
    METADATA,
    Column("org_id", ID, ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True),
    Column("webhook_url", Text),
    # Fernet-encrypted (``sync/secrets.py``): signing needs the secret itself, not a hash.
    Column("webhook_secret", Text),
    Column("webhook_enabled", Boolean, nullable=False, default=False),
    # ``{"recipients": [...]}``.
    Column("email_to", JSONDocument, nullable=False),
    Column("email_enabled", Boolean, nullable=False, default=False),
    Column("updated_at", UTCDateTime(), nullable=False, default=utcnow),
)


# --- the console: operators (administrators, not SCIM users), their sessions and API keys ---


# An administrator of the console and the management API, with one role, for one org or all.
OPERATORS = Table(
    "operators",
    METADATA,
    Column("id", ID, primary_key=True),
    Column("email", String(320), nullable=False),
    Column("email_key", String(320), nullable=False, unique=True),
    # argon2id (argon2-cffi); None for an operator who signs in only with OpenID Connect.
    Column("password_hash", Text),
    Column("role", String(20), nullable=False),
    # None: every organisation (an instance administrator).
    Column("org_id", ID, ForeignKey("orgs.id", ondelete="CASCADE"), index=True),
    Column("created_at", UTCDateTime(), nullable=False, default=utcnow),
    Column("failed_sign_ins", Integer, nullable=False, default=0, server_default=text("0")),
    Column("locked_until", UTCDateTime()),
    Column("last_sign_in_at", UTCDateTime()),
)

# A signed-in browser. Only the cookie's SHA-256 is stored; the CSRF token is the
# session's own (a synchronizer token, sent back in forms and the X-CSRF-Token header).
OPERATOR_SESSIONS = Table(
    "operator_sessions",
    METADATA,
    Column("secret_hash", String(64), primary_key=True),
    Column(
        "operator_id",
        ID,
        ForeignKey("operators.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("csrf_token", String(64), nullable=False),
    Column("address", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False, default=utcnow),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("last_seen_at", UTCDateTime(), nullable=False, default=utcnow),
)

# A script's key to the management API, acting as its operator. SHA-256 only, as tokens.
OPERATOR_KEYS = Table(
    "operator_keys",
    METADATA,
    Column("id", ID, primary_key=True),
    Column(
        "operator_id",
        ID,
        ForeignKey("operators.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("name", String(200), nullable=False),
    Column("prefix", String(32), nullable=False),
    Column("secret_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False, default=utcnow),
    Column("last_used_at", UTCDateTime()),
    Column("revoked_at", UTCDateTime()),
)
