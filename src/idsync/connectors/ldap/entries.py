"""LDAP entries as the connector handles them, and the DN -> anchor index that resolves references.

A reference in LDAP (``member``, ``manager``) is a DN, but DNs change on every
move or rename; the engine needs the anchor, which does not. The index maps DNs
to (object type, anchor) for everything the integration reads: from an
anchors-only sweep of the user and group bases in a full read, from batched searches
for just the referenced DNs in an incremental one (:mod:`.references`). DNs outside it
(other OUs, entries that do not match the filters) are not synced and are skipped.
"""

from __future__ import annotations

import base64
import re
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from idsync.connectors.ldap import ad
from idsync.contract.records import MemberRef, ObjectType

Attributes = dict[str, list[bytes]]
"""Raw values by lower-cased attribute description (``member;range=0-1499`` included)."""

_AROUND_SEPARATORS = re.compile(r"\s*([,=+])\s*")


@dataclass(frozen=True, slots=True)
class Entry:
    dn: str
    attributes: Attributes

    @classmethod
    def of(cls, item: Mapping[str, Any]) -> Entry:
        """From one ldap3 ``searchResEntry`` (its ``raw_attributes``: bytes, as sent)."""
        raw = item.get("raw_attributes") or {}
        # An attribute sent without values (AD's last range past the end, ``member;range=
        # 1500-*`` with none left) comes from ldap3 as None.
        return cls(
            str(item.get("dn") or ""), {str(k).lower(): list(v or ()) for k, v in raw.items()}
        )

    def first(self, names: Iterable[str]) -> list[bytes] | None:
        """The values of the first of ``names`` the entry has; None if it has none of them."""
        for name in names:
            values = self.attributes.get(name.lower())
            if values:
                return values
        return None


def text(value: bytes) -> str:
    """A value as text: LDAP strings are UTF-8 (RFC 4517 §3.3.6); binary ones as base64."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(value).decode("ascii")


def texts(entry: Entry | None, name: str) -> list[str]:
    """Every value of ``name`` as text; none when there is no entry."""
    if entry is None:
        return []
    return [text(value) for value in entry.attributes.get(name.lower(), ())]


def shape(values: Sequence[bytes] | None) -> Any:
    """None when absent (cleared), a scalar for one value, a list for several."""
    if not values:
        return None
    if len(values) == 1:
        return text(values[0])
    return [text(value) for value in values]


def anchor_of(entry: Entry, anchor_attribute: str) -> str | None:
    values = entry.attributes.get(anchor_attribute.lower())
    if not values:
        return None
    if anchor_attribute.lower() == "objectguid":
        return ad.guid_string(values[0]) if len(values[0]) == 16 else None
    return text(values[0]).lower()


def normal_dn(dn: str) -> str:
    """A DN in a form two spellings of the same DN share (case, spaces around separators).

    Good enough to match a ``member`` value to an entry's DN as the same server wrote
    both; it does not decode hex escapes (``\\2C`` vs ``\\,``), which servers do not mix.
    """
    return _AROUND_SEPARATORS.sub(r"\1", dn.strip().lower())


def under(dn: str, bases: Iterable[str]) -> bool:
    normal = normal_dn(dn)
    return any(normal == b or normal.endswith("," + b) for b in map(normal_dn, bases))


@dataclass
class DnIndex:
    """DN -> (type, anchor) of what the integration reads; groups' member DNs for nesting.

    ``fetch`` (on-demand reads) is asked about a DN the index does not know yet; it
    fills the index (or leaves the DN unknown) with a base-scope read.
    """

    kinds: dict[str, tuple[ObjectType, str]] = field(default_factory=dict)
    members: dict[str, list[str]] = field(default_factory=dict)
    fetch: Callable[[str], None] | None = None
    _asked: set[str] = field(default_factory=set)

    def add(self, dn: str, object_type: ObjectType, anchor: str) -> None:
        self.kinds[normal_dn(dn)] = (object_type, anchor)

    def lookup(self, dn: str) -> tuple[ObjectType, str] | None:
        key = normal_dn(dn)
        found = self.kinds.get(key)
        if found is None and self.fetch is not None and key not in self._asked:
            self._asked.add(key)
            self.fetch(dn)
            found = self.kinds.get(key)
        return found

    def claim(self, dns: Iterable[str]) -> list[str]:
        """Those of ``dns`` the index neither knows nor was asked about, now marked as asked:
        each DN is looked up once per read, found or not."""
        fresh: list[str] = []
        for dn in dns:
            key = normal_dn(dn)
            if key not in self.kinds and key not in self._asked:
                self._asked.add(key)
                fresh.append(dn)
        return fresh

    def anchor(self, dn: str, object_type: ObjectType) -> str | None:
        found = self.lookup(dn)
        return found[1] if found is not None and found[0] == object_type else None

    def group_members(self, dn: str) -> list[str]:
        return self.members.get(normal_dn(dn), [])

    def resolve(self, member_dns: Iterable[str], *, flatten: bool) -> tuple[list[MemberRef], int]:
        """Member DNs as references (flatten: nested groups' users instead of the groups),
        and how many were skipped (outside the bases or filters)."""
        found: dict[MemberRef, None] = {}
        skipped = 0
        pending = deque(member_dns)
        expanded: set[str] = set()
        while pending:
            dn = pending.popleft()
            kind = self.lookup(dn)
            if kind is None:
                skipped += 1
            elif kind[0] == "user" or not flatten:
                found.setdefault(MemberRef(kind[0], kind[1]), None)
            elif normal_dn(dn) not in expanded:  # a nesting cycle ends here
                expanded.add(normal_dn(dn))
                pending.extend(self.group_members(dn))
        return list(found), skipped
