"""Scoping filters: which source objects a cycle provisions.

Modelled on Entra's scoping filters: one clause list, all of which must hold,
each ``{"attribute", "operator", "value"}`` on the source's own attributes.
Objects that fall out of scope are disabled in the target, never deleted.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from idsync.contract.records import SourceObject
from idsync.errors.catalogue import INVALID_INTEGRATION, IdsyncError


def _text(value: Any) -> str:
    return "" if value is None else str(value).lower()


_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "EQUALS": lambda actual, expected: _text(actual) == _text(expected),
    "NOT_EQUALS": lambda actual, expected: _text(actual) != _text(expected),
    "IS_TRUE": lambda actual, _: actual is True or _text(actual) == "true",
    "IS_FALSE": lambda actual, _: actual is False or _text(actual) == "false",
    "IS_NULL": lambda actual, _: actual is None or actual == "",
    "IS_NOT_NULL": lambda actual, _: actual is not None and actual != "",
    "INCLUDES": lambda actual, expected: _text(expected) in _text(actual),
    "NOT_INCLUDES": lambda actual, expected: _text(expected) not in _text(actual),
    "STARTS_WITH": lambda actual, expected: _text(actual).startswith(_text(expected)),
    "REGEX_MATCH": lambda actual, expected: re.search(str(expected), str(actual or "")) is not None,
}


@dataclass(frozen=True, slots=True)
class Clause:
    attribute: str
    operator: str
    value: Any = None


class Scope:
    """The scoping filter of one integration for one object type."""

    def __init__(self, clauses: Sequence[Clause] = ()) -> None:
        self.clauses = tuple(clauses)

    @classmethod
    def parse(cls, rules: Sequence[Mapping[str, Any]]) -> Scope:
        clauses = []
        for rule in rules:
            operator = str(rule.get("operator", "")).upper()
            if operator not in _OPERATORS or not rule.get("attribute"):
                raise IdsyncError(
                    INVALID_INTEGRATION,
                    reason=f"scoping rule {dict(rule)!r} is not understood",
                    hint="Each rule needs an attribute and one of: " + ", ".join(_OPERATORS),
                )
            clauses.append(Clause(str(rule["attribute"]), operator, rule.get("value")))
        return cls(clauses)

    def decides(self, obj: SourceObject) -> bool | None:
        """True (in scope), False (out), or None: the record lacks an attribute a rule reads
        (an incremental record holding only what changed), so the object keeps its state."""
        for clause in self.clauses:
            if clause.attribute not in obj.attributes:
                return None
            if not _OPERATORS[clause.operator](obj.attributes[clause.attribute], clause.value):
                return False
        return True
