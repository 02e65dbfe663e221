"""Attribute definitions (RFC 7643 §2.2, §7), read from schema representations.

Filters, sorting and response projection all need the same facts about an
attribute: its canonical name, type, whether it is multi-valued or caseExact,
and when it is returned. They are read once from the JSON schema
representation (built-in or an organisation's custom extension) into these
frozen objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SIMPLE_TYPES = frozenset(
    {"string", "boolean", "decimal", "integer", "dateTime", "reference", "binary"}
)
TYPES = SIMPLE_TYPES | {"complex"}
MUTABILITIES = frozenset({"readOnly", "readWrite", "immutable", "writeOnly"})
RETURNED = frozenset({"always", "never", "default", "request"})
UNIQUENESS = frozenset({"none", "server", "global"})


class SchemaDefinitionError(ValueError):
    """A schema representation that breaks RFC 7643 §7."""


@dataclass(frozen=True)
class AttributeDef:
    name: str
    type: str
    schema: str
    multi_valued: bool = False
    case_exact: bool = False
    mutability: str = "readWrite"
    returned: str = "default"
    uniqueness: str = "none"
    required: bool = False
    sub_attributes: Mapping[str, AttributeDef] = field(default_factory=dict)
    """Keyed by lowercased name: attribute names are case-insensitive (RFC 7643 §2.1)."""

    def sub(self, name: str) -> AttributeDef | None:
        return self.sub_attributes.get(name.lower())

    @property
    def is_complex(self) -> bool:
        return self.type == "complex"

    @property
    def value_sub(self) -> AttributeDef | None:
        """The ``value`` sub-attribute a comparison on a multi-valued complex attribute uses."""
        return self.sub("value")


def parse_attribute(raw: Mapping[str, Any], schema: str, *, nested: bool = False) -> AttributeDef:
    """Read one attribute of a schema representation, checking what RFC 7643 §7 requires."""
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise SchemaDefinitionError("every attribute needs a 'name'")
    kind = raw.get("type", "string")
    if kind not in TYPES:
        raise SchemaDefinitionError(f"attribute {name!r} has unknown type {kind!r}")
    mutability = raw.get("mutability", "readWrite")
    returned = raw.get("returned", "default")
    uniqueness = raw.get("uniqueness", "none")
    for value, allowed, what in (
        (mutability, MUTABILITIES, "mutability"),
        (returned, RETURNED, "returned"),
        (uniqueness, UNIQUENESS, "uniqueness"),
    ):
        if value not in allowed:
            raise SchemaDefinitionError(f"attribute {name!r} has unknown {what} {value!r}")
    subs: dict[str, AttributeDef] = {}
    raw_subs = raw.get("subAttributes") or []
    if kind == "complex":
        if nested:
            raise SchemaDefinitionError(
                f"attribute {name!r}: a complex attribute cannot hold another (RFC 7643 §2.3.8)"
            )
        for sub in raw_subs:
            parsed = parse_attribute(sub, schema, nested=True)
            subs[parsed.name.lower()] = parsed
    elif raw_subs:
        raise SchemaDefinitionError(f"attribute {name!r} is not complex but has subAttributes")
    return AttributeDef(
        name=name,
        type=kind,
        schema=schema,
        multi_valued=bool(raw.get("multiValued", False)),
        case_exact=bool(raw.get("caseExact", False)),
        mutability=mutability,
        returned=returned,
        uniqueness=uniqueness,
        required=bool(raw.get("required", False)),
        sub_attributes=subs,
    )


def parse_schema_attributes(schema: Mapping[str, Any]) -> dict[str, AttributeDef]:
    """All top-level attributes of a schema representation, keyed by lowercased name."""
    urn = schema.get("id")
    if not isinstance(urn, str) or not urn.lower().startswith("urn:"):
        raise SchemaDefinitionError("a schema needs an 'id' that is a URN")
    attributes = schema.get("attributes")
    if not isinstance(attributes, list):
        raise SchemaDefinitionError(f"schema {urn!r} needs an 'attributes' list")
    parsed: dict[str, AttributeDef] = {}
    for raw in attributes:
        if not isinstance(raw, Mapping):
            raise SchemaDefinitionError(f"schema {urn!r}: each attribute must be an object")
        attribute = parse_attribute(raw, urn)
        if attribute.name.lower() in parsed:
            raise SchemaDefinitionError(f"schema {urn!r} declares {attribute.name!r} twice")
        parsed[attribute.name.lower()] = attribute
    return parsed


def _common(name: str, kind: str, **extra: Any) -> AttributeDef:
    return AttributeDef(name=name, type=kind, schema="", **extra)


META = _common(
    "meta",
    "complex",
    mutability="readOnly",
    sub_attributes={
        "resourcetype": _common("resourceType", "string", mutability="readOnly", case_exact=True),
        "created": _common("created", "dateTime", mutability="readOnly"),
        "lastmodified": _common("lastModified", "dateTime", mutability="readOnly"),
        "location": _common("location", "reference", mutability="readOnly", case_exact=True),
        "version": _common("version", "string", mutability="readOnly", case_exact=True),
    },
)

COMMON_ATTRIBUTES: dict[str, AttributeDef] = {
    # RFC 7643 §3.1: id is caseExact, readOnly and always returned.
    "id": _common(
        "id",
        "string",
        mutability="readOnly",
        returned="always",
        case_exact=True,
        uniqueness="server",
    ),
    "externalid": _common("externalId", "string", case_exact=True),
    "meta": META,
}
