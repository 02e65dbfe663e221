"""Attribute mappings: a source object's attributes → SCIM attribute assignments.

A mapping is a list of ``{"target": SCIM path, "source": source attribute}``
(or ``"constant"`` instead of ``"source"``), as Entra's provisioning
"Attribute Mappings" page lists them. Targets are SCIM paths in the subset that
assigning needs: ``attr``, ``attr.sub``, ``attr[type eq "work"].sub`` and the
extension URN prefix (RFC 7644 §3.10). The source ``$id`` is the object's
anchor in the source. Each kind of source has defaults; an integration's own
entries override them by target.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from idsync.errors.catalogue import MAPPING_FAILED, IdsyncError
from idsync.scim.urns import ENTERPRISE_USER
from idsync.sync.records import ObjectType, SourceObject

MANAGER_TARGET = f"{ENTERPRISE_USER}:manager"
"""Mapped to a reference: the manager's own target id, resolved once it exists."""

_ENTRA_USER = (
    ("userName", "userPrincipalName"),
    ("externalId", "$id"),
    ("active", "accountEnabled"),
    ("displayName", "displayName"),
    ("name.givenName", "givenName"),
    ("name.familyName", "surname"),
    ('emails[type eq "work"].value', "mail"),
    ("title", "jobTitle"),
    ("preferredLanguage", "preferredLanguage"),
    ('phoneNumbers[type eq "mobile"].value', "mobilePhone"),
    ('phoneNumbers[type eq "work"].value', "businessPhones"),
    ('addresses[type eq "work"].locality', "city"),
    ('addresses[type eq "work"].country', "country"),
    (f"{ENTERPRISE_USER}:department", "department"),
    (f"{ENTERPRISE_USER}:employeeNumber", "employeeId"),
    (MANAGER_TARGET, "manager"),
)
_ENTRA_GROUP = (("displayName", "displayName"), ("externalId", "$id"))

# LDAP/AD and files: their connectors name what they read with these canonical
# names (the LDAP connector's settings say which directory attribute feeds each).
_DIRECTORY_USER = (
    ("userName", "userName"),
    ("externalId", "$id"),
    ("active", "enabled"),
    ("displayName", "displayName"),
    ("name.givenName", "givenName"),
    ("name.familyName", "surname"),
    ('emails[type eq "work"].value', "mail"),
    ("title", "title"),
    ("preferredLanguage", "preferredLanguage"),
    ('phoneNumbers[type eq "mobile"].value', "mobile"),
    ('phoneNumbers[type eq "work"].value', "telephoneNumber"),
    ('addresses[type eq "work"].locality', "city"),
    ('addresses[type eq "work"].country', "country"),
    (f"{ENTERPRISE_USER}:department", "department"),
    (f"{ENTERPRISE_USER}:employeeNumber", "employeeId"),
    (MANAGER_TARGET, "manager"),
)
_DIRECTORY_GROUP = (("displayName", "displayName"), ("externalId", "$id"))

# SCIM in, SCIM out: the source's attributes are already SCIM paths (see
# idsync.scim.flatten), so the defaults copy them as they are.
_SCIM_PATHS = tuple(
    (path, path)
    for path in (
        "userName",
        "active",
        "displayName",
        "name.givenName",
        "name.familyName",
        'emails[type eq "work"].value',
        "title",
        "preferredLanguage",
        'phoneNumbers[type eq "mobile"].value',
        'phoneNumbers[type eq "work"].value',
        'addresses[type eq "work"].locality',
        'addresses[type eq "work"].country',
        f"{ENTERPRISE_USER}:department",
        f"{ENTERPRISE_USER}:employeeNumber",
    )
)
_SCIM_USER = (
    (_SCIM_PATHS[0]),
    ("externalId", "$id"),
    *_SCIM_PATHS[1:],
    (MANAGER_TARGET, "manager"),
)
_SCIM_GROUP = (("displayName", "displayName"), ("externalId", "$id"))
_HUB_USER = (
    (_SCIM_PATHS[0]),
    ("externalId", "externalId"),
    *_SCIM_PATHS[1:],
    (MANAGER_TARGET, "manager"),
)
_HUB_GROUP = (("displayName", "displayName"), ("externalId", "externalId"))

DEFAULTS: dict[str, dict[ObjectType, tuple[tuple[str, str], ...]]] = {
    "entra": {"user": _ENTRA_USER, "group": _ENTRA_GROUP},
    "ldap": {"user": _DIRECTORY_USER, "group": _DIRECTORY_GROUP},
    "file": {"user": _DIRECTORY_USER, "group": _DIRECTORY_GROUP},
    "scim": {"user": _SCIM_USER, "group": _SCIM_GROUP},
    "hub": {"user": _HUB_USER, "group": _HUB_GROUP},
}
"""By profile: the kind of source, or ``hub`` when the hub is the source (a push to an
application: the hub's own ``externalId`` travels, the application keeps its ids)."""


def profile(kind: str, direction: str) -> str:
    """Which defaults an integration's mapping starts from, as its connector says: its
    source's kind, or ``hub`` for a push (the hub is then the source)."""
    from idsync.connectors.registry import connector  # the registry imports this module

    profiles: Mapping[str, str] = connector(kind).mapping_profiles
    return profiles.get(direction, kind)


KEY_TARGETS: dict[ObjectType, str] = {"user": "userName", "group": "displayName"}
"""The attribute a target object cannot exist without."""

_PATH = re.compile(
    r"^(?:(?P<urn>urn:[^\s]+):)?(?P<attr>[A-Za-z$][\w$-]*)"
    r'(?:\[type eq "(?P<type>[^"]+)"\])?(?:\.(?P<sub>[A-Za-z$][\w$-]*))?$'
)


@dataclass(frozen=True, slots=True)
class Rule:
    target: str
    source: str | None = None
    constant: Any = None


@dataclass(frozen=True, slots=True)
class Mapped:
    """What one source object becomes: assignments in mapping order, and their digest."""

    source_id: str
    assignments: tuple[tuple[str, Any], ...]
    reference: str | None
    """The manager's source id, when the record carries one."""
    has_reference: bool
    key: str | None

    @property
    def digest(self) -> str:
        payload = orjson.dumps([self.assignments, self.reference], option=orjson.OPT_SORT_KEYS)
        return hashlib.blake2b(payload, digest_size=16).hexdigest()


class AttributeMapping:
    """The mapping of one integration for one object type."""

    def __init__(self, object_type: ObjectType, rules: Sequence[Rule]) -> None:
        self.object_type = object_type
        self.rules = tuple(rules)
        for rule in self.rules:
            if not _PATH.match(rule.target):
                raise ValueError(
                    f"mapping target {rule.target!r} is not a SCIM path idsync can set"
                )

    @classmethod
    def for_integration(
        cls, kind: str, object_type: ObjectType, overrides: Sequence[Mapping[str, Any]] = ()
    ) -> AttributeMapping:
        rules = {target: Rule(target, source) for target, source in DEFAULTS[kind][object_type]}
        for entry in overrides:
            target = str(entry["target"])
            if entry.get("source") is None and "constant" not in entry:
                rules.pop(target, None)  # an override without a source removes the default
                continue
            rules[target] = Rule(target, entry.get("source"), entry.get("constant"))
        return cls(object_type, list(rules.values()))

    def apply(self, obj: SourceObject) -> Mapped:
        assignments: list[tuple[str, Any]] = []
        reference: str | None = None
        has_reference = False
        for rule in self.rules:
            if rule.source is None:
                assignments.append((rule.target, rule.constant))
                continue
            if rule.source == "$id":
                value: Any = obj.source_id
            elif rule.source in obj.attributes:
                value = _scalar(obj.attributes[rule.source])
            elif obj.whole:
                value = None
            else:
                continue  # not in this (incremental) record: unchanged
            if rule.target == MANAGER_TARGET:
                reference, has_reference = value, True
                continue
            assignments.append((rule.target, value))
        key = dict(assignments).get(KEY_TARGETS[self.object_type])
        return Mapped(obj.source_id, tuple(assignments), reference, has_reference, key)

    def require_key(self, mapped: Mapped, *, creating: bool) -> None:
        if creating and not mapped.key:
            raise IdsyncError(
                MAPPING_FAILED,
                object_type=self.object_type,
                source_id=mapped.source_id,
                reason=f"it has no value for {KEY_TARGETS[self.object_type]}, which the hub requires",
            )


def _scalar(value: Any) -> Any:
    """Multi-valued source attributes (Graph's businessPhones) map their first value."""
    if isinstance(value, list):
        return value[0] if value else None
    return value


def assign(doc: dict[str, Any], target: str, value: Any) -> None:
    """Set (or, with None, clear) one mapped attribute in a SCIM resource document."""
    match = _PATH.match(target)
    if match is None:  # checked when the mapping was built
        raise ValueError(target)
    urn, attr, type_, sub = match.group("urn", "attr", "type", "sub")
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
    match = _PATH.match(target)
    names = match.group("attr", "sub") if match else (target,)
    return any(name and _SECRET_NAME.search(name) for name in names)


def value_at(doc: Mapping[str, Any], target: str) -> Any:
    """What a SCIM resource document holds at one mapping path (None: nothing), so an
    update can say what it changes, old → new, in the terms of the mapping."""
    match = _PATH.match(target)
    if match is None:
        raise ValueError(target)
    urn, attr, type_, sub = match.group("urn", "attr", "type", "sub")
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
