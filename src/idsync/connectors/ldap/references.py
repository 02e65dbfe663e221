"""What the entries of a read reference (``manager``, ``member``), resolved at the cost of the references.

A reference is a DN; the engine needs the referenced object's anchor (see
:class:`~.entries.DnIndex`). A full read learns every DN from its anchors-only sweep of
the bases. An incremental read that does not sweep (RFC 4533 on OpenLDAP, tombstones on
AD) asks only for the DNs its changed entries reference, a hundred per search:
``(entryDN=…)`` on OpenLDAP (back-mdb answers it from its DN index, like a base-scope
read), ``(distinguishedName=…)`` on AD. A DN that no search returns (outside the bases,
not matching the filters, gone) stays unknown, and the reference is skipped as it
always was.

With nested groups flattened, a group member that is itself a group brings its own
members, which are resolved the same way, level by level. :meth:`References.parents`
goes the other way: the groups that list a changed group, whose flattened members
changed though their own entry did not.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from ldap3.utils.conv import escape_filter_chars  # type: ignore[import-untyped, unused-ignore]

from idsync.connectors.ldap import ad
from idsync.connectors.ldap.client import LdapClient
from idsync.connectors.ldap.entries import DnIndex, Entry, anchor_of, normal_dn, text, under
from idsync.connectors.ldap.groups import group_attribute_names
from idsync.connectors.ldap.settings import LdapSettings
from idsync.contract.records import ObjectType

BATCH = 100
"""DNs per search: a filter of a hundred DNs stays well under servers' request size limits."""
_DN_ATTRIBUTE = {"openldap": "entryDN", "ad": "distinguishedName"}
_KINDS: tuple[ObjectType, ...] = ("user", "group")


class References:
    """Resolves DN references for one LDAP source (its client and settings)."""

    def __init__(self, client: LdapClient, settings: LdapSettings) -> None:
        self._client = client
        self.settings = settings

    # --- one entry's references --------------------------------------------------------------

    def member_dns(self, entry: Entry) -> list[str]:
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
                    raise self._client.failures.unavailable(
                        f"{entry.dn}: the server answered {asked} with the same range again"
                    )
            dns.extend(text(value) for value in values)
        return dns

    def managers(self, entries: Iterable[Entry]) -> list[str]:
        """The DNs of the managers of ``entries`` (users)."""
        names = self.settings.user_attribute_map.get("manager", ())
        return [text(values[0]) for entry in entries if (values := entry.first(names))]

    # --- resolving -----------------------------------------------------------------------------

    def fetch(self, index: DnIndex, dn: str) -> None:
        """On-demand reads: tell the index what one referenced DN is (if it is read at all)."""
        anchor_attribute = self.settings.anchor_attribute
        for kind in _KINDS:
            if not under(dn, self._bases(kind)):
                continue
            attributes = [anchor_attribute, *self.settings.member_requests]
            entry = self._client.read(dn, attributes, self._filter(kind))
            anchor = anchor_of(entry, anchor_attribute) if entry else None
            if entry is not None and anchor is not None:
                index.add(dn, kind, anchor)
                if kind == "group":
                    index.members[normal_dn(dn)] = self.member_dns(entry)
                return

    def resolve(self, index: DnIndex, dns: Iterable[str]) -> None:
        """Tell the index what each of ``dns`` is, with batched searches; flattening nested
        groups, the members of the groups found too, level by level."""
        flatten = self.settings.nested == "flatten"
        pending = index.claim(dn for dn in dns if under(dn, self._all_bases()))
        while pending:
            groups = self._look_up(index, pending, members=flatten)
            nested = (member for group in groups for member in index.group_members(group))
            pending = index.claim(dn for dn in nested if under(dn, self._all_bases()))

    def parents(self, dns: Iterable[str]) -> list[Entry]:
        """The groups (in the group bases, matching the group filter) that list any of
        ``dns`` as a member, with their names and members."""
        wanted = list(dict.fromkeys(dns))
        found: dict[str, Entry] = {}
        attributes = group_attribute_names(self.settings)
        for base in self.settings.group_base_dns:
            for chunk in _chunks(wanted, BATCH):
                terms = "".join(
                    f"({name}={escape_filter_chars(dn)})"
                    for dn in chunk
                    for name in self.settings.member_attributes
                )
                for entry in self._search(
                    base, f"(&{self._filter('group')}(|{terms}))", attributes
                ):
                    found.setdefault(normal_dn(entry.dn), entry)
        return list(found.values())

    def _look_up(self, index: DnIndex, dns: list[str], *, members: bool) -> list[str]:
        """Search the DNs in every base they are under; the (normalised) DNs of the groups
        found, whose members the index now holds when ``members``."""
        groups: list[str] = []
        term = _DN_ATTRIBUTE[self.settings.dialect]
        for kind in _KINDS:
            attributes = [self.settings.anchor_attribute]
            if kind == "group" and members:
                attributes += self.settings.member_requests
            for base in self._bases(kind):
                mine = [dn for dn in dns if under(dn, [base])]
                for chunk in _chunks(mine, BATCH):
                    terms = "".join(f"({term}={escape_filter_chars(dn)})" for dn in chunk)
                    search_filter = f"(&{self._filter(kind)}(|{terms}))"
                    for entry in self._search(base, search_filter, attributes):
                        if self._learn(index, kind, entry, members=members):
                            groups.append(normal_dn(entry.dn))
        return groups

    def _learn(self, index: DnIndex, kind: ObjectType, entry: Entry, *, members: bool) -> bool:
        anchor = anchor_of(entry, self.settings.anchor_attribute)
        if anchor is None:
            return False
        index.add(entry.dn, kind, anchor)
        if kind == "group" and members:
            index.members[normal_dn(entry.dn)] = self.member_dns(entry)
            return True
        return False

    def _search(self, base: str, search_filter: str, attributes: Sequence[str]) -> Iterator[Entry]:
        # Paged: a bind account's size limit must not cut a batch short.
        for entries, _ in self._client.paged(base, search_filter, attributes, self._key):
            yield from entries

    def _key(self, entry: Entry) -> str:
        return anchor_of(entry, self.settings.anchor_attribute) or entry.dn

    def _bases(self, kind: ObjectType) -> tuple[str, ...]:
        settings = self.settings
        return settings.user_base_dns if kind == "user" else settings.group_base_dns

    def _all_bases(self) -> tuple[str, ...]:
        return (*self.settings.user_base_dns, *self.settings.group_base_dns)

    def _filter(self, kind: ObjectType) -> str:
        settings = self.settings
        return settings.user_filter if kind == "user" else settings.group_filter


def _chunks(values: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
