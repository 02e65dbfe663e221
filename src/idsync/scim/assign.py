"""Writing and reading one attribute of a SCIM resource document by a mapping path.

A mapping path is the subset of SCIM attribute paths that assigning needs (RFC 7644
§3.10): ``attr``, ``attr.sub``, ``attr[type eq "work"].sub``, each optionally after an
extension's URN. Assigning None or "" clears the value, and a complex or multi-valued
attribute left empty is removed (RFC 7643 §2.5: unassigned and null are the same).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

MAPPING_PATH = re.compile(
    r"^(?:(?P<urn>urn:[^\s]+):)?(?P<attr>[A-Za-z$][\w$-]*)"
    r'(?:\[type eq "(?P<type>[^"]+)"\])?(?:\.(?P<sub>[A-Za-z$][\w$-]*))?$'
)
"""``urn``, ``attr``, ``type`` and ``sub`` of a mapping path; no match: not one idsync can set."""


@lru_cache(maxsize=1024)
def _parts(target: str) -> tuple[str | None, str, str | None, str | None]:
    """``urn``, ``attr``, ``type`` and ``sub`` of a mapping path. Cached: a cycle assigns
    the same few paths millions of times (an integration has a few dozen mappings)."""
    match = MAPPING_PATH.match(target)
    if match is None:  # checked when the mapping was built
        raise ValueError(target)
    urn, attr, type_, sub = match.group("urn", "attr", "type", "sub")
    return urn, attr, type_, sub


def assign(doc: dict[str, Any], target: str, value: Any) -> None:
    """Set (or, with None, clear) one mapped attribute in a SCIM resource document."""
    urn, attr, type_, sub = _parts(target)
    container = doc
    if urn:
        container = doc.setdefault(urn, {})
        schemas = doc.setdefault("schemas", [])
        if urn not in schemas:
            schemas.append(urn)
    if type_ is not None:
        _assign_typed(container, attr, type_, sub or "value", value)
    elif sub is not None:
        _assign_sub(container, attr, sub, value)
    elif value is None or value == "":
        container.pop(attr, None)
    else:
        container[attr] = value
    if urn and not container:
        del doc[urn]
        doc["schemas"].remove(urn)


_SECRET_NAME = re.compile(r"password|passwd|secret|token|credential", re.IGNORECASE)


def is_secret(target: str) -> bool:
    """Whether a mapping path holds a secret (``password``: RFC 7643 §4.1.1, never
    returned; or anything named like one), whose values no log or output may show."""
    match = MAPPING_PATH.match(target)
    names = match.group("attr", "sub") if match else (target,)
    return any(name and _SECRET_NAME.search(name) for name in names)


def value_at(doc: Mapping[str, Any], target: str) -> Any:
    """What a SCIM resource document holds at one mapping path (None: nothing), so an
    update can say what it changes, old → new, in the terms of the mapping."""
    urn, attr, type_, sub = _parts(target)
    container = doc.get(urn) or {} if urn else doc
    value = container.get(attr)
    if type_ is not None:
        entry = next((i for i in value or [] if i.get("type") == type_), None)
        value = entry.get(sub or "value") if entry else None
    elif sub is not None:
        value = (value or {}).get(sub)
    return None if value == "" else value


def _assign_sub(container: dict[str, Any], attr: str, sub: str, value: Any) -> None:
    complex_value = dict(container.get(attr) or {})
    if value is None or value == "":
        complex_value.pop(sub, None)
    else:
        complex_value[sub] = value
    if complex_value:
        container[attr] = complex_value
    else:
        container.pop(attr, None)


def _assign_typed(container: dict[str, Any], attr: str, type_: str, sub: str, value: Any) -> None:
    items = [dict(item) for item in container.get(attr) or []]
    entry = next((item for item in items if item.get("type") == type_), None)
    if entry is None:
        if value is None or value == "":
            return
        entry = {"type": type_}
        items.append(entry)
    if value is None or value == "":
        entry.pop(sub, None)
    else:
        entry[sub] = value
    items = [item for item in items if set(item) - {"type", "primary"}]
    if items:
        container[attr] = items
    else:
        container.pop(attr, None)
