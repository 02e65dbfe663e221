"""The interfaces every connector implements: :class:`Source` and :class:`Target`.

A source reads users and groups as pages of :class:`~idsync.contract.records.SourceObject`,
full or incremental, and can be resumed from the checkpoint of the last page a
cycle applied. A target receives SCIM attribute assignments. Both raise only
:mod:`idsync.contract.errors` exceptions, so the engine decides about retries and
quarantine without knowing the protocol, and both answer ``check()`` without touching
a user or group, for validation and diagnosis.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from idsync.contract.checks import Health
from idsync.contract.records import ObjectType, Page, ReadStart, SourceObject
from idsync.errors.catalogue import IdsyncError
from idsync.scim.urns import ENTERPRISE_USER

KEY_TARGETS: dict[ObjectType, str] = {"user": "userName", "group": "displayName"}
"""The attribute a target object cannot exist without."""

MANAGER_TARGET = f"{ENTERPRISE_USER}:manager"
"""Mapped to a reference: the manager's own target id, resolved once it exists."""


class Source(Protocol):
    """A directory idsync reads from (Entra ID, LDAP, a SCIM server, a file)."""

    def read(self, object_type: ObjectType, start: ReadStart) -> Iterator[Page]:
        """Pages of objects of one type, from ``start`` until a page carrying a watermark.

        A full read yields every object once (a group's members may be spread over
        several records of the same group). An incremental read yields what changed
        since ``start.watermark``, removals included. Raises ``WatermarkExpired`` when
        the source can no longer answer from that watermark: the engine then reads in full.
        """
        ...

    def read_one(self, object_type: ObjectType, source_id: str) -> SourceObject | None:
        """One object as it is now (on-demand provisioning); None if the source has no such object."""
        ...

    def check(self) -> Health:
        """Prove the credentials work and the permissions suffice, without reading the directory."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Desired:
    """What a target object should hold: SCIM attribute assignments (None clears)."""

    source_id: str
    assignments: tuple[tuple[str, Any], ...]
    key: str | None
    """The value of the matching attribute, if the record carries it."""


@dataclass(frozen=True, slots=True)
class Existing:
    """A target object found by the matching attribute."""

    target_id: str
    owner: str | None
    """The integration that provisions it; None: created by hand or by a client."""
    owner_name: str = ""
    """How messages name the owner (its id when empty)."""
    where: str = "in the hub"
    """Where the object is, for messages."""
    transferable: bool = False
    """Another integration owns it, yet ``adopt`` may take it over (a push ledger: the
    ownership moves, so the two never write the same object)."""
    unrecorded: bool = False
    """This integration created it, in a cycle cut off before the answer was remembered:
    the target holds nothing of it yet, so it is updated as an adopted object is (read
    first, then what differs)."""


@dataclass(frozen=True, slots=True)
class Change:
    """One attribute an update changes, by its mapping path: what the target held, and
    what it holds after (None: absent)."""

    path: str
    old: Any
    new: Any


@dataclass(slots=True)
class Exported:
    """The outcome of one object's export."""

    source_id: str
    target_id: str | None = None
    changed: tuple[str, ...] = ()
    """The attributes that changed (empty: the target already held all of it)."""
    error: IdsyncError | None = None
    deactivated: bool = False
    dropped: IdsyncError | None = None
    """Written without some attributes, which the target cannot store (the code lists them)."""
    changes: tuple[Change, ...] = ()
    """For an update: each changed attribute, old → new."""


Membership = tuple[str, ObjectType, str]
"""(group target id, member type, member target id)."""


class Target(Protocol):
    """Where a cycle writes: the hub's own store, or an application over SCIM.

    Every write marks the object as provisioned by the integration the target was
    opened for; ``update`` and friends leave objects it does not own alone.
    """

    shares_database: bool
    """Whether the target writes into the cycle's own database (the hub). Then the
    engine writes several pages, their links, log and checkpoint, in one transaction;
    a remote target's calls must not hold the database's write lock while they wait."""

    def phase(self, object_type: ObjectType, *, initial: bool) -> AbstractContextManager[None]:
        """Around all of a cycle's writes of one object type; ``initial``: the integration's
        first cycle, which loads the whole directory. The target may prepare for that volume
        (the hub on SQLite stops maintaining an index it rebuilds faster at the end) and
        must be whole again when the phase ends, however it ends, and after a phase that
        was killed before it could end."""
        ...

    def match(
        self, object_type: ObjectType, attribute: str, values: Sequence[str]
    ) -> dict[str, Existing]:
        """Objects whose matching ``attribute`` holds one of ``values``, by the value given
        (the target compares as its schema says: case-insensitively for userName)."""
        ...

    def create(self, object_type: ObjectType, items: Sequence[Desired]) -> list[Exported]: ...

    def update(
        self,
        object_type: ObjectType,
        items: Sequence[tuple[str, Desired]],
        *,
        adopt: bool = False,
        dry_run: bool = False,
    ) -> list[Exported]:
        """Apply assignments to existing objects (``adopt``: take ownership of unowned ones).

        ``dry_run``: decide and report exactly as a real update would, but write
        nothing; a preview uses it, so it predicts what the run will count."""
        ...

    def deactivate(self, object_type: ObjectType, target_ids: Sequence[str]) -> list[Exported]: ...

    def delete(self, object_type: ObjectType, target_ids: Sequence[str]) -> list[Exported]: ...

    def set_references(self, pairs: Sequence[tuple[str, str | None]]) -> None:
        """Set (or clear) each user's manager: (user target id, manager target id)."""
        ...

    def add_members(
        self,
        members: Sequence[Membership],
        *,
        seen: str | None = None,
        fresh: Collection[str] = frozenset(),
    ) -> int:
        """Add memberships (existing ones are kept); ``seen`` marks them for a full reconcile.

        ``fresh``: groups (target ids) this target created for the same page; a target
        that ``shares_database`` created them in the same transaction, so none of their
        memberships exists yet. A target may ignore it."""
        ...

    def remove_members(self, members: Sequence[Membership]) -> int: ...

    def remove_memberships_of(self, object_type: ObjectType, member_ids: Sequence[str]) -> int:
        """Drop every membership this integration made for these members (by target id), in
        whatever group: they left the source, and no group there lists them any more."""
        ...

    def replace_members(
        self,
        lists: Mapping[str, Sequence[tuple[ObjectType, str]]],
        *,
        seen: str | None = None,
    ) -> tuple[int, int]:
        """Make the memberships this integration made in each group (by target id) exactly
        the given (member type, member target id) list, writing only the difference;
        returns (added, removed). ``seen`` marks them as :meth:`add_members` does."""
        ...

    def remove_unlisted_members(self, group_ids: Sequence[str], seen: str) -> int:
        """Full reconcile: drop memberships this integration made that the cycle ``seen``
        did not report (see :meth:`add_members`)."""
        ...

    def check(self) -> Health:
        """Prove the target accepts our credentials and can store users and groups,
        without writing any."""
        ...

    def close(self) -> None: ...
