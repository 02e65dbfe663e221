"""SCIM filters compiled to SQL (RFC 7644 §3.4.2.2), for SQLite and PostgreSQL.

A filter never loads rows to evaluate them in Python. Attributes clients look
up on every sync map to indexed columns holding their comparison form
(``userName`` → ``user_name_key``), so ``userName eq "x"`` is one index probe.
Any other attribute is read from the JSON document; multi-valued attributes
and value filters (``emails[type eq "work" and value co "@x"]``) become
``EXISTS`` over the array's elements; ``members`` and ``groups`` become
``EXISTS`` over membership rows.

Semantics follow scim2-models' evaluator (which applies PATCH path filters),
so a filter means the same in a search and in a PATCH path: a missing value
matches nothing but ``ne`` and ``eq null``; ``ne`` on a multi-valued attribute
holds when no value is equal; strings compare case-insensitively unless the
attribute is caseExact.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum, auto
from typing import Any

import sqlalchemy as sa
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
from sqlalchemy import ColumnElement, FromClause
from sqlalchemy.dialects.postgresql import JSONB

from idsync.errors.catalogue import INVALID_FILTER, IdsyncError
from idsync.scim.attributes import AttributeDef
from idsync.scim.compare import exact, fold
from idsync.scim.filter import comparison_target, resolve_in
from idsync.scim.resource_types import Resolved, ResourceTypeSchema
from idsync.scim.values import parse_datetime
from idsync.store.models import GROUPS, MEMBERSHIPS, USERS
from idsync.store.resources import table as table_for

Condition = ColumnElement[bool]


class Kind(Enum):
    FOLD = auto()
    """Text compared case-insensitively; the expression is the raw value."""
    FOLDED = auto()
    """Text already stored in folded form (an indexed ``*_key`` column)."""
    EXACT = auto()
    """caseExact text."""
    BOOLEAN = auto()
    NUMBER = auto()
    JSON_DATETIME = auto()
    """An xsd:dateTime string inside the JSON document."""
    DATETIME = auto()
    """A timestamp column."""
    VERSION = auto()
    """The integer version column, shown as ``W/"n"``."""


@dataclass(frozen=True)
class Operand:
    expr: ColumnElement[Any]
    kind: Kind
    nullable: bool = True


@dataclass(frozen=True)
class SqlContext:
    rts: ResourceTypeSchema
    dialect: str
    base_location: str
    """``…/scim/{org}/v2``, for ``meta.location`` and ``$ref`` comparisons."""
    unknown_is_false: bool = False
    """Compile an attribute this type lacks as false (a search over several types)."""


# --- the tables behind each resource type -----------------------------------------------

_users = USERS
_groups = GROUPS
_members = MEMBERSHIPS


def _text_kind(attribute: AttributeDef) -> Kind:
    return Kind.EXACT if attribute.case_exact else Kind.FOLD


def _column_operands(resource_type: str) -> dict[tuple[str, ...], Operand]:
    table = table_for(resource_type)
    columns: dict[tuple[str, ...], Operand] = {
        ("id",): Operand(table.c.id, Kind.EXACT, nullable=False),
        ("externalid",): Operand(table.c.external_id, Kind.EXACT),
        ("meta", "created"): Operand(table.c.created_at, Kind.DATETIME, nullable=False),
        ("meta", "lastmodified"): Operand(table.c.updated_at, Kind.DATETIME, nullable=False),
        ("meta", "version"): Operand(table.c.version, Kind.VERSION, nullable=False),
        ("meta", "resourcetype"): Operand(sa.literal(resource_type), Kind.EXACT, nullable=False),
    }
    if resource_type == "User":
        columns[("username",)] = Operand(table.c.user_name_key, Kind.FOLDED, nullable=False)
        columns[("displayname",)] = Operand(table.c.display_name, Kind.FOLD)
        columns[("active",)] = Operand(table.c.active, Kind.BOOLEAN, nullable=False)
    else:
        columns[("displayname",)] = Operand(table.c.display_name_key, Kind.FOLDED, nullable=False)
    return columns


_COLUMNS = {name: _column_operands(name) for name in ("User", "Group")}


# --- JSON access, per dialect -------------------------------------------------------------


class _Json:
    """How the JSON document is read on one dialect."""

    def __init__(self, dialect: str) -> None:
        self.sqlite = dialect == "sqlite"

    def path_text(self, doc: ColumnElement[Any], keys: Sequence[str]) -> ColumnElement[Any]:
        if self.sqlite:
            return sa.func.json_extract(doc, _sqlite_path(keys))
        text: ColumnElement[Any] = sa.type_coerce(doc, JSONB)[tuple(keys)].astext
        return text

    def path_type(self, doc: ColumnElement[Any], keys: Sequence[str]) -> ColumnElement[Any]:
        if self.sqlite:
            return sa.func.json_type(doc, _sqlite_path(keys))
        return sa.func.jsonb_typeof(sa.type_coerce(doc, JSONB)[tuple(keys)])

    def elements(self, doc: ColumnElement[Any], keys: Sequence[str]) -> FromClause:
        if self.sqlite:
            return sa.func.json_each(doc, _sqlite_path(keys)).table_valued("value").alias("e")
        node = sa.type_coerce(doc, JSONB)[tuple(keys)]
        array = sa.case((sa.func.jsonb_typeof(node) == "array", node), else_=sa.text("'[]'::jsonb"))
        return sa.func.jsonb_array_elements(array).table_valued("value").alias("e")

    def element_value(self, elements: FromClause, sub: str | None) -> ColumnElement[Any]:
        value = elements.c.value
        if self.sqlite:
            return sa.func.json_extract(value, _sqlite_path([sub])) if sub else value
        coerced = sa.type_coerce(value, JSONB)
        return coerced[sub].astext if sub else sa.func.jsonb_build_array(coerced).op("->>")(0)

    def fold(self, expr: ColumnElement[Any]) -> ColumnElement[Any]:
        return sa.func.idsync_fold(expr) if self.sqlite else sa.func.lower(expr)

    def as_number(self, expr: ColumnElement[Any]) -> ColumnElement[Any]:
        return expr if self.sqlite else sa.cast(expr, sa.Numeric)

    def as_boolean(self, expr: ColumnElement[Any]) -> ColumnElement[Any]:
        # json_extract yields 1/0 on SQLite; ->> yields 'true'/'false' on PostgreSQL.
        return expr if self.sqlite else sa.cast(expr, sa.Boolean)

    def as_datetime(self, expr: ColumnElement[Any]) -> ColumnElement[Any]:
        if self.sqlite:
            return sa.func.julianday(expr)
        return sa.cast(expr, sa.DateTime(timezone=True))

    def datetime_param(self, value: str) -> ColumnElement[Any]:
        parsed = parse_datetime(value)
        if self.sqlite:
            return sa.func.julianday(sa.literal(parsed.isoformat() if parsed else value))
        return sa.literal(parsed, sa.DateTime(timezone=True))


def _sqlite_path(keys: Sequence[str | None]) -> str:
    return "$" + "".join('."' + str(k).replace('"', '\\"') + '"' for k in keys)


def _kind_of(attribute: AttributeDef) -> Kind:
    return {
        "boolean": Kind.BOOLEAN,
        "integer": Kind.NUMBER,
        "decimal": Kind.NUMBER,
        "dateTime": Kind.JSON_DATETIME,
    }.get(attribute.type, _text_kind(attribute))


# --- comparisons ------------------------------------------------------------------------


def _compare(operand: Operand, op: CompareOperator, value: Any, json: _Json) -> Condition:
    expr = operand.expr
    if value is None:
        return expr.is_(None) if op == CompareOperator.eq else expr.is_not(None)
    if operand.kind is Kind.VERSION and op not in (CompareOperator.eq, CompareOperator.ne):
        raise IdsyncError(INVALID_FILTER, reason="meta.version only takes eq, ne and pr")
    lhs, rhs = _prepare(operand, value, json)
    condition: Condition
    if op == CompareOperator.eq:
        condition = lhs == rhs
    elif op == CompareOperator.ne:
        different: Condition = lhs != rhs
        condition = sa.or_(expr.is_(None), different) if operand.nullable else different
    elif op == CompareOperator.co:
        condition = lhs.contains(rhs, autoescape=True)
    elif op == CompareOperator.sw:
        condition = lhs.startswith(rhs, autoescape=True)
        if operand.kind is Kind.FOLDED and json.sqlite and isinstance(rhs, str):
            condition = sa.and_(_prefix_range(lhs, rhs), condition)
    elif op == CompareOperator.ew:
        condition = lhs.endswith(rhs, autoescape=True)
    else:
        ordering: dict[CompareOperator, Callable[[Any, Any], Condition]] = {
            CompareOperator.gt: lambda a, b: a > b,
            CompareOperator.ge: lambda a, b: a >= b,
            CompareOperator.lt: lambda a, b: a < b,
            CompareOperator.le: lambda a, b: a <= b,
        }
        condition = ordering[op](lhs, rhs)
    return condition


def _prefix_range(column: ColumnElement[Any], prefix: str) -> Condition:
    """The strings that start with ``prefix``, as a range of an indexed key column.

    SQLite runs ``LIKE 'x%' ESCAPE '/'`` as a scan (its LIKE optimisation needs a NOCASE
    index and no ESCAPE); the range lets it read only the index entries that can match
    (``userName sw "…"`` at 100,000 users: one index range instead of every row). It is
    exact under SQLite's BINARY collation (UTF-8 bytes order as code points do): every
    string with the prefix is ``>= prefix`` and ``<`` the prefix with its last code point
    raised by one. PostgreSQL compares text by its collation, where that does not hold,
    so it keeps the LIKE alone.
    """
    stem = prefix.rstrip("\U0010ffff")
    if not stem:
        return column >= prefix
    following = ord(stem[-1]) + 1
    if 0xD800 <= following <= 0xDFFF:  # surrogates are not characters: skip past them
        following = 0xE000
    upper = stem[:-1] + chr(following)
    return sa.and_(column >= prefix, column < upper)


def _prepare(operand: Operand, value: Any, json: _Json) -> tuple[Any, Any]:
    """Both sides of a comparison, in the form they are compared in."""
    expr, kind = operand.expr, operand.kind
    if kind is Kind.FOLD:
        return json.fold(expr), fold(value)
    if kind is Kind.FOLDED:
        return expr, fold(value)
    if kind is Kind.EXACT:
        return expr, exact(value) if isinstance(value, str) else value
    if kind is Kind.BOOLEAN:
        return json.as_boolean(expr), bool(value)
    if kind is Kind.NUMBER:
        return json.as_number(expr), value
    if kind is Kind.JSON_DATETIME:
        return json.as_datetime(expr), json.datetime_param(value)
    if kind is Kind.DATETIME:
        parsed = parse_datetime(value) if isinstance(value, str) else None
        if parsed is None:
            raise IdsyncError(INVALID_FILTER, reason=f"{value!r} is not an xsd:dateTime")
        return expr, parsed
    # VERSION: W/"n" (or a bare n) against the integer column.
    text = str(value).removeprefix("W/").strip('"')
    if not text.isdigit():
        return sa.literal(0), -1  # a version this hub never issues matches nothing
    return expr, int(text)


# --- the compiler -----------------------------------------------------------------------


class _Compiler:
    def __init__(self, ctx: SqlContext) -> None:
        self.ctx = ctx
        self.rts = ctx.rts
        self.table = table_for(ctx.rts.name)
        self.json = _Json(ctx.dialect)
        self.columns = _COLUMNS[ctx.rts.name]

    # Top level ------------------------------------------------------------------------

    def visit(self, node: FilterNode) -> Condition:
        if isinstance(node, LogicalExpr):
            terms = [self.visit(t) for t in node.terms]
            return sa.and_(*terms) if node.op == LogicalOperator.and_ else sa.or_(*terms)
        if isinstance(node, Not):
            # NULL stands for "false" in every compiled term; make it so before negating.
            return sa.not_(sa.func.coalesce(self.visit(node.expr), sa.false()))
        if isinstance(node, Comparison | Present | ValuePath):
            resolved = self._resolve(node.attr_path)
            if resolved is None:
                return sa.false()
            if isinstance(node, Comparison):
                return self._comparison(resolved, node.op, node.value)
            if isinstance(node, Present):
                return self._present(resolved)
            val_filter = node.val_filter
            return self._exists(resolved, lambda elem: elem.visit(val_filter))
        raise IdsyncError(INVALID_FILTER, reason=f"unsupported expression {node}")

    def _resolve(self, path: AttrPath) -> Resolved | None:
        resolved = self.rts.resolve(path)
        if resolved is None and not self.ctx.unknown_is_false:
            raise IdsyncError(INVALID_FILTER, reason=f"{self.rts.name} has no attribute {path}")
        return resolved

    def _column(self, resolved: Resolved) -> Operand | None:
        if resolved.extension is not None or resolved.attribute.multi_valued:
            return None
        key: tuple[str, ...] = (resolved.attribute.name.lower(),)
        if resolved.sub is not None:
            key = (*key, resolved.sub.name.lower())
        if key == ("meta", "location"):
            return Operand(
                sa.literal(f"{self.ctx.base_location}{self.rts.endpoint}/") + self.table.c.id,
                Kind.EXACT,
                nullable=False,
            )
        return self.columns.get(key)

    def _comparison(self, resolved: Resolved, op: CompareOperator, value: Any) -> Condition:
        target = comparison_target(resolved)
        column = self._column(target)
        if column is not None:
            return _compare(column, op, value, self.json)
        if target.attribute.multi_valued:
            sub = target.sub.name if target.sub else None
            if op == CompareOperator.ne:
                # Universal reading, as scim2-models: no value is equal.
                return sa.not_(
                    self._exists(target, lambda e: e.compare(sub, CompareOperator.eq, value))
                )
            return self._exists(target, lambda e: e.compare(sub, op, value))
        keys = [*target.doc_keys, *([target.sub.name] if target.sub else [])]
        operand = Operand(self.json.path_text(self.table.c.doc, keys), _kind_of(target.target))
        return _compare(operand, op, value, self.json)

    def _present(self, resolved: Resolved) -> Condition:
        column = self._column(resolved)
        if column is not None:
            if column.kind in (Kind.FOLD, Kind.FOLDED, Kind.EXACT):
                return sa.and_(column.expr.is_not(None), column.expr != "")
            return column.expr.is_not(None)
        attribute = resolved.attribute
        if attribute.multi_valued:
            sub = resolved.sub.name if resolved.sub else None
            return self._exists(resolved, lambda e: e.present(sub))
        keys = [*resolved.doc_keys, *([resolved.sub.name] if resolved.sub else [])]
        target = resolved.target
        kind = self.json.path_type(self.table.c.doc, keys)
        present = sa.and_(kind.is_not(None), kind != "null")
        if target.type in ("string", "reference", "binary", "dateTime"):
            return sa.and_(present, self.json.path_text(self.table.c.doc, keys) != "")
        if target.is_complex:
            return sa.and_(present, self.json.path_text(self.table.c.doc, keys).not_in(["{}"]))
        return present

    def _exists(self, resolved: Resolved, inner: Callable[[_Elements], Condition]) -> Condition:
        attribute = resolved.attribute
        relation = _RELATIONS.get((self.rts.name, attribute.name.lower()))
        if relation is not None and resolved.extension is None:
            return relation(self, resolved, inner)
        elements = self.json.elements(self.table.c.doc, resolved.doc_keys)
        scope = _JsonElements(self, resolved, elements)
        return sa.exists(sa.select(sa.literal(1)).select_from(elements).where(inner(scope)))


class _Elements:
    """The entries of a multi-valued attribute, inside a value filter or a comparison."""

    def __init__(self, compiler: _Compiler, resolved: Resolved) -> None:
        self.compiler = compiler
        self.resolved = resolved
        self.json = compiler.json

    def operand(self, sub: str | None) -> Operand:
        raise NotImplementedError

    def compare(self, sub: str | None, op: CompareOperator, value: Any) -> Condition:
        return _compare(self.operand(sub), op, value, self.json)

    def present(self, sub: str | None) -> Condition:
        operand = self.operand(sub)
        if operand.kind in (Kind.FOLD, Kind.FOLDED, Kind.EXACT):
            return sa.and_(operand.expr.is_not(None), operand.expr != "")
        return operand.expr.is_not(None)

    def visit(self, node: FilterNode) -> Condition:
        if isinstance(node, LogicalExpr):
            terms = [self.visit(t) for t in node.terms]
            return sa.and_(*terms) if node.op == LogicalOperator.and_ else sa.or_(*terms)
        if isinstance(node, Not):
            return sa.not_(sa.func.coalesce(self.visit(node.expr), sa.false()))
        if isinstance(node, Comparison | Present):
            inner = resolve_in(self.compiler.rts, node.attr_path, self.resolved)
            if inner is None or inner.sub is None:
                raise IdsyncError(
                    INVALID_FILTER,
                    reason=f"{self.resolved.attribute.name} has no sub-attribute {node.attr_path}",
                )
            if isinstance(node, Present):
                return self.present(inner.sub.name)
            return self.compare(inner.sub.name, node.op, node.value)
        raise IdsyncError(INVALID_FILTER, reason="value filters cannot be nested")


class _JsonElements(_Elements):
    def __init__(self, compiler: _Compiler, resolved: Resolved, elements: FromClause) -> None:
        super().__init__(compiler, resolved)
        self.elements = elements

    def operand(self, sub: str | None) -> Operand:
        attribute = self.resolved.attribute
        definition = attribute.sub(sub) if sub else attribute
        if definition is None:
            raise IdsyncError(INVALID_FILTER, reason=f"{attribute.name} has no sub-attribute {sub}")
        name = definition.name if sub else None
        return Operand(self.json.element_value(self.elements, name), _kind_of(definition))


class _RowElements(_Elements):
    """Membership rows standing for the entries of ``members`` or ``groups``."""

    def __init__(
        self, compiler: _Compiler, resolved: Resolved, operands: Mapping[str, Operand]
    ) -> None:
        super().__init__(compiler, resolved)
        self.operands = operands

    def operand(self, sub: str | None) -> Operand:
        key = (sub or "value").lower()
        operand = self.operands.get(key)
        if operand is None:
            raise IdsyncError(
                INVALID_FILTER,
                reason=f"{self.resolved.attribute.name}.{sub} cannot be used in a filter",
            )
        return operand


def _member_relation(
    compiler: _Compiler, resolved: Resolved, inner: Callable[[_Elements], Condition]
) -> Condition:
    m = _members.alias("m")
    member_id = sa.func.coalesce(m.c.user_id, m.c.member_group_id)
    member_type = sa.case((m.c.user_id.is_not(None), "User"), else_="Group")
    display = sa.func.coalesce(
        sa.select(_users.c.display_name).where(_users.c.id == m.c.user_id).scalar_subquery(),
        sa.select(_groups.c.display_name)
        .where(_groups.c.id == m.c.member_group_id)
        .scalar_subquery(),
    )
    base = compiler.ctx.base_location
    ref = sa.case(
        (m.c.user_id.is_not(None), sa.literal(f"{base}/Users/") + m.c.user_id),
        else_=sa.literal(f"{base}/Groups/") + m.c.member_group_id,
    )
    operands = {
        "value": Operand(member_id, Kind.EXACT, nullable=False),
        "type": Operand(member_type, Kind.FOLD, nullable=False),
        "display": Operand(display, Kind.FOLD),
        "$ref": Operand(ref, Kind.EXACT, nullable=False),
    }
    scope = _RowElements(compiler, resolved, operands)
    where = sa.and_(m.c.group_id == compiler.table.c.id, inner(scope))
    return sa.exists(sa.select(sa.literal(1)).select_from(m).where(where))


def _group_relation(
    compiler: _Compiler, resolved: Resolved, inner: Callable[[_Elements], Condition]
) -> Condition:
    m = _members.alias("m")
    g = _groups.alias("g")
    operands = {
        "value": Operand(m.c.group_id, Kind.EXACT, nullable=False),
        "type": Operand(sa.literal("direct"), Kind.FOLD, nullable=False),
        "display": Operand(g.c.display_name, Kind.FOLD, nullable=False),
        "$ref": Operand(
            sa.literal(f"{compiler.ctx.base_location}/Groups/") + m.c.group_id,
            Kind.EXACT,
            nullable=False,
        ),
    }
    scope = _RowElements(compiler, resolved, operands)
    where = sa.and_(m.c.user_id == compiler.table.c.id, g.c.id == m.c.group_id, inner(scope))
    return sa.exists(
        sa.select(sa.literal(1)).select_from(m.join(g, g.c.id == m.c.group_id)).where(where)
    )


_RELATIONS: dict[
    tuple[str, str], Callable[[_Compiler, Resolved, Callable[[_Elements], Condition]], Condition]
] = {("Group", "members"): _member_relation, ("User", "groups"): _group_relation}


def indexed_lookup(node: FilterNode, rts: ResourceTypeSchema) -> tuple[str, str] | None:
    """(column, value) when the filter is ``attr eq "value"`` on a uniquely indexed column.

    That is the lookup Entra ID and Okta make before every create (``userName eq``,
    ``externalId eq``, group ``displayName eq``); it runs as a prepared statement.
    """
    if not isinstance(node, Comparison) or node.op != CompareOperator.eq:
        return None
    if not isinstance(node.value, str):
        return None
    resolved = rts.resolve(node.attr_path)
    if resolved is None or resolved.sub is not None or resolved.extension is not None:
        return None
    return unique_lookup(rts, resolved.attribute.name, node.value)


def unique_lookup(rts: ResourceTypeSchema, attribute: str, value: str) -> tuple[str, str] | None:
    """(column, value) when ``attribute`` (a core attribute's name) has a unique column.

    Those attributes (``id``, ``externalId``, a user's ``userName``, a group's
    ``displayName``) are strings any client may filter on, so ``attribute eq "string"``
    on one of them needs no further check.
    """
    name = attribute.lower()
    if name not in rts.attributes:
        return None
    operand = _COLUMNS[rts.name].get((name,))
    if operand is None or operand.kind not in (Kind.FOLDED, Kind.EXACT):
        return None
    column = operand.expr.name
    if column not in _UNIQUE_COLUMNS:
        return None
    return column, fold(value) if operand.kind is Kind.FOLDED else exact(value)


_UNIQUE_COLUMNS = frozenset({"id", "user_name_key", "external_id", "display_name_key"})


def compile_filter(node: FilterNode, ctx: SqlContext) -> Condition:
    """The WHERE clause (without the org condition) selecting what ``node`` matches."""
    return _Compiler(ctx).visit(node)


def sort_key(resolved: Resolved, ctx: SqlContext) -> ColumnElement[Any]:
    """The ORDER BY expression for ``sortBy`` (RFC 7644 §3.4.2.3).

    A multi-valued attribute sorts by its primary value, or its first one.
    """
    compiler = _Compiler(ctx)
    target = comparison_target(resolved)
    column = compiler._column(target)
    if column is not None:
        return compiler.json.fold(column.expr) if column.kind is Kind.FOLD else column.expr
    json = compiler.json
    if target.attribute.multi_valued:
        if (ctx.rts.name, target.attribute.name.lower()) in _RELATIONS:
            raise IdsyncError(INVALID_FILTER, reason=f"cannot sort by {target.attribute.name}")
        elements = json.elements(compiler.table.c.doc, target.doc_keys)
        value = json.element_value(elements, target.sub.name if target.sub else None)
        primary = json.element_value(elements, "primary") if target.attribute.is_complex else None
        query = sa.select(value).select_from(elements)
        if primary is not None:
            query = query.order_by(sa.case((json.as_boolean(primary) == sa.true(), 0), else_=1))
        expr: ColumnElement[Any] = query.limit(1).scalar_subquery()
    else:
        keys = [*target.doc_keys, *([target.sub.name] if target.sub else [])]
        expr = json.path_text(compiler.table.c.doc, keys)
    kind = _kind_of(target.target)
    if kind is Kind.FOLD:
        return json.fold(expr)
    if kind is Kind.NUMBER:
        return json.as_number(expr)
    if kind is Kind.JSON_DATETIME:
        return json.as_datetime(expr)
    return expr
