"""PATCH operations (RFC 7644 §3.5.2) applied to a resource's JSON document.

Why not scim2-models' ``PatchOp.patch``, which the hub used before: it applies
each operation to the whole model, copying, comparing and re-dumping every value
of the attribute it touches, and it evaluates a value filter against each value
by building a pydantic ``TypeAdapter`` for every comparison (for an email that
reads package metadata from disk). A PATCH of n filtered operations on a user
with n emails cost O(n²) of those: 17 s at n=400, holding the write lock.

Here an operation costs what it touches. Paths and value filters are parsed and
compiled once per request (``PatchWork.filters_compiled`` counts them); a filter
made of ``eq`` comparisons, the form Entra ID and Okta send
(``emails[type eq "work"].value``, ``emails[value eq "x"]``), is answered from
an index of the attribute's values built on first use and kept up to date;
other filters read every value, and ``MAX_VALUES_EXAMINED`` bounds how many
values one request may read that way. The resulting document is then validated
once by the resource model, as a PUT's is (``hub/resources.py``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from scim2_models.path import (
    AttrPath,
    CompareOperator,
    Comparison,
    FilterNode,
    LogicalExpr,
    LogicalOperator,
    Not,
    Present,
    ValuePath,
)

from idsync.errors.catalogue import (
    INVALID_FILTER,
    INVALID_PATH,
    INVALID_VALUE,
    MUTABILITY,
    PATCH_TOO_COSTLY,
    UNMATCHED_FILTER,
    IdsyncError,
)
from idsync.scim.attributes import AttributeDef
from idsync.scim.compare import exact, fold
from idsync.scim.filter import check_comparison
from idsync.scim.paths import parse_path
from idsync.scim.resource_types import Resolved, ResourceTypeSchema
from idsync.scim.values import parse_datetime

MAX_VALUES_EXAMINED = 200_000
"""Values one PATCH may read; a filter answered from an index reads only those it selects."""

PRIMARY = "primary"


@dataclass(frozen=True)
class Operation:
    op: str
    """``add``, ``remove`` or ``replace``."""
    path: str | None
    value: Any


@dataclass
class PatchWork:
    """What a PATCH cost, counted: logged with the request, so a test can pin the cost."""

    operations: int = 0
    filters_compiled: int = 0
    values_examined: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "operations": self.operations,
            "filters_compiled": self.filters_compiled,
            "values_examined": self.values_examined,
        }


@dataclass(frozen=True)
class PatchPolicy:
    org_id: str
    """Named in the advice of an unmatched filter's error."""
    create_unmatched: Callable[[], bool] = lambda: False
    """Whether a value filter that matches nothing creates the value it describes
    (Entra ID's expectation); asked only when one does."""


def apply_patch(
    doc: dict[str, Any],
    operations: list[Operation],
    rts: ResourceTypeSchema,
    policy: PatchPolicy,
    work: PatchWork | None = None,
) -> dict[str, Any]:
    """The document after the operations, in order; ``doc`` itself is left as it was."""
    return _Patcher(doc, rts, policy, work or PatchWork()).run(operations)


# --- value filters ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Matcher:
    """A compiled value filter over the values of one multi-valued attribute."""

    predicate: Callable[[Any], bool]
    lookup: tuple[str | None, Hashable] | None
    """(sub-attribute, key) of an eq comparison every match satisfies: the index to ask."""
    described: dict[str, Any] | None
    """The value an ``and`` of eq comparisons describes (what Entra's upsert creates)."""
    text: str


def _comparable(value: Any, definition: AttributeDef) -> Any:
    """The form values are compared in: strings per caseExact (RFC 7643 §2.1), dates parsed."""
    if not isinstance(value, str):
        return value
    if definition.type == "dateTime":
        return parse_datetime(value) or value
    return exact(value) if definition.case_exact else fold(value)


def _key(value: Any, definition: AttributeDef) -> Hashable | None:
    """An index key: equal for values an eq comparison finds equal (True and 1 kept apart)."""
    if value is None or isinstance(value, dict | list):
        return None
    comparable = _comparable(value, definition)
    return (isinstance(comparable, bool), comparable)


def _coerce(value: Any, definition: AttributeDef) -> Any:
    """Entra writes and compares Booleans as strings ("True", "false"): read them as Booleans."""
    if definition.type == "boolean" and isinstance(value, str):
        lowered = value.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
    return value


def _compare(actual: Any, expected: Any, op: CompareOperator, definition: AttributeDef) -> bool:
    if actual is None or expected is None:
        if op == CompareOperator.eq:
            return actual is None and expected is None
        return op == CompareOperator.ne and (actual is None) != (expected is None)
    left, right = _comparable(actual, definition), _comparable(expected, definition)
    if op in (CompareOperator.co, CompareOperator.sw, CompareOperator.ew):
        if not (isinstance(left, str) and isinstance(right, str)):
            return False
        if op == CompareOperator.co:
            return right in left
        return left.startswith(right) if op == CompareOperator.sw else left.endswith(right)
    if op == CompareOperator.eq:
        return _key(actual, definition) == _key(expected, definition)
    if op == CompareOperator.ne:
        return _key(actual, definition) != _key(expected, definition)
    try:
        ordering: dict[CompareOperator, Callable[[Any, Any], bool]] = {
            CompareOperator.gt: lambda a, b: a > b,
            CompareOperator.ge: lambda a, b: a >= b,
            CompareOperator.lt: lambda a, b: a < b,
            CompareOperator.le: lambda a, b: a <= b,
        }
        return bool(ordering[op](left, right))
    except TypeError:
        return False


class _FilterCompiler:
    """Turns the filter of ``attr[filter]`` into a predicate over one value of ``attr``."""

    def __init__(self, resolved: Resolved, text: str) -> None:
        self.resolved = resolved
        self.attribute = resolved.attribute
        self.text = text

    def compile(self, node: FilterNode) -> _Matcher:
        return _Matcher(
            predicate=self._predicate(node),
            lookup=self._lookup(node),
            described=self._described(node),
            text=self.text,
        )

    def _sub(self, path: AttrPath) -> AttributeDef | None:
        """The sub-attribute a comparison reads; None for a simple attribute's value itself."""
        if path.uri is not None or path.sub_attr is not None:
            raise self._invalid(f"{path} is not a sub-attribute of {self.attribute.name}")
        if not self.attribute.is_complex:
            if path.attr.lower() != "value":
                raise self._invalid(f"the values of {self.attribute.name} have no {path.attr}")
            return None
        sub = self.attribute.sub(path.attr)
        if sub is None:
            raise self._invalid(f"{self.attribute.name} has no sub-attribute {path.attr!r}")
        return sub

    def _invalid(self, reason: str) -> IdsyncError:
        return IdsyncError(INVALID_PATH, path=self.text, reason=reason)

    def _operand(self, node: Comparison) -> tuple[AttributeDef | None, Any]:
        sub = self._sub(node.attr_path)
        definition = sub or self.attribute
        expected = _coerce(node.value, definition)
        check_comparison(
            Resolved(self.attribute, sub, self.resolved.extension),
            Comparison(node.attr_path, node.op, expected),
        )
        return sub, expected

    def _predicate(self, node: FilterNode) -> Callable[[Any], bool]:
        if isinstance(node, LogicalExpr):
            terms = [self._predicate(term) for term in node.terms]
            if node.op == LogicalOperator.and_:
                return lambda value: all(term(value) for term in terms)
            return lambda value: any(term(value) for term in terms)
        if isinstance(node, Not):
            inner = self._predicate(node.expr)
            return lambda value: not inner(value)
        if isinstance(node, Present):
            name = _name(self._sub(node.attr_path))
            return lambda value: _read(value, name) not in (None, "", [], {})
        if isinstance(node, Comparison):
            sub, expected = self._operand(node)
            name, definition, op = _name(sub), sub or self.attribute, node.op
            return lambda value: _compare(_read(value, name), expected, op, definition)
        raise IdsyncError(INVALID_FILTER, reason="value filters cannot be nested")

    def _eq_terms(self, node: FilterNode) -> list[Comparison] | None:
        terms = node.terms if isinstance(node, LogicalExpr) else [node]
        if isinstance(node, LogicalExpr) and node.op != LogicalOperator.and_:
            return None
        return [t for t in terms if isinstance(t, Comparison) and t.op == CompareOperator.eq]

    def _lookup(self, node: FilterNode) -> tuple[str | None, Hashable] | None:
        for term in self._eq_terms(node) or []:
            sub, expected = self._operand(term)
            key = _key(expected, sub or self.attribute)
            if key is not None:
                return (_name(sub), key)
        return None

    def _described(self, node: FilterNode) -> dict[str, Any] | None:
        terms = self._eq_terms(node)
        every = node.terms if isinstance(node, LogicalExpr) else [node]
        if not terms or len(terms) != len(every) or not self.attribute.is_complex:
            return None
        described: dict[str, Any] = {}
        for term in terms:
            sub, expected = self._operand(term)
            if sub is None or expected is None:
                return None
            described[sub.name] = expected
        return described


def _name(sub: AttributeDef | None) -> str | None:
    return sub.name if sub is not None else None


def _read(value: Any, sub: str | None) -> Any:
    """A sub-attribute of a value; a simple attribute's value itself for None."""
    if sub is None:
        return value
    return value.get(sub) if isinstance(value, dict) else None


# --- one multi-valued attribute ---------------------------------------------------------


class _Values:
    """The values of one multi-valued attribute while a PATCH runs.

    A removed value leaves a hole (None), so positions stay valid in the
    indexes; holes are dropped when the document is written back.
    """

    def __init__(self, attribute: AttributeDef, items: list[Any], work: PatchWork) -> None:
        self.attribute = attribute
        self.items: list[Any] = list(items)
        self.work = work
        self.indexes: dict[str | None, dict[Hashable, dict[int, None]]] = {}

    def live(self) -> list[int]:
        return [p for p, item in enumerate(self.items) if item is not None]

    def result(self) -> list[Any]:
        return [item for item in self.items if item is not None]

    def examine(self, count: int, text: str) -> None:
        """Count values read; refuse a request that would read too many (each costs ~1 µs)."""
        self.work.values_examined += count
        if self.work.values_examined > MAX_VALUES_EXAMINED:
            raise IdsyncError(PATCH_TOO_COSTLY, limit=MAX_VALUES_EXAMINED, path=text)

    def select(self, matcher: _Matcher) -> list[int]:
        if matcher.lookup is not None:
            sub, key = matcher.lookup
            candidates = sorted(self._index(sub, matcher.text).get(key, ()))
        else:
            candidates = self.live()
        self.examine(len(candidates), matcher.text)
        return [p for p in candidates if matcher.predicate(self.items[p])]

    def primaries(self, text: str) -> list[int]:
        if self.attribute.sub(PRIMARY) is None:
            return []
        return sorted(self._index(PRIMARY, text).get((True, True), ()))

    def _index(self, sub: str | None, text: str) -> dict[Hashable, dict[int, None]]:
        index = self.indexes.get(sub)
        if index is None:
            self.examine(len(self.items), text)
            index = self.indexes[sub] = {}
            for position in self.live():
                self._enter(index, sub, position)
        return index

    def _definition(self, sub: str | None) -> AttributeDef:
        return (self.attribute.sub(sub) if sub else None) or self.attribute

    def _enter(
        self, index: dict[Hashable, dict[int, None]], sub: str | None, position: int
    ) -> None:
        key = _key(_read(self.items[position], sub), self._definition(sub))
        if key is not None:
            index.setdefault(key, {})[position] = None

    def _leave(
        self, index: dict[Hashable, dict[int, None]], sub: str | None, position: int
    ) -> None:
        key = _key(_read(self.items[position], sub), self._definition(sub))
        if key is not None:
            index.get(key, {}).pop(position, None)

    def put(self, position: int, item: Any) -> None:
        """Replace the value at ``position`` (None removes it), keeping the indexes right."""
        if self.items[position] is not None:
            for sub, index in self.indexes.items():
                self._leave(index, sub, position)
        self.items[position] = item
        if item is not None:
            for sub, index in self.indexes.items():
                self._enter(index, sub, position)

    def append(self, item: Any) -> int:
        self.items.append(None)
        self.put(len(self.items) - 1, item)
        return len(self.items) - 1

    def replace_all(self, items: list[Any]) -> None:
        self.items = list(items)
        self.indexes = {}


def _joined(op: LogicalOperator, terms: list[FilterNode]) -> FilterNode:
    return terms[0] if len(terms) == 1 else LogicalExpr(op, tuple(terms))


# --- the operations ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    """The attribute a PATCH path designates, resolved once per request."""

    text: str
    extension: str | None
    """The extension URN the attribute lives under; None for the core schema."""
    attribute: AttributeDef
    sub: AttributeDef | None = None
    matcher: _Matcher | None = None

    @property
    def definition(self) -> AttributeDef:
        return self.sub or self.attribute


@dataclass(frozen=True)
class _Extension:
    """A path that is a whole extension schema's URN."""

    urn: str


@dataclass
class _Patcher:
    doc: dict[str, Any]
    rts: ResourceTypeSchema
    policy: PatchPolicy
    work: PatchWork
    targets: dict[tuple[str, bool], _Target | _Extension] = field(default_factory=dict)
    values: dict[tuple[str | None, str], _Values] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.doc = copy.deepcopy(self.doc)

    def run(self, operations: list[Operation]) -> dict[str, Any]:
        for operation in operations:
            self.work.operations += 1
            if operation.path is None:
                self._pathless(operation.op, operation.value)
            else:
                self._apply(operation.op, self._target(operation.path), operation.value)
        self._write_back()
        return self.doc

    # --- paths ---

    def _target(self, text: str, *, in_value: bool = False) -> _Target | _Extension:
        cached = self.targets.get((text, in_value))
        if cached is None:
            cached = self.targets[(text, in_value)] = self._resolve(text, in_value)
        return cached

    def _resolve(self, text: str, in_value: bool) -> _Target | _Extension:
        urn = self.rts.extension_urn(text)
        if urn is not None:
            return _Extension(urn)
        try:
            node = parse_path(text)
        except IdsyncError as exc:
            raise self._unknown(
                text, in_value, exc.params.get("reason", "invalid syntax")
            ) from None
        head = node.attr_path if isinstance(node, ValuePath) else node
        resolved = self.rts.resolve(AttrPath(attr=head.attr, uri=head.uri))
        if resolved is None:
            raise self._unknown(text, in_value, f"{self.rts.name} has no such attribute")
        sub_name = node.sub_attr if isinstance(node, ValuePath) else head.sub_attr
        sub = resolved.attribute.sub(sub_name) if sub_name else None
        if sub_name and sub is None:
            raise self._unknown(text, in_value, f"{resolved.attribute.name} has no {sub_name!r}")
        matcher = None
        if isinstance(node, ValuePath):
            if not resolved.attribute.multi_valued:
                raise IdsyncError(
                    INVALID_PATH,
                    path=text,
                    reason=f"{resolved.attribute.name} is not multi-valued: it has no values to select",
                )
            matcher = _FilterCompiler(resolved, text).compile(node.val_filter)
            self.work.filters_compiled += 1
        return _Target(text, resolved.extension, resolved.attribute, sub, matcher)

    def _unknown(self, text: str, in_value: bool, reason: str) -> IdsyncError:
        if in_value:
            # RFC 7644 §3.12: a value that does not fit the schema is invalidValue.
            return IdsyncError(INVALID_VALUE, reason=f"{text!r} in the value: {reason}")
        return IdsyncError(INVALID_PATH, path=text, reason=reason)

    # --- dispatch ---

    def _pathless(self, op: str, value: Any) -> None:
        """RFC 7644 §3.5.2.1/.3 without a path: each key of the value is a path of its own."""
        for key, item in value.items():
            target = self._target(key, in_value=True)
            if isinstance(target, _Extension) and isinstance(item, dict):
                self._extension_keys(op, target.urn, item)
            elif isinstance(target, _Target) and target.definition.mutability == "readOnly":
                continue  # read-only attributes in a request are ignored (RFC 7644 §3.5.1)
            else:
                self._apply(op, target, item)

    def _extension_keys(self, op: str, urn: str, value: dict[str, Any]) -> None:
        for key, item in value.items():
            if key.lower() == "schemas":
                continue  # clients echo the extension's schemas inside its value (scim2-tester)
            target = self._target(f"{urn}:{key}", in_value=True)
            if isinstance(target, _Target) and target.definition.mutability == "readOnly":
                continue
            self._apply(op, target, item)

    def _apply(self, op: str, target: _Target | _Extension, value: Any) -> None:
        if op != "remove" and value is None:
            op = "remove"  # RFC 7643 §2.5: null is unassigned
        if isinstance(target, _Extension):
            self._extension(op, target.urn, value)
        elif target.definition.mutability == "readOnly":
            raise IdsyncError(MUTABILITY, reason=f"{target.text}, which is read-only")
        elif target.matcher is not None:
            self._filtered(op, target, target.matcher, value)
        elif target.attribute.multi_valued:
            self._multi_valued(op, target, value)
        elif target.sub is not None:
            self._sub_attribute(op, target, target.sub, value)
        else:
            self._single(op, target, value)

    # --- a whole extension ---

    def _extension(self, op: str, urn: str, value: Any) -> None:
        if op == "remove":
            for _, attribute in self._attributes_of(urn):
                self._refuse_unassigning(attribute, self.doc.get(urn, {}).get(attribute.name))
            self.doc.pop(urn, None)
            self.values = {k: v for k, v in self.values.items() if k[0] != urn}
            return
        if not isinstance(value, dict):
            raise IdsyncError(
                INVALID_VALUE, reason=f"the value written to {urn!r} must be an object"
            )
        self._extension_keys(op, urn, value)

    def _attributes_of(self, urn: str) -> list[tuple[str | None, AttributeDef]]:
        return [(u, a) for u, a in self.rts.all_attributes() if u == urn]

    # --- single-valued attributes ---

    def _container(self, extension: str | None, *, create: bool) -> dict[str, Any] | None:
        if extension is None:
            return self.doc
        block = self.doc.get(extension)
        if block is None and create:
            block = self.doc[extension] = {}
        return block if isinstance(block, dict) else None

    def _single(self, op: str, target: _Target, value: Any) -> None:
        attribute = target.attribute
        container = self._container(target.extension, create=op != "remove")
        if container is None:
            return
        current = container.get(attribute.name)
        if op == "remove":
            if value is not None and not _holds(current, value, attribute):
                return  # Entra removes by value: only a value that is there goes
            self._refuse_unassigning(attribute, current)
            container.pop(attribute.name, None)
            return
        written = _merged(current, value, attribute, target.text)
        if isinstance(written, dict):
            written = {k: v for k, v in written.items() if v is not None}
        self._refuse_changing(attribute, current, written, target.text)
        if _assigned(written):
            container[attribute.name] = written
        else:
            container.pop(attribute.name, None)

    def _sub_attribute(self, op: str, target: _Target, sub: AttributeDef, value: Any) -> None:
        attribute = target.attribute
        container = self._container(target.extension, create=op != "remove")
        if container is None:
            return
        parent = container.get(attribute.name)
        if op == "remove":
            if isinstance(parent, dict) and sub.name in parent:
                self._refuse_unassigning(sub, parent[sub.name])
                del parent[sub.name]
                if not parent:
                    container.pop(attribute.name)
            return
        if not isinstance(parent, dict):
            parent = container[attribute.name] = {}
        written = _coerce(value, sub)
        self._refuse_changing(sub, parent.get(sub.name), written, target.text)
        parent[sub.name] = written

    # --- multi-valued attributes ---

    def _values(self, target: _Target) -> _Values:
        attribute = target.attribute
        key = (target.extension, attribute.name)
        values = self.values.get(key)
        if values is None:
            container = self._container(target.extension, create=False) or {}
            current = container.get(attribute.name)
            values = _Values(attribute, current if isinstance(current, list) else [], self.work)
            self.values[key] = values
        return values

    def _multi_valued(self, op: str, target: _Target, value: Any) -> None:
        attribute = target.attribute
        values = self._values(target)
        if target.sub is not None:
            self._every_value(op, target, target.sub, values, value)
        elif op == "remove" and value is not None:
            matcher = self._removal_matcher(target, value)
            for position in values.select(matcher):
                values.put(position, None)
        elif op == "remove":
            self._refuse_unassigning(attribute, values.result())
            values.replace_all([])
        elif op == "add":
            # RFC 7644 §3.5.2.1: the values are added; one already there is merged
            # with it when the document is settled (RFC 7643 §2.4).
            added = [values.append(item) for item in _canonical(value, attribute, target.text)]
            self._settle_primary(values, added, target.text)
        else:
            items = _canonical(value, attribute, target.text)
            if not items:
                self._refuse_unassigning(attribute, values.result())
            self._refuse_changing(attribute, values.result(), items, target.text)
            values.replace_all(items)
            self._settle_primary(values, values.live(), target.text)

    def _every_value(
        self, op: str, target: _Target, sub: AttributeDef, values: _Values, value: Any
    ) -> None:
        """``emails.type`` without a filter designates that sub-attribute of every value."""
        positions = values.live()
        values.examine(len(positions), target.text)
        self._write_subs(op, target, sub, values, positions, value)

    def _removal_matcher(self, target: _Target, value: Any) -> _Matcher:
        """Entra removes values by listing them: ``{"op":"Remove","path":"emails","value":[…]}``."""
        entries = value if isinstance(value, list) else [value]
        terms: list[FilterNode] = []
        for entry in entries:
            named = entry.items() if isinstance(entry, dict) else ()
            comparisons: list[FilterNode] = [
                Comparison(AttrPath(attr=k), CompareOperator.eq, v)
                for k, v in named
                if v is not None
            ]
            if not comparisons:
                raise IdsyncError(
                    INVALID_VALUE,
                    reason="the value of a remove must list the values to remove, as objects",
                )
            terms.append(_joined(LogicalOperator.and_, comparisons))
        resolved = Resolved(target.attribute, None, target.extension)
        self.work.filters_compiled += 1
        compiler = _FilterCompiler(resolved, target.text)
        return compiler.compile(_joined(LogicalOperator.or_, terms))

    def _filtered(self, op: str, target: _Target, matcher: _Matcher, value: Any) -> None:
        values = self._values(target)
        positions = values.select(matcher)
        if op != "remove" and not positions:
            created = self._create_described(target, matcher, values, value)
            self._settle_primary(values, [created], target.text)
            return
        if target.sub is not None:
            self._write_subs(op, target, target.sub, values, positions, value)
        elif op == "remove":
            for position in positions:
                values.put(position, None)
        else:
            self._merge_values(target, values, positions, value)

    def _create_described(
        self, target: _Target, matcher: _Matcher, values: _Values, value: Any
    ) -> int:
        """The value an unmatched filter describes, where the organisation allows it (Entra)."""
        attribute = target.attribute
        if matcher.described is None or not self.policy.create_unmatched():
            raise IdsyncError(
                UNMATCHED_FILTER,
                path=target.text,
                attribute=attribute.name,
                op="change",
                org=self.policy.org_id,
            )
        if target.sub is not None:
            entry = {**matcher.described, target.sub.name: _coerce(value, target.sub)}
        else:
            entry = {**matcher.described, **_one(value, attribute, target.text)}
        if not matcher.predicate(entry):
            raise IdsyncError(
                INVALID_VALUE, reason=f"the value contradicts the filter of {target.text!r}"
            )
        return values.append(entry)

    def _write_subs(
        self,
        op: str,
        target: _Target,
        sub: AttributeDef,
        values: _Values,
        positions: list[int],
        value: Any,
    ) -> None:
        written = None if op == "remove" else _coerce(value, sub)
        marked: list[int] = []
        for position in positions:
            entry = values.items[position]
            if not isinstance(entry, dict):
                continue
            current = entry.get(sub.name)
            if op == "remove":
                self._refuse_unassigning(sub, current)
            else:
                self._refuse_changing(sub, current, written, target.text)
            changed = dict(entry)
            if written is None:
                changed.pop(sub.name, None)
            else:
                changed[sub.name] = written
            values.put(position, changed or None)
            if sub.name == PRIMARY and written is True and current is not True:
                marked.append(position)
        self._settle_primary(values, marked, target.text)

    def _merge_values(
        self, target: _Target, values: _Values, positions: list[int], value: Any
    ) -> None:
        attribute = target.attribute
        marked: list[int] = []
        for position in positions:
            current = values.items[position]
            merged = _merged(current, value, attribute, target.text)
            values.put(position, merged if _assigned(merged) else None)
            if _read(merged, PRIMARY) is True and _read(current, PRIMARY) is not True:
                marked.append(position)
        self._settle_primary(values, marked, target.text)

    def _settle_primary(self, values: _Values, marked: list[int], text: str) -> None:
        """RFC 7644 §3.5.2: a value set primary unmarks the others; RFC 7643 §2.4: only one is."""
        if values.attribute.sub(PRIMARY) is None:
            return
        marked = [p for p in marked if _read(values.items[p], PRIMARY) is True]
        if len(marked) > 1:
            raise IdsyncError(
                INVALID_VALUE,
                reason=f"more than one value of {values.attribute.name} is marked primary",
            )
        if not marked:
            return
        for position in values.primaries(text):
            if position != marked[0]:
                values.put(position, {**values.items[position], PRIMARY: False})

    # --- mutability (RFC 7643 §7) ---

    def _refuse_unassigning(self, definition: AttributeDef, current: Any) -> None:
        if not _assigned(current):
            return
        if definition.required:
            raise IdsyncError(
                MUTABILITY, reason=f"{definition.name}, which is required and cannot be removed"
            )
        if definition.mutability == "immutable":
            raise IdsyncError(MUTABILITY, reason=f"{definition.name}, which is immutable")

    def _refuse_changing(
        self, definition: AttributeDef, current: Any, written: Any, text: str
    ) -> None:
        if definition.mutability == "immutable" and _assigned(current) and current != written:
            raise IdsyncError(MUTABILITY, reason=f"{text}, which is immutable")

    # --- back to the document ---

    def _write_back(self) -> None:
        for (extension, name), values in self.values.items():
            items = values.result()
            container = self._container(extension, create=bool(items))
            if container is None:
                continue
            if items:
                container[name] = items
            else:
                container.pop(name, None)
        for urn, _ in self.rts.extensions:
            if self.doc.get(urn) == {}:
                del self.doc[urn]
        self.doc["schemas"] = [self.rts.core_schema] + [
            urn for urn, _ in self.rts.extensions if self.doc.get(urn)
        ]


# --- values as written ------------------------------------------------------------------


def _assigned(value: Any) -> bool:
    """RFC 7643 §2.5: null, an empty list and an empty object are unassigned."""
    return value not in (None, [], {})


def _one(value: Any, attribute: AttributeDef, text: str, *, nulls: bool = False) -> Any:
    """One value of ``attribute`` as stored: canonical sub-attribute names.

    A null sub-attribute is unassigned (RFC 7643 §2.5): dropped, or kept as None
    (``nulls``) where it must clear what a merge would otherwise keep.
    """
    if not attribute.is_complex:
        return _coerce(value, attribute)
    if not isinstance(value, dict):
        raise IdsyncError(INVALID_VALUE, reason=f"the value written to {text!r} must be an object")
    result: dict[str, Any] = {}
    for key, item in value.items():
        sub = attribute.sub(key)
        if sub is None:
            raise IdsyncError(
                INVALID_VALUE, reason=f"{attribute.name} has no sub-attribute {key!r}"
            )
        if sub.mutability == "readOnly" or (item is None and not nulls):
            continue  # read-only values in a request are ignored (RFC 7644 §3.5.1)
        result[sub.name] = _coerce(item, sub)
    return result


def _canonical(value: Any, attribute: AttributeDef, text: str) -> Any:
    if not attribute.multi_valued:
        return _one(value, attribute, text)
    items = value if isinstance(value, list) else [value]
    return [one for one in (_one(item, attribute, text) for item in items) if _assigned(one)]


def _merged(current: Any, value: Any, attribute: AttributeDef, text: str) -> Any:
    """RFC 7644 §3.5.2.3: a complex value's sub-attributes the request leaves out are kept."""
    written = _one(value, attribute, text, nulls=True)
    if not isinstance(current, dict) or not isinstance(written, dict):
        return written
    merged = dict(current)
    for name, item in written.items():
        sub = attribute.sub(name)
        old = current.get(name)
        if sub is not None and sub.mutability == "immutable" and _assigned(old) and old != item:
            raise IdsyncError(MUTABILITY, reason=f"{text}.{name}, which is immutable")
        if item is None:
            merged.pop(name, None)
        else:
            merged[name] = item
    return merged


def _holds(current: Any, value: Any, attribute: AttributeDef) -> bool:
    """Whether a single-valued attribute holds the value a remove names."""
    if isinstance(current, dict) and isinstance(value, dict):
        return all(
            _key(current.get(name), attribute.sub(name) or attribute)
            == _key(item, attribute.sub(name) or attribute)
            for name, item in value.items()
            if name.lower() != "$ref"
        )
    return _key(current, attribute) == _key(value, attribute)
