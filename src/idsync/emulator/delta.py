"""Delta query for users and groups: rounds, pages, and the state tokens that link them.

Behaviour follows https://learn.microsoft.com/graph/delta-query-overview,
https://learn.microsoft.com/graph/delta-query-users and
https://learn.microsoft.com/graph/delta-query-groups:

* A *round* is a run of pages linked by ``@odata.nextLink`` (``$skiptoken``) and ended by
  an ``@odata.deltaLink`` (``$deltatoken``) that starts the next round.
* **Snapshot semantics.** A round serves the directory *as of the sequence number at
  which it started*: writes made while a client pages are not mixed into the round (the
  directory keeps old versions, see ``directory.py``) but are delivered by the round the
  deltaLink starts, because the deltaLink's watermark is that starting number. The
  docs say each token "represents a snapshot of the resource in that round".
* Tokens are **stateless**: a skiptoken encodes (kind, $select, lower watermark, snapshot,
  position, member offset, page size), signed so it cannot be forged. The same nextLink
  therefore returns the same page every time, from any process state — a client that
  crashed can resume from the last nextLink it saved.
* An initial round lists the objects that exist (never ``@removed`` ones). A deltaLink
  round lists objects written since the watermark, each in its latest state (as of the
  round's snapshot); deleted users as ``{"id", "@removed": {"reason": "changed"}}`` (soft
  delete) or ``"deleted"`` (permanent); groups with ``members@delta`` holding the net
  membership changes, removed members with ``"@removed": {"reason": "deleted"}``.
  With ``$select``, only changes to selected properties (and ``manager``/``members`` when
  selected) bring an object into a deltaLink round, as the docs describe.
* A group whose members do not fit in the page's member budget is split: it is repeated
  on the following pages with the next chunk of ``members@delta`` ("Paging through
  members in a large group" in delta-query-groups).
* Tokens expire after seven days (the documented limit for directory objects) or when
  the emulator's delta epoch is bumped (``/_emulator/expire-delta-tokens``); both answer
  410 Gone with a ``Location`` to restart from (the documented synchronization reset).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any, Final

import orjson

from idsync.emulator.directory import Directory, Kind, State
from idsync.emulator.objects import project, properties

DEFAULT_PAGE_SIZE: Final = 100
MAX_PAGE_SIZE: Final = 999
DEFAULT_MEMBER_BUDGET: Final = 1000
TOKEN_LIFETIME: Final = 7 * 86400
USER_TYPE: Final = "#microsoft.graph.user"
GROUP_TYPE: Final = "#microsoft.graph.group"


class SyncStateError(Exception):
    """A state token the emulator will not honour (→ 410 Gone)."""

    def __init__(self, code: str, message: str, kind: Kind | None, select: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.kind = kind
        self.select = select


@dataclass(frozen=True, slots=True)
class Cursor:
    kind: Kind
    select: tuple[str, ...] | None
    since: int  # lower watermark (exclusive); -1 for an initial round
    until: int  # the round's snapshot
    pos: int  # index into the round's object list
    offset: int  # members of the object at ``pos`` already sent
    size: int  # page size (objects)
    epoch: int
    started: int  # unix time the round's chain began (token lifetime)


class TokenCodec:
    """Opaque, signed state tokens (base64url JSON + truncated HMAC)."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _seal(self, payload: dict[str, Any]) -> str:
        data = orjson.dumps(payload)
        mac = hmac.new(self._key, data, hashlib.sha256).digest()[:12]
        return base64.urlsafe_b64encode(data + mac).rstrip(b"=").decode()

    def _open(self, token: str, kind: Kind) -> dict[str, Any]:
        try:
            payload: dict[str, Any] | None = self._unseal(token)
        except ValueError:  # includes orjson.JSONDecodeError and binascii.Error
            payload = None
        if payload is None or payload.get("k") != kind:
            raise SyncStateError(
                "syncStateNotFound",
                "The sync state generation is not found. The token is unknown to this "
                "tenant; synchronize again from the start.",
                kind,
                None,
            )
        return payload

    def _check_age(self, payload: dict[str, Any], kind: Kind, epoch: int) -> None:
        select = payload.get("s")
        if payload.get("e") != epoch:
            raise SyncStateError(
                "resyncRequired",
                "The sync state was reset (tenant maintenance): every outstanding delta and "
                "skip token is invalid. Restart with a full synchronization from the "
                "Location header.",
                kind,
                select,
            )
        if time.time() - payload.get("t", 0) > TOKEN_LIFETIME:
            raise SyncStateError(
                "syncStateNotFound",
                "The sync state generation is not found. The delta token is expired and "
                "data must be synchronized again.",
                kind,
                select,
            )

    def skip_token(self, cursor: Cursor) -> str:
        return self._seal(
            {
                "k": cursor.kind,
                "s": cursor.select,
                "a": cursor.since,
                "b": cursor.until,
                "p": cursor.pos,
                "o": cursor.offset,
                "n": cursor.size,
                "e": cursor.epoch,
                "t": cursor.started,
            }
        )

    def read_skip_token(self, token: str, kind: Kind, epoch: int) -> Cursor:
        payload = self._open(token, kind)
        if "p" not in payload:
            raise SyncStateError(
                "syncStateNotFound",
                "The sync state generation is not found: this is not a $skiptoken.",
                kind,
                payload.get("s"),
            )
        self._check_age(payload, kind, epoch)
        select = payload["s"]
        return Cursor(
            kind=kind,
            select=tuple(select) if select is not None else None,
            since=payload["a"],
            until=payload["b"],
            pos=payload["p"],
            offset=payload["o"],
            size=payload["n"],
            epoch=payload["e"],
            started=payload["t"],
        )

    def delta_token(
        self, kind: Kind, select: tuple[str, ...] | None, watermark: int, epoch: int, issued: int
    ) -> str:
        return self._seal({"k": kind, "s": select, "w": watermark, "e": epoch, "t": issued})

    # Paging tokens of plain lists (users, groups, members, audit events): not delta state,
    # so an unreadable one is a 400, not a 410.

    def list_token(self, kind: str, pos: int) -> str:
        return self._seal({"l": kind, "p": pos})

    def read_list_token(self, token: str, kind: str) -> int:
        payload = self._unseal(token)
        if payload.get("l") != kind or not isinstance(payload.get("p"), int):
            raise ValueError("not a list token")
        return int(payload["p"])

    def audit_token(self, before: int, filter_text: str | None) -> str:
        return self._seal({"l": "audit", "b": before, "f": filter_text})

    def read_audit_token(self, token: str) -> tuple[int, str | None]:
        payload = self._unseal(token)
        if payload.get("l") != "audit" or not isinstance(payload.get("b"), int):
            raise ValueError("not an audit token")
        return int(payload["b"]), payload.get("f")

    def _unseal(self, token: str) -> dict[str, Any]:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data, mac = raw[:-12], raw[-12:]
        if not hmac.compare_digest(hmac.new(self._key, data, hashlib.sha256).digest()[:12], mac):
            raise ValueError("bad signature")
        payload = orjson.loads(data)
        if not isinstance(payload, dict):
            raise ValueError("bad token")
        return payload

    def read_delta_token(
        self, token: str, kind: Kind, epoch: int
    ) -> tuple[tuple[str, ...] | None, int, int]:
        """(select, watermark, issued-at) of a deltaLink."""
        payload = self._open(token, kind)
        if "w" not in payload:
            raise SyncStateError(
                "syncStateNotFound",
                "The sync state generation is not found: this is not a $deltatoken.",
                kind,
                payload.get("s"),
            )
        self._check_age(payload, kind, epoch)
        select = payload["s"]
        return (tuple(select) if select is not None else None), payload["w"], payload["t"]


class _Members:
    """The members@delta entries of one group in one round, converted lazily by slice."""

    __slots__ = ("_ids", "_pager", "_refs")

    def __init__(
        self,
        pager: DeltaPager,
        ids: list[str] | None = None,
        refs: list[dict[str, Any]] | None = None,
    ) -> None:
        self._pager, self._ids, self._refs = pager, ids, refs

    def __len__(self) -> int:
        return len(self._ids) if self._ids is not None else len(self._refs or [])

    def chunk(self, start: int, stop: int) -> list[dict[str, Any]]:
        if self._ids is not None:
            ref = self._pager.ref
            return [ref(m) for m in self._ids[start:stop]]
        return (self._refs or [])[start:stop]


class DeltaPager:
    """Builds delta pages from a cursor. Stateless apart from small caches."""

    def __init__(self, directory: Directory, member_budget: int = DEFAULT_MEMBER_BUDGET) -> None:
        self.directory = directory
        self.member_budget = max(1, member_budget)
        self._refs: dict[str, dict[str, Any]] = {}
        self._changed: OrderedDict[tuple[Kind, int, int], list[str]] = OrderedDict()

    def ref(self, object_id: str) -> dict[str, Any]:
        """``{"@odata.type", "id"}`` for a member or manager (shared dicts: cheap to emit)."""
        ref = self._refs.get(object_id)
        if ref is None:
            kind = GROUP_TYPE if self.directory.is_group(object_id) else USER_TYPE
            ref = self._refs[object_id] = {"@odata.type": kind, "id": object_id}
        return ref

    def _removed_ref(self, object_id: str) -> dict[str, Any]:
        return {**self.ref(object_id), "@removed": {"reason": "deleted"}}

    def _ids(self, cursor: Cursor) -> list[str]:
        directory = self.directory
        if cursor.since < 0:
            return directory.order[cursor.kind]
        key = (cursor.kind, cursor.since, cursor.until)
        ids = self._changed.get(key)
        if ids is None:
            ids = directory.changed_ids(cursor.kind, cursor.since, cursor.until)
            self._changed[key] = ids
            if len(self._changed) > 32:
                self._changed.popitem(last=False)
        return ids

    def _limit(self, cursor: Cursor, ids: list[str]) -> int:
        if cursor.since < 0:
            return self.directory.created_count(cursor.kind, cursor.until)
        return len(ids)

    def page(
        self, cursor: Cursor, minimal: bool = False
    ) -> tuple[list[dict[str, Any]], Cursor | None]:
        """One page of the round, and the cursor of the next page (``None``: last page)."""
        ids = self._ids(cursor)
        limit = self._limit(cursor, ids)
        props = properties(cursor.kind, cursor.select)
        entry_for = self._user_entry if cursor.kind == "users" else self._group_entry
        items: list[dict[str, Any]] = []
        links = 0
        pos, offset = cursor.pos, cursor.offset
        while pos < limit and len(items) < cursor.size:
            entry, members = entry_for(ids[pos], cursor, props, minimal)
            if entry is None:
                pos, offset = pos + 1, 0
                continue
            if members is None or len(members) == 0:
                items.append(entry)
                pos, offset = pos + 1, 0
                continue
            room = self.member_budget - links
            if room <= 0:
                break
            stop = min(len(members), offset + room)
            entry["members@delta"] = members.chunk(offset, stop)
            items.append(entry)
            links += stop - offset
            if stop < len(members):
                offset = stop
                break
            pos, offset = pos + 1, 0
        following = None if pos >= limit else replace(cursor, pos=pos, offset=offset)
        return items, following

    # ----- users ---------------------------------------------------------------------

    def _user_entry(
        self, user_id: str, cursor: Cursor, props: tuple[str, ...], minimal: bool
    ) -> tuple[dict[str, Any] | None, _Members | None]:
        obj = self.directory.users[user_id]
        after = obj.at(cursor.until)
        with_manager = cursor.select is not None and "manager" in cursor.select
        if cursor.since < 0:
            if after is None:
                return None, None
            entry = project(after, props, nulls=False)
            manager = after.get("manager")
            if with_manager and manager:
                entry["manager@delta"] = [self.ref(manager)]
            return entry, None
        before = obj.at(cursor.since)
        if after is None:
            purged = cursor.since < obj.purged <= cursor.until
            if before is None and not purged:
                return None, None  # created and deleted within the window: never seen
            reason = "deleted" if obj.purged <= cursor.until else "changed"
            return {"id": user_id, "@removed": {"reason": reason}}, None
        tracked = props if cursor.select is not None else tuple(k for k in after if k != "manager")
        changed_props = (
            tuple(props)
            if before is None
            else tuple(p for p in tracked if before.get(p) != after.get(p))
        )
        manager_changed = with_manager and (before or {}).get("manager") != after.get("manager")
        if before is not None and not manager_changed and not changed_props:
            return None, None  # only untracked properties changed
        if minimal and before is not None:
            entry = _minimal(after, props, changed_props)
        else:
            entry = project(after, props, nulls=False)
        if with_manager:
            manager, previous = after.get("manager"), (before or {}).get("manager")
            if manager and (manager_changed or not minimal):
                entry["manager@delta"] = [self.ref(manager)]
            elif previous and not manager:
                entry["manager@delta"] = [self._removed_ref(previous)]
        return entry, None

    # ----- groups --------------------------------------------------------------------

    def _group_entry(
        self, group_id: str, cursor: Cursor, props: tuple[str, ...], minimal: bool
    ) -> tuple[dict[str, Any] | None, _Members | None]:
        group = self.directory.groups[group_id]
        obj = group.obj
        after = obj.at(cursor.until)
        with_members = cursor.select is None or "members" in cursor.select
        if cursor.since < 0:
            if after is None:
                return None, None
            entry = project(after, props, nulls=False)
            if not with_members:
                return entry, None
            return entry, _Members(self, ids=group.members.at(cursor.until))
        before = obj.at(cursor.since)
        if after is None:
            if before is None:
                return None, None
            reason = "deleted" if obj.purged <= cursor.until else "changed"
            return {"id": group_id, "@removed": {"reason": reason}}, None
        tracked = props if cursor.select is not None else tuple(after)
        changed_props = (
            tuple(props)
            if before is None
            else tuple(p for p in tracked if before.get(p) != after.get(p))
        )
        refs: list[dict[str, Any]] = []
        if with_members:
            added, removed = group.members.changes(cursor.since, cursor.until)
            refs = [self._removed_ref(m) for m in removed] + [self.ref(m) for m in added]
        if before is not None and not changed_props and not refs:
            return None, None
        entry = (
            _minimal(after, props, changed_props)
            if minimal and before
            else project(after, props, nulls=False)
        )
        return entry, (_Members(self, refs=refs) if refs else None)


def _minimal(state: State, props: tuple[str, ...], changed: tuple[str, ...]) -> dict[str, Any]:
    """``Prefer: return=minimal``: only the properties that changed (and ``id``)."""
    entry = {p: state.get(p) for p in props if p in changed}
    entry["id"] = state["id"]
    return entry
