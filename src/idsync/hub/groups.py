"""Groups (RFC 7643 §4.2) and their members, kept as membership rows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from scim2_models import Context
from scim2_models.path import (
    CompareOperator,
    Comparison,
    FilterNode,
    LogicalExpr,
    LogicalOperator,
    Not,
    Present,
)
from sqlalchemy import Connection, Row

from idsync.errors.catalogue import INVALID_FILTER, MEMBERSHIP_CYCLE, IdsyncError
from idsync.hub import representation
from idsync.hub.patching import MemberOperation, member_ids_in, read_operations, split_members
from idsync.hub.resources import Outcome, ResourceService, UniqueColumn, check_version
from idsync.hub.tenant import Tenant
from idsync.scim import integrity
from idsync.scim.compat import normalise_resource
from idsync.scim.patch import Operation
from idsync.scim.projection import Projection
from idsync.store import resources as store
from idsync.store.ids import new_id
from idsync.store.types import utcnow

MEMBERS = "members"


def _members_key(resource: dict[str, Any]) -> str | None:
    return next((k for k in resource if k.lower() == MEMBERS), None)


class GroupService(ResourceService):
    resource_type = "Group"
    relation_attribute = MEMBERS
    unique_columns = (
        UniqueColumn("display_name_key", "displayName", "display_name_key"),
        UniqueColumn("external_id", "externalId", "external_id"),
    )

    # --- rendering ----------------------------------------------------------------------

    def render(
        self, conn: Connection, tenant: Tenant, rows: Sequence[Row[Any]], projection: Projection
    ) -> list[dict[str, Any]]:
        rts = self.rts(tenant)
        wants_members = projection.returns(rts.attributes[MEMBERS]) and bool(rows)
        members = store.members_of(conn, [r.id for r in rows]) if wants_members else None
        rendered = [
            representation.group(tenant, r, members[r.id] if members is not None else None)
            for r in rows
        ]
        if projection.is_default and not rts.has_hidden_attributes:
            return rendered
        return [projection.apply(r, rts) for r in rendered]

    # --- writes -------------------------------------------------------------------------

    def _prepare(
        self, tenant: Tenant, body: Any, context: Context
    ) -> tuple[dict[str, Any], list[str]]:
        resource = normalise_resource(body, self.rts(tenant))
        key = _members_key(resource)
        members = resource.pop(key) if key is not None else []
        doc = integrity.settle(self._document(tenant, resource, context), self.rts(tenant))
        return doc, member_ids_in(members) if members else []

    def create(self, tenant: Tenant, body: Any, projection: Projection) -> Outcome:
        doc, member_ids = self._prepare(tenant, body, Context.RESOURCE_CREATION_REQUEST)
        values = store.group_columns(doc)
        group_id = new_id()

        def insert() -> Outcome:
            now = utcnow()
            with self.db.write() as conn:
                store.insert_row(
                    conn,
                    "Group",
                    {
                        **values,
                        "id": group_id,
                        "org_id": tenant.org_id,
                        "version": 1,
                        "created_at": now,
                        "updated_at": now,
                    },
                )
                self._add(conn, tenant, group_id, member_ids, now)
                return self.outcome(conn, tenant, group_id, projection, created=True)

        outcome: Outcome = self._write(insert, tenant, values)
        return outcome

    def replace(
        self, tenant: Tenant, group_id: str, body: Any, if_match: str | None, projection: Projection
    ) -> Outcome:
        attempted: dict[str, Any] = {}

        def plan(row: Row[Any]) -> tuple[dict[str, Any], list[str]]:
            return self._prepare(tenant, body, Context.RESOURCE_REPLACEMENT_REQUEST)

        def write(
            conn: Connection, row: Row[Any], planned: tuple[dict[str, Any], list[str]]
        ) -> Outcome:
            doc, member_ids = planned
            values = store.group_columns(doc)
            attempted.update(values)
            now = utcnow()
            changed = self._replace_members(conn, tenant, group_id, member_ids, now)
            if changed or doc != row.doc:
                store.update_row(
                    conn,
                    "Group",
                    tenant.org_id,
                    group_id,
                    {**values, "version": row.version + 1, "updated_at": now},
                )
            return self.outcome(conn, tenant, group_id, projection)

        outcome: Outcome = self._write(
            lambda: self._planned_write(tenant, group_id, if_match, plan, write),
            tenant,
            attempted,
            exclude_id=group_id,
        )
        return outcome

    def patch(
        self,
        tenant: Tenant,
        group_id: str,
        body: Any,
        if_match: str | None,
        projection: Projection,
        *,
        entra: bool = False,
    ) -> Outcome:
        attempted: dict[str, Any] = {}

        def plan(row: Row[Any]) -> tuple[dict[str, Any], bool, list[MemberOperation]]:
            steps = split_members(read_operations(body, self.rts(tenant), group_id))
            operations = [s for s in steps if isinstance(s, Operation)]
            doc = self._patched_attributes(tenant, row.doc, operations, entra)
            members = [s for s in steps if isinstance(s, MemberOperation)]
            return doc, doc != row.doc, members

        def write(
            conn: Connection,
            row: Row[Any],
            planned: tuple[dict[str, Any], bool, list[MemberOperation]],
        ) -> Outcome:
            doc, changed, members = planned
            now = utcnow()
            for step in members:
                changed = self._member_step(conn, tenant, group_id, step, now) or changed
            if changed:
                values = store.group_columns(doc)
                attempted.update(values)
                store.update_row(
                    conn,
                    "Group",
                    tenant.org_id,
                    group_id,
                    {**values, "version": row.version + 1, "updated_at": now},
                )
            return self.outcome(conn, tenant, group_id, projection)

        outcome: Outcome = self._write(
            lambda: self._planned_write(tenant, group_id, if_match, plan, write),
            tenant,
            attempted,
            exclude_id=group_id,
        )
        return outcome

    def _patched_attributes(
        self, tenant: Tenant, stored: dict[str, Any], operations: list[Operation], entra: bool
    ) -> dict[str, Any]:
        """The group's document after the non-member operations.

        A PATCH that only changes members (the common one) never builds the model.
        """
        if not operations:
            return stored
        doc = self._patched(tenant, stored, operations, entra)
        doc.pop(MEMBERS, None)
        return integrity.settle(doc, self.rts(tenant))

    def delete(self, tenant: Tenant, group_id: str, if_match: str | None) -> None:
        with self.db.write() as conn:
            row = self._existing(conn, tenant, group_id, for_delete=True)
            check_version(row, if_match, "Group")
            store.touch_groups(conn, store.groups_containing(conn, group_id=group_id), utcnow())
            store.delete_row(conn, "Group", tenant.org_id, group_id)

    # --- membership deltas --------------------------------------------------------------

    def _resolve(
        self, conn: Connection, tenant: Tenant, group_id: str, ids: Sequence[str]
    ) -> tuple[list[str], list[str]]:
        """Split ids into users and groups of this organisation; report the others."""
        wanted = list(dict.fromkeys(ids))
        # Kept (locked) until the memberships are written: see store.existing_ids.
        users = store.existing_ids(conn, "User", tenant.org_id, wanted, keep=True)
        groups = store.existing_ids(
            conn, "Group", tenant.org_id, [i for i in wanted if i not in users], keep=True
        )
        unknown = [i for i in wanted if i not in users and i not in groups]
        if unknown:
            shown = ", ".join(repr(i) for i in unknown[:5]) + (" …" if len(unknown) > 5 else "")
            tenant.warnings.append(
                f"{len(unknown)} member(s) ignored: {shown} is not a user or group of this organisation"
            )
        if group_id in groups:
            raise IdsyncError(MEMBERSHIP_CYCLE, member=group_id, group=group_id)
        if groups:
            store.lock_nesting(conn, tenant.org_id)
            cycle = store.ancestors(conn, group_id) & groups
            if cycle:
                raise IdsyncError(MEMBERSHIP_CYCLE, member=sorted(cycle)[0], group=group_id)
        return [i for i in wanted if i in users], [i for i in wanted if i in groups]

    def _add(
        self, conn: Connection, tenant: Tenant, group_id: str, ids: Sequence[str], now: datetime
    ) -> bool:
        if not ids:
            return False
        # Members already there are neither resolved nor locked: a user being deleted
        # holds its row and waits for this group, and must not wait for us in turn.
        present = store.present_members(conn, group_id, ids)
        user_ids, group_ids = self._resolve(
            conn, tenant, group_id, [i for i in ids if i not in present]
        )
        added = store.insert_members(conn, tenant.org_id, group_id, user_ids, group_ids, now)
        return added > 0

    def _replace_members(
        self, conn: Connection, tenant: Tenant, group_id: str, ids: Sequence[str], now: datetime
    ) -> bool:
        current_users, current_groups = store.member_ids(conn, group_id)
        current = current_users | current_groups
        # As in _add: only members not there yet are resolved (and locked).
        new_ids = [i for i in ids if i not in current]
        user_ids, group_ids = (
            self._resolve(conn, tenant, group_id, new_ids) if new_ids else ([], [])
        )
        removed = store.remove_members(conn, group_id, current - set(ids))
        added = store.insert_members(conn, tenant.org_id, group_id, user_ids, group_ids, now)
        return bool(removed or added)

    def _member_step(
        self, conn: Connection, tenant: Tenant, group_id: str, step: MemberOperation, now: datetime
    ) -> bool:
        if step.op == "add":
            return self._add(conn, tenant, group_id, step.member_ids or [], now)
        if step.op == "replace":
            return self._replace_members(conn, tenant, group_id, step.member_ids or [], now)
        if step.member_filter is not None:
            return (
                store.remove_members(
                    conn, group_id, self._matching(conn, group_id, step.member_filter)
                )
                > 0
            )
        if step.member_ids is None:
            return store.clear_members(conn, group_id) > 0
        return store.remove_members(conn, group_id, step.member_ids) > 0

    @staticmethod
    def _matching(conn: Connection, group_id: str, node: FilterNode) -> list[str]:
        """Members a ``members[…]`` filter selects.

        ``value eq "id"`` (and an ``or`` of them), which is what Entra ID and Okta
        send, is answered without reading the member list; any other filter is
        evaluated over the group's members.
        """
        ids = _value_ids(node)
        if ids is not None:
            return ids
        users, groups = store.member_ids(conn, group_id)
        members = [(u, "User") for u in users] + [(g, "Group") for g in groups]
        return [member_id for member_id, kind in members if _matches(node, member_id, kind)]


def _value_ids(node: FilterNode) -> list[str] | None:
    if isinstance(node, Comparison):
        if (
            node.attr_path.attr.lower() == "value"
            and node.attr_path.sub_attr is None
            and node.op == CompareOperator.eq
            and isinstance(node.value, str)
        ):
            return [node.value]
        return None
    if isinstance(node, LogicalExpr) and node.op == LogicalOperator.or_:
        ids: list[str] = []
        for term in node.terms:
            found = _value_ids(term)
            if found is None:
                return None
            ids.extend(found)
        return ids
    return None


def _matches(node: FilterNode, member_id: str, kind: str) -> bool:
    if isinstance(node, LogicalExpr):
        results = (_matches(t, member_id, kind) for t in node.terms)
        return all(results) if node.op == LogicalOperator.and_ else any(results)
    if isinstance(node, Not):
        return not _matches(node.expr, member_id, kind)
    name = node.attr_path.attr.lower() if isinstance(node, Comparison | Present) else ""
    fields = {"value": member_id, "type": kind}
    if name not in fields:
        raise IdsyncError(
            INVALID_FILTER, reason=f"members can be selected by value or type, not {name!r}"
        )
    actual = fields[name]
    if isinstance(node, Present):
        return True
    assert isinstance(node, Comparison)
    expected = node.value
    if name == "type":
        actual, expected = actual.lower(), str(expected).lower()
    operators: dict[CompareOperator, Callable[[str, str], bool]] = {
        CompareOperator.eq: lambda a, b: a == b,
        CompareOperator.ne: lambda a, b: a != b,
        CompareOperator.co: lambda a, b: b in a,
        CompareOperator.sw: lambda a, b: a.startswith(b),
        CompareOperator.ew: lambda a, b: a.endswith(b),
    }
    compare = operators.get(node.op)
    if compare is None or not isinstance(expected, str):
        raise IdsyncError(INVALID_FILTER, reason=f"members cannot be compared with {node.op.value}")
    return bool(compare(actual, expected))
