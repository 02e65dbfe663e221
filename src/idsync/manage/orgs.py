"""Organisations, as an administrator manages them: create, settings, custom schemas."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from idsync.errors.catalogue import (
    INVALID_ARGUMENT,
    INVALID_SCHEMA,
    ORG_NAME_TAKEN,
    ORG_NOT_FOUND,
    SCHEMA_IN_USE,
    SCHEMA_NOT_FOUND,
    IdsyncError,
)
from idsync.scim.attributes import SchemaDefinitionError
from idsync.store import audit, orgs
from idsync.store.database import Database
from idsync.store.orgs import OrgRecord, SchemaRecord


def _record(conn: Connection, org_id: str, activity: str, actor: str, **fields: Any) -> None:
    audit.record(
        conn,
        org_id=org_id,
        category="OrganisationManagement",
        activity=activity,
        result="success",
        actor=actor,
        **fields,
    )


def create_org(db: Database, name: str, *, actor: str) -> OrgRecord:
    name = " ".join(name.split())
    if not name:
        raise IdsyncError(
            INVALID_ARGUMENT,
            what="The organisation name",
            reason="it is empty",
            hint='Give the organisation a name, e.g. idsync org create "Contoso".',
        )
    with db.write() as conn:
        existing = orgs.find_org_by_name(conn, name)
        if existing is not None:
            raise IdsyncError(ORG_NAME_TAKEN, name=name, id=existing.id)
        record = orgs.insert_org(conn, name)
        _record(
            conn, record.id, "Create organisation", actor, target=record.id, details={"name": name}
        )
    return record


GROUP_PATCH_RESPONSES = ("representation", "minimal")


def set_group_patch_response(db: Database, org_id: str, value: str, *, actor: str) -> OrgRecord:
    """How group PATCH is answered: 200 with the group, or 204 (what Entra ID prefers)."""
    if value not in GROUP_PATCH_RESPONSES:
        raise IdsyncError(
            INVALID_ARGUMENT,
            what=f"group PATCH response {value!r}",
            reason="it is not one of " + ", ".join(GROUP_PATCH_RESPONSES),
            hint="Use representation (RFC 7644's 200 with the group) or minimal (204).",
        )
    with db.write() as conn:
        if not orgs.set_group_patch_response(conn, org_id, value):
            raise IdsyncError(ORG_NOT_FOUND, org=org_id)
        _record(
            conn,
            org_id,
            "Change setting",
            actor,
            target="group_patch_response",
            details={"value": value},
        )
        record = orgs.get_org(conn, org_id)
    assert record is not None
    return record


PATCH_UPSERTS = ("entra", "all", "none")


def set_patch_upsert(db: Database, org_id: str, value: str, *, actor: str) -> OrgRecord:
    """Which clients' PATCH value filters that match nothing create the value they describe.

    RFC 7644 §3.5.2.3 says such a replace SHALL fail with noTarget; Entra ID
    expects the value to be created (MS SCIM tutorial, "Update User
    [Multi-valued properties]"). ``entra`` (the default) creates it for requests
    recognisably Entra's (``idsync.scim.compat.is_entra_request``), ``all`` for
    every client, ``none`` for none.
    """
    if value not in PATCH_UPSERTS:
        raise IdsyncError(
            INVALID_ARGUMENT,
            what=f"PATCH upsert setting {value!r}",
            reason="it is not one of " + ", ".join(PATCH_UPSERTS),
            hint="Use entra (Entra ID's requests only), all (every client) or none "
            "(RFC 7644's noTarget for every client).",
        )
    with db.write() as conn:
        if not orgs.set_patch_upsert(conn, org_id, value):
            raise IdsyncError(ORG_NOT_FOUND, org=org_id)
        _record(
            conn, org_id, "Change setting", actor, target="patch_upsert", details={"value": value}
        )
        record = orgs.get_org(conn, org_id)
    assert record is not None
    return record


def set_directory_sync(db: Database, org_id: str, allowed: bool, *, actor: str) -> OrgRecord:
    """The org's "Allow directory sync" switch: off, none of its integrations runs a
    cycle (on schedule or on demand; previews still run); on, they run again as their
    jobs say. The integrations' settings and jobs are kept either way."""
    with db.write() as conn:
        if not orgs.set_directory_sync(conn, org_id, allowed):
            raise IdsyncError(ORG_NOT_FOUND, org=org_id)
        activity = "Allow directory sync" if allowed else "Stop directory sync"
        _record(conn, org_id, activity, actor, target="directory_sync", details={"value": allowed})
        record = orgs.get_org(conn, org_id)
    assert record is not None
    return record


def get_org(db: Database, org_id: str) -> OrgRecord:
    with db.read() as conn:
        return orgs.require_org(conn, org_id)


def list_orgs(db: Database) -> list[OrgRecord]:
    with db.read() as conn:
        return orgs.list_orgs(conn)


def add_schema(
    db: Database,
    org_id: str,
    resource_type: str,
    definition: dict[str, Any],
    *,
    required: bool,
    actor: str,
) -> None:
    # scim2-models builds the schema's model: loaded here, not by every command.
    from idsync.scim.provider import validate_custom_schema

    """Declare a custom extension schema (RFC 7643 §3.3) for one resource type of an org."""
    try:
        validate_custom_schema(definition, resource_type)
    except SchemaDefinitionError as exc:
        raise IdsyncError(INVALID_SCHEMA, reason=str(exc)) from None
    with db.write() as conn:
        if orgs.get_org(conn, org_id) is None:
            raise IdsyncError(ORG_NOT_FOUND, org=org_id)
        urn = str(definition["id"])
        if any(s.schema_id.lower() == urn.lower() for s in orgs.list_schemas(conn, org_id)):
            raise IdsyncError(SCHEMA_IN_USE, schema=urn)
        orgs.insert_schema(conn, org_id, resource_type, required, definition)
        _record(
            conn,
            org_id,
            "Declare schema",
            actor,
            target=urn,
            details={"resourceType": resource_type, "required": required},
        )


def remove_schema(db: Database, org_id: str, urn: str, *, actor: str) -> None:
    with db.write() as conn:
        if not orgs.delete_schema(conn, org_id, urn):
            raise IdsyncError(SCHEMA_NOT_FOUND, schema=urn)
        _record(conn, org_id, "Remove schema", actor, target=urn)


def list_schemas(db: Database, org_id: str) -> list[SchemaRecord]:
    with db.read() as conn:
        if orgs.get_org(conn, org_id) is None:
            raise IdsyncError(ORG_NOT_FOUND, org=org_id)
        return orgs.list_schemas(conn, org_id)
