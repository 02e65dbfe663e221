"""PATCH requests (RFC 7644 §3.5.2): reading them, absorbing client quirks, splitting out members.

Attribute operations are applied to the resource's document by
``idsync.scim.patch``, which accepts what Entra ID sends (``remove`` with a
``value``; path filters that create the entry they describe, where the
organisation allows it). Operations on a group's ``members`` never reach the
document: they become membership row inserts and deletes, so adding one member
to a 100k-member group touches one row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from scim2_models.path import AttrPath, FilterNode, ValuePath

from idsync.errors.catalogue import (
    INVALID_MEMBER,
    INVALID_PATH,
    INVALID_SYNTAX,
    INVALID_VALUE,
    MUTABILITY,
    NO_TARGET,
    TOO_MANY_RESULTS,
    IdsyncError,
)
from idsync.scim.compat import normalise_manager
from idsync.scim.patch import Operation
from idsync.scim.paths import parse_path
from idsync.scim.resource_types import ResourceTypeSchema
from idsync.scim.schemas import ENTERPRISE_USER, PATCH_OP

MAX_OPERATIONS = 10_000
"""A guard, well above what clients send (Entra: one per attribute): applying the
operations costs time linear in their number (see ``idsync.scim.patch``), and the
body size limit bounds them too."""


@dataclass(frozen=True)
class MemberOperation:
    op: str
    member_ids: list[str] | None
    """Ids named in the value (add, replace, remove-by-value); None for a filtered or whole remove."""
    member_filter: FilterNode | None = None


def read_operations(body: Any, rts: ResourceTypeSchema, resource_id: str) -> list[Operation]:
    """The operations of a PatchOp message, normalised; raises on a malformed message."""
    if not isinstance(body, dict):
        raise IdsyncError(INVALID_SYNTAX, reason="a PATCH body must be a JSON object")
    schemas = body.get("schemas")
    if not isinstance(schemas, list) or PATCH_OP.lower() not in {str(s).lower() for s in schemas}:
        raise IdsyncError(
            INVALID_SYNTAX, reason=f"a PATCH body must list {PATCH_OP!r} in 'schemas'"
        )
    raw_ops = next((v for k, v in body.items() if k.lower() == "operations"), None)
    if not isinstance(raw_ops, list) or not raw_ops:
        raise IdsyncError(INVALID_SYNTAX, reason="a PATCH body needs a non-empty 'Operations' list")
    if len(raw_ops) > MAX_OPERATIONS:
        raise IdsyncError(
            TOO_MANY_RESULTS, reason=f"a PATCH may carry at most {MAX_OPERATIONS} operations"
        )
    return [_read_operation(raw, rts, resource_id) for raw in raw_ops]


def _read_operation(raw: Any, rts: ResourceTypeSchema, resource_id: str) -> Operation:
    if not isinstance(raw, dict):
        raise IdsyncError(INVALID_SYNTAX, reason="each PATCH operation must be a JSON object")
    fields = {k.lower(): v for k, v in raw.items()}
    op = fields.get("op")
    if not isinstance(op, str) or op.lower() not in ("add", "remove", "replace"):
        raise IdsyncError(INVALID_SYNTAX, reason=f"op must be add, remove or replace, not {op!r}")
    op = op.lower()
    path = fields.get("path")
    if path is not None and not isinstance(path, str):
        raise IdsyncError(INVALID_PATH, path=str(path), reason="a path must be a string")
    if path is not None and not path.strip():
        path = None
    value = fields.get("value")
    if path is None:
        if op == "remove":
            raise IdsyncError(NO_TARGET, path="", reason="remove needs a path (RFC 7644 §3.5.2.2)")
        if not isinstance(value, dict):
            raise IdsyncError(
                INVALID_VALUE,
                reason=f"{op} without a path needs an object of attributes as its value",
            )
        return Operation(op, None, _pathless_value(value, rts, resource_id))
    if "value" not in fields and op != "remove":
        raise IdsyncError(INVALID_VALUE, reason=f"{op} {path!r} needs a value")
    path = _qualify(path, rts)
    _check_path(path, rts)
    if _is_manager(path):
        manager = normalise_manager(value)
        if manager is None and op != "remove":
            return Operation("remove", path, None)
        if op != "remove" or value is not None:
            value = manager
    elif value is None and op != "remove":
        # Entra's validator clears attributes with replace + null (RFC 7643 §2.5: null = unassigned).
        return Operation("remove", path, None)
    return Operation(op, path, value)


def _pathless_value(
    value: dict[str, Any], rts: ResourceTypeSchema, resource_id: str
) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    for key, item in value.items():
        lowered = key.lower()
        if lowered in ("schemas", "meta"):
            continue
        if lowered == "id":
            # Okta repeats the group's own id when renaming it (Okta SCIM 2.0 reference).
            if item != resource_id:
                raise IdsyncError(
                    MUTABILITY, reason=f"id (it is {resource_id!r}, the request says {item!r})"
                )
            continue
        qualified = key if lowered.startswith("urn:") else _qualify(key, rts)
        if _is_manager(qualified):
            manager = normalise_manager(item)
            if manager is None:
                continue
            item = manager
        elif lowered == ENTERPRISE_USER.lower() and isinstance(item, dict):
            item = dict(item)
            for sub_key in [k for k in item if k.lower() == "manager"]:
                manager = normalise_manager(item[sub_key])
                if manager is None:
                    del item[sub_key]
                else:
                    item[sub_key] = manager
        cleaned[qualified] = item
    return cleaned


def _qualify(path: str, rts: ResourceTypeSchema) -> str:
    """Prefix an extension attribute written without its URN, when only one extension has it.

    Entra's legacy manager update uses ``"path": "manager"`` (MS SCIM tutorial).
    """
    node = parse_path(path)
    attr = node if isinstance(node, AttrPath) else getattr(node, "attr_path", None)
    if not isinstance(attr, AttrPath) or attr.uri is not None:
        return path
    resolved = rts.resolve(attr)
    if resolved is None or resolved.extension is None:
        return path
    return f"{resolved.extension}:{path}"


def _check_path(path: str, rts: ResourceTypeSchema) -> None:
    """Refuse a path naming no attribute of this resource type (RFC 7644 §3.12 invalidPath)."""
    if rts.extension_urn(path) is not None:
        return  # a whole extension
    node = parse_path(path)
    attr = node if isinstance(node, AttrPath) else getattr(node, "attr_path", None)
    if not isinstance(attr, AttrPath):
        return
    resolved = rts.resolve(attr)
    sub = node.sub_attr if isinstance(node, ValuePath) else None
    if resolved is None or (sub is not None and resolved.attribute.sub(sub) is None):
        raise IdsyncError(INVALID_PATH, path=path, reason=f"{rts.name} has no such attribute")


def _is_manager(path: str) -> bool:
    lowered = path.lower()
    return lowered == f"{ENTERPRISE_USER.lower()}:manager"


# --- members ---------------------------------------------------------------------------------


def split_members(operations: list[Operation]) -> list[Operation | MemberOperation]:
    """Replace operations on ``members`` by MemberOperations, keeping their order."""
    result: list[Operation | MemberOperation] = []
    for operation in operations:
        if operation.path is None:
            members_key = next((k for k in operation.value if k.lower() == "members"), None)
            if members_key is None:
                result.append(operation)
                continue
            rest = {k: v for k, v in operation.value.items() if k != members_key}
            if rest:
                result.append(Operation(operation.op, None, rest))
            result.append(
                MemberOperation(operation.op, member_ids_in(operation.value[members_key]))
            )
            continue
        node = parse_path(operation.path)
        attr = node if isinstance(node, AttrPath) else getattr(node, "attr_path", None)
        if (
            not isinstance(attr, AttrPath)
            or attr.attr.lower() != "members"
            or (
                attr.uri is not None
                and attr.uri.lower() != "urn:ietf:params:scim:schemas:core:2.0:group"
            )
        ):
            result.append(operation)
            continue
        result.append(_member_operation(operation, node, attr))
    return result


def _member_operation(operation: Operation, node: Any, attr: AttrPath) -> MemberOperation:
    sub = node.sub_attr if isinstance(node, ValuePath) else attr.sub_attr
    if sub is not None:
        raise IdsyncError(
            MUTABILITY, reason=f"members.{sub} (a member is added or removed whole, by its value)"
        )
    if isinstance(node, ValuePath):
        if operation.op != "remove":
            raise IdsyncError(
                MUTABILITY,
                reason="a member in place (members are immutable; remove it and add another)",
            )
        return MemberOperation("remove", None, node.val_filter)
    if not isinstance(node, AttrPath):
        raise IdsyncError(INVALID_PATH, path=operation.path or "", reason="not a members path")
    if operation.op == "remove":
        if operation.value in (None, [], {}):
            return MemberOperation("remove", None)
        return MemberOperation("remove", member_ids_in(operation.value))
    return MemberOperation(operation.op, member_ids_in(operation.value))


def member_ids_in(value: Any) -> list[str]:
    """The member ids of a ``members`` value: objects whose ``value`` is an id (RFC 7643 §4.2).

    Anything else (a bare id, a number, an object without a string ``value``) is
    malformed, and the whole request is refused before anything changes (RFC 7644
    §3.12 invalidValue: "not compatible with the ... attribute type"). A well-formed
    id that names no user or group of the organisation is another matter: it is
    skipped with a Warning, and the other members still apply (docs/clients.md).
    """
    items = value if isinstance(value, list) else [value]
    ids: list[str] = []
    for position, item in enumerate(items, start=1):
        fields = item if isinstance(item, dict) else {}
        member = next((v for k, v in fields.items() if k.lower() == "value"), None)
        if not isinstance(item, dict) or not isinstance(member, str) or not member.strip():
            raise IdsyncError(INVALID_MEMBER, position=position, got=_shown(item))
        ids.append(member)
    return ids


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 80 else f"{text[:77]}…"
