"""Discovery endpoints (RFC 7644 §4): ServiceProviderConfig, ResourceTypes, Schemas."""

from __future__ import annotations

from typing import Any

from idsync.config import Settings
from idsync.hub.tenant import Tenant
from idsync.scim.schemas import RESOURCE_TYPES, SERVICE_PROVIDER_CONFIG

DOCUMENTATION_URI = "https://github.com/idsync/idsync#readme"


def service_provider_config(settings: Settings, tenant: Tenant) -> dict[str, Any]:
    return {
        "schemas": [SERVICE_PROVIDER_CONFIG],
        "documentationUri": DOCUMENTATION_URI,
        "patch": {"supported": True},
        "bulk": {
            "supported": True,
            "maxOperations": settings.bulk_max_operations,
            "maxPayloadSize": settings.bulk_max_payload_bytes,
        },
        "filter": {"supported": True, "maxResults": settings.max_page_size},
        "changePassword": {"supported": True},
        "sort": {"supported": True},
        "etag": {"supported": True},
        "authenticationSchemes": [
            {
                "type": "oauthbearertoken",
                "name": "OAuth Bearer Token",
                "description": "A bearer token issued by idsync token create --org <org id>.",
                "specUri": "https://www.rfc-editor.org/info/rfc6750",
                "documentationUri": DOCUMENTATION_URI,
                "primary": True,
            }
        ],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": f"{tenant.base_url}/ServiceProviderConfig",
        },
    }


def resource_types(tenant: Tenant) -> list[dict[str, Any]]:
    return [resource_type(tenant, name) for name in RESOURCE_TYPES]


def resource_type(tenant: Tenant, name: str) -> dict[str, Any]:
    document = tenant.description.resource_type_document(name)
    document["meta"] = {
        "resourceType": "ResourceType",
        "location": f"{tenant.base_url}/ResourceTypes/{name}",
    }
    return document


def schemas(tenant: Tenant) -> list[dict[str, Any]]:
    return [schema(tenant, urn) for urn in tenant.description.schema_documents]


def schema(tenant: Tenant, urn: str) -> dict[str, Any]:
    document = dict(tenant.description.schema_documents[urn])
    document["meta"] = {"resourceType": "Schema", "location": f"{tenant.base_url}/Schemas/{urn}"}
    return document


def find_schema(tenant: Tenant, urn: str) -> str | None:
    lowered = urn.lower()
    return next((u for u in tenant.description.schema_documents if u.lower() == lowered), None)


def find_resource_type(name: str) -> str | None:
    return next((n for n in RESOURCE_TYPES if n.lower() == name.lower()), None)
