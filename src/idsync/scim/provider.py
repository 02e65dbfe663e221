"""What one organisation's SCIM service is made of: its schemas, resource types and models.

An organisation gets the built-in schemas plus the custom extension schemas it
declared. From those, this builds in one place everything the protocol layer
needs: the attribute catalogue per resource type (filters, sorting,
projection), the documents served at /Schemas and /ResourceTypes, and the
scim2-models resource models that validate writes (a PATCH's result included;
``idsync.scim.patch`` applies its operations). Because
the models are built from the very documents clients read, what the hub
validates is exactly what it publishes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scim2_models import Resource, ResourceType, Schema, ScimProvider

from idsync.scim.attributes import SchemaDefinitionError, parse_schema_attributes
from idsync.scim.resource_types import ResourceTypeSchema, build_resource_type
from idsync.scim.schemas import (
    BUILTIN_EXTENSIONS,
    CORE_SCHEMA,
    ENDPOINTS,
    RESOURCE_TYPE,
    RESOURCE_TYPES,
    core_schemas,
)


@dataclass(frozen=True)
class CustomSchema:
    """An extension schema an organisation declared for one resource type."""

    resource_type: str
    required: bool
    definition: Mapping[str, Any]

    @property
    def urn(self) -> str:
        return str(self.definition["id"])


@dataclass(frozen=True)
class ServiceDescription:
    resource_types: Mapping[str, ResourceTypeSchema]
    schema_documents: Mapping[str, dict[str, Any]]
    """Schema representations by URN, without ``meta`` (added per request)."""
    models: Mapping[str, type[Resource[Any]]]
    """scim2-models resource model per resource type name, extensions included."""

    def resource_type_document(self, name: str) -> dict[str, Any]:
        rts = self.resource_types[name]
        document: dict[str, Any] = {
            "schemas": [RESOURCE_TYPE],
            "id": name,
            "name": name,
            "endpoint": rts.endpoint,
            "description": f"{name} resources",
            "schema": rts.core_schema,
        }
        if rts.extensions:
            document["schemaExtensions"] = [
                {"schema": urn, "required": required} for urn, required in rts.extensions
            ]
        return document


def validate_custom_schema(definition: Mapping[str, Any], resource_type: str) -> None:
    """Refuse a custom schema that could not be served; raises SchemaDefinitionError."""
    if resource_type not in RESOURCE_TYPES:
        raise SchemaDefinitionError(
            f"resource type must be one of {', '.join(RESOURCE_TYPES)}, not {resource_type!r}"
        )
    parse_schema_attributes(definition)
    urn = str(definition["id"])
    if urn.lower() in {u.lower() for u in core_schemas()}:
        raise SchemaDefinitionError(f"{urn!r} is a built-in schema and cannot be redeclared")
    if not definition.get("name"):
        raise SchemaDefinitionError("a schema needs a 'name'")
    describe([CustomSchema(resource_type, False, definition)])


def describe(custom: Sequence[CustomSchema] = ()) -> ServiceDescription:
    """Build the description of a service with the built-in schemas plus ``custom``."""
    documents = core_schemas()
    extensions: dict[str, list[tuple[str, bool]]] = {
        name: list(BUILTIN_EXTENSIONS[name]) for name in RESOURCE_TYPES
    }
    for schema in custom:
        document = dict(schema.definition)
        document.setdefault("schemas", ["urn:ietf:params:scim:schemas:core:2.0:Schema"])
        document.setdefault("description", document.get("name", schema.urn))
        documents[schema.urn] = document
        extensions[schema.resource_type].append((schema.urn, schema.required))

    parsed = {urn: parse_schema_attributes(doc) for urn, doc in documents.items()}
    resource_types = {
        name: build_resource_type(
            name,
            ENDPOINTS[name],
            (CORE_SCHEMA[name], parsed[CORE_SCHEMA[name]]),
            [(urn, required, parsed[urn]) for urn, required in extensions[name]],
        )
        for name in RESOURCE_TYPES
    }
    description = ServiceDescription(resource_types, documents, {})
    models = _build_models(description)
    return ServiceDescription(resource_types, documents, models)


def _build_models(description: ServiceDescription) -> dict[str, type[Resource[Any]]]:
    try:
        provider = ScimProvider.from_discovery(
            [Schema.model_validate(doc) for doc in description.schema_documents.values()],
            [
                ResourceType.model_validate(description.resource_type_document(name))
                for name in RESOURCE_TYPES
            ],
        )
    except Exception as exc:  # scim2-models raises several types for a bad schema
        raise SchemaDefinitionError(str(exc)) from exc
    models: dict[str, type[Resource[Any]]] = {}
    for name in RESOURCE_TYPES:
        model = provider.model_for(name)
        if model is None or not issubclass(model, Resource):  # pragma: no cover
            raise SchemaDefinitionError(f"no resource model for resource type {name}")
        models[name] = model
    return models


_DEFAULT: ServiceDescription | None = None


def default_description() -> ServiceDescription:
    """The description of an organisation without custom schemas (built once)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = describe()
    return _DEFAULT
