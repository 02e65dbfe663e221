"""What users and groups have in common: read, search, validate, version, delete.

``UserService`` and ``GroupService`` add what differs (passwords and managers;
members). Every method takes the ``Tenant`` it acts for; nothing here knows
about HTTP.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from pydantic import ValidationError
from scim2_models import Context, Resource, SCIMException
from sqlalchemy import ColumnElement, Connection, Row
from sqlalchemy.exc import IntegrityError

from idsync.errors.catalogue import (
    INVALID_PARAMETER,
    INVALID_VERSION,
    PRECONDITION_FAILED,
    RESOURCE_NOT_FOUND,
    UNIQUENESS,
    IdsyncError,
)
from idsync.hub import orgs, representation
from idsync.hub.errors import from_scim_exception, from_validation_error
from idsync.hub.listing import ListQuery
from idsync.hub.tenant import Hub, Tenant
from idsync.scim.filter import check_filter, equality_node, parse_filter, simple_equality
from idsync.scim.patch import Operation, PatchPolicy, apply_patch
from idsync.scim.plain import plain_document
from idsync.scim.projection import Projection, build_projection
from idsync.scim.resource_types import ResourceTypeSchema
from idsync.store import resources as store
from idsync.store.filter_sql import (
    SqlContext,
    compile_filter,
    indexed_lookup,
    sort_key,
    unique_lookup,
)

Planned = TypeVar("Planned")

PLAN_ATTEMPTS = 3
"""Plans made outside the write lock before one is made under it (see _planned_write)."""


@dataclass
class Outcome:
    """The result of a write: the resource as the client asked to see it."""

    resource: dict[str, Any]
    resource_id: str
    version: int
    location: str
    created: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def etag(self) -> str:
        return representation.etag(self.version)


@dataclass(frozen=True)
class UniqueColumn:
    column: str
    attribute: str
    key: str
    """Key of the row values holding the comparison form stored in ``column``."""


def check_version(row: Row[Any], if_match: str | None, resource_type: str) -> None:
    """RFC 7644 §3.14: a write conditional on a version fails with 412 when it is stale."""
    if if_match is None:
        return
    tags = [t.strip() for t in if_match.split(",") if t.strip()]
    if not tags:
        raise IdsyncError(INVALID_VERSION, reason="If-Match is empty")
    if "*" in tags:
        return
    current = representation.etag(row.version)
    # Weak comparison (RFC 9110 §8.8.3.2): W/"3" and "3" name the same version.
    if not any(t.removeprefix("W/") == current.removeprefix("W/") for t in tags):
        raise IdsyncError(
            PRECONDITION_FAILED, resource_type=resource_type, expected=if_match, actual=current
        )


class ResourceService:
    resource_type: ClassVar[str]
    unique_columns: ClassVar[tuple[UniqueColumn, ...]]
    relation_attribute: ClassVar[str]
    """The attribute computed from membership rows (``groups`` or ``members``)."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.db = hub.db

    # --- to implement -------------------------------------------------------------------

    def render(
        self, conn: Connection, tenant: Tenant, rows: Sequence[Row[Any]], projection: Projection
    ) -> list[dict[str, Any]]:
        raise NotImplementedError

    def create(self, tenant: Tenant, body: Any, projection: Projection) -> Outcome:
        raise NotImplementedError

    def replace(
        self,
        tenant: Tenant,
        resource_id: str,
        body: Any,
        if_match: str | None,
        projection: Projection,
    ) -> Outcome:
        raise NotImplementedError

    def patch(
        self,
        tenant: Tenant,
        resource_id: str,
        body: Any,
        if_match: str | None,
        projection: Projection,
        *,
        entra: bool = False,
    ) -> Outcome:
        raise NotImplementedError

    def delete(self, tenant: Tenant, resource_id: str, if_match: str | None) -> None:
        raise NotImplementedError

    # --- reading ------------------------------------------------------------------------

    def rts(self, tenant: Tenant) -> ResourceTypeSchema:
        return tenant.description.resource_types[self.resource_type]

    def projection(
        self, tenant: Tenant, attributes: Sequence[str] = (), excluded: Sequence[str] = ()
    ) -> Projection:
        return build_projection(list(attributes), list(excluded), self.rts(tenant))

    def get(
        self, tenant: Tenant, resource_id: str, projection: Projection
    ) -> tuple[dict[str, Any], int]:
        with self.db.read() as conn:
            row = self._existing(conn, tenant, resource_id)
            return self.render(conn, tenant, [row], projection)[0], row.version

    def _existing(
        self,
        conn: Connection,
        tenant: Tenant,
        resource_id: str,
        *,
        for_update: bool = False,
        for_delete: bool = False,
    ) -> Row[Any]:
        row = store.get_row(
            conn,
            self.resource_type,
            tenant.org_id,
            resource_id,
            for_update=for_update,
            for_delete=for_delete,
        )
        if row is None:
            raise IdsyncError(RESOURCE_NOT_FOUND, resource_type=self.resource_type, id=resource_id)
        return row

    def search(
        self,
        tenant: Tenant,
        query: ListQuery,
        *,
        lenient: bool = False,
        offset: int | None = None,
        limit: int | None = None,
    ) -> tuple[int, list[dict[str, Any]]]:
        """Total matches and one page of them, rendered.

        ``lenient`` is for a search over several resource types (POST /.search at the
        root), where an attribute this type lacks makes its terms false instead of
        making the request invalid.
        """
        rts = self.rts(tenant)
        projection = build_projection(
            list(query.attributes), list(query.excluded), rts, strict=not lenient
        )
        start = query.start_index - 1 if offset is None else offset
        size = query.count if limit is None else limit
        simple = simple_equality(query.filter) if query.filter and not query.sort_by else None
        # A lookup on a unique column (most requests) needs neither the parser nor the checks.
        lookup = unique_lookup(rts, *simple) if simple is not None else None
        node = None
        if lookup is None and query.filter:
            node = equality_node(*simple) if simple is not None else parse_filter(query.filter)
            check_filter(node, rts, in_url=query.in_url, lenient=lenient)
            lookup = indexed_lookup(node, rts) if not query.sort_by else None
        if lookup is not None:
            with self.db.read() as conn:
                page = store.lookup(conn, self.resource_type, tenant.org_id, *lookup, start, size)
                return page.total, self.render(conn, tenant, page.rows, projection)
        ctx = SqlContext(rts, self.db.dialect, tenant.base_url, unknown_is_false=lenient)
        where = compile_filter(node, ctx) if node is not None else None
        order = self._order(rts, query, ctx, lenient=lenient)
        with self.db.read() as conn:
            page = store.search(conn, self.resource_type, tenant.org_id, where, order, start, size)
            return page.total, self.render(conn, tenant, page.rows, projection)

    def browse(
        self,
        tenant: Tenant,
        filter_text: str | None,
        *,
        after: str | None = None,
        before: str | None = None,
        limit: int,
        excluded: Sequence[str] = (),
    ) -> tuple[int, list[dict[str, Any]], bool]:
        """Total matches, one page of them in id order after (or before) an id, and whether
        more lie beyond it (see ``store.browse``)."""
        rts = self.rts(tenant)
        projection = build_projection([], list(excluded), rts)
        node = parse_filter(filter_text) if filter_text else None
        if node is not None:
            check_filter(node, rts, in_url=False, lenient=False)
        ctx = SqlContext(rts, self.db.dialect, tenant.base_url, unknown_is_false=False)
        where = compile_filter(node, ctx) if node is not None else None
        with self.db.read() as conn:
            page = store.browse(
                conn, self.resource_type, tenant.org_id, where,
                after=after, before=before, limit=limit,
            )  # fmt: skip
            return page.total, self.render(conn, tenant, page.rows, projection), page.more

    def _order(
        self, rts: ResourceTypeSchema, query: ListQuery, ctx: SqlContext, *, lenient: bool
    ) -> list[ColumnElement[Any]]:
        if not query.sort_by:
            return []
        resolved = rts.resolve_text(query.sort_by)
        if resolved is None:
            if lenient:
                return []
            raise IdsyncError(
                INVALID_PARAMETER,
                name="sortBy",
                reason=f"{self.resource_type} has no attribute {query.sort_by!r}",
            )
        key = sort_key(resolved, ctx)
        return [key.desc().nulls_last() if query.descending else key.asc().nulls_last()]

    # --- writing helpers ------------------------------------------------------------------

    def _model(self, tenant: Tenant) -> type[Resource[Any]]:
        return tenant.description.models[self.resource_type]

    def _document(
        self, tenant: Tenant, resource: dict[str, Any], context: Context
    ) -> dict[str, Any]:
        """The document to store for a write: what the org's scim2-models model dumps
        once it has validated ``resource``; built directly when ``resource`` is plain
        (``idsync.scim.plain``: the same document, without the model's cost)."""
        plain = plain_document(resource, self.rts(tenant))
        if plain is not None:
            return plain
        try:
            model = self._model(tenant).model_validate(resource, scim_ctx=context)
        except ValidationError as exc:
            raise from_validation_error(exc, self.resource_type) from None
        except SCIMException as exc:
            raise from_scim_exception(exc, resource_type=self.resource_type) from None
        doc = model.model_dump()
        doc.pop("id", None)
        doc.pop("meta", None)
        return dict(doc)

    def _patched(
        self, tenant: Tenant, stored: dict[str, Any], operations: list[Operation], entra: bool
    ) -> dict[str, Any]:
        """The document after the PATCH operations, validated as a replacement (PUT) is."""
        policy = PatchPolicy(
            tenant.org_id,
            lambda: orgs.creates_unmatched(self.db, tenant.org_id, entra_request=entra),
        )
        doc = apply_patch(stored, operations, self.rts(tenant), policy, tenant.work)
        return self._document(tenant, doc, Context.RESOURCE_REPLACEMENT_REQUEST)

    def _planned_write(
        self,
        tenant: Tenant,
        resource_id: str,
        if_match: str | None,
        plan: Callable[[Row[Any]], Planned],
        write: Callable[[Connection, Row[Any], Planned], Outcome],
    ) -> Outcome:
        """Work a change out from the resource as read, then take the write lock to store it.

        Working it out (PATCH operations, validation, password hashing) costs time
        that grows with the request and the resource; under the lock it would stop
        every other writer, on SQLite those of every process (a PATCH of 400
        filtered operations once held it for 17 s, and other writes failed).
        When the resource changed in between, the plan is made again; after
        PLAN_ATTEMPTS such races it is made under the lock, so every write ends.
        """
        for _ in range(PLAN_ATTEMPTS):
            with self.db.read() as conn:
                row = self._existing(conn, tenant, resource_id)
            check_version(row, if_match, self.resource_type)
            planned = plan(row)
            with self.db.write() as conn:
                current = self._existing(conn, tenant, resource_id, for_update=True)
                if current.version == row.version:
                    return write(conn, current, planned)
        with self.db.write() as conn:
            row = self._existing(conn, tenant, resource_id, for_update=True)
            check_version(row, if_match, self.resource_type)
            return write(conn, row, plan(row))

    def _write(
        self, action: Any, tenant: Tenant, values: dict[str, Any], exclude_id: str | None = None
    ) -> Any:
        """Run a write; a unique index violation becomes a 409 naming the other resource."""
        try:
            return action()
        except IntegrityError:
            self._raise_conflict(tenant, values, exclude_id)
            raise

    def _raise_conflict(
        self, tenant: Tenant, values: dict[str, Any], exclude_id: str | None
    ) -> None:
        with self.db.read() as conn:
            for unique in self.unique_columns:
                value = values.get(unique.key)
                if value is None:
                    continue
                other = store.find_conflict(
                    conn, self.resource_type, tenant.org_id, unique.column, value, exclude_id
                )
                if other is not None:
                    raise IdsyncError(
                        UNIQUENESS,
                        attribute=unique.attribute,
                        value=values["doc"].get(unique.attribute),
                        resource_type=self.resource_type,
                        other_id=other,
                    ) from None

    def created(self, tenant: Tenant, resource_id: str, resource: dict[str, Any]) -> Outcome:
        return Outcome(
            resource=resource,
            resource_id=resource_id,
            version=1,
            location=representation.location(tenant, self.resource_type, resource_id),
            created=True,
            warnings=list(tenant.warnings),
        )

    def outcome(
        self,
        conn: Connection,
        tenant: Tenant,
        resource_id: str,
        projection: Projection,
        *,
        created: bool = False,
    ) -> Outcome:
        row = self._existing(conn, tenant, resource_id)
        resource = self.render(conn, tenant, [row], projection)[0]
        return Outcome(
            resource=resource,
            resource_id=resource_id,
            version=row.version,
            location=representation.location(tenant, self.resource_type, resource_id),
            created=created,
            warnings=list(tenant.warnings),
        )
