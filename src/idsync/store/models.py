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

    __table_args__ = (
        # Unique, as Entra ID requires: it matches groups by displayName, and two
        # groups with one name would make every later match ambiguous.
        Index("ux_groups_org_display_name", "org_id", "display_name_key", unique=True),
        Index("ux_groups_org_external_id", "org_id", "external_id", unique=True),
        Index("ix_groups_org_updated", "org_id", "updated_at"),
        Index("ix_groups_org_id", "org_id", "id"),
    )


class Membership(Base):
    """One member of one group: a user or a nested group, never both."""

    __tablename__ = "memberships"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"))
    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    member_group_id: Mapped[str | None] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        CheckConstraint(
            "(user_id IS NULL) <> (member_group_id IS NULL)", name="ck_memberships_one_member"
        ),
        Index("ux_memberships_group_user", "group_id", "user_id", unique=True),
        Index("ux_memberships_group_group", "group_id", "member_group_id", unique=True),
        Index("ix_memberships_user", "user_id"),
        Index("ix_memberships_member_group", "member_group_id"),
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

    __table_args__ = (
        Index("ix_audit_org_time", "org_id", "occurred_at"),
        Index("ix_audit_activity", "activity", "occurred_at"),
    )


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
