"""Users (RFC 7643 §4.1, §4.3): create, replace, patch, delete, render."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from argon2 import PasswordHasher
from scim2_models import Context
from scim2_models.path import AttrPath, CompareOperator, Comparison
from sqlalchemy import Connection, Row

from idsync.hub import representation
from idsync.hub.patching import read_operations
from idsync.hub.resources import Outcome, ResourceService, UniqueColumn, check_version
from idsync.hub.tenant import Tenant
from idsync.scim import integrity
from idsync.scim.compat import normalise_resource
from idsync.scim.projection import Projection
from idsync.scim.schemas import ENTERPRISE_USER
from idsync.store import resources as store
from idsync.store.filter_sql import SqlContext, compile_filter
from idsync.store.ids import new_id
from idsync.store.types import utcnow

_hasher = PasswordHasher()

GROUPS_ATTRIBUTE = "groups"


def _hash_in(body: Any) -> str | None:
    """The hash of the password a request body carries, if it carries one."""
    if not isinstance(body, dict):
        return None
    password = _pop_password(dict(body))
    return _hasher.hash(password) if password else None


def _pop_password(resource: dict[str, Any]) -> str | None:
    key = next((k for k in resource if k.lower() == "password"), None)
    value = resource.pop(key) if key is not None else None
    return value if isinstance(value, str) and value else None


def _drop_manager(doc: dict[str, Any]) -> None:
    """Remove the manager; an enterprise extension left empty goes, with its schema URN."""
    enterprise = doc[ENTERPRISE_USER]
    del enterprise["manager"]
    if not enterprise:
        del doc[ENTERPRISE_USER]
        doc["schemas"] = [s for s in doc["schemas"] if s != ENTERPRISE_USER]


class UserService(ResourceService):
    resource_type = "User"
    relation_attribute = GROUPS_ATTRIBUTE
    unique_columns = (
        UniqueColumn("user_name_key", "userName", "user_name_key"),
        UniqueColumn("external_id", "externalId", "external_id"),
    )

    # --- rendering ----------------------------------------------------------------------

    def render(
        self, conn: Connection, tenant: Tenant, rows: Sequence[Row[Any]], projection: Projection
    ) -> list[dict[str, Any]]:
        groups = (
            self._groups(conn, rows)
            if projection.returns(self.rts(tenant).attributes[GROUPS_ATTRIBUTE])
            else {}
        )
        return [self.render_one(tenant, r, projection, groups.get(r.id, [])) for r in rows]

    @staticmethod
    def _groups(
        conn: Connection, rows: Sequence[Row[Any]]
    ) -> dict[str, list[tuple[str, str, bool]]]:
        """Each user's groups (RFC 7643 §4.1.2): the direct ones come with the row
        (``direct_groups``), those reached through nesting are looked up if any."""
        result: dict[str, list[tuple[str, str, bool]]] = {}
        nested: dict[str, list[str]] = {}
        for row in rows:
            direct = sorted(row.direct_groups, key=lambda entry: (entry[1], entry[0]))
            result[row.id] = [(group_id, name, True) for group_id, name, _ in direct]
            parents = [group_id for group_id, _, has_parent in direct if has_parent]
            if parents:
                nested[row.id] = parents
        if nested:
            store.add_indirect_groups(conn, result, nested)
        return result

    def render_one(
        self, tenant: Tenant, row: Any, projection: Projection, groups: list[tuple[str, str, bool]]
    ) -> dict[str, Any]:
        """One user as the client asked to see it; ``groups`` as computed by the caller."""
        rts = self.rts(tenant)
        wanted = projection.returns(rts.attributes[GROUPS_ATTRIBUTE])
        rendered = representation.user(tenant, row, groups if wanted else None)
        if projection.is_default and not rts.has_hidden_attributes:
            return rendered
        return projection.apply(rendered, rts)

    # --- writes -------------------------------------------------------------------------

    def _prepare(
        self, tenant: Tenant, body: Any, context: Context
    ) -> tuple[dict[str, Any], str | None]:
        resource = normalise_resource(body, self.rts(tenant))
        password = _pop_password(resource)
        doc = self._document(tenant, resource, context)
        doc.pop("password", None)
        doc.pop(GROUPS_ATTRIBUTE, None)
        # The hub's users are active until something deactivates them; clients
        # (Okta among them) expect `active` on every user it returns.
        doc.setdefault("active", True)
        return integrity.settle(doc, self.rts(tenant)), password

    def _settle_manager(
        self, conn: Connection, tenant: Tenant, doc: dict[str, Any], user_id: str
    ) -> None:
        """Keep a manager reference only if it names a user of this organisation."""
        enterprise = doc.get(ENTERPRISE_USER)
        if not isinstance(enterprise, dict) or "manager" not in enterprise:
            return
        manager = {
            k: v for k, v in enterprise["manager"].items() if k not in ("$ref", "displayName")
        }
        value = manager.get("value")
        known = (
            value is not None
            and value != user_id
            and bool(store.existing_ids(conn, "User", tenant.org_id, [value]))
        )
        if known:
            enterprise["manager"] = manager
            return
        _drop_manager(doc)
        tenant.warnings.append(
            f"manager {value!r} ignored: no other user with that id exists in this organisation"
        )

    def create(self, tenant: Tenant, body: Any, projection: Projection) -> Outcome:
        doc, password = self._prepare(tenant, body, Context.RESOURCE_CREATION_REQUEST)
        values = store.user_columns(doc)
        user_id = new_id()

        # Hashing takes ~50 ms by design: never while holding the write lock.
        password_hash = _hasher.hash(password) if password else None

        def insert() -> Outcome:
            now = utcnow()
            row = {
                **values,
                "id": user_id,
                "org_id": tenant.org_id,
                "version": 1,
                "created_at": now,
                "updated_at": now,
                "password_hash": password_hash,
            }
            with self.db.write() as conn:
                self._settle_manager(conn, tenant, doc, user_id)
                store.insert_row(conn, "User", row)
            # A new user is in no group yet: render it from what was written.
            resource = self.render_one(tenant, SimpleNamespace(**row), projection, groups=[])
            return self.created(tenant, user_id, resource)

        outcome: Outcome = self._write(insert, tenant, values)
        return outcome

    def replace(
        self, tenant: Tenant, user_id: str, body: Any, if_match: str | None, projection: Projection
    ) -> Outcome:
        attempted: dict[str, Any] = {}
        # Hashed before the write lock is taken (see create).
        password_hash = _hash_in(body)

        def plan(row: Row[Any]) -> tuple[dict[str, Any], str | None]:
            return self._prepare(tenant, body, Context.RESOURCE_REPLACEMENT_REQUEST)

        def write(
            conn: Connection, row: Row[Any], planned: tuple[dict[str, Any], str | None]
        ) -> Outcome:
            doc, password = planned
            self._settle_manager(conn, tenant, doc, user_id)
            values = store.user_columns(doc)
            attempted.update(values)
            if doc != row.doc or password:
                changes = {**values, "version": row.version + 1, "updated_at": utcnow()}
                if password_hash:
                    changes["password_hash"] = password_hash
                store.update_row(conn, "User", tenant.org_id, user_id, changes)
            return self.outcome(conn, tenant, user_id, projection)

        outcome: Outcome = self._write(
            lambda: self._planned_write(tenant, user_id, if_match, plan, write),
            tenant,
            attempted,
            exclude_id=user_id,
        )
        return outcome

    def patch(
        self,
        tenant: Tenant,
        user_id: str,
        body: Any,
        if_match: str | None,
        projection: Projection,
        *,
        entra: bool = False,
    ) -> Outcome:
        attempted: dict[str, Any] = {}

        def plan(row: Row[Any]) -> tuple[dict[str, Any], str | None]:
            operations = read_operations(body, self.rts(tenant), user_id)
            doc = self._patched(tenant, row.doc, operations, entra)
            password = _pop_password(doc)
            doc.pop(GROUPS_ATTRIBUTE, None)
            # Hashed here, before the write lock is taken (see create).
            return integrity.settle(doc, self.rts(tenant)), (
                _hasher.hash(password) if password else None
            )

        def write(
            conn: Connection, row: Row[Any], planned: tuple[dict[str, Any], str | None]
        ) -> Outcome:
            doc, password_hash = planned
            self._settle_manager(conn, tenant, doc, user_id)
            values = store.user_columns(doc)
            attempted.update(values)
            if doc != row.doc or password_hash:
                changes = {**values, "version": row.version + 1, "updated_at": utcnow()}
                if password_hash:
                    changes["password_hash"] = password_hash
                store.update_row(conn, "User", tenant.org_id, user_id, changes)
            return self.outcome(conn, tenant, user_id, projection)

        outcome: Outcome = self._write(
            lambda: self._planned_write(tenant, user_id, if_match, plan, write),
            tenant,
            attempted,
            exclude_id=user_id,
        )
        return outcome

    def delete(self, tenant: Tenant, user_id: str, if_match: str | None) -> None:
        with self.db.write() as conn:
            row = self._existing(conn, tenant, user_id, for_delete=True)
            check_version(row, if_match, "User")
            now = utcnow()
            store.touch_groups(conn, store.groups_containing(conn, user_id=user_id), now)
            self._forget_as_manager(conn, tenant, user_id, now)
            store.delete_row(conn, "User", tenant.org_id, user_id)

    def _forget_as_manager(
        self, conn: Connection, tenant: Tenant, user_id: str, now: datetime
    ) -> None:
        """Users whose manager is being deleted lose that reference (and get a new version)."""
        node = Comparison(
            AttrPath("manager", "value", ENTERPRISE_USER), CompareOperator.eq, user_id
        )
        where = compile_filter(node, SqlContext(self.rts(tenant), self.db.dialect, tenant.base_url))
        while rows := store.search(conn, "User", tenant.org_id, where, [], 0, 500).rows:
            self._drop_managers(conn, tenant, rows, now)

    @staticmethod
    def _drop_managers(
        conn: Connection, tenant: Tenant, rows: Sequence[Row[Any]], now: datetime
    ) -> None:
        for managed in rows:
            doc = dict(managed.doc)
            doc[ENTERPRISE_USER] = dict(doc[ENTERPRISE_USER])
            _drop_manager(doc)
            store.update_row(
                conn,
                "User",
                tenant.org_id,
                managed.id,
                {"doc": doc, "version": managed.version + 1, "updated_at": now},
            )
