"""Graph groups as :class:`SourceObject`\\ s, memberships as deltas.

From ``groups/delta`` ("group: delta", "Get incremental changes for groups"):
selecting ``members`` tracks membership as ``members@delta``, a list of
``{"@odata.type", "id"}`` — with ``@removed`` for a member that left (or was
deleted). A large group's members come in chunks: the same group appears again on
later pages with further members, so each record only adds to (or removes from)
what the engine already holds; nothing here assumes one record per group.

Only users and groups are synced: other member types (devices, service principals,
org contacts) are counted and skipped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from idsync.connectors.entra.users import plain_properties, removed_object
from idsync.contract.records import MemberRef, ObjectType, SourceObject

GROUP_ATTRIBUTES: tuple[str, ...] = (
    "displayName",
    "description",
    "mailNickname",
    "mailEnabled",
    "securityEnabled",
    "groupTypes",
)
GROUP_DELTA_SELECT = ",".join((*GROUP_ATTRIBUTES, "members"))
GROUP_PROPERTIES = ",".join(("id", *GROUP_ATTRIBUTES))

_MEMBER_TYPES: dict[str, ObjectType] = {
    "#microsoft.graph.user": "user",
    "#microsoft.graph.group": "group",
}


def group_from_delta(item: Mapping[str, Any], skipped: Counter[str]) -> SourceObject:
    removed = item.get("@removed")
    if removed is not None:
        return removed_object("group", item["id"], removed)
    added: list[MemberRef] = []
    gone: list[MemberRef] = []
    for entry in item.get("members@delta") or ():
        ref = member_ref(entry, skipped)
        if ref is not None:
            (gone if "@removed" in entry else added).append(ref)
    return SourceObject(
        "group",
        str(item["id"]),
        plain_properties(item),
        members_added=tuple(added),
        members_removed=tuple(gone),
    )


def group_from_get(item: Mapping[str, Any], members: Iterable[MemberRef]) -> SourceObject:
    return SourceObject(
        "group", str(item["id"]), plain_properties(item), members_added=tuple(members)
    )


def member_ref(entry: Any, skipped: Counter[str]) -> MemberRef | None:
    """A user or group member; None (and counted in ``skipped``) for anything else."""
    if not isinstance(entry, dict) or not entry.get("id"):
        skipped["malformed"] += 1
        return None
    odata_type = str(entry.get("@odata.type") or "")
    object_type = _MEMBER_TYPES.get(odata_type)
    if object_type is None:
        skipped[odata_type or "untyped"] += 1
        return None
    return MemberRef(object_type, str(entry["id"]))
