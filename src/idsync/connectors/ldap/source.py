"""The LDAP / Active Directory source: users and groups by paged subtree searches.

A read of one object type goes:

1. the watermark for the *next* read is taken first (see :mod:`.changes`), so that
   whatever changes while this read runs is read again next time;
2. an anchors-only paged sweep of the user (and, for groups, group) bases builds the
   DN -> anchor index that resolves managers and members (references are DNs in
   LDAP, and DNs change on moves; anchors do not). In an incremental read it is also
   the list of what still exists (``Page.present``);
3. the entries (all, or those changed since the watermark) are read page by page
   (RFC 2696), one :class:`Page` per LDAP page, each with a ``resume`` checkpoint
   that a new source can continue from (see :class:`~.client.Position`);
4. the last page carries the watermark and, in an incremental read, the ids present:
   whatever idsync provisioned and the sweep no longer finds is gone. On AD, when the
   bind account can be *shown* to read the Deleted Objects container (see
   :meth:`LdapSource._deletions`), the tombstones come first as removals, which tell a
   deletion still in the Recycle Bin (disabled) from a final one (deleted). The last
   page says which of the two ways the read saw removals, and why (``Page.removals``).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from ldap3.utils.conv import escape_filter_chars  # type: ignore[import-untyped, unused-ignore]

from idsync.connectors.ldap import ad
from idsync.connectors.ldap.changes import MARK_ATTRIBUTES, Mark, newest
from idsync.connectors.ldap.client import BASE, LdapClient, Position
from idsync.connectors.ldap.entries import DnIndex, Entry, anchor_of, normal_dn, text, under
from idsync.connectors.ldap.groups import group_attribute_names, group_object
from idsync.connectors.ldap.settings import LdapSettings
from idsync.connectors.ldap.users import user_attribute_names, user_object
from idsync.contract.checks import Health
from idsync.contract.errors import AccessDenied, ConnectorError
from idsync.contract.records import ObjectType, Page, ReadStart, Rejected, Removals, SourceObject
from idsync.errors.catalogue import LDAP_BASE_MISSING
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
    def tombstones(self) -> bool:
        return self.removals is not None and self.removals.mode == "tombstones"

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
        self._users_swept: dict[str, tuple[ObjectType, str]] | None = None
        """The users' DN -> anchor index of this instance's last user read (one cycle)."""

    def __repr__(self) -> str:
        return f"LdapSource({self.settings!r})"

    # --- the Source protocol -------------------------------------------------------------

    def read(self, object_type: ObjectType, start: ReadStart) -> Iterator[Page]:
        plan = self._plan(object_type, start)
        sweep = self._sweep(object_type)
        next_mark = plan.next or self._fallback_mark(sweep)
        held: Page | None = None
        emitted: set[str] = set()
        for page in self._pages(object_type, plan, sweep, next_mark):
            emitted.update(o.source_id for o in page.objects)
            emitted.update(r.source_id for r in page.rejected if r.source_id)
            if held is not None:
                yield held
            held = page
        yield self._last(object_type, plan, sweep, next_mark, held, emitted)

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
        index.fetch = lambda dn: self._fetch(index, dn)
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
            details["naming_contexts"] = _texts(root, "namingContexts")
            details["vendor"] = " ".join(_texts(root, "vendorName") + _texts(root, "vendorVersion"))
            details["paged_results"] = _PAGED_RESULTS in _texts(root, "supportedControl")
            for base in dict.fromkeys((*settings.user_base_dns, *settings.group_base_dns)):
                if self._client.read(base, ["1.1"]) is None:
                    raise self.failures.base_missing(base)
            details["deletions"] = self._deletions().to_json()
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
        current = self._current_mark()
        if since is not None and current is not None and self.settings.dialect == "ad":
            self._same_dc(since, current)
        return _Plan(since, current, removals=self._deletions() if since is not None else None)

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
            current = self._current_mark()
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

    def _current_mark(self) -> Mark | None:
        root = self._root_dse()
        if self.settings.dialect == "ad":
            return self._ad_mark(root)
        csns: list[str] = []
        for context in _texts(root, "namingContexts"):
            if any(under(base, [context]) for base in self._all_bases()):
                entry = self._client.read(context, ["contextCSN"])
                csns.extend(_texts(entry, "contextCSN") if entry else [])
        # The oldest provider's CSN: a change replicated late from another provider still
        # carries a CSN after it (see .changes).
        return Mark("openldap", "entryCSN", min(csns)) if csns else None

    def _ad_mark(self, root: Entry) -> Mark:
        usn = _texts(root, "highestCommittedUSN")
        service = _texts(root, "dsServiceName")
        invocation = None
        if service:
            entry = self._client.read(service[0], ["invocationId"])
            values = entry.attributes.get("invocationid") if entry else None
            invocation = ad.guid_string(values[0]) if values and len(values[0]) == 16 else None
        if not usn:
            raise self.failures.unavailable("the rootDSE has no highestCommittedUSN")
        dc = (_texts(root, "dnsHostName") or [self.settings.url])[0]
        return Mark("ad", "uSNChanged", usn[0], dc=dc, invocation_id=invocation)

    def _fallback_mark(self, sweep: _Sweep) -> Mark:
        attribute = sweep.mark_attribute or MARK_ATTRIBUTES["openldap"][1]
        return Mark(self.settings.dialect, attribute, newest(sweep.marks, attribute))

    def _deletions(self) -> Removals:
        """How an incremental read sees deletions: from AD's tombstones only on proof.

        An account without rights on the Deleted Objects container still *finds* it
        under the Show Deleted control, but sees none of its attributes and none of the
        tombstones in it (Samba and AD alike; Microsoft: "Retrieving Deleted Objects"):
        an empty answer proves nothing. The container itself carries ``isDeleted=TRUE``;
        an account that reads that value back reads the tombstones. Whatever the mode,
        the last page also lists what is present, so an object that leaves the bases
        (or a tombstone the account cannot list after all) is still seen as gone.
        """
        settings = self.settings
        sweep = "each incremental read lists every entry still in the bases; the rest is gone"
        if settings.dialect != "ad":
            return Removals("sweep", f"LDAP servers keep no tombstones: {sweep}")
        if settings.deletions == "sweep":
            return Removals("sweep", f"the integration's deletions setting is sweep: {sweep}")
        why_not = self._deleted_objects_unreadable()
        if why_not is None:
            return Removals(
                "tombstones",
                "the bind account reads the Deleted Objects container: deleted objects come "
                "from it (still in the Recycle Bin: disabled; recycled: deleted), and objects "
                "that leave the bases from the sweep",
            )
        if settings.deletions == "tombstones":
            raise self.failures.deleted_objects_unreadable(why_not)
        log.info("ldap.tombstones_unreadable", integration=settings.integration, reason=why_not)
        return Removals(
            "sweep",
            f"{settings.bind_dn} cannot read the Deleted Objects container ({why_not}): {sweep}",
        )

    def _deleted_objects_unreadable(self) -> str | None:
        """Why the bind account cannot read the Deleted Objects container; None if it can."""
        root = self._root_dse()
        contexts = _texts(root, "defaultNamingContext")
        if not contexts:
            return "the rootDSE names no defaultNamingContext"
        try:
            found = self._client.search(
                ad.deleted_objects_base(contexts[0]),
                "(objectClass=*)",
                ["isDeleted"],
                scope=BASE,
                controls=[(ad.deleted_control(_texts(root, "supportedControl")), True, None)],
            )
        except AccessDenied as exc:
            hidden = exc.error is LDAP_BASE_MISSING
            return "the container is hidden from it" if hidden else "access to it is denied"
        if not found:
            return "the container is hidden from it"
        if not ad.is_deleted(found[0].attributes):
            return "it sees the container but not its attributes nor what it holds"
        return None

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
            sweep.index.fetch = lambda dn: self._fetch(sweep.index, dn)
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
            sweep.index.members[normal_dn(entry.dn)] = self._member_dns(entry)
            sweep.groups[normal_dn(entry.dn)] = entry

    # --- the pages ---------------------------------------------------------------------------

    def _pages(
        self, object_type: ObjectType, plan: _Plan, sweep: _Sweep, next_mark: Mark
    ) -> Iterator[Page]:
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
                converted = [self._convert(object_type, entry, sweep.index) for entry in entries]
                yield Page(
                    tuple(o for o in converted if isinstance(o, SourceObject)),
                    resume=plan.checkpoint(next_mark, number, position),
                    rejected=tuple(o for o in converted if isinstance(o, Rejected)),
                )
        if plan.tombstones and plan.since is not None:
            start = plan.position if plan.base == len(bases) else Position()
            yield from self._tombstones(object_type, plan, next_mark, len(bases), start)

    def _tombstones(
        self, object_type: ObjectType, plan: _Plan, next_mark: Mark, number: int, start: Position
    ) -> Iterator[Page]:
        assert plan.since is not None
        assert plan.since.value is not None
        root = self._root_dse()
        context = _texts(root, "defaultNamingContext")[0]
        pages = self._client.paged(
            ad.deleted_objects_base(context),
            ad.tombstone_filter(object_type, int(plan.since.value)),
            ["objectGUID", "isDeleted", "isRecycled", "lastKnownParent"],
            self._key,
            start,
            controls=[(ad.deleted_control(_texts(root, "supportedControl")), True, None)],
        )
        for entries, position in pages:
            removed = [ad.tombstone_object(object_type, entry.attributes) for entry in entries]
            yield Page(
                tuple(o for o in removed if o is not None),
                resume=plan.checkpoint(next_mark, number, position),
            )

    def _last(
        self,
        object_type: ObjectType,
        plan: _Plan,
        sweep: _Sweep,
        next_mark: Mark,
        held: Page | None,
        emitted: set[str],
    ) -> Page:
        """The held last page, with the watermark, what is present and any extra groups."""
        objects = held.objects if held else ()
        present = None
        if plan.since is not None:
            if object_type == "group" and self.settings.nested == "flatten":
                objects += tuple(self._affected_ancestors(plan.since, sweep, emitted))
            # Present at the sweep, or reported by this read (added since the sweep, or a
            # tombstone, whose own verdict stands): the rest is gone.
            present = frozenset(sweep.anchors[object_type] | emitted)
        return Page(
            objects,
            watermark=next_mark.to_json(),
            rejected=held.rejected if held else (),
            present=present,
            removals=plan.removals,
        )

    def _affected_ancestors(
        self, since: Mark, sweep: _Sweep, emitted: set[str]
    ) -> list[SourceObject]:
        """Groups whose flattened members changed because a group nested in them changed:
        their own entry did not change, so the change search did not return them."""
        parents: dict[str, list[str]] = {}
        for dn, members in sweep.index.members.items():
            for member in members:
                parents.setdefault(normal_dn(member), []).append(dn)
        changed = [
            dn
            for dn, entry in sweep.groups.items()
            if since.changed(_first_text(entry, since.attribute))
        ]
        pending, affected = deque(changed), set[str]()
        while pending:
            for parent in parents.get(pending.popleft(), []):
                if parent not in affected:
                    affected.add(parent)
                    pending.append(parent)
        objects = []
        for dn in sorted(affected):
            entry = sweep.groups[dn]
            result = group_object(
                entry, sweep.index.group_members(dn), self.settings, sweep.index, self.failures
            )
            if isinstance(result, SourceObject) and result.source_id not in emitted:
                objects.append(result)
        return objects

    # --- entries ---------------------------------------------------------------------------

    def _convert(
        self, object_type: ObjectType, entry: Entry, index: DnIndex
    ) -> SourceObject | Rejected:
        if object_type == "user":
            return user_object(entry, self.settings, index, self.failures)
        return group_object(entry, self._member_dns(entry), self.settings, index, self.failures)

    def _member_dns(self, entry: Entry) -> list[str]:
        """Every member DN, asking for the further ranges AD sends of large groups."""
        dns: list[str] = []
        size = self.settings.range_size
        for name in self.settings.member_attributes:
            values, following = ad.ranged_values(entry.attributes, name, size)
            while following is not None:
                asked = following
                more = self._client.read(entry.dn, [asked])
                if more is None:
                    break
                chunk, following = ad.ranged_values(more.attributes, name, size)
                values.extend(chunk)
                if following == asked:  # no progress: never loop on a server's mistake
                    raise self.failures.unavailable(
                        f"{entry.dn}: the server answered {asked} with the same range again"
                    )
            dns.extend(text(value) for value in values)
        return dns

    def _fetch(self, index: DnIndex, dn: str) -> None:
        """On-demand reads: tell the index what one referenced DN is (if it is read at all)."""
        anchor_attribute = self.settings.anchor_attribute
        kinds: tuple[ObjectType, ...] = ("user", "group")
        for kind_ in kinds:
            if not under(dn, self._bases(kind_)):
                continue
            attributes = [anchor_attribute, *self.settings.member_requests]
            entry = self._client.read(dn, attributes, self._filter(kind_))
            anchor = anchor_of(entry, anchor_attribute) if entry else None
            if entry is not None and anchor is not None:
                index.add(dn, kind_, anchor)
                if kind_ == "group":
                    index.members[normal_dn(dn)] = self._member_dns(entry)
                return

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


def _texts(entry: Entry | None, name: str) -> list[str]:
    if entry is None:
        return []
    return [text(value) for value in entry.attributes.get(name.lower(), ())]


def _removals(saved: Any) -> Removals | None:
    if saved is None:
        return None
    return Removals(saved["mode"], str(saved["reason"]))


def _first_text(entry: Entry, name: str) -> str | None:
    values = entry.attributes.get(name.lower()) if name else None
    return text(values[0]) if values else None
