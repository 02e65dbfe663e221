"""Graph users as :class:`SourceObject`\\ s (attributes keep Graph's property names).

From ``users/delta`` ("user: delta", "Get incremental changes for users"):

- a removed user comes as ``{"id", "@removed": {"reason": "changed" | "deleted"}}``:
  ``changed`` means deleted but restorable for 30 days (soft delete),
  ``deleted`` means gone for good;
- selecting ``manager`` tracks the manager as ``manager@delta``: a list holding the
  manager (``{"@odata.type", "id"}``), or that entry with ``@removed`` when the
  manager was taken away.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from idsync.contract.records import SourceObject

USER_ATTRIBUTES: tuple[str, ...] = (
    "id",
    "userPrincipalName",
    "displayName",
    "givenName",
    "surname",
    "mail",
    "jobTitle",
    "department",
    "employeeId",
    "mobilePhone",
    "businessPhones",
    "officeLocation",
    "city",
    "country",
    "preferredLanguage",
    "accountEnabled",
)


def user_properties(extra: Iterable[str] = ()) -> str:
    """``$select`` for a plain GET of a user (the manager is a separate request)."""
    return ",".join(dict.fromkeys((*USER_ATTRIBUTES, *extra)))


def user_delta_select(extra: Iterable[str] = ()) -> str:
    """``$select`` for ``users/delta``: the properties plus ``manager``, to track it too."""
    return f"{user_properties(extra)},manager"


def user_from_delta(item: Mapping[str, Any], whole: bool = False) -> SourceObject:
    """``whole``: the item comes from a delta query's first round, which lists every user
    as it is: no ``manager@delta`` then means no manager, not "unchanged"."""
    removed = item.get("@removed")
    if removed is not None:
        return removed_object("user", item["id"], removed)
    attributes = plain_properties(item)
    if whole or "manager@delta" in item:
        attributes["manager"] = _manager(item.get("manager@delta"))
    return SourceObject("user", str(item["id"]), attributes, whole=whole)


def user_from_get(item: Mapping[str, Any], manager_id: str | None) -> SourceObject:
    attributes = plain_properties(item)
    attributes["manager"] = manager_id
    return SourceObject("user", str(item["id"]), attributes)


def removed_object(object_type: Any, source_id: Any, removed: Any) -> SourceObject:
    reason = removed.get("reason") if isinstance(removed, dict) else None
    return SourceObject(object_type, str(source_id), removed=True, permanently=reason == "deleted")


def plain_properties(item: Mapping[str, Any]) -> dict[str, Any]:
    """The object's own properties: no ``id``, no ``@odata.*`` or ``…@delta`` annotations."""
    return {name: value for name, value in item.items() if name != "id" and "@" not in name}


def _manager(entries: Any) -> str | None:
    current = [
        entry
        for entry in entries or ()
        if isinstance(entry, dict) and entry.get("id") and "@removed" not in entry
    ]
    return str(current[-1]["id"]) if current else None
