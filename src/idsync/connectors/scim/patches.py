"""Request bodies: resources from assignments, and PATCH operations from a diff (RFC 7644 §3.5.2).

A diff is between the assignments last pushed (the ledger) and the ones wanted
now; only changed paths become operations. Multi-valued attributes keyed by
``type`` (``emails[type eq "work"].value``) need care: a value-path ``replace``
matches nothing when the application has no value of that type yet (§3.5.2.3:
``noTarget``), so a new typed value is an ``add`` of the whole entry, and a
typed value whose sub-attributes are all gone is removed whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import orjson

from idsync.contract.records import ObjectType
from idsync.scim.assign import assign
from idsync.scim.urns import GROUP, PATCH_OP, USER

JsonObject = dict[str, Any]
Operation = dict[str, Any]

_CORE: dict[ObjectType, str] = {"user": USER, "group": GROUP}
_PATH = re.compile(
    r"^(?:(?P<urn>urn:[^\s]+):)?(?P<attr>[A-Za-z$][\w$-]*)"
    r'(?:\[type eq "(?P<type>[^"]+)"\])?(?:\.(?P<sub>[A-Za-z$][\w$-]*))?$'
)


def present(value: Any) -> bool:
    return value is not None and value != ""


def build_document(object_type: ObjectType, assignments: Iterable[tuple[str, Any]]) -> JsonObject:
    """A full resource (POST, PUT) from path assignments; None and "" leave attributes out."""
    doc: JsonObject = {"schemas": [_CORE[object_type]]}
    for path, value in assignments:
        assign(doc, path, value)
    return doc


def patch_body(operations: Sequence[Operation]) -> JsonObject:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def filter_literal(value: str) -> str:
    """A filter comparison value: a JSON string (RFC 7644 §3.4.2.2), quotes escaped."""
    return orjson.dumps(value).decode()


def _attr_path(urn: str | None, attr: str) -> str:
    return f"{urn}:{attr}" if urn else attr


def diff_operations(
    previous: Mapping[str, Any],
    wanted: Mapping[str, Any],
    changed: Sequence[str],
    *,
    value_paths: bool,
) -> list[Operation]:
    """PATCH operations turning ``previous`` into ``wanted`` for the ``changed`` paths."""
    operations: list[Operation] = []
    typed: dict[tuple[str | None, str, str], list[str]] = {}
    whole: set[tuple[str | None, str]] = set()
    for path in changed:
        match = _PATH.match(path)
        if match is None or match.group("type") is None:
            operations.append(_simple(path, wanted.get(path)))
            continue
        urn, attr, type_ = match.group("urn", "attr", "type")
        if value_paths:
            typed.setdefault((urn, attr, type_), []).append(path)
        else:
            whole.add((urn, attr))
    for (urn, attr, type_), paths in typed.items():
        operations.extend(_typed(urn, attr, type_, paths, previous, wanted))
    for urn, attr in sorted(whole, key=lambda key: (key[0] or "", key[1])):
        operations.append(_whole(urn, attr, wanted))
    return operations


def _simple(path: str, value: Any) -> Operation:
    if not present(value):
        return {"op": "remove", "path": path}
    return {"op": "replace", "path": path, "value": value}


def _entry_paths(
    values: Mapping[str, Any], urn: str | None, attr: str, type_: str
) -> Iterator[tuple[str, Any]]:
    """(sub-attribute, value) of one typed entry, e.g. all ``addresses[type eq "work"].*``."""
    for path, value in values.items():
        match = _PATH.match(path)
        if match and match.group("urn", "attr", "type") == (urn, attr, type_):
            yield match.group("sub") or "value", value


def _typed(
    urn: str | None,
    attr: str,
    type_: str,
    paths: Sequence[str],
    previous: Mapping[str, Any],
    wanted: Mapping[str, Any],
) -> list[Operation]:
    before = any(present(v) for _, v in _entry_paths(previous, urn, attr, type_))
    after = dict((s, v) for s, v in _entry_paths(wanted, urn, attr, type_) if present(v))
    base = _attr_path(urn, attr)
    selector = f"{base}[type eq {filter_literal(type_)}]"
    if not after:
        return [{"op": "remove", "path": selector}] if before else []
    if not before:
        return [{"op": "add", "path": base, "value": [{"type": type_, **after}]}]
    operations = []
    for path in paths:
        sub = _PATH.match(path).group("sub") or "value"  # type: ignore[union-attr]
        operations.append(_simple(f"{selector}.{sub}", wanted.get(path)))
    return operations


def _whole(urn: str | None, attr: str, wanted: Mapping[str, Any]) -> Operation:
    """compat value_paths=false: the multi-valued attribute as idsync knows it, replaced."""
    doc: JsonObject = {}
    for path, value in wanted.items():
        match = _PATH.match(path)
        if match and match.group("urn", "attr") == (urn, attr):
            assign(doc, path, value)
    container = doc.get(urn, {}) if urn else doc
    values = container.get(attr)
    if not values:
        return {"op": "remove", "path": _attr_path(urn, attr)}
    return {"op": "replace", "path": _attr_path(urn, attr), "value": values}


# --- group members (never the whole list) ------------------------------------------------------


def add_members_operation(member_ids: Sequence[str]) -> Operation:
    return {"op": "add", "path": "members", "value": [{"value": m} for m in member_ids]}


def remove_members_operations(member_ids: Sequence[str], style: str) -> list[Operation]:
    if style == "value-list":
        return [{"op": "remove", "path": "members", "value": [{"value": m} for m in member_ids]}]
    return [{"op": "remove", "path": f"members[value eq {filter_literal(m)}]"} for m in member_ids]


def member_size(member_id: str, style: str = "add") -> int:
    """Bytes one member adds to a PATCH body (close enough to chunk by)."""
    if style == "path-filter":
        return len(member_id) + 48
    return len(member_id) + 14
