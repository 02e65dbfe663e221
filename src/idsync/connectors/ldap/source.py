"""The LDAP / Active Directory source: users and groups by paged subtree searches.

A read of one object type goes:

1. the watermark for the *next* read is taken first (see :mod:`.changes`), so that
   whatever changes while this read runs is read again next time; on OpenLDAP with
   syncprov, with an RFC 4533 sync cookie per base (:meth:`.deletions.Deletions.cookies`);
2. a full read sweeps the user (and, for groups, group) bases for anchors only: the
   DN -> anchor index that resolves managers and members (references are DNs in LDAP,
   and DNs change on moves; anchors do not);
3. the entries (all, or those changed since the watermark) are read page by page
   (RFC 2696), one :class:`Page` per LDAP page, each with a ``resume`` checkpoint
   that a new source can continue from (see :class:`~.client.Position`);
4. the last page carries the watermark and says how the read saw removals, and why
   (``Page.removals``, decided by :mod:`.deletions`).

An incremental read sees removals in one of three ways, the first two at the cost of
the changes, not of the directory:

- ``syncrepl`` (OpenLDAP): one refreshOnly search per base from the saved cookie
  (:mod:`.syncrepl`) answers the changed entries and the entryUUIDs deleted (or moved
  out of the bases or the filter) from syncprov's session log, or, when the log does
  not reach back that far, the entryUUIDs still present (the present phase: the last
  page lists them, the rest is gone). The answer is cut into pages here; a resumed read
  asks again from the same cookie, skips what it handed out if the answer starts the
  same, and keeps the cookies of the refresh it resumes, so what changed in between is
  read next time. A refused cookie (e-syncRefreshRequired) is ``WatermarkExpired``: the
  engine reads in full. A server that cannot synchronise after all is swept;
- ``tombstones`` (AD, when the bind account can be *shown* to read the Deleted Objects
  container): changes by uSNChanged, deletions from the tombstones (which tell a
  deletion still in the Recycle Bin from a final one), and objects that left the bases
  or the filter: those changed since the last cycle that the bases no longer hold;
- ``sweep`` otherwise: changes by entryCSN / uSNChanged, and an anchors-only sweep of
  the bases lists what still exists (``Page.present``).

Without a sweep, the DNs the changed entries reference are resolved by batched
searches (:mod:`.references`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any

from ldap3.utils.conv import escape_filter_chars  # type: ignore[import-untyped, unused-ignore]

from idsync.connectors.ldap import ad, deletions, syncrepl
from idsync.connectors.ldap.changes import MARK_ATTRIBUTES, Mark, newest
from idsync.connectors.ldap.client import BASE, LdapClient, Position, resumed_pages
from idsync.connectors.ldap.deletions import Deletions
from idsync.connectors.ldap.entries import (
    DnIndex,
    Entry,
    anchor_of,
    normal_dn,
    text,
    texts,
    under,
)
from idsync.connectors.ldap.groups import group_attribute_names, group_object
from idsync.connectors.ldap.references import References
from idsync.connectors.ldap.settings import LdapSettings
from idsync.connectors.ldap.users import user_attribute_names, user_object
from idsync.contract.checks import Health
from idsync.contract.errors import ConnectorError
from idsync.contract.records import ObjectType, Page, ReadStart, Rejected, Removals, SourceObject
from idsync.logs import get_logger

log = get_logger("idsync.connectors.ldap")

_ROOT_DSE = (
    "namingContexts", "defaultNamingContext", "vendorName", "vendorVersion", "dnsHostName",
    "dsServiceName", "highestCommittedUSN", "supportedControl", "supportedLDAPVersion",
)  # fmt: skip
_PAGED_RESULTS = "1.2.840.113556.1.4.319"


@dataclass(slots=True)
class _Plan:
    """Where one read starts and what its watermark will be."""

    since: Mark | None
    next: Mark | None
    base: int = 0
    position: Position = field(default_factory=Position)
    removals: Removals | None = None
    """How this read sees removals (incremental reads only)."""

    @property
    def mode(self) -> str:
        return self.removals.mode if self.removals is not None else "full"

    @property
    def sweeps(self) -> bool:
        """A full read sweeps for its DN index; a sweep read to list what is present."""
        return self.mode in ("full", "sweep")

    def checkpoint(self, next_mark: Mark, base: int, position: Position) -> dict[str, Any]:
        return {
            "v": 1,
            "since": self.since.to_json() if self.since else None,
            "next": next_mark.to_json(),
            "removals": self.removals.to_json() if self.removals else None,
            "base": base,
            "skip": position.skip,
            "digest": position.digest,
        }


@dataclass(slots=True)
class _Sweep:
    """What the anchors-only sweep found."""

    index: DnIndex = field(default_factory=DnIndex)
    anchors: dict[str, set[str]] = field(default_factory=lambda: {"user": set(), "group": set()})
    marks: list[str] = field(default_factory=list)
    mark_attribute: str = ""
    groups: dict[str, Entry] = field(default_factory=dict)


@dataclass(slots=True)
class _Read:
    """One read's state from its first page to its last."""

    object_type: ObjectType
    plan: _Plan
    next: Mark
    index: DnIndex
    sweep: _Sweep | None = None
    removals: Removals | None = None
    present: frozenset[str] | None = None
    """The present phase of a content synchronisation: every entryUUID still there."""
    changed_groups: list[str] = field(default_factory=list)
    """Without a sweep: the DNs of the groups that changed (their ancestors change too)."""
    emitted: set[str] = field(default_factory=set)


class LdapSource:
    """A :class:`~idsync.contract.protocols.Source` reading one LDAP directory or AD domain."""

    def __init__(
        self,
        settings: LdapSettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self._client = LdapClient(settings, sleep=sleep)
        self.failures = self._client.failures
        self._references = References(self._client, settings)
        self._deletions = Deletions(self._client, settings)
        self._users_swept: dict[str, tuple[ObjectType, str]] | None = None
        """The users' DN -> anchor index of this instance's last user sweep (one cycle)."""

    def __repr__(self) -> str:
        return f"LdapSource({self.settings!r})"

    # --- the Source protocol -------------------------------------------------------------

    def read(self, object_type: ObjectType, start: ReadStart) -> Iterator[Page]:
        plan = self._plan(object_type, start)
        state, pages = self._begin(object_type, plan)
        held: Page | None = None
        for page in pages:
            state.emitted.update(o.source_id for o in page.objects)
            state.emitted.update(r.source_id for r in page.rejected if r.source_id)
            if held is not None:
                yield held
            held = page
        yield self._last(state, held)

    def read_one(self, object_type: ObjectType, source_id: str) -> SourceObject | None:
        settings = self.settings
        try:
            value = (
                ad.guid_filter_value(source_id)
                if settings.anchor_attribute.lower() == "objectguid"
                else escape_filter_chars(source_id)
            )
        except ValueError:
            return None  # not a GUID: AD holds no such object
        anchor_filter = f"(&{self._filter(object_type)}({settings.anchor_attribute}={value}))"
        index = DnIndex()
        index.fetch = lambda dn: self._references.fetch(index, dn)
        for base in self._bases(object_type):
            found = self._client.search(base, anchor_filter, self._attributes(object_type))
            if found:
                result = self._convert(object_type, found[0], index)
                return result if isinstance(result, SourceObject) else None
        return None

    def check(self) -> Health:
        """Bind, read the rootDSE, and prove every base DN exists (without reading entries)."""
        settings = self.settings
        details: dict[str, Any] = {
            "server": settings.url,
            "dialect": settings.dialect,
            "tls": settings.tls_mode,
            "tls_verify": settings.tls_verify,
            "bind_dn": settings.bind_dn,
            "user_bases": list(settings.user_base_dns),
            "group_bases": list(settings.group_base_dns),
        }
        if settings.tls_mode == "none":
            details["warning"] = "no TLS: the bind password and the directory travel in clear"
        elif not settings.tls_verify:
            details["warning"] = "TLS certificate verification is disabled"
        try:
            root = self._root_dse()
            details["naming_contexts"] = texts(root, "namingContexts")
            details["vendor"] = " ".join(texts(root, "vendorName") + texts(root, "vendorVersion"))
            details["paged_results"] = _PAGED_RESULTS in texts(root, "supportedControl")
            for base in dict.fromkeys((*settings.user_base_dns, *settings.group_base_dns)):
                if self._client.read(base, ["1.1"]) is None:
                    raise self.failures.base_missing(base)
            details["deletions"] = self._deletions.of_check(root).to_json()
        except ConnectorError as exc:
            return Health.failed(exc, **details)
        return Health(True, details)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> LdapSource:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- planning --------------------------------------------------------------------------

    def _plan(self, object_type: ObjectType, start: ReadStart) -> _Plan:
        if start.resume is not None:
            return self._resumed(start.resume)
        since = None
        if start.watermark is not None:
            since = Mark.from_json(start.watermark, self.settings.dialect, self.failures)
        root = self._root_dse()
        current = self._current_mark(root)
        if since is not None and current is not None and self.settings.dialect == "ad":
            self._same_dc(since, current)
        removals = self._deletions.of_read(object_type, since, root) if since else None
        plan = _Plan(since, current, removals=removals)
        if plan.mode != "syncrepl" and self._deletions.syncrepl_unusable(root) is None:
            # Cookies for the next read, taken before this one (see step 1).
            plan.next, refused = self._deletions.with_cookies(object_type, plan.next)
            if refused and plan.mode == "sweep":
                plan.removals = deletions.swept(refused)
        return plan

    def _resumed(self, saved: Any) -> _Plan:
        dialect, failures = self.settings.dialect, self.failures
        try:
            since = saved["since"]
            plan = _Plan(
                Mark.from_json(since, dialect, failures) if since is not None else None,
                Mark.from_json(saved["next"], dialect, failures),
                int(saved["base"]),
                Position(int(saved["skip"]), str(saved["digest"])),
                _removals(saved.get("removals")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise failures.watermark_expired("the saved checkpoint is malformed") from exc
        if plan.since is not None and self.settings.dialect == "ad":
            current = self._current_mark(self._root_dse())
            if current is not None:
                self._same_dc(plan.since, current)
        return plan

    def _same_dc(self, since: Mark, current: Mark) -> None:
        if (since.dc, since.invocation_id) != (current.dc, current.invocation_id):
            raise self.failures.watermark_expired(
                f"the last cycle read domain controller {since.dc} (invocationId "
                f"{since.invocation_id}); {current.dc} (invocationId {current.invocation_id}) "
                "answered now, and USNs are counted per domain controller"
            )

    def _root_dse(self) -> Entry:
        found = self._client.search("", "(objectClass=*)", _ROOT_DSE, scope=BASE)
        if not found:
            raise self.failures.unavailable("the server has no readable rootDSE")
        return found[0]

    def _current_mark(self, root: Entry) -> Mark | None:
        if self.settings.dialect == "ad":
            return self._ad_mark(root)
        csns: list[str] = []
        for context in texts(root, "namingContexts"):
            if any(under(base, [context]) for base in self._all_bases()):
                entry = self._client.read(context, ["contextCSN"])
                csns.extend(texts(entry, "contextCSN") if entry else [])
        # The oldest provider's CSN: a change replicated late from another provider still
        # carries a CSN after it (see .changes).
        return Mark("openldap", "entryCSN", min(csns)) if csns else None

    def _ad_mark(self, root: Entry) -> Mark:
        usn = texts(root, "highestCommittedUSN")
        service = texts(root, "dsServiceName")
        invocation = None
        if service:
            entry = self._client.read(service[0], ["invocationId"])
            values = entry.attributes.get("invocationid") if entry else None
            invocation = ad.guid_string(values[0]) if values and len(values[0]) == 16 else None
        if not usn:
            raise self.failures.unavailable("the rootDSE has no highestCommittedUSN")
        dc = (texts(root, "dnsHostName") or [self.settings.url])[0]
        return Mark("ad", "uSNChanged", usn[0], dc=dc, invocation_id=invocation)

    def _fallback_mark(self, sweep: _Sweep) -> Mark:
        attribute = sweep.mark_attribute or MARK_ATTRIBUTES["openldap"][1]
        return Mark(self.settings.dialect, attribute, newest(sweep.marks, attribute))

    # --- beginning a read --------------------------------------------------------------------

    def _begin(self, object_type: ObjectType, plan: _Plan) -> tuple[_Read, Iterator[Page]]:
        if plan.mode == "syncrepl":
            refreshes = self._refresh(object_type, plan)
            if refreshes is not None:
                state = self._synced_state(object_type, plan, refreshes)
                return state, self._synced_pages(state, syncrepl.changes(refreshes))
        sweep = self._sweep(object_type) if plan.sweeps else None
        if sweep is None and object_type == "user":
            self._users_swept = None  # no sweep to lend the group read
        next_mark = plan.next or self._fallback_mark(sweep or _Sweep())
        index = sweep.index if sweep is not None else DnIndex()
        state = _Read(object_type, plan, next_mark, index, sweep, plan.removals)
        return state, self._searched_pages(state)

    def _refresh(self, object_type: ObjectType, plan: _Plan) -> list[syncrepl.Refresh] | None:
        """One refreshOnly search per base from the saved cookies; None when the server
        cannot synchronise after all (the read falls back to the sweep)."""
        assert plan.since is not None
        attributes = self._attributes(object_type)
        search_filter = self._filter(object_type)
        try:
            return [
                self._client.sync(base, search_filter, attributes, plan.since.cookie(base))
                for base in self._bases(object_type)
            ]
        except syncrepl.CookieRefused as exc:
            raise self.failures.watermark_expired(
                f"the server no longer serves the last cycle's sync cookie ({exc})"
            ) from exc
        except syncrepl.Unusable as exc:
            log.warning(
                "ldap.syncrepl_failed", integration=self.settings.integration, reason=str(exc)
            )
            plan.removals = deletions.swept(f"content synchronisation failed ({exc})")
            plan.base, plan.position = 0, Position()
            if plan.next is not None:
                plan.next = replace(plan.next, cookies=())
            return None

    def _synced_state(
        self, object_type: ObjectType, plan: _Plan, refreshes: list[syncrepl.Refresh]
    ) -> _Read:
        assert plan.since is not None
        next_mark = plan.next or Mark("openldap", "entryCSN", None)
        # A resumed read keeps the cookies of the refresh it resumes: what changed after
        # that refresh (perhaps in what this one skips as handed out) is read next time.
        cookies = {
            base: next_mark.cookie(base) or refresh.cookie or plan.since.cookie(base) or b""
            for base, refresh in zip(self._bases(object_type), refreshes, strict=True)
        }
        next_mark = next_mark.with_cookies(cookies)
        state = _Read(object_type, plan, next_mark, DnIndex(), removals=plan.removals)
        if any(refresh.present_phase for refresh in refreshes):
            state.removals = Removals("syncrepl", deletions.PRESENT_PHASE)
            state.present = self._present(object_type, refreshes)
        if object_type == "group":
            state.changed_groups = [entry.dn for r in refreshes for _, entry in r.changed]
        return state

    def _present(
        self, object_type: ObjectType, refreshes: list[syncrepl.Refresh]
    ) -> frozenset[str]:
        """Every entryUUID still in the bases: the present phases' lists, and (should the
        server have answered some bases with their deletions instead) a sweep of those."""
        present: set[str] = set()
        for base, refresh in zip(self._bases(object_type), refreshes, strict=True):
            present |= (
                refresh.present if refresh.present_phase else self._anchors(object_type, base)
            )
        return frozenset(present)

    def _anchors(self, object_type: ObjectType, base: str) -> set[str]:
        anchors: set[str] = set()
        attribute = self.settings.anchor_attribute
        for entries, _ in self._client.paged(
            base, self._filter(object_type), [attribute], self._key
        ):
            anchors.update(a for e in entries if (a := anchor_of(e, attribute)) is not None)
        return anchors

    # --- the sweep ---------------------------------------------------------------------------

    def _sweep(self, object_type: ObjectType) -> _Sweep:
        sweep = _Sweep()
        marks = MARK_ATTRIBUTES[self.settings.dialect]
        kinds: tuple[ObjectType, ...] = ("user",) if object_type == "user" else ("user", "group")
        if object_type == "group" and self._users_swept is not None:
            # The cycle's user read swept the users moments ago: the groups reuse that
            # index, and a member DN it does not know (a user added or moved since) is
            # read on its own. At 100k users this halves an incremental cycle's sweeps.
            sweep.index.kinds.update(self._users_swept)
            sweep.index.fetch = lambda dn: self._references.fetch(sweep.index, dn)
            kinds = ("group",)
        for kind in kinds:
            attributes = [self.settings.anchor_attribute, *marks]
            nesting = kind == "group" and self.settings.nested == "flatten"
            if nesting:
                attributes += group_attribute_names(self.settings)
            for base in self._bases(kind):
                for entries, _ in self._client.paged(
                    base, self._filter(kind), attributes, self._key
                ):
                    for entry in entries:
                        self._swept(sweep, kind, entry, marks, nesting)
        if object_type == "user":
            self._users_swept = dict(sweep.index.kinds)
        return sweep

    def _swept(
        self, sweep: _Sweep, kind: ObjectType, entry: Entry, marks: tuple[str, ...], nesting: bool
    ) -> None:
        anchor = anchor_of(entry, self.settings.anchor_attribute)
        if anchor is None:
            return
        sweep.index.add(entry.dn, kind, anchor)
        sweep.anchors[kind].add(anchor)
        for name in marks:
            values = entry.attributes.get(name.lower())
            if values:
                sweep.mark_attribute = sweep.mark_attribute or name
                if name == sweep.mark_attribute:
                    sweep.marks.append(text(values[0]))
                break
        if nesting:
            sweep.index.members[normal_dn(entry.dn)] = self._references.member_dns(entry)
            sweep.groups[normal_dn(entry.dn)] = entry

    # --- the pages ---------------------------------------------------------------------------

    def _searched_pages(self, state: _Read) -> Iterator[Page]:
        plan, object_type = state.plan, state.object_type
        bases = self._bases(object_type)
        search_filter = self._filter(object_type)
        clause = plan.since.clause() if plan.since else ""
        if clause:
            search_filter = f"(&{search_filter}{clause})"
        attributes = self._attributes(object_type)
        for number in range(plan.base, len(bases)):
            start = plan.position if number == plan.base else Position()
            pages = self._client.paged(bases[number], search_filter, attributes, self._key, start)
            for entries, position in pages:
                yield self._page(state, entries, plan.checkpoint(state.next, number, position))
        if plan.mode == "tombstones":
            phases = (self._tombstones, self._scope_leavers)
            for offset, phase in enumerate(phases):
                number = len(bases) + offset
                if number >= plan.base:
                    start = plan.position if number == plan.base else Position()
                    yield from phase(state, number, start)

    def _page(self, state: _Read, entries: list[Entry], resume: dict[str, Any]) -> Page:
        """A page of entries, their references resolved first when no sweep knows them."""
        object_type, index = state.object_type, state.index
        if object_type == "group":
            members = [self._references.member_dns(entry) for entry in entries]
            if state.sweep is None:
                self._references.resolve(index, (dn for dns in members for dn in dns))
            converted = [
                group_object(entry, dns, self.settings, index, self.failures)
                for entry, dns in zip(entries, members, strict=True)
            ]
        else:
            if state.sweep is None:
                self._references.resolve(index, self._references.managers(entries))
            converted = [user_object(e, self.settings, index, self.failures) for e in entries]
        return Page(
            tuple(o for o in converted if isinstance(o, SourceObject)),
            resume=resume,
            rejected=tuple(o for o in converted if isinstance(o, Rejected)),
        )

    def _synced_pages(
        self, state: _Read, changes: list[tuple[str, Entry | None]]
    ) -> Iterator[Page]:
        """A content synchronisation's answer in pages of ``page_size``; a resumed read
        skips what it handed out if the server answered the same again (else all of it)."""
        keys = [("+" if entry is not None else "-") + anchor for anchor, entry in changes]
        size = self.settings.page_size
        for begin, end, position in resumed_pages(keys, state.plan.position, size):
            chunk = changes[begin:end]
            entries = [entry for _, entry in chunk if entry is not None]
            gone = tuple(
                SourceObject(state.object_type, anchor, removed=True)
                for anchor, entry in chunk
                if entry is None
            )
            page = self._page(state, entries, state.plan.checkpoint(state.next, 0, position))
            yield replace(page, objects=page.objects + gone)

    def _tombstones(self, state: _Read, number: int, start: Position) -> Iterator[Page]:
        plan = state.plan
        assert plan.since is not None
        assert plan.since.value is not None
        root = self._root_dse()
        context = texts(root, "defaultNamingContext")[0]
        pages = self._client.paged(
            ad.deleted_objects_base(context),
            ad.tombstone_filter(state.object_type, int(plan.since.value)),
            ["objectGUID", "isDeleted", "isRecycled", "lastKnownParent"],
            self._key,
            start,
            controls=[(ad.deleted_control(texts(root, "supportedControl")), True, None)],
        )
        for entries, position in pages:
            removed = [ad.tombstone_object(state.object_type, e.attributes) for e in entries]
            yield Page(
                tuple(o for o in removed if o is not None),
                resume=plan.checkpoint(state.next, number, position),
            )

    def _scope_leavers(self, state: _Read, number: int, start: Position) -> Iterator[Page]:
        """Objects that left the bases or the filter since the last cycle (AD, no sweep).

        Moving an object or changing it raises its uSNChanged: those changed since the
        last cycle, anywhere in the domain, that the bases and filter do not hold now
        have left them. Both searches stop at the USN this read started from, so they
        see each object in the same state: one changed since then is not in either, and
        the next read looks at it again.
        """
        plan, object_type = state.plan, state.object_type
        assert plan.since is not None
        assert plan.since.value is not None
        window = ad.usn_window(int(plan.since.value), int(state.next.value or 0))
        attribute = self.settings.anchor_attribute
        held: set[str] = set()
        for base in self._bases(object_type):
            in_scope = f"(&{self._filter(object_type)}{window})"
            for entries, _ in self._client.paged(base, in_scope, [attribute], self._key):
                held.update(a for e in entries if (a := anchor_of(e, attribute)) is not None)
        context = texts(self._root_dse(), "defaultNamingContext")[0]
        changed = f"(&{ad.kind_filter(object_type)}{window})"
        for entries, position in self._client.paged(
            context, changed, [attribute], self._key, start
        ):
            anchors = [a for e in entries if (a := anchor_of(e, attribute)) is not None]
            yield Page(
                tuple(SourceObject(object_type, a, removed=True) for a in anchors if a not in held),
                resume=plan.checkpoint(state.next, number, position),
            )

    def _last(self, state: _Read, held: Page | None) -> Page:
        """The held last page, with the watermark, what is present and any extra groups."""
        objects = held.objects if held else ()
        present = None
        if state.plan.since is not None:
            if state.object_type == "group" and self.settings.nested == "flatten":
                objects += tuple(self._affected(state))
            # Present at the sweep (or in the present phase), or reported by this read
            # (added since, or a removal, whose own verdict stands): the rest is gone.
            if state.sweep is not None:
                present = frozenset(state.sweep.anchors[state.object_type] | state.emitted)
            elif state.present is not None:
                present = state.present | state.emitted
            self._log_removals(state)
        return Page(
            objects,
            watermark=state.next.to_json(),
            rejected=held.rejected if held else (),
            present=present,
            removals=state.removals,
        )

    def _log_removals(self, state: _Read) -> None:
        """Which way this incremental read saw removals (also on the job: ``sync status``)."""
        removals = state.removals
        log.info(
            "ldap.removals",
            integration=self.settings.integration,
            object_type=state.object_type,
            mode=removals.mode if removals else None,
            reason=removals.reason if removals else None,
        )

    # --- nested groups -------------------------------------------------------------------------

    def _affected(self, state: _Read) -> list[SourceObject]:
        """Groups whose flattened members changed because a group nested in them changed:
        their own entry did not change, so the change search did not return them."""
        if state.sweep is not None:
            assert state.plan.since is not None
            entries = self._affected_swept(state.plan.since, state.sweep)
        else:
            entries = self._affected_searched(self._changed_groups(state))
        objects = []
        for entry in entries:
            dns = state.index.group_members(entry.dn)
            if state.sweep is None:
                dns = self._references.member_dns(entry)
                self._references.resolve(state.index, dns)
            result = group_object(entry, dns, self.settings, state.index, self.failures)
            if isinstance(result, SourceObject) and result.source_id not in state.emitted:
                objects.append(result)
        return objects

    @staticmethod
    def _affected_swept(since: Mark, sweep: _Sweep) -> list[Entry]:
        parents: dict[str, list[str]] = {}
        for dn, members in sweep.index.members.items():
            for member in members:
                parents.setdefault(normal_dn(member), []).append(dn)
        changed = [
            dn
            for dn, entry in sweep.groups.items()
            if since.changed(_first_text(entry, since.attribute))
        ]
        affected = _closure(changed, lambda dns: [p for dn in dns for p in parents.get(dn, [])])
        return [sweep.groups[dn] for dn in sorted(affected)]

    def _affected_searched(self, changed: list[str]) -> list[Entry]:
        entries: dict[str, Entry] = {}

        def parents(dns: list[str]) -> list[str]:
            found = self._references.parents(dns)
            for entry in found:
                entries.setdefault(normal_dn(entry.dn), entry)
            return [normal_dn(entry.dn) for entry in found]

        affected = _closure([normal_dn(dn) for dn in changed], parents)
        return [entries[dn] for dn in sorted(affected)]

    def _changed_groups(self, state: _Read) -> list[str]:
        """The DNs of the groups that changed since the watermark: a content
        synchronisation's answer holds them all; a change search is asked again (DNs
        only), as a resumed read handed the first pages out before it stopped."""
        if state.plan.mode == "syncrepl" or state.plan.since is None:
            return state.changed_groups
        clause = state.plan.since.clause()
        search_filter = f"(&{self._filter('group')}{clause})" if clause else self._filter("group")
        return [
            entry.dn
            for base in self._bases("group")
            for entries, _ in self._client.paged(base, search_filter, ["1.1"], self._key)
            for entry in entries
        ]

    # --- entries ---------------------------------------------------------------------------

    def _convert(
        self, object_type: ObjectType, entry: Entry, index: DnIndex
    ) -> SourceObject | Rejected:
        if object_type == "user":
            return user_object(entry, self.settings, index, self.failures)
        members = self._references.member_dns(entry)
        return group_object(entry, members, self.settings, index, self.failures)

    def _key(self, entry: Entry) -> str:
        return anchor_of(entry, self.settings.anchor_attribute) or entry.dn

    def _bases(self, object_type: ObjectType) -> tuple[str, ...]:
        settings = self.settings
        return settings.user_base_dns if object_type == "user" else settings.group_base_dns

    def _all_bases(self) -> tuple[str, ...]:
        return (*self.settings.user_base_dns, *self.settings.group_base_dns)

    def _filter(self, object_type: ObjectType) -> str:
        settings = self.settings
        return settings.user_filter if object_type == "user" else settings.group_filter

    def _attributes(self, object_type: ObjectType) -> list[str]:
        if object_type == "user":
            return user_attribute_names(self.settings)
        return group_attribute_names(self.settings)


def _closure(start: list[str], step: Callable[[list[str]], list[str]]) -> set[str]:
    """Everything ``step`` reaches from ``start``, level by level (a cycle ends there)."""
    reached: set[str] = set()
    frontier = start
    while frontier:
        frontier = [dn for dn in dict.fromkeys(step(frontier)) if dn not in reached]
        reached.update(frontier)
    return reached


def _removals(saved: Any) -> Removals | None:
    if saved is None:
        return None
    return Removals(saved["mode"], str(saved["reason"]))


def _first_text(entry: Entry, name: str) -> str | None:
    values = entry.attributes.get(name.lower()) if name else None
    return text(values[0]) if values else None
