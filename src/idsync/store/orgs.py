"""Organisations and their declared extension schemas."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from idsync.errors.catalogue import ORG_NOT_FOUND, IdsyncError
from idsync.store.models import ORG_SCHEMAS, ORGS
from idsync.store.types import utcnow

_orgs = ORGS
_schemas = ORG_SCHEMAS


@dataclass(frozen=True)
class OrgRecord:
    id: str
    name: str
    created_at: datetime
    schema_revision: int
    group_patch_response: str = "representation"
    patch_upsert: str = "entra"
    directory_sync: bool = True


@dataclass(frozen=True)
class SchemaRecord:
    schema_id: str
    resource_type: str
    required: bool
    definition: dict[str, Any]
    created_at: datetime


def name_key(name: str) -> str:
    return " ".join(name.split()).casefold()


def insert_org(conn: Connection, name: str) -> OrgRecord:
    record = OrgRecord(id=str(uuid.uuid4()), name=name, created_at=utcnow(), schema_revision=0)
    conn.execute(
        _orgs.insert().values(
            id=record.id,
            name=name,
            name_key=name_key(name),
            created_at=record.created_at,
            schema_revision=0,
        )
    )
    return record


def _record(row: Any) -> OrgRecord:
    return OrgRecord(
        row.id,
        row.name,
        row.created_at,
        row.schema_revision,
        row.group_patch_response,
        row.patch_upsert,
        row.directory_sync,
    )


def get_org(conn: Connection, org_id: str) -> OrgRecord | None:
    row = conn.execute(sa.select(_orgs).where(_orgs.c.id == org_id)).first()
    return _record(row) if row else None


def require_org(conn: Connection, org_id: str) -> OrgRecord:
    record = get_org(conn, org_id)
    if record is None:
        raise IdsyncError(ORG_NOT_FOUND, org=org_id)
    return record


def find_org_by_name(conn: Connection, name: str) -> OrgRecord | None:
    row = conn.execute(sa.select(_orgs).where(_orgs.c.name_key == name_key(name))).first()
    return _record(row) if row else None


def list_orgs(conn: Connection) -> list[OrgRecord]:
    return [
        _record(r) for r in conn.execute(sa.select(_orgs).order_by(_orgs.c.created_at, _orgs.c.id))
    ]


def set_group_patch_response(conn: Connection, org_id: str, value: str) -> bool:
    changed = conn.execute(
        _orgs.update().where(_orgs.c.id == org_id).values(group_patch_response=value)
    ).rowcount
    return bool(changed)


def set_patch_upsert(conn: Connection, org_id: str, value: str) -> bool:
    changed = conn.execute(
        _orgs.update().where(_orgs.c.id == org_id).values(patch_upsert=value)
    ).rowcount
    return bool(changed)


def set_directory_sync(conn: Connection, org_id: str, allowed: bool) -> bool:
    changed = conn.execute(
        _orgs.update().where(_orgs.c.id == org_id).values(directory_sync=allowed)
    ).rowcount
    return bool(changed)


def list_schemas(conn: Connection, org_id: str) -> list[SchemaRecord]:
    rows = conn.execute(
        sa.select(_schemas).where(_schemas.c.org_id == org_id).order_by(_schemas.c.created_at)
    )
    return [
        SchemaRecord(r.schema_id, r.resource_type, r.required, r.definition, r.created_at)
        for r in rows
    ]


def insert_schema(
    conn: Connection, org_id: str, resource_type: str, required: bool, definition: dict[str, Any]
) -> None:
    conn.execute(
        _schemas.insert().values(
            org_id=org_id,
            schema_id=definition["id"],
            resource_type=resource_type,
            required=required,
            definition=definition,
            created_at=utcnow(),
        )
    )
    _bump_revision(conn, org_id)


def delete_schema(conn: Connection, org_id: str, schema_id: str) -> bool:
    deleted = conn.execute(
        _schemas.delete().where(
            _schemas.c.org_id == org_id, sa.func.lower(_schemas.c.schema_id) == schema_id.lower()
        )
    ).rowcount
    if deleted:
        _bump_revision(conn, org_id)
    return deleted > 0


def _bump_revision(conn: Connection, org_id: str) -> None:
    conn.execute(
        _orgs.update()
        .where(_orgs.c.id == org_id)
        .values(schema_revision=_orgs.c.schema_revision + 1)
    )
