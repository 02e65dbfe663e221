"""Attribute mappings: a source object's attributes → SCIM attribute assignments.

A mapping is a list of ``{"target": SCIM path, "source": source attribute}``
(or ``"constant"`` instead of ``"source"``), as Entra's provisioning
"Attribute Mappings" page lists them. Targets are SCIM paths in the subset that
assigning needs: ``attr``, ``attr.sub``, ``attr[type eq "work"].sub`` and the
extension URN prefix (RFC 7644 §3.10). The source ``$id`` is the object's
anchor in the source. Each connector describes its defaults per direction
(``Connector.default_mappings``); an integration's own entries override them by target.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from idsync.contract.mappings import DefaultMappings
from idsync.contract.protocols import KEY_TARGETS, MANAGER_TARGET
from idsync.contract.records import ObjectType, SourceObject
from idsync.errors.catalogue import MAPPING_FAILED, IdsyncError
from idsync.scim.assign import MAPPING_PATH


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
            if not MAPPING_PATH.match(rule.target):
                raise ValueError(
                    f"mapping target {rule.target!r} is not a SCIM path idsync can set"
                )
        self._steps = tuple(
            (rule.target, rule.source, rule.constant, _role(rule.target, object_type))
            for rule in self.rules
        )

    @classmethod
    def for_integration(
        cls,
        defaults: DefaultMappings,
        object_type: ObjectType,
        overrides: Sequence[Mapping[str, Any]] = (),
    ) -> AttributeMapping:
        """The connector's ``defaults`` for the integration's direction, with the
        integration's own entries on top."""
        rules = {target: Rule(target, source) for target, source in defaults[object_type]}
        for entry in overrides:
            target = str(entry["target"])
            if entry.get("source") is None and "constant" not in entry:
                rules.pop(target, None)  # an override without a source removes the default
                continue
            rules[target] = Rule(target, entry.get("source"), entry.get("constant"))
        return cls(object_type, list(rules.values()))

    def apply(self, obj: SourceObject) -> Mapped:
        # Once per object of every cycle (the most often run code of a first load): one
        # pass over steps prepared from the rules, a dictionary lookup per attribute.
        attributes, whole = obj.attributes, obj.whole
        assignments: list[tuple[str, Any]] = []
        reference: str | None = None
        has_reference = False
        key: Any = None
        for target, source, constant, role in self._steps:
            if source is None:
                value: Any = constant
            elif source == "$id":
                value = obj.source_id
            elif (value := attributes.get(source, _ABSENT)) is not _ABSENT:
                if isinstance(value, list):  # multi-valued (Graph's businessPhones): the first
                    value = value[0] if value else None
            elif whole:
                value = None
            else:
                continue  # not in this (incremental) record: unchanged
            if role is _MANAGER and source is not None:
                reference, has_reference = value, True
                continue
            if role is _KEY:
                key = value
            assignments.append((target, value))
        return Mapped(obj.source_id, tuple(assignments), reference, has_reference, key)

    def require_key(self, mapped: Mapped, *, creating: bool) -> None:
        if creating and not mapped.key:
            raise IdsyncError(
                MAPPING_FAILED,
                object_type=self.object_type,
                source_id=mapped.source_id,
                reason=f"it has no value for {KEY_TARGETS[self.object_type]}, which the hub requires",
            )


_ABSENT = object()
_KEY, _MANAGER = "key", "manager"


def _role(target: str, object_type: ObjectType) -> str | None:
    """What a rule's target is besides an assignment: the object's key, or its manager
    (a reference to another object, resolved by the engine)."""
    if target == MANAGER_TARGET:
        return _MANAGER
    return _KEY if target == KEY_TARGETS[object_type] else None
