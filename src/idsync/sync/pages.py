"""One page of a cycle: scope → match → diff → export, then remember what was done.

Everything here works on a whole page at once: the links of the page's objects
are read with one statement, matched with one, exported in one batch per
operation and remembered with one upsert, so a page of a thousand objects costs
a handful of round trips whatever the size of the directory.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from idsync.contract.protocols import (
    KEY_TARGETS,
    MANAGER_TARGET,
    Change,
    Desired,
    Exported,
    Membership,
    Target,
)
from idsync.contract.records import OBJECT_TYPES, MemberRef, ObjectType, SourceObject
from idsync.errors.catalogue import OWNED_ELSEWHERE, IdsyncError
from idsync.scim.assign import is_secret
from idsync.store import sync_state as state
from idsync.store.database import Database
from idsync.store.sync_state import Link, Pending
from idsync.store.types import utcnow
from idsync.sync.jobs import escrow_retry_at
from idsync.sync.mapping import AttributeMapping, Mapped
from idsync.sync.report import LogBook, Tally
from idsync.sync.scoping import Scope

MEMBER_CACHE_SIZE = 1_000_000
"""Members a cycle remembers: every user of a 1M-user directory. About 200 bytes each
(two ids and a dict slot), so 200 MB at most; a cycle that meets more keeps those it
has and asks the database for the rest."""
_BY_HAND = "no integration (it was created by hand)"


@dataclass(frozen=True)
class PageContext:
    """What processing a page needs to know about its integration and cycle."""

    db: Database
    target: Target
    org_id: str
    integration_id: str
    integration_name: str
    cycle_id: str
    mappings: dict[ObjectType, AttributeMapping]
    scopes: dict[ObjectType, Scope]
    adopt_existing: bool
    preview: bool
    matching_attribute: str = "userName"
    """``userName`` (``displayName`` for groups) or ``externalId``."""


@dataclass
class _Plan:
    creates: list[tuple[SourceObject, Mapped]] = field(default_factory=list)
    updates: list[tuple[str, SourceObject, Mapped, bool]] = field(default_factory=list)
    """(target id, object, mapped, adopt)."""
    unchanged: list[tuple[Link, SourceObject, Mapped]] = field(default_factory=list)
    pending: list[Pending] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    """Source ids reported present and in scope: any pending removal of theirs is void."""
    kept: list[str] = field(default_factory=list)
    """Linked source ids whose update failed or was left alone: still in the source, so a
    full read must not take them for gone; their links keep the old digest (tried again)."""
    managers: dict[str, str] = field(default_factory=dict)
    """Manager source id → target id, for the managers already provisioned."""


@dataclass
class PagePlan:
    """A page decided (what to create, update, leave, remove) but not yet exported: the
    engine may send one page while it plans the next (``Cycle._send_ahead``)."""

    object_type: ObjectType
    objects: Sequence[SourceObject]
    full: bool
    links: dict[str, Link]
    plan: _Plan
    creates: list[Desired] = field(default_factory=list)
    updates: dict[bool, list[tuple[str, Desired]]] = field(
        default_factory=lambda: {False: [], True: []}
    )
    """Per ``adopt`` (those linked first, then those adopted): (target id, desired)."""
    mapped: dict[str, tuple[SourceObject, Mapped]] = field(default_factory=dict)

    @property
    def source_ids(self) -> set[str]:
        return {o.source_id for o in self.objects}


@dataclass
class Sent:
    """What the target answered for a page's exports, and how long they took."""

    results: list[tuple[str, Exported]]
    seconds: float


class PageProcessor:
    def __init__(self, ctx: PageContext, tally: Tally, log: LogBook) -> None:
        self.ctx = ctx
        self.tally = tally
        self.log = log
        self.preview: list[dict[str, Any]] = []
        self.assignment: dict[ObjectType, set[str]] | None = None
        """Source ids in scope by group assignment (``scoping.groups``); None: no such rule."""
        self.mark_members = True
        """Mark memberships seen in full reads (for the reconcile that follows them);
        off in a first cycle, which has no memberships of its own to reconcile."""
        self.book: PreviewBook | None = PreviewBook() if ctx.preview else None
        """A preview's removals and reads, in memory (a preview writes nothing)."""
        self.escrow_pending = True
        """Whether objects may wait in escrow (the engine clears it when none do): if
        none do, a page need not release any."""
        self.removals_pending = True
        """Whether removals may wait for the end of the cycle (the engine clears it when
        none do; whatever adds one sets it): if none do, a page need not drop its
        objects' (a first load's group page saves a round trip)."""
        self._member_targets: dict[str, dict[str, str]] = {"user": {}, "group": {}}
        """Hub ids of the members met so far in this cycle, by kind and source id: a
        user is a member of ten groups on average, so most lookups are repeats. A dict
        per kind, keyed by the id alone: a (kind, id) tuple per key would cost a third
        more memory."""
        self._member_room = MEMBER_CACHE_SIZE
        """How many more members ``_member_targets`` may hold. Once full it keeps what
        it has: clearing it would make every later page miss."""
        self._linked_since: set[str] | None = None
        """In a phase that began with no link of its type (a first load's): the source ids
        linked since, the only ones a lookup could find (see ``begin_phase``). None: every
        lookup asks the database."""

    # --- the phase -----------------------------------------------------------------------

    def begin_phase(self, *, unlinked: bool) -> None:
        """A phase of one object type begins; ``unlinked``: the integration has no link of
        that type yet (a first load). Then only the links this phase saves can be found,
        and a page none of whose objects was linked since skips its lookup. On a first
        load every lookup found nothing, yet each cost a round trip and a statement
        built: 9 % of the main thread's time in a py-spy profile of a 100,000-user
        load on PostgreSQL. Only the cycle that holds the job writes its integration's
        links, so nothing else can add one meanwhile."""
        self._linked_since = set() if unlinked else None

    def end_phase(self) -> None:
        self._linked_since = None

    def _lookups(self, source_ids: list[str]) -> list[str]:
        """Those of ``source_ids`` whose links the database may hold."""
        linked = self._linked_since
        if linked is None:
            return source_ids
        return [source_id for source_id in source_ids if source_id in linked]

    def _note_linked(self, rows: list[dict[str, Any]]) -> None:
        linked = self._linked_since
        if linked is None:
            return
        linked.update(row["source_id"] for row in rows)
        if len(linked) > MEMBER_CACHE_SIZE:
            # Beyond what a cycle keeps in memory (a set entry is ~100 bytes): ask the
            # database again from here on.
            self._linked_since = None

    # --- the page ------------------------------------------------------------------------

    def process(self, object_type: ObjectType, objects: Sequence[SourceObject], full: bool) -> None:
        page = self.plan(object_type, objects, full)
        self.ready(page)
        if self.ctx.preview:
            self._preview_page(page)
            return
        self.finish(page, self.send(page))

    def plan(
        self, object_type: ObjectType, objects: Sequence[SourceObject], full: bool
    ) -> PagePlan:
        """What the page needs done, from its objects and their links."""
        started = time.perf_counter()
        objects = _merge(objects)
        ctx = self.ctx
        links: dict[str, Link] = {}
        if wanted := self._lookups([o.source_id for o in objects]):
            with ctx.db.read() as conn:
                links = state.links(conn, ctx.integration_id, object_type, wanted)
        plan = self._plan(object_type, objects, links)
        self._match(object_type, plan)
        self.tally.seconds["diff"] += time.perf_counter() - started
        return PagePlan(object_type, objects, full, links, plan)

    def ready(self, page: PagePlan) -> None:
        """The page's managers resolved and its exports built: it can be sent."""
        started = time.perf_counter()
        if page.object_type == "user":
            self._resolve_managers(page.plan)
        self._desired(page)
        self.tally.seconds["diff"] += time.perf_counter() - started

    def send(self, page: PagePlan) -> Sent:
        """The page's creates and updates, exported. It touches only ``page`` and the
        target (no tally, log or database of this processor's), so the engine may run it
        in another thread while this one plans the next page."""
        started = time.perf_counter()
        ctx = self.ctx
        results = [("create", r) for r in self._create(page.object_type, page.creates)]
        for adopt, batch in page.updates.items():
            if not batch:
                continue
            updated = ctx.target.update(page.object_type, batch, adopt=adopt, dry_run=ctx.preview)
            results += [("update", r) for r in updated]
        return Sent(results, time.perf_counter() - started)

    def finish(self, page: PagePlan, sent: Sent) -> None:
        """What the target answered, remembered: links, members, removals, the log."""
        ctx, object_type, plan = self.ctx, page.object_type, page.plan
        self.tally.add_seconds(sent.seconds, "write", "writeObjects")
        with self.tally.timed("write", "writeObjects"):
            rows = self._rows(page, sent)
        if object_type == "group":
            created = {r.target_id for a, r in sent.results if a == "create" and r.target_id}
            with self.tally.timed("write", "writeMembers"):
                self._sync_members(page.objects, rows, page.links, page.full, created)
        with self.tally.timed("write", "writeState"), ctx.db.write() as conn:
            # No link of the page's objects was found when it was planned (a first
            # load's page): its links are new.
            state.save_links(conn, ctx.integration_id, object_type, rows, expect_new=not page.links)
            self._note_linked(rows)
            if page.full:
                state.touch_links(conn, ctx.integration_id, object_type, plan.kept, ctx.cycle_id)
            if plan.pending:
                self.removals_pending = True
                state.add_pending(conn, ctx.integration_id, ctx.cycle_id, plan.pending)
            if self.removals_pending:
                state.drop_pending(conn, ctx.integration_id, object_type, plan.present)
            state.write_log(conn, self.log.take())

    def assigned(self, object_type: ObjectType, source_id: str) -> bool:
        """With group assignment: only the assigned groups and their direct user members
        are in scope (as in Entra, nested groups' members are not)."""
        if self.assignment is None:
            return True
        return source_id in self.assignment[object_type]

    def _plan(
        self, object_type: ObjectType, objects: Sequence[SourceObject], links: dict[str, Link]
    ) -> _Plan:
        plan = _Plan()
        mapping, scope = self.ctx.mappings[object_type], self.ctx.scopes[object_type]
        for obj in objects:
            link = links.get(obj.source_id)
            target_id = link.target_id if link is not None and link.state != "removed" else None
            if obj.removed:
                if target_id is not None:
                    action = "delete" if obj.permanently or object_type == "group" else "disable"
                    why = (
                        "deleted permanently in the source"
                        if obj.permanently
                        else "deleted in the source"
                    )
                    plan.pending.append(
                        Pending(object_type, obj.source_id, target_id, action, why, False)
                    )
                continue
            mapped = mapping.apply(obj)
            if scope.decides(obj) is False or not self.assigned(object_type, obj.source_id):
                if target_id is not None and link is not None and link.state == "active":
                    plan.pending.append(out_of_scope(object_type, obj.source_id, target_id))
                else:
                    self.tally.add("skip")
                    self.log.add(
                        object_type,
                        obj.source_id,
                        "skip",
                        "skipped",
                        "scope",
                        display=mapped.key,
                        reason="not in the integration's scope",
                    )
                continue
            plan.present.append(obj.source_id)
            if link is None or target_id is None:
                plan.creates.append((obj, mapped))
            elif link.state == "active" and mapped.digest == link.digest:
                plan.unchanged.append((link, obj, mapped))
            else:
                plan.updates.append((target_id, obj, mapped, False))
        return plan

    def _match(self, object_type: ObjectType, plan: _Plan) -> None:
        """New objects are matched by the matching attribute before anything is created:
        an object the hub already holds is linked, never created twice."""
        if not plan.creates:
            return
        attribute = self.ctx.matching_attribute
        if attribute != "externalId":
            attribute = KEY_TARGETS[object_type]  # userName for users, displayName for groups
        values = {obj.source_id: _match_value(attribute, m) for obj, m in plan.creates}
        wanted = [v for v in values.values() if v]
        existing = self.ctx.target.match(object_type, attribute, wanted) if wanted else {}
        creates: list[tuple[SourceObject, Mapped]] = []
        for obj, mapped in plan.creates:
            value = values[obj.source_id]
            found = existing.get(value) if value else None
            if found is None:
                creates.append((obj, mapped))
            elif found.owner == self.ctx.integration_id:
                plan.updates.append((found.target_id, obj, mapped, found.unrecorded))
            elif self.ctx.adopt_existing and (found.owner is None or found.transferable):
                plan.updates.append((found.target_id, obj, mapped, True))
            else:
                error = IdsyncError(
                    OWNED_ELSEWHERE,
                    object_type=object_type,
                    key=mapped.key,
                    owner=found.owner_name
                    or (f"integration {found.owner}" if found.owner else _BY_HAND),
                    where=found.where,
                    integration=self.ctx.integration_name,
                )
                self.tally.add("skip")
                self.log.add(
                    object_type,
                    obj.source_id,
                    "skip",
                    "skipped",
                    "match",
                    target_id=found.target_id,
                    display=mapped.key,
                    error=error,
                )
        plan.creates = creates

    def _resolve_managers(self, plan: _Plan) -> None:
        """Managers already provisioned are written with the user; the others wait as
        pending references, resolved once the whole user phase is in."""
        wanted = {m.reference for _, m in plan.creates if m.reference}
        wanted |= {m.reference for _, _, m, _ in plan.updates if m.reference}
        wanted |= {m.reference for _, _, m in plan.unchanged if m.reference}
        if not wanted:
            return
        with self.ctx.db.read() as conn:
            known = state.links(conn, self.ctx.integration_id, "user", wanted)
        plan.managers = {
            sid: link.target_id
            for sid, link in known.items()
            if link.target_id and link.state != "removed"  # a deleted manager is no reference
        }

    def _manager_assignment(self, mapped: Mapped, plan: _Plan) -> tuple[tuple[str, Any], ...]:
        if not mapped.has_reference:
            return ()
        if mapped.reference is None or mapped.reference == mapped.source_id:
            # Nobody manages themselves: a self-reference (an HR file's CEO row) is no
            # manager, as the target's set_references also reads it.
            return ((MANAGER_TARGET, None),)
        target = plan.managers.get(mapped.reference)
        return ((MANAGER_TARGET, {"value": target}),) if target else ()

    # --- export ---------------------------------------------------------------------------

    def _desired(self, page: PagePlan) -> None:
        """The page's creates and updates as the target takes them; an object its mapping
        cannot key fails here, before anything is sent."""
        object_type, plan = page.object_type, page.plan
        mapping = self.ctx.mappings[object_type]
        for obj, mapped in plan.creates:
            page.mapped[obj.source_id] = (obj, mapped)
            if not mapped.key:
                mapping_error = _mapping_error(mapping, mapped)
                self._fail(object_type, obj.source_id, mapped, "create", mapping_error, "import")
                continue
            page.creates.append(self._desire(obj, mapped, plan))
        for target_id, obj, mapped, adopt in plan.updates:
            page.mapped[obj.source_id] = (obj, mapped)
            page.updates[adopt].append((target_id, self._desire(obj, mapped, plan)))

    def _desire(self, obj: SourceObject, mapped: Mapped, plan: _Plan) -> Desired:
        assignments = mapped.assignments + self._manager_assignment(mapped, plan)
        return Desired(obj.source_id, assignments, mapped.key)

    def _rows(self, page: PagePlan, sent: Sent) -> list[dict[str, Any]]:
        """The link rows of what was exported (and of what was unchanged); failures and
        skips logged."""
        object_type, plan = page.object_type, page.plan
        rows: list[dict[str, Any]] = []
        seen = self.ctx.cycle_id if page.full else None
        linked = {obj.source_id for _, obj, _, adopt in plan.updates if not adopt}
        for action, result in sent.results:
            _, mapped = page.mapped[result.source_id]
            if result.error is not None and result.source_id in linked:
                plan.kept.append(result.source_id)
            if result.error is not None and result.error.error is OWNED_ELSEWHERE:
                # Taken over by another integration since: left alone, not a failure.
                self._skip_owned(object_type, result, mapped)
                continue
            if result.error is not None:
                self._fail(object_type, result.source_id, mapped, action, result.error, "export")
                continue
            rows.append(self._link_row(result.target_id, mapped, seen, plan))
            self._log_export(object_type, action, result, mapped)
            if result.target_id and object_type == "user":
                # Groups are seldom members: those that are get found by their links.
                self._remember_member(object_type, result.source_id, result.target_id)
        for link, _, mapped in plan.unchanged:
            self.tally.add("unchanged")
            if page.full or mapped.has_reference:
                rows.append(self._link_row(link.target_id, mapped, seen, plan))
        if self.escrow_pending:
            self._release_escrow(object_type, [r["source_id"] for r in rows])
        return rows

    def _create(self, object_type: ObjectType, creates: list[Desired]) -> list[Exported]:
        if not self.ctx.preview:
            return self.ctx.target.create(object_type, creates)
        return [Exported(d.source_id, None, tuple(t for t, _ in d.assignments)) for d in creates]

    def _link_row(
        self, target_id: str | None, mapped: Mapped, seen: str | None, plan: _Plan
    ) -> dict[str, Any]:
        reference = mapped.reference
        manager_known = reference is None or reference in plan.managers
        return {
            "source_id": mapped.source_id,
            "target_id": target_id,
            "digest": mapped.digest if manager_known else None,
            "state": "active",
            "seen_cycle": seen,
            "pending_ref": None if manager_known else reference,
        }

    def _log_export(
        self, object_type: ObjectType, action: str, result: Exported, mapped: Mapped
    ) -> None:
        if action == "update" and not result.changed:
            self.tally.add("unchanged")
            return
        if result.deactivated:
            action = "disable"
        self.tally.add(action)
        if result.dropped is not None:
            self.tally.add("attributesDropped")
        changes: dict[str, Any] = {"attributes": [c.path for c in result.changes]}
        if result.changes:
            changes["changes"] = change_details(result.changes)
        else:
            changes["attributes"] = list(result.changed)
        self.log.add(
            object_type,
            result.source_id,
            action,
            "success",
            "export",
            target_id=result.target_id,
            display=mapped.key,
            error=result.dropped,
            changes=changes,
        )

    def _skip_owned(self, object_type: ObjectType, result: Exported, mapped: Mapped) -> None:
        self.tally.add("skip")
        self.log.add(
            object_type,
            result.source_id,
            "skip",
            "skipped",
            "export",
            target_id=result.target_id,
            display=mapped.key,
            error=result.error,
        )

    def _fail(
        self,
        object_type: ObjectType,
        source_id: str,
        mapped: Mapped,
        action: str,
        error: IdsyncError,
        step: str,
    ) -> None:
        self.tally.add("failed")
        self.log.add(
            object_type, source_id, action, "failure", step, display=mapped.key, error=error
        )
        if self.ctx.preview:
            return
        self.escrow_pending = True
        with self.ctx.db.write() as conn:
            state.escrow(
                conn,
                self.ctx.integration_id,
                object_type,
                source_id,
                error.error.code,
                error.message,
                lambda attempts: escrow_retry_at(utcnow(), attempts),
            )

    def _release_escrow(self, object_type: ObjectType, source_ids: list[str]) -> None:
        if source_ids and self.ctx.preview is False:
            with self.ctx.db.write() as conn:
                state.release_escrow(conn, self.ctx.integration_id, object_type, source_ids)

    # --- members ----------------------------------------------------------------------------

    def _sync_members(
        self,
        objects: Sequence[SourceObject],
        rows: list[dict[str, Any]],
        links: dict[str, Link],
        full: bool,
        created: set[str],
    ) -> None:
        """The page's groups' members, to the target; ``created``: the groups the page
        created (the target's ``fresh``: none of their members is there yet)."""
        groups = {r["source_id"]: r["target_id"] for r in rows}
        for sid, link in links.items():
            if sid not in groups and link.target_id and link.state == "active":
                groups[sid] = link.target_id
        whole = [o for o in objects if o.members_complete and o.source_id in groups]
        if whole:
            self._replace_members(whole, groups, full)
        deltas = [o for o in objects if not o.members_complete and o.source_id in groups]
        added = [(o.source_id, ref) for o in deltas for ref in o.members_added]
        removed = [(o.source_id, ref) for o in deltas for ref in o.members_removed]
        if not added and not removed:
            return
        to_add, unresolved = self._resolve_members([(groups[g], ref) for g, ref in added])
        to_remove, _ = self._resolve_members([(groups[g], ref) for g, ref in removed])
        source_of = {target: source for source, target in groups.items()}
        waiting = [(source_of[g], ref.object_type, ref.source_id) for g, ref in unresolved]
        gone = [(g, ref.object_type, ref.source_id) for g, ref in removed]
        self.tally.add("membersWaiting", len(waiting))
        if waiting or gone:
            with self.ctx.db.write() as conn:
                state.add_pending_members(conn, self.ctx.integration_id, waiting)
                state.drop_pending_members(conn, self.ctx.integration_id, gone)
        self.tally.add(
            "membersAdded",
            self.ctx.target.add_members(
                to_add,
                seen=self.ctx.cycle_id if full and self.mark_members else None,
                fresh=created,
            ),
        )
        self.tally.add("membersRemoved", self.ctx.target.remove_members(to_remove))

    def _replace_members(
        self, objects: Sequence[SourceObject], groups: dict[str, str], full: bool
    ) -> None:
        """Groups read with their whole member list (LDAP, files, SCIM): the target gets
        the difference from what this integration made, never the list itself."""
        pairs = [(groups[o.source_id], ref) for o in objects for ref in o.members_added]
        resolved, unresolved = self._resolve_members(pairs)
        source_of = {groups[o.source_id]: o.source_id for o in objects}
        waiting = [(source_of[g], ref.object_type, ref.source_id) for g, ref in unresolved]
        with self.ctx.db.write() as conn:
            # What an older list of these groups left waiting is stale now.
            state.clear_pending_members(conn, self.ctx.integration_id, list(source_of.values()))
            state.add_pending_members(conn, self.ctx.integration_id, waiting)
        lists: dict[str, list[tuple[ObjectType, str]]] = {g: [] for g in source_of}
        for group_id, member_type, member_id in resolved:
            lists[group_id].append((member_type, member_id))
        added, removed = self.ctx.target.replace_members(
            lists, seen=self.ctx.cycle_id if full and self.mark_members else None
        )
        self.tally.add("membersWaiting", len(waiting))
        self.tally.add("membersAdded", added)
        self.tally.add("membersRemoved", removed)

    def _resolve_members(
        self, pairs: list[tuple[str, MemberRef]]
    ) -> tuple[list[Membership], list[tuple[str, MemberRef]]]:
        resolved: list[Membership] = []
        unresolved: list[tuple[str, MemberRef]] = []
        cache = self._member_targets
        later: list[tuple[str, MemberRef]] = []
        # One pass over the cache: a million refs cost a dict lookup each, not two.
        for group_id, ref in pairs:
            kind, source_id = ref
            target_id = cache[kind].get(source_id)
            if target_id is None:
                later.append((group_id, ref))
            else:
                resolved.append((group_id, kind, target_id))
        if not later:
            return resolved, unresolved
        found = self._member_links({ref for _, ref in later})
        for group_id, ref in later:
            target_id = found.get(ref)
            if target_id is not None:
                resolved.append((group_id, ref.object_type, target_id))
            else:
                unresolved.append((group_id, ref))
        return resolved, unresolved

    def _member_links(self, refs: set[MemberRef]) -> dict[MemberRef, str]:
        """The hub ids of ``refs`` by their links (those not removed), remembered."""
        found: dict[MemberRef, str] = {}
        with self.ctx.db.read() as conn:
            for kind in OBJECT_TYPES:
                wanted = [source_id for t, source_id in refs if t == kind]
                links = state.links(conn, self.ctx.integration_id, kind, wanted)
                for source_id, link in links.items():
                    if link.target_id and link.state != "removed":
                        found[MemberRef(kind, source_id)] = link.target_id
                        self._remember_member(kind, source_id, link.target_id)
        return found

    def _remember_member(self, kind: ObjectType, source_id: str, target_id: str) -> None:
        known = self._member_targets[kind]
        if source_id in known:
            known[source_id] = target_id
        elif self._member_room > 0:
            known[source_id] = target_id
            self._member_room -= 1

    def forget_members(self) -> None:
        """Drop the members remembered so far. Once the groups are read nothing needs
        them, and at a million users they hold about 200 MB that the end of the group
        phase (a first load rebuilding an index, say) can use instead."""
        self._member_targets = {"user": {}, "group": {}}
        self._member_room = MEMBER_CACHE_SIZE

    def add_waiting_members(self, full: bool) -> None:
        """Memberships whose member has appeared since they were read (a nested group
        read later in the cycle, a user out of escrow or into scope)."""
        with self.ctx.db.read() as conn:
            ready = state.resolvable_pending_members(conn, self.ctx.integration_id)
        if not ready:
            return
        self.tally.add(
            "membersAdded",
            self.ctx.target.add_members(
                [(group, kind, member) for _, group, kind, _, member in ready],  # type: ignore[misc]
                seen=self.ctx.cycle_id if full and self.mark_members else None,
            ),
        )
        with self.ctx.db.write() as conn:
            state.drop_pending_members(
                conn, self.ctx.integration_id, [(g, kind, m) for g, _, kind, m, _ in ready]
            )

    # --- preview ------------------------------------------------------------------------------

    def _preview_page(self, page: PagePlan) -> None:
        """What a run would do with this page, decided by the same code (the target asked
        with ``dry_run``), kept in memory: its log entries become the preview."""
        book = self.book
        assert book is not None
        object_type, plan, full = page.object_type, page.plan, page.full
        rows = self._rows(page, self.send(page))
        if full:
            book.see(object_type, [r["source_id"] for r in rows] + plan.kept)
        book.add(plan.pending)
        book.drop(object_type, plan.present)
        self.preview.extend(preview_entry(e) for e in self.log.take())


OUT_OF_SCOPE = "out of scope"
"""The reason of a removal for leaving the scope: every other reason is leaving the source."""


def out_of_scope(object_type: ObjectType, source_id: str, target_id: str) -> Pending:
    """An object that left the scope: a user is disabled, a group deleted (groups have
    no disabled state), as Entra does."""
    action = "disable" if object_type == "user" else "delete"
    return Pending(object_type, source_id, target_id, action, OUT_OF_SCOPE, False)


class PreviewBook:
    """What a preview keeps in memory where a run writes: the removals waiting for the
    end of the cycle (as ``sync_pending``) and the objects its full reads reported (as
    the links' ``seen_cycle``)."""

    def __init__(self) -> None:
        self.pending: dict[tuple[str, str], Pending] = {}
        self.seen: dict[str, set[str]] = {"user": set(), "group": set()}

    def add(self, items: Sequence[Pending]) -> None:
        for item in items:
            key = (item.object_type, item.source_id)
            before = self.pending.get(key)
            staged = before.staged if before is not None else item.staged
            self.pending[key] = Pending(
                item.object_type, item.source_id, item.target_id, item.action, item.reason, staged
            )

    def drop(self, object_type: str, source_ids: Sequence[str]) -> None:
        for source_id in source_ids:
            self.pending.pop((object_type, source_id), None)

    def see(self, object_type: str, source_ids: Sequence[str]) -> None:
        self.seen[object_type].update(source_ids)

    def listed(self, *, staged: bool | None = None) -> list[Pending]:
        return [p for p in self.pending.values() if staged is None or p.staged is staged]


HIDDEN = "(secret)"


def change_details(changes: Sequence[Change]) -> list[dict[str, Any]]:
    """An update's changes as the provisioning log and ``--json`` show them; secret
    attributes' values never leave the target."""
    return [
        {"attribute": c.path, "old": _shown(c.path, c.old), "new": _shown(c.path, c.new)}
        for c in changes
    ]


def _shown(path: str, value: Any) -> Any:
    if value is None:
        return None
    if is_secret(path):
        return HIDDEN
    return value


def preview_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """A provisioning log entry a run would write, as the preview lists it."""
    changes = entry.get("changes") or {}
    return {
        "objectType": entry["object_type"],
        "action": entry["action"],
        "sourceId": entry["source_id"],
        "display": entry["display"],
        "targetId": entry["target_id"],
        "result": entry["result"],
        "code": entry["error_code"],
        "reason": entry["reason"],
        "changes": changes.get("changes", []),
    }


def _match_value(attribute: str, mapped: Mapped) -> str | None:
    if attribute == "externalId":
        value = dict(mapped.assignments).get("externalId")
        return str(value) if value else None
    return mapped.key


def _merge(objects: Sequence[SourceObject]) -> list[SourceObject]:
    """A source may report one object twice in a page (a group's members in chunks):
    keep its latest attributes and all of its member changes."""
    merged: dict[str, SourceObject] = {}
    for obj in objects:
        before = merged.get(obj.source_id)
        if before is None or obj.removed or before.removed:
            merged[obj.source_id] = obj
            continue
        merged[obj.source_id] = SourceObject(
            obj.object_type,
            obj.source_id,
            {**before.attributes, **obj.attributes},
            members_added=before.members_added + obj.members_added,
            members_removed=before.members_removed + obj.members_removed,
            members_complete=before.members_complete or obj.members_complete,
        )
    return list(merged.values())


def _mapping_error(mapping: AttributeMapping, mapped: Mapped) -> IdsyncError:
    try:
        mapping.require_key(mapped, creating=True)
    except IdsyncError as exc:
        return exc
    raise AssertionError("a mapped object without a key passed require_key")
