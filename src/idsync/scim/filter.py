"""Filter parsing (RFC 7644 §3.4.2.2) and checking against a resource type.

Parsing is scim2-models' grammar (lark). One shape is parsed here instead:
``attr eq "string"``, which is what Entra ID and Okta send on every lookup
(``userName eq``, ``externalId eq``, ``displayName eq``). The general parser
costs ~45 µs per distinct string; this fast path builds the identical syntax
tree with one regular expression, and tests check both agree.
"""

from __future__ import annotations

import json
import re

from scim2_models import InvalidFilterException, ScimFilter
from scim2_models.path import (
    ORDERING_OPERATORS,
    STRING_OPERATORS,
    AttrPath,
    CompareOperator,
    Comparison,
    FilterNode,
    LogicalExpr,
    Not,
    Present,
    ValuePath,
)

from idsync.errors.catalogue import INVALID_FILTER, NUL_CHARACTER, SENSITIVE, IdsyncError
from idsync.scim.resource_types import Resolved, ResourceTypeSchema
from idsync.scim.values import parse_datetime

MAX_FILTER_LENGTH = 4096

_SIMPLE_EQ = re.compile(
    r'\s*(?P<attr>[A-Za-z][A-Za-z0-9_-]*)\s+(?i:eq)\s+"(?P<value>(?:[^"\\]|\\["\\/bfnrt])*)"\s*'
)

_CONTROL = re.compile(r"[\x00-\x1f]")
"""What RFC 8259 §7 allows in a JSON string only escaped."""

# A \u0000 escape not itself escaped (an even number of backslashes before it).
_ESCAPED_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def parse_filter(text: str) -> FilterNode:
    """Parse a filter string; raises IdsyncError(INVALID_FILTER) on bad syntax."""
    if len(text) > MAX_FILTER_LENGTH:
        raise IdsyncError(
            INVALID_FILTER, reason=f"it is longer than {MAX_FILTER_LENGTH} characters"
        )
    if "\\u0000" in text and _ESCAPED_NUL.search(text):
        raise IdsyncError(NUL_CHARACTER, where="the filter")
    simple = simple_equality(text)
    if simple is not None:
        return equality_node(*simple)
    try:
        return ScimFilter(text).ast
    except InvalidFilterException as exc:
        raise IdsyncError(INVALID_FILTER, reason=_reason(exc)) from None
    except (ValueError, RecursionError) as exc:
        raise IdsyncError(
            INVALID_FILTER, reason=str(exc) or "it is not a valid expression"
        ) from None


def simple_equality(text: str) -> tuple[str, str] | None:
    """(attribute, value) when ``text`` is ``attr eq "string"``; None for any other shape.

    The lookup Entra ID and Okta make before every create; parse_filter handles the rest.
    """
    if len(text) > MAX_FILTER_LENGTH:
        return None
    fast = _SIMPLE_EQ.fullmatch(text)
    if fast is None:
        return None
    raw = fast["value"]
    if "\\" not in raw and not _CONTROL.search(raw):
        return fast["attr"], raw
    try:
        value = json.loads(f'"{raw}"')
    except ValueError:
        # RFC 7644 §3.4.2.2 compares with JSON values, and RFC 8259 §7 allows
        # control characters in a JSON string only escaped (a tab as \t).
        raise IdsyncError(
            INVALID_FILTER, reason="a control character in a string must be escaped"
        ) from None
    return fast["attr"], value


def equality_node(attr: str, value: str) -> FilterNode:
    """The parse tree of ``attr eq "value"`` (what :func:`simple_equality` found)."""
    return Comparison(AttrPath(attr=attr), CompareOperator.eq, value)


def _reason(exc: InvalidFilterException) -> str:
    detail = getattr(exc, "detail", None) or str(exc)
    return str(detail).rstrip(".")


def check_filter(
    node: FilterNode, rts: ResourceTypeSchema, *, in_url: bool, lenient: bool = False
) -> None:
    """Refuse a filter naming attributes this type lacks or comparing them wrongly.

    A filter on a single resource type naming an unknown attribute is a client
    error (``invalidFilter``) rather than a silent "no match": a typo in an
    Entra attribute mapping must show up, not quietly provision duplicates.
    """
    _Checker(rts, in_url, lenient).visit(node, None)


class _Checker:
    def __init__(self, rts: ResourceTypeSchema, in_url: bool, lenient: bool) -> None:
        self.rts = rts
        self.in_url = in_url
        # A search over several resource types reads an attribute one of them
        # lacks as false for that type (RFC 7644 §3.4.2.1), instead of refusing it.
        self.lenient = lenient

    def visit(self, node: FilterNode, within: Resolved | None) -> None:
        if isinstance(node, LogicalExpr):
            for term in node.terms:
                self.visit(term, within)
        elif isinstance(node, Not):
            self.visit(node.expr, within)
        elif isinstance(node, Present):
            self._resolve(node.attr_path, within)
        elif isinstance(node, Comparison):
            resolved = self._resolve(node.attr_path, within)
            if resolved is not None:
                check_comparison(resolved, node)
        elif isinstance(node, ValuePath):
            if within is not None:
                raise IdsyncError(INVALID_FILTER, reason="value filters cannot be nested")
            resolved = self._resolve(node.attr_path, None)
            if resolved is None:
                return
            if not resolved.attribute.multi_valued or resolved.sub is not None:
                raise IdsyncError(
                    INVALID_FILTER,
                    reason=f"{node.attr_path} is not a multi-valued attribute to select values from",
                )
            self.visit(node.val_filter, resolved)
        else:  # pragma: no cover - the grammar has no other node
            raise IdsyncError(INVALID_FILTER, reason=f"unsupported expression {node}")

    def _resolve(self, path: AttrPath, within: Resolved | None) -> Resolved | None:
        resolved = resolve_in(self.rts, path, within)
        if resolved is None and self.lenient and within is None:
            return None
        if resolved is None:
            where = f" of {within.attribute.name}" if within else ""
            raise IdsyncError(
                INVALID_FILTER,
                reason=f"{self.rts.name} has no attribute {path}{where}",
            )
        if resolved.target.returned == "never" or resolved.attribute.mutability == "writeOnly":
            if self.in_url:
                raise IdsyncError(SENSITIVE, reason=f"a filter on {resolved.target.name}")
            raise IdsyncError(
                INVALID_FILTER,
                reason=f"{resolved.target.name} is write-only and cannot be searched",
            )
        return resolved


def attribute_paths(node: FilterNode) -> list[AttrPath]:
    """The top-level attribute paths a filter names (value filters' insides excluded)."""
    if isinstance(node, LogicalExpr):
        return [p for term in node.terms for p in attribute_paths(term)]
    if isinstance(node, Not):
        return attribute_paths(node.expr)
    if isinstance(node, Comparison | Present | ValuePath):
        return [node.attr_path]
    return []


def check_known_somewhere(node: FilterNode, types: list[ResourceTypeSchema]) -> None:
    """For a search over several types: every attribute must belong to at least one of them."""
    for path in attribute_paths(node):
        if all(rts.resolve(path) is None for rts in types):
            names = " or ".join(rts.name for rts in types)
            raise IdsyncError(INVALID_FILTER, reason=f"no {names} has an attribute {path}")


def resolve_in(rts: ResourceTypeSchema, path: AttrPath, within: Resolved | None) -> Resolved | None:
    """Resolve a path at top level, or as a sub-attribute inside a value filter."""
    if within is None:
        return rts.resolve(path)
    if path.uri is not None or path.sub_attr is not None:
        return None
    sub = within.attribute.sub(path.attr)
    if sub is None:
        return None
    return Resolved(attribute=within.attribute, sub=sub, extension=within.extension)


def comparison_target(resolved: Resolved) -> Resolved:
    """A comparison on a multi-valued complex attribute compares its ``value`` (RFC 7644 §3.4.2.2)."""
    if resolved.sub is None and resolved.attribute.is_complex:
        value = resolved.attribute.value_sub
        if value is None:
            raise IdsyncError(
                INVALID_FILTER,
                reason=f"{resolved.attribute.name} is complex; compare one of its sub-attributes",
            )
        return Resolved(resolved.attribute, value, resolved.extension)
    return resolved


def check_comparison(resolved: Resolved, node: Comparison) -> None:
    target = comparison_target(resolved).target
    op, value = node.op, node.value
    kind = target.type
    if op in ORDERING_OPERATORS and kind in ("boolean", "binary"):
        raise IdsyncError(
            INVALID_FILTER, reason=f"{op.value} cannot compare {kind} attribute {target.name}"
        )
    if op in STRING_OPERATORS:
        if kind in ("boolean", "binary", "integer", "decimal", "dateTime"):
            raise IdsyncError(
                INVALID_FILTER,
                reason=f"{op.value} needs a string attribute, {target.name} is {kind}",
            )
        if not isinstance(value, str):
            raise IdsyncError(INVALID_FILTER, reason=f"{op.value} needs a string value")
        return
    if value is None:
        if op not in (CompareOperator.eq, CompareOperator.ne):
            raise IdsyncError(INVALID_FILTER, reason="null can only be compared with eq or ne")
        return
    expected: tuple[type, ...] = {
        "boolean": (bool,),
        "integer": (int,),
        "decimal": (int, float),
    }.get(kind, (str,))
    if (isinstance(value, bool) and kind != "boolean") or not isinstance(value, expected):
        raise IdsyncError(
            INVALID_FILTER,
            reason=f"{target.name} is {kind}; {json.dumps(value)} is not a {kind} value",
        )
    if kind == "dateTime" and isinstance(value, str) and parse_datetime(value) is None:
        raise IdsyncError(INVALID_FILTER, reason=f"{value!r} is not an xsd:dateTime")
