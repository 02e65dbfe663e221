"""Any SCIM 2.0 application as a sync target: the cheapest calls that get each change there.

- match: ``filter`` with ``or``-ed ``eq`` terms, a batch of values per request
  (RFC 7644 §3.4.2.2), or one ``eq`` per request (``compat filter=eq``), ``concurrency``
  at a time; listing and comparing here when the filter cannot be used.
- create: a POST per object.
- update: a PATCH of only the attributes that changed since the last push (§3.5.2),
  or PUT (§3.5.1) for applications without PATCH; a deactivation is such an update.
- delete: a DELETE per object; 404 means already gone.
- members: PATCH ``add`` / ``remove`` of just the members that changed. The ledger
  (``push_members``) says what this integration added, so a member list is never
  read, and never sent whole. Managers: a PATCH (or PUT) per user whose manager changed.

Every batch of these requests goes through ``/Bulk`` (§3.7) when the application
offers it, else one by one, ``concurrency`` at a time (:mod:`.bulk`). Each object's
request is built once and its reply judged once, whichever way it travelled: a
failure about one object (400, 409, 404) is that object's ``Exported.error``;
401/403 raise ``AccessDenied``, throttling and outages ``Throttled``/``Unavailable``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, TypeVar

from idsync.connectors.scim.bulk import BulkSender, Request, in_parallel
from idsync.connectors.scim.client import Reply, ScimClient
from idsync.connectors.scim.discovery import Capabilities, discover
from idsync.connectors.scim.patches import (
    JsonObject,
    Operation,
    add_members_operation,
    build_document,
    diff_operations,
    filter_literal,
    member_size,
    patch_body,
    present,
    remove_members_operations,
)
from idsync.connectors.scim.settings import ScimSettings
from idsync.contract.checks import Health
from idsync.contract.errors import ConnectorError
from idsync.contract.protocols import (
    KEY_TARGETS,
    MANAGER_TARGET,
    Change,
    Desired,
    Existing,
    Exported,
    Membership,
)
from idsync.contract.records import ObjectType
from idsync.errors.catalogue import ATTRIBUTES_DROPPED, OWNED_ELSEWHERE, IdsyncError
from idsync.logs import get_logger
from idsync.scim.compare import fold
from idsync.scim.flatten import flatten_group, flatten_user
from idsync.store import push_state
from idsync.store.database import Database

log = get_logger("idsync.connectors.scim")

T = TypeVar("T")
R = TypeVar("R")

_MATCH_BATCH = 50
"""Values per ``or`` filter at most: long filters are where applications' parsers break."""
_FILTER_CHARS = 3000
"""Characters of one filter at most, so the URL stays well under common 8 KB limits."""
_PATCH_BYTES = 256 * 1024
"""Largest PATCH body we send; ``maxPayloadSize`` lowers it (it is Bulk's, the only size
limit SCIM advertises)."""
_NOT_IDSYNCS = "no integration of idsync (it was created in the application)"


def _named(owner: push_state.Owner) -> str:
    """Another organisation's integration is named by id only: its name is that org's."""
    if owner.same_org:
        return f"integration {owner.name!r} ({owner.integration_id})"
    return f"an integration of another organisation ({owner.integration_id})"


class ScimTarget:
    """Writes one push integration's objects into one SCIM application."""

    shares_database = False

    def __init__(
        self,
        settings: ScimSettings,
        db: Database,
        integration_id: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.db = db
        self.integration_id = integration_id
        self.client = ScimClient(settings, sleep=sleep)
        self._capabilities: Capabilities | None = None
        self._lock = threading.Lock()
        self._dropped: set[tuple[ObjectType, str]] = set()
        self._supports: dict[tuple[ObjectType, str], bool] = {}
        self.bulk = BulkSender(self.client, lambda: self.capabilities)
        self._single_eq = False
        self._list_match = False
        self._empty: dict[ObjectType, bool] = {}

    def close(self) -> None:
        self.client.close()

    def phase(self, object_type: ObjectType, *, initial: bool) -> AbstractContextManager[None]:
        """Nothing to prepare: the application stores what it is sent as it sees fit."""
        return nullcontext()

    def __repr__(self) -> str:
        return f"ScimTarget(integration={self.settings.integration!r}, url={self.settings.url!r})"

    # --- discovery -------------------------------------------------------------------------

    @property
    def capabilities(self) -> Capabilities:
        """Discovered once per target instance, on first use."""
        with self._lock:
            if self._capabilities is None:
                self._capabilities = discover(self.client)
            return self._capabilities

    def check(self) -> Health:
        """Discovery plus one authenticated read: proves the URL and the token."""

        try:
            capabilities = self.capabilities
            reply = self.client.get(capabilities.endpoint("user"), {"count": "1"})
        except ConnectorError as exc:
            return Health.failed(exc)
        return Health(reply.ok, {"status": reply.status, **capabilities.describe()})

    def _dropped_values(self, object_type: ObjectType, item: Desired) -> IdsyncError | None:
        """The values of ``item`` the application cannot store, for its provisioning log row
        (a cleared value is no loss)."""
        paths = [
            path
            for path, value in item.assignments
            if value is not None and not self._supports_path(object_type, path)
        ]
        if not paths:
            return None
        return IdsyncError(
            ATTRIBUTES_DROPPED,
            app=self.settings.app,
            attributes=", ".join(paths),
            object_type=object_type,
            key=item.key or item.source_id,
        )

    def _supported(
        self, object_type: ObjectType, assignments: Iterable[tuple[str, Any]]
    ) -> dict[str, Any]:
        """The assignments the application's schema has; the others are dropped (logged once)."""
        kept: dict[str, Any] = {}
        for path, value in assignments:
            if self._supports_path(object_type, path):
                kept[path] = value
            elif (object_type, path) not in self._dropped:
                self._dropped.add((object_type, path))
                log.warning(
                    "scim.attribute_dropped",
                    integration=self.settings.integration,
                    object_type=object_type,
                    path=path,
                    reason="the application's /Schemas does not declare it",
                )
        return kept

    def _supports_path(self, object_type: ObjectType, path: str) -> bool:
        """``Capabilities.supports``, answered once per path: it is asked for every
        assignment of every object."""
        key = (object_type, path)
        known = self._supports.get(key)
        if known is None:
            known = self._supports[key] = self.capabilities.supports(object_type, path)
        return known

    # --- matching --------------------------------------------------------------------------

    def match(
        self, object_type: ObjectType, attribute: str, values: Sequence[str]
    ) -> dict[str, Existing]:
        exact = attribute in ("externalId", "id")  # caseExact (RFC 7643 §3.1); others fold
        wanted = {(v if exact else fold(v)): v for v in values if v}
        if not wanted or self._was_empty(object_type):
            return {}
        found_ids = self._find(object_type, attribute, wanted, exact)
        with self.db.read() as conn:
            ours = push_state.pushed_objects(
                conn, self.integration_id, object_type, found_ids.values()
            )
            others = push_state.other_owners(
                conn, self.integration_id, object_type, set(found_ids.values()) - set(ours)
            )
            unanswered: set[str] = set()
            if attribute == KEY_TARGETS[object_type]:  # the key creates are noted by
                unanswered = push_state.creating(
                    conn, self.integration_id, object_type, map(fold, found_ids)
                )
        return {
            value: self._existing(
                target_id, target_id in ours, others.get(target_id), fold(value) in unanswered
            )
            for value, target_id in found_ids.items()
        }

    def _existing(
        self, target_id: str, ours: bool, other: push_state.Owner | None, unanswered: bool
    ) -> Existing:
        """Who owns an object found in the application: this integration (in its ledger,
        or created by a cycle cut off before the answer), another push integration to the
        same application (whose ledger holds it), or nobody in idsync."""
        if ours:
            return Existing(target_id, self.integration_id)
        if unanswered and other is None:
            return Existing(target_id, self.integration_id, unrecorded=True)
        where = self._where(target_id)
        if other is None:
            return Existing(target_id, None, _NOT_IDSYNCS, where)
        return Existing(target_id, other.integration_id, _named(other), where, transferable=True)

    def _where(self, target_id: str) -> str:
        app = self.settings.app
        return f"in {app[:1].lower()}{app[1:]} (id {target_id})"

    def _was_empty(self, object_type: ObjectType) -> bool:
        """Whether the application held no object of this type when this target was opened
        (one ``count=0`` list per type and cycle). Then nothing can match but what this
        cycle created, which the engine already links: an initial push to an empty
        application skips a filter per batch, which many servers answer by scanning
        everything they hold. Something created in the application meanwhile makes our
        create fail as a conflict, and the object is matched in the next cycle."""
        if object_type not in self._empty:
            reply = self.client.get(self.capabilities.endpoint(object_type), {"count": "0"})
            total = reply.body.get("totalResults") if reply.ok else None
            self._empty[object_type] = total == 0
        return self._empty[object_type]

    def _find(
        self, object_type: ObjectType, attribute: str, wanted: dict[str, str], exact: bool
    ) -> dict[str, str]:
        """Given value → target id, for the values the application holds; the filtered
        requests ``concurrency`` at a time."""
        use_filter = self.settings.compat.filter != "off" and self.capabilities.filter
        if not use_filter or self._list_match:
            return self._find_by_listing(object_type, attribute, wanted, exact)
        batches = list(self._filter_batches(attribute, list(wanted)))
        try:
            found = self._parallel(
                lambda batch: self._find_batch(object_type, attribute, batch, wanted, exact),
                batches,
            )
        except _FilterRefused:
            log.warning(
                "scim.filter_refused",
                integration=self.settings.integration,
                reason="matching by listing every object instead",
            )
            self._list_match = True
            return self._find_by_listing(object_type, attribute, wanted, exact)
        return {value: target_id for part in found for value, target_id in part.items()}

    def _filter_batches(self, attribute: str, keys: list[str]) -> Iterator[list[str]]:
        single = self._single_eq or self.settings.compat.filter == "eq"
        limit = 1 if single else min(_MATCH_BATCH, self.capabilities.filter_max_results)
        batch: list[str] = []
        size = 0
        for key in keys:
            term = len(attribute) + len(filter_literal(key)) + 8
            if batch and (len(batch) >= limit or size + term > _FILTER_CHARS):
                yield batch
                batch, size = [], 0
            batch.append(key)
            size += term
        if batch:
            yield batch

    def _find_batch(
        self,
        object_type: ObjectType,
        attribute: str,
        batch: list[str],
        wanted: dict[str, str],
        exact: bool,
    ) -> dict[str, str]:
        terms = " or ".join(f"{attribute} eq {filter_literal(wanted[k])}" for k in batch)
        params = {"filter": terms, "attributes": f"id,{attribute}", "count": str(len(batch))}
        try:
            resources = list(self._list(object_type, params))
        except _FilterRefused:
            if len(batch) == 1 or self._single_eq:
                raise
            # Some applications take a single "eq" only (what Entra sends): one by one.
            self._single_eq = True
            found: dict[str, str] = {}
            for key in batch:
                found.update(self._find_batch(object_type, attribute, [key], wanted, exact))
            return found
        return _pick(resources, attribute, wanted, exact)

    def _find_by_listing(
        self, object_type: ObjectType, attribute: str, wanted: dict[str, str], exact: bool
    ) -> dict[str, str]:
        params = {"attributes": f"id,{attribute}"}
        return _pick(self._list(object_type, params), attribute, wanted, exact)

    def _list(self, object_type: ObjectType, params: dict[str, str]) -> Iterator[JsonObject]:
        """Every resource of a list response, page after page (RFC 7644 §3.4.2.4)."""
        endpoint = self.capabilities.endpoint(object_type)
        start = 1
        while True:
            page = {"count": str(self.settings.page_size), **params, "startIndex": str(start)}
            reply = self.client.get(endpoint, page)
            if reply.status in (400, 501) and "filter" in params:
                raise _FilterRefused
            if not reply.ok:
                raise self.client.failures.unavailable(
                    f"GET {endpoint} answered HTTP {reply.status}: {reply.detail}"
                )
            resources = [r for r in reply.body.get("Resources") or [] if isinstance(r, dict)]
            yield from resources
            total = _integer(reply.body.get("totalResults"), start - 1 + len(resources))
            start += len(resources)
            if not resources or start > total:
                return

    # --- create ------------------------------------------------------------------------------

    def create(self, object_type: ObjectType, items: Sequence[Desired]) -> list[Exported]:
        if not items:
            return []
        wanted = [self._supported(object_type, item.assignments) for item in items]
        endpoint = self.capabilities.endpoint(object_type)
        requests = [
            Request("POST", endpoint, self._new_document(object_type, values)) for values in wanted
        ]
        keys = [fold(item.key) for item in items if item.key]
        with self.db.write() as conn:
            unanswered = push_state.creating(conn, self.integration_id, object_type, keys)
            push_state.note_creating(conn, self.integration_id, object_type, keys)
        replies = self.bulk.send_all(requests)
        claimed = self._claim_unanswered(object_type, items, replies, unanswered)
        results = [
            claimed.get(index) or self._created(object_type, item, reply)
            for index, (item, reply) in enumerate(zip(items, replies, strict=True))
        ]
        self._remember_created(object_type, results, wanted, keys, set(claimed))
        for item, result in zip(items, results, strict=True):
            if result.error is None:
                result.dropped = self._dropped_values(object_type, item)
        return results

    def _new_document(self, object_type: ObjectType, values: dict[str, Any]) -> JsonObject:
        doc = build_document(object_type, values.items())
        if (
            object_type == "user"
            and "active" not in values
            and self.capabilities.supports("user", "active")
        ):
            doc["active"] = True  # as the hub's target does: a provisioned user starts active
        return doc

    def _created(self, object_type: ObjectType, item: Desired, reply: Reply) -> Exported:
        result = Exported(item.source_id)
        body = reply.body
        if reply.ok:
            # A Bulk answer may carry no resource, only its location (RFC 7644 §3.7.3).
            location = reply.headers.get("Location")
            result.target_id = str(body.get("id") or "") or _id_from_location(location)
            result.changed = tuple(sorted(k for k in body if k not in ("schemas", "id", "meta")))
            if not result.target_id:
                result.error = self._rejected("creation", object_type, item, reply.status, body)
            return result
        if reply.status == 409:
            result.error = self._conflict(object_type, item, body)
        else:
            result.error = self._rejected("creation", object_type, item, reply.status, body)
        return result

    def _claim_unanswered(
        self,
        object_type: ObjectType,
        items: Sequence[Desired],
        replies: Sequence[Reply],
        unanswered: set[str],
    ) -> dict[int, Exported]:
        """Creates answered 409 whose key an earlier cycle of this integration had sent a
        create for and never saw answered (it was cut off): the object holding the key is
        that create's, which the application was still working through when this cycle
        matched. It is taken as this integration's and updated to what this create wanted,
        as ``match`` takes such an object once it can see it; by index in ``items``."""
        conflicts = {
            index: item
            for index, (item, reply) in enumerate(zip(items, replies, strict=True))
            if reply.status == 409 and item.key and fold(item.key) in unanswered
        }
        if not conflicts:
            return {}
        attribute = KEY_TARGETS[object_type]
        keys = {fold(item.key): item.key for item in conflicts.values() if item.key}
        found = self._find(object_type, attribute, keys, False)
        with self.db.read() as conn:
            others = push_state.other_owners(
                conn, self.integration_id, object_type, set(found.values())
            )
        ours = [
            (index, found[item.key], item)
            for index, item in conflicts.items()
            if item.key in found and found[item.key] not in others
        ]
        if not ours:
            return {}
        log.info(
            "scim.unanswered_create_claimed",
            integration=self.settings.integration,
            object_type=object_type,
            count=len(ours),
        )
        updated = self.update(object_type, [(tid, item) for _, tid, item in ours], adopt=True)
        return {index: result for (index, _, _), result in zip(ours, updated, strict=True)}

    def _remember_created(
        self,
        object_type: ObjectType,
        results: Sequence[Exported],
        wanted: Sequence[dict[str, Any]],
        keys: Sequence[str],
        claimed: set[int],
    ) -> None:
        """The ledger of what was created (``claimed``: indexes of results the update that
        claimed them recorded already)."""
        pushed = {
            result.target_id: _stored(values)
            for index, (result, values) in enumerate(zip(results, wanted, strict=True))
            if result.target_id and result.error is None and index not in claimed
        }
        with self.db.write() as conn:
            push_state.save_objects(conn, self.integration_id, object_type, pushed)
            push_state.done_creating(conn, self.integration_id, object_type, keys)

    def _conflict(self, object_type: ObjectType, item: Desired, body: JsonObject) -> IdsyncError:
        """409 on create: name who holds the value. Never adopted silently: the engine escrows."""
        attribute = KEY_TARGETS[object_type]
        other = "unknown"
        if item.key:
            found = self._find(object_type, attribute, {fold(item.key): item.key}, False)
            other = found.get(item.key, other)
        detail = str(body.get("detail") or body.get("scimType") or "")[:300]
        return self.client.failures.conflict(object_type, attribute, item.key, other, detail)

    def _rejected(
        self, operation: str, object_type: ObjectType, item: Desired, status: int, body: JsonObject
    ) -> IdsyncError:
        detail = str(body.get("detail") or "")[:300]
        scim_type = str(body.get("scimType") or "")
        key = item.key or item.source_id
        return self.client.failures.rejected(operation, object_type, key, status, scim_type, detail)

    # --- update ------------------------------------------------------------------------------

    def update(
        self,
        object_type: ObjectType,
        items: Sequence[tuple[str, Desired]],
        *,
        adopt: bool = False,
        dry_run: bool = False,
    ) -> list[Exported]:
        if not items:
            return []
        with self.db.read() as conn:
            ledger = push_state.pushed_objects(
                conn, self.integration_id, object_type, [target_id for target_id, _ in items]
            )

        def plan(pair: tuple[str, Desired]) -> _Update:
            target_id, item = pair
            previous = ledger.get(target_id)
            return self._plan_update(object_type, target_id, item, previous, adopt, dry_run)

        # An adopted object is read from the application first: those reads in parallel.
        plans = self._parallel(plan, list(items)) if adopt else [plan(pair) for pair in items]
        self._send_updates(object_type, plans)
        if dry_run:
            return [plan.result for plan in plans]
        pushed = {
            plan.result.target_id: _stored(plan.wanted)
            for plan in plans
            if plan.result.target_id and plan.wanted is not None
        }
        with self.db.write() as conn:
            push_state.save_objects(conn, self.integration_id, object_type, pushed)
            if adopt:
                self._take_over(conn, object_type, set(pushed) - set(ledger))
                keys = [fold(item.key) for _, item in items if item.key]
                push_state.done_creating(conn, self.integration_id, object_type, keys)
        return [plan.result for plan in plans]

    def _take_over(self, conn: Any, object_type: ObjectType, adopted: set[str]) -> None:
        """Adopted objects leave the ledger of the push integration that held them: one
        owner at a time, so the two never write (or delete) the same object."""
        owners = push_state.other_owners(conn, self.integration_id, object_type, adopted)
        by_owner: dict[str, list[str]] = {}
        for target_id, owner in owners.items():
            by_owner.setdefault(owner.integration_id, []).append(target_id)
            log.info(
                "scim.taken_over",
                integration=self.settings.integration,
                object_type=object_type,
                target_id=target_id,
                previous_owner=owner.integration_id,
            )
        for owner_id, target_ids in by_owner.items():
            push_state.forget_objects(conn, owner_id, object_type, target_ids)

    def _plan_update(
        self,
        object_type: ObjectType,
        target_id: str,
        item: Desired,
        previous: dict[str, Any] | None,
        adopt: bool,
        dry_run: bool,
    ) -> _Update:
        """What one object's update needs: an outcome already (not ours, unchanged, a
        failed adoption read), or the request that carries only what changed."""
        result = Exported(item.source_id, target_id)
        if previous is None:
            if not adopt:
                result.error = self._not_ours(object_type, item, target_id)
                return _Update(item, result)
            previous = self._current(object_type, target_id, item, result)
            if previous is None:
                return _Update(item, result)
        desired = self._supported(object_type, item.assignments)
        wanted = {**previous, **desired}
        changed = tuple(sorted(p for p, v in desired.items() if _differs(previous.get(p), v)))
        plan = _Update(item, result, wanted)
        if changed:
            self._describe_change(object_type, plan, previous, changed)
            if not dry_run:
                plan.request = self._update_request(
                    object_type, target_id, previous, wanted, changed
                )
        return plan

    def _describe_change(
        self,
        object_type: ObjectType,
        plan: _Update,
        previous: dict[str, Any],
        changed: tuple[str, ...],
    ) -> None:
        """The outcome of an update that goes through (a failed request replaces it)."""
        result, wanted = plan.result, plan.wanted or {}
        result.changed = changed
        result.dropped = self._dropped_values(object_type, plan.item)
        result.changes = tuple(Change(p, previous.get(p), wanted[p]) for p in changed)
        result.deactivated = (
            previous.get("active", True) is not False and wanted.get("active") is False
        )

    def _send_updates(self, object_type: ObjectType, plans: Sequence[_Update]) -> None:
        """Send the planned requests; an object whose request failed gets its error, keeps
        nothing of the planned outcome and leaves the ledger as it was."""
        sending = [(plan, plan.request) for plan in plans if plan.request is not None]
        replies = self.bulk.send_all([request for _, request in sending])
        for (plan, _), reply in zip(sending, replies, strict=True):
            if reply.ok:
                continue
            target_id = plan.result.target_id or ""
            failed = Exported(plan.item.source_id, target_id)
            failed.error = self._update_failure(object_type, target_id, plan.item, reply)
            plan.result, plan.wanted = failed, None

    def _update_request(
        self,
        object_type: ObjectType,
        target_id: str,
        previous: dict[str, Any],
        wanted: dict[str, Any],
        changed: tuple[str, ...],
    ) -> Request:
        """PATCH of the changed paths (RFC 7644 §3.5.2), or PUT of the whole resource
        (§3.5.1) where PATCH is off or unsupported."""
        path = f"{self.capabilities.endpoint(object_type)}/{target_id}"
        if self._puts():
            values = {k: v for k, v in wanted.items() if k != MANAGER_TARGET}
            doc = build_document(object_type, values.items())
            if MANAGER_TARGET in wanted:
                doc = self._with_manager(doc, wanted[MANAGER_TARGET])
            return Request("PUT", path, {**doc, "id": target_id})
        operations = diff_operations(
            previous, wanted, changed, value_paths=self.settings.compat.value_paths
        )
        return Request("PATCH", path, patch_body(operations))

    def _puts(self) -> bool:
        return self.settings.compat.update == "put" or not self.capabilities.patch

    @staticmethod
    def _with_manager(doc: JsonObject, manager_id: Any) -> JsonObject:
        from idsync.scim.assign import assign

        assign(doc, MANAGER_TARGET, {"value": manager_id} if manager_id else None)
        return doc

    def _current(
        self, object_type: ObjectType, target_id: str, item: Desired, result: Exported
    ) -> dict[str, Any] | None:
        """An adopted object's attributes as the application holds them, in mapping paths:
        the first update sends only what differs (and knows which typed values exist)."""
        reply = self.client.get(f"{self.capabilities.endpoint(object_type)}/{target_id}")
        if not reply.ok:
            result.error = self._rejected("adoption", object_type, item, reply.status, reply.body)
            return None
        flat = flatten_user(reply.body) if object_type == "user" else flatten_group(reply.body)
        flat.pop("manager", None)
        return flat

    def _update_failure(
        self, object_type: ObjectType, target_id: str, item: Desired, reply: Reply
    ) -> IdsyncError:
        if reply.status == 404:
            return self.client.failures.deleted(object_type, target_id, "update")
        if reply.status == 409:
            return self._conflict(object_type, item, reply.body)
        return self._rejected("an update", object_type, item, reply.status, reply.body)

    def _not_ours(self, object_type: ObjectType, item: Desired, target_id: str) -> IdsyncError:
        with self.db.read() as conn:
            other = push_state.other_owners(
                conn, self.integration_id, object_type, [target_id]
            ).get(target_id)
        return IdsyncError(
            OWNED_ELSEWHERE,
            object_type=object_type,
            key=item.key or item.source_id,
            owner=_named(other) if other else _NOT_IDSYNCS,
            where=self._where(target_id),
            integration=self.settings.integration,
        )

    def deactivate(self, object_type: ObjectType, target_ids: Sequence[str]) -> list[Exported]:
        items = [(t, Desired(t, (("active", False),), None)) for t in target_ids]
        return self.update(object_type, items)

    # --- delete ------------------------------------------------------------------------------

    def delete(self, object_type: ObjectType, target_ids: Sequence[str]) -> list[Exported]:
        if not target_ids:
            return []
        with self.db.read() as conn:
            ours = push_state.pushed_objects(conn, self.integration_id, object_type, target_ids)
        results = [Exported(target_id, target_id, ("deleted",)) for target_id in target_ids]
        sending: list[Exported] = []
        for result in results:
            if result.source_id in ours:
                sending.append(result)
            else:
                item = Desired(result.source_id, (), None)
                result.error = self._not_ours(object_type, item, result.source_id)
        endpoint = self.capabilities.endpoint(object_type)
        replies = self.bulk.send_all(
            [Request("DELETE", f"{endpoint}/{result.source_id}") for result in sending]
        )
        for result, reply in zip(sending, replies, strict=True):
            if not reply.ok and reply.status != 404:  # 404: already gone, which is the goal
                item = Desired(result.source_id, (), None)
                result.error = self._rejected(
                    "deletion", object_type, item, reply.status, reply.body
                )
        gone = [r.target_id for r in results if r.error is None and r.target_id]
        with self.db.write() as conn:
            push_state.forget_objects(conn, self.integration_id, object_type, gone)
        return results

    # --- references --------------------------------------------------------------------------

    def set_references(self, pairs: Sequence[tuple[str, str | None]]) -> None:
        wanted = dict(pairs)
        if not wanted or not self._supported("user", [(MANAGER_TARGET, None)]):
            return
        with self.db.read() as conn:
            ledger = push_state.pushed_objects(conn, self.integration_id, "user", wanted)
        todo = [
            (user_id, manager_id if manager_id != user_id else None)
            for user_id, manager_id in wanted.items()
            if user_id in ledger and ledger[user_id].get(MANAGER_TARGET) != (manager_id or None)
        ]
        requests = [self._manager_request(pair, ledger[pair[0]]) for pair in todo]
        replies = self.bulk.send_all(requests)
        done = [
            pair
            for pair, reply in zip(todo, replies, strict=True)
            if self._manager_set(pair[0], reply)
        ]
        pushed = {
            user_id: {**ledger[user_id], MANAGER_TARGET: manager} for user_id, manager in done
        }
        with self.db.write() as conn:
            push_state.save_objects(
                conn, self.integration_id, "user", {k: _stored(v) for k, v in pushed.items()}
            )

    def _manager_request(self, pair: tuple[str, str | None], pushed: dict[str, Any]) -> Request:
        user_id, manager_id = pair
        if self._puts():  # the whole user as last pushed, with the new manager
            values = {**pushed, MANAGER_TARGET: manager_id}
            return self._update_request("user", user_id, {}, values, ())
        if manager_id:  # RFC 7643 §4.3: manager is complex; "value" is the manager's id
            operation: Operation = {
                "op": "replace",
                "path": MANAGER_TARGET,
                "value": {"value": manager_id},
            }
        else:
            operation = {"op": "remove", "path": MANAGER_TARGET}
        path = f"{self.capabilities.endpoint('user')}/{user_id}"
        return Request("PATCH", path, patch_body([operation]))

    def _manager_set(self, user_id: str, reply: Reply) -> bool:
        if not reply.ok:
            log.warning(
                "scim.manager_not_set",
                integration=self.settings.integration,
                user=user_id,
                status=reply.status,
                detail=self.client.failures.scrub(reply.detail),
            )
        return reply.ok

    # --- members -----------------------------------------------------------------------------

    def add_members(
        self,
        members: Sequence[Membership],
        *,
        seen: str | None = None,
        fresh: Collection[str] = frozenset(),  # the hub's shortcut; nothing to skip here
    ) -> int:
        if not members:
            return 0
        with self.db.read() as conn:
            known = push_state.known_members(conn, self.integration_id, list(members))
        new = [m for m in dict.fromkeys(members) if m not in known]
        sent = self._patch_groups(new, self._add_operations, removing=False)
        with self.db.write() as conn:
            push_state.record_members(conn, self.integration_id, sent, seen)
            if seen is not None:  # mark the ones already there as reported by this cycle
                push_state.record_members(conn, self.integration_id, sorted(known), seen)
        return len(sent)

    def remove_members(self, members: Sequence[Membership]) -> int:
        if not members:
            return 0
        with self.db.read() as conn:
            known = push_state.known_members(conn, self.integration_id, list(members))
        return self._remove(_memberships(known))

    def remove_memberships_of(self, object_type: ObjectType, member_ids: Sequence[str]) -> int:
        with self.db.read() as conn:
            pushed = push_state.memberships_of(conn, self.integration_id, object_type, member_ids)
        return self._remove(_memberships(pushed))

    def replace_members(
        self,
        lists: Mapping[str, Sequence[tuple[ObjectType, str]]],
        *,
        seen: str | None = None,
    ) -> tuple[int, int]:
        """Each group's pushed members become exactly ``lists[group]``: the ledger gives the
        difference, and only it is sent (adds, then removes). Never a member list replace."""
        if not lists:
            return 0, 0
        with self.db.read() as conn:
            current = push_state.group_members(conn, self.integration_id, list(lists))
        wanted = {(g, t, member) for g, members in lists.items() for t, member in members}
        new = sorted(wanted - current)
        sent = self._patch_groups(new, self._add_operations, removing=False)
        with self.db.write() as conn:
            push_state.record_members(conn, self.integration_id, sent, seen)
        removed = self._remove(_memberships(current - wanted))
        if seen is not None:
            with self.db.write() as conn:
                push_state.mark_seen(conn, self.integration_id, list(lists), seen)
        return len(sent), removed

    def remove_unlisted_members(self, group_ids: Sequence[str], seen: str) -> int:
        with self.db.read() as conn:
            stale = push_state.unlisted_members(conn, self.integration_id, group_ids, seen)
        return self._remove(_memberships(stale))

    def _remove(self, members: list[Membership]) -> int:
        if not members:
            return 0
        removed = self._patch_groups(members, self._remove_operations, removing=True)
        with self.db.write() as conn:
            push_state.forget_members(conn, self.integration_id, removed)
        return len(removed)

    def _add_operations(self, member_ids: list[str]) -> list[Operation]:
        return [add_members_operation(member_ids)]

    def _remove_operations(self, member_ids: list[str]) -> list[Operation]:
        return remove_members_operations(member_ids, self.settings.compat.member_remove)

    def _patch_groups(
        self,
        members: Sequence[Membership],
        operations: Callable[[list[str]], list[Operation]],
        *,
        removing: bool,
    ) -> list[Membership]:
        """PATCH each group with just these members, in bounded requests; the ones sent."""
        by_group: dict[str, list[Membership]] = {}
        for membership in members:
            by_group.setdefault(membership[0], []).append(membership)
        batches = [
            chunk
            for group_members in by_group.values()
            for chunk in self._member_chunks(group_members)
        ]
        return self._send_member_patches(batches, operations, removing)

    def _member_chunks(self, members: list[Membership]) -> Iterator[list[Membership]]:
        limit_bytes = min(_PATCH_BYTES, self.capabilities.bulk_max_payload or _PATCH_BYTES)
        style = "path-filter" if self.settings.compat.member_remove == "path-filter" else "add"
        chunk: list[Membership] = []
        size = 0
        for membership in members:
            cost = member_size(membership[2], style)
            if chunk and (
                len(chunk) >= self.settings.member_batch or size + cost > limit_bytes - 200
            ):
                yield chunk
                chunk, size = [], 0
            chunk.append(membership)
            size += cost
        if chunk:
            yield chunk

    def _send_member_patches(
        self,
        batches: list[list[Membership]],
        operations: Callable[[list[str]], list[Operation]],
        removing: bool,
    ) -> list[Membership]:
        """One PATCH per batch (all of one group); the memberships that are done."""
        endpoint = self.capabilities.endpoint("group")
        requests = [
            Request(
                "PATCH",
                f"{endpoint}/{batch[0][0]}",
                patch_body(operations([member_id for _, _, member_id in batch])),
            )
            for batch in batches
        ]
        done: list[Membership] = []
        singles: list[list[Membership]] = []
        for batch, reply in zip(batches, self.bulk.send_all(requests), strict=True):
            if removing and reply.scim_type == "noTarget" and len(batch) > 1:
                # PATCH is atomic (RFC 7644 §3.5.2): one member removed by hand fails them
                # all; one by one, each succeeds or is already gone.
                singles.extend([membership] for membership in batch)
            elif self._members_changed(batch, reply, removing):
                done.extend(batch)
        if singles:
            done.extend(self._send_member_patches(singles, operations, removing))
        return done

    def _members_changed(self, batch: list[Membership], reply: Reply, removing: bool) -> bool:
        if reply.ok:
            return True
        if removing and reply.status == 404:
            return True  # the group is gone, and its memberships with it
        if removing and reply.scim_type == "noTarget":
            return True  # a removal whose member is no longer there: done
        log.warning(
            "scim.members_not_changed",
            integration=self.settings.integration,
            group=batch[0][0],
            members=len(batch),
            status=reply.status,
            scim_type=reply.scim_type,
            detail=self.client.failures.scrub(reply.detail),
        )
        return False

    # --- concurrency -------------------------------------------------------------------------

    def _parallel(self, work: Callable[[T], R], items: Sequence[T]) -> list[R]:
        return in_parallel(work, items, self.settings.concurrency)


class _FilterRefused(Exception):
    """The application answered a filtered list with 400/501."""


@dataclass(slots=True)
class _Update:
    """One object's update on its way: its outcome, what to remember in the ledger
    (``wanted``; None: nothing), and the request to send (None: nothing to send)."""

    item: Desired
    result: Exported
    wanted: dict[str, Any] | None = None
    request: Request | None = None


def _memberships(rows: Iterable[tuple[str, str, str]]) -> list[Membership]:
    """Ledger rows as memberships (the ledger stores only "user" and "group")."""
    return [
        (group_id, "group" if member_type == "group" else "user", member_id)
        for group_id, member_type, member_id in sorted(rows)
    ]


def _pick(
    resources: Iterable[JsonObject], attribute: str, wanted: dict[str, str], exact: bool
) -> dict[str, str]:
    found: dict[str, str] = {}
    for resource in resources:
        value = _attribute(resource, attribute)
        if not isinstance(value, str) or not resource.get("id"):
            continue
        key = value if exact else fold(value)
        if key in wanted:
            found[wanted[key]] = str(resource["id"])
    return found


def _attribute(resource: JsonObject, attribute: str) -> Any:
    # Attribute names are case-insensitive (RFC 7643 §2.1): "username" counts as "userName".
    if attribute in resource:
        return resource[attribute]
    lowered = attribute.lower()
    return next((v for k, v in resource.items() if k.lower() == lowered), None)


def _integer(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _id_from_location(location: str | None) -> str | None:
    if not location:
        return None
    return location.rstrip("/").rsplit("/", 1)[-1] or None


def _differs(before: Any, after: Any) -> bool:
    if not present(before) and not present(after):
        return False
    return bool(before != after)


def _stored(values: dict[str, Any]) -> dict[str, Any]:
    """What the ledger keeps: the values that are set (a cleared one is simply absent)."""
    return {k: v for k, v in values.items() if present(v)}
