"""What flows through a cycle: directory objects in a shape no connector owns.

A source connector turns what its directory returns (Graph JSON, LDAP entries,
SCIM resources, file rows) into :class:`SourceObject` pages; the engine maps,
scopes, matches and diffs them and hands the result to a target. Nothing here
knows which directory it came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

ObjectType = Literal["user", "group"]
RemovalMode = Literal["full", "delta", "sweep", "tombstones", "syncrepl"]
OBJECT_TYPES: tuple[ObjectType, ...] = ("user", "group")

JSON = Any
"""A JSON-serialisable value (connectors' watermarks and checkpoints are stored as JSON)."""


class MemberRef(NamedTuple):
    """A member of a group, by the source's own id.

    A tuple, not a frozen dataclass: a million-user directory reports ten million of
    them, and a tuple is made in a fraction of the time a frozen dataclass's
    ``__init__`` takes; the engine also looks them up as they are, (type, id).
    """

    object_type: ObjectType
    source_id: str


@dataclass(frozen=True, slots=True)
class SourceObject:
    """One user or group as the source reports it.

    ``attributes`` uses the source's own attribute names (the mapping turns them
    into SCIM attributes). In an incremental read it may hold only what changed:
    an attribute that is absent is unchanged, one that is ``None`` was cleared.
    A reference to another object (a user's manager) is that object's source id.
    """

    object_type: ObjectType
    source_id: str
    attributes: Mapping[str, Any] = field(default_factory=dict)
    removed: bool = False
    """The source reports the object gone (deleted, or moved out of what it reads)."""
    permanently: bool = False
    """With ``removed``: gone for good, not restorable (Entra: hard delete, not the recycle bin)."""
    members_added: tuple[MemberRef, ...] = ()
    members_removed: tuple[MemberRef, ...] = ()
    whole: bool = False
    """The record holds the whole object (a full read): a mapped attribute it lacks was
    cleared in the source, so the target's value is cleared too. Without it, a full read
    after a reset watermark kept values the directory no longer has (a removed manager)."""
    members_complete: bool = False
    """``members_added`` is the group's whole member list, not a delta (LDAP's ``member``,
    a file row, a SCIM group): the engine replaces the group's memberships with it,
    and the target is sent only the difference."""


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record the source could not turn into an object (a bad file row, an LDAP entry
    without its anchor): skipped whole, never half-applied, and logged with its error."""

    object_type: ObjectType
    reference: str
    """Where to find it: ``line 12`` of a file, an entry's DN, a resource's id."""
    error: Any
    """An :class:`~idsync.errors.catalogue.IdsyncError` saying what is wrong with it."""
    source_id: str | None = None
    """Its id, when the record has one: what idsync already provisioned from it is kept
    as it is (a bad row is not read as the object's removal)."""


@dataclass(frozen=True, slots=True)
class Removals:
    """How a read sees objects removed from the source, and why that way.

    The engine keeps the latest per object type on the job and ``sync status`` shows
    it, so an administrator can tell whether a deletion in the directory will reach
    the target. ``mode``:

    - ``full``: a full read; what it does not return is gone;
    - ``delta``: the source reports each removal itself (Graph delta queries' ``@removed``);
    - ``sweep``: the last page lists every id the source still holds (``Page.present``);
      what idsync provisioned and is not in it is gone;
    - ``tombstones``: deleted objects are read from the directory's own record of them
      (AD's Deleted Objects container), which tells a restorable deletion from a final one;
    - ``syncrepl``: the directory reports what was deleted, or lists what is still there,
      since the last cycle (RFC 4533 content synchronisation, OpenLDAP's syncprov).
    """

    mode: RemovalMode
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"mode": self.mode, "reason": self.reason}

    @classmethod
    def of_read(cls, full: bool, present: bool) -> Removals:
        """What a read that does not say shows, from its shape alone."""
        if full:
            return cls("full", "a full read: what it no longer returns is removed")
        if present:
            return cls("sweep", "the source lists every object it holds; the rest is removed")
        return cls("delta", "the source reports each removal itself")


@dataclass(frozen=True, slots=True)
class Page:
    """A batch of objects plus where to resume reading once it is applied.

    ``resume`` is an opaque checkpoint (e.g. Graph's ``@odata.nextLink``): a cycle
    that stops after applying this page continues from there. ``watermark`` is set
    on the last page only: where the next incremental read starts (e.g. the
    ``@odata.deltaLink``).
    """

    objects: tuple[SourceObject, ...]
    resume: JSON = None
    watermark: JSON = None
    rejected: tuple[Rejected, ...] = ()
    present: frozenset[str] | None = None
    """On the last page of an incremental read from a source that cannot report every
    removal itself (LDAP, a file, a SCIM server): the ids of
    every object of the type the source still holds (an anchors-only sweep). The engine
    treats the objects it provisioned that are not in it as removed, under the same
    deletion threshold and shrink check as a full read. A source that also reports
    removals itself (AD tombstones) lists the ids it reported: what it said about them
    (deleted, or deleted for good) stands."""
    removals: Removals | None = None
    """On the last page: how this read saw removals, when the source can say more than
    its shape shows (:meth:`Removals.of_read`), e.g. why LDAP sweeps instead of reading
    tombstones."""

    @property
    def is_last(self) -> bool:
        return self.watermark is not None


@dataclass(frozen=True, slots=True)
class ReadStart:
    """Where a read begins: from scratch, from a watermark, or from a checkpoint."""

    watermark: JSON = None
    """None: read everything (a full read). Otherwise: only changes since then."""
    resume: JSON = None
    """A checkpoint from an interrupted cycle: continue there (takes precedence)."""

    @property
    def is_full(self) -> bool:
        return self.watermark is None and self.resume is None
