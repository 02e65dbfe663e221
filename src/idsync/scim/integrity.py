"""What every stored resource holds, whichever request wrote it (POST, PUT, PATCH, Bulk).

* A required string attribute (a user's ``userName``, a group's ``displayName``)
  holds more than white space: RFC 7643 §4.1.1 makes ``userName`` a unique
  identifier "REQUIRED", and an empty one identifies nobody.
* A multi-valued attribute holds each value once. RFC 7643 §2.4: service
  providers "SHOULD NOT return the same (type, value) combination more than once
  per attribute, as this complicates processing by the client". A value sent
  twice is stored once, where it first appears, with the sub-attributes of the
  later copy winning (as a PATCH ``add`` of a value already there updates it;
  RFC 7644 §3.5.2.1 "no changes SHOULD be made" when they agree).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from idsync.errors.catalogue import EMPTY_VALUE, IdsyncError
from idsync.scim.attributes import AttributeDef
from idsync.scim.compare import exact, fold
from idsync.scim.resource_types import ResourceTypeSchema


def settle(doc: dict[str, Any], rts: ResourceTypeSchema) -> dict[str, Any]:
    """``doc`` (a resource as stored) checked and with duplicate values merged, in place."""
    for extension, attribute in rts.all_attributes():
        container = doc.get(extension) if extension else doc
        if not isinstance(container, dict) or attribute.name not in container:
            continue
        value = container[attribute.name]
        if attribute.required:
            _refuse_blank(attribute, value, rts)
        if attribute.multi_valued and isinstance(value, list) and len(value) > 1:
            container[attribute.name] = without_duplicates(value, attribute)
    return doc


def _refuse_blank(attribute: AttributeDef, value: Any, rts: ResourceTypeSchema) -> None:
    if isinstance(value, str) and not value.strip():
        raise IdsyncError(
            EMPTY_VALUE,
            attribute=attribute.name,
            shown="empty" if not value else "only white space",
            resource_type=rts.name,
        )


def without_duplicates(values: list[Any], attribute: AttributeDef) -> list[Any]:
    """The values with each (type, value) pair once, merged where it first appears."""
    merged: dict[Hashable, Any] = {}
    for item in values:
        identity = _identity(item, attribute)
        first = merged.get(identity)
        if isinstance(first, dict) and isinstance(item, dict):
            merged[identity] = {**first, **item}
        else:
            merged[identity] = item
    return list(merged.values())


def _identity(item: Any, attribute: AttributeDef) -> Hashable:
    """What makes two values the same value: their (type, value) pair, compared as filters do.

    A complex value without a ``value`` (an address) is the same only when every
    sub-attribute is; anything unhashable is its own value.
    """
    if not isinstance(item, dict):
        return _form(item, attribute)
    value_sub = attribute.sub("value")
    if value_sub is not None and item.get(value_sub.name) is not None:
        type_sub = attribute.sub("type")
        kind = item.get(type_sub.name) if type_sub else None
        return ("value", _form(kind, type_sub), _form(item[value_sub.name], value_sub))
    return (
        "whole",
        tuple(sorted((name, _form(v, attribute.sub(name))) for name, v in item.items())),
    )


def _form(value: Any, definition: AttributeDef | None) -> Hashable:
    if isinstance(value, str):
        return exact(value) if definition is None or definition.case_exact else fold(value)
    if isinstance(value, dict | list):
        return ("unhashable", id(value))
    return (type(value).__name__, value)
