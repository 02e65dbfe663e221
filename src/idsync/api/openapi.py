"""The OpenAPI 3.1 document of the HTTP API, built from the same schemas the API serves.

``docs/openapi.json`` is this document, checked in; a test fails when they differ
(regenerate with ``idsync openapi > docs/openapi.json``).
"""

from __future__ import annotations

from typing import Any

from idsync import __version__
from idsync.hub.listing import MAX_START_INDEX
from idsync.scim.attributes import AttributeDef
from idsync.scim.provider import default_description
from idsync.scim.schemas import BULK_REQUEST, CORE_SCHEMA, PATCH_OP, SEARCH_REQUEST

JSON = dict[str, Any]

_TYPES = {
    "string": {"type": "string"},
    "boolean": {"type": "boolean"},
    "decimal": {"type": "number"},
    "integer": {"type": "integer"},
    "dateTime": {"type": "string", "format": "date-time"},
    "reference": {"type": "string", "format": "uri-reference"},
    "binary": {"type": "string", "contentEncoding": "base64"},
}

SCIM_CONTENT = "application/scim+json"


def _attribute_schema(attribute: AttributeDef) -> JSON:
    if attribute.is_complex:
        schema: JSON = {
            "type": "object",
            "properties": {
                sub.name: _attribute_schema(sub) for sub in attribute.sub_attributes.values()
            },
        }
    else:
        schema = dict(_TYPES[attribute.type])
    if attribute.mutability == "readOnly":
        schema["readOnly"] = True
    if attribute.mutability == "writeOnly":
        schema["writeOnly"] = True
    if attribute.multi_valued:
        schema = {"type": "array", "items": schema}
    return schema


def _schemas(urn: str) -> JSON:
    """``schemas``: the hub refuses a message whose list lacks its URN (RFC 7644 §3)."""
    return {
        "type": "array",
        "items": {"type": "string"},
        "minItems": 1,
        "contains": {"const": urn},
        "description": f"Must list {urn} (compared without regard to case).",
    }


def _resource_schema(name: str) -> JSON:
    rts = default_description().resource_types[name]
    properties: JSON = {"schemas": _schemas(CORE_SCHEMA[name])}
    required = ["schemas"]
    for extension, attribute in rts.all_attributes():
        if extension is None:
            properties[attribute.name] = _attribute_schema(attribute)
            if attribute.required:
                required.append(attribute.name)
    for urn, _ in rts.extensions:
        properties[urn] = {
            "type": "object",
            "properties": {
                a.name: _attribute_schema(a) for a in rts.extension_attributes[urn.lower()].values()
            },
        }
    return {
        "type": "object",
        "description": f"A SCIM {name} (RFC 7643). Organisations may declare further extension schemas.",
        "properties": properties,
        "required": required,
        "additionalProperties": True,
    }


def _ref(name: str) -> JSON:
    return {"$ref": f"#/components/schemas/{name}"}


def _content(schema: JSON) -> JSON:
    return {SCIM_CONTENT: {"schema": schema}, "application/json": {"schema": schema}}


def _error(description: str) -> JSON:
    return {"description": description, "content": _content(_ref("Error"))}


_COMMON_ERRORS = {
    "400": _error("Invalid request (scimType says why: invalidFilter, invalidValue, …)."),
    "401": _error("Missing, unknown, expired or revoked bearer token."),
    "404": _error("No such resource, endpoint or organisation."),
    "406": _error("The Accept header asks for a type other than (scim+)json."),
    "429": {
        **_error("Too many requests with refused credentials from this address."),
        "headers": {
            "Retry-After": {
                "description": "Seconds until credentials are checked again.",
                "schema": {"type": "string"},
            }
        },
    },
    "503": _error("The hub cannot reach its database."),
}
_BODY_ERRORS = {
    "413": _error("The body is larger than the hub takes."),
    "415": _error("The body is not application/scim+json or application/json."),
}

_TRACKING = {
    "X-Tracking-Id": {
        "description": "Tracking ID of this request; also in the server log line and in error details.",
        "schema": {"type": "string"},
    }
}


def _operation(
    summary: str,
    responses: JSON,
    *,
    body: JSON | None = None,
    parameters: list[JSON] | None = None,
    tags: tuple[str, ...] = ("SCIM",),
) -> JSON:
    operation: JSON = {"summary": summary, "tags": list(tags), "responses": {}}
    errors = {**_COMMON_ERRORS, **(_BODY_ERRORS if body is not None else {})}
    for status, response in {**responses, **errors}.items():
        headers = {**response.get("headers", {}), **_TRACKING}
        operation["responses"][status] = {**response, "headers": headers}
    if body is not None:
        operation["requestBody"] = {"required": True, "content": _content(body)}
    if parameters:
        operation["parameters"] = parameters
    return operation


def _query(name: str, description: str, schema: JSON | None = None) -> JSON:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


# RFC 7644 §3.4.2.4: a startIndex below 1 is read as 1 and a negative count as 0; the
# document asks for what a client should send. Beyond 2^63-1 no database can page.
_START_INDEX = {"type": "integer", "minimum": 1, "maximum": MAX_START_INDEX}
_COUNT = {"type": "integer", "minimum": 0}


_PROJECTION = [
    _query("attributes", "Comma-separated attributes to return (RFC 7644 §3.4.2.5)."),
    _query("excludedAttributes", "Comma-separated attributes to leave out, e.g. members."),
]
_LISTING = [
    _query("filter", 'RFC 7644 §3.4.2.2 filter, e.g. userName eq "bjensen@example.com".'),
    _query("sortBy", "Attribute to sort by."),
    _query("sortOrder", "ascending or descending."),
    _query("startIndex", "1-based index of the first result.", _START_INDEX),
    _query("count", "Page size (at most filter.maxResults).", _COUNT),
    *_PROJECTION,
]
_IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "schema": {"type": "string"},
    "description": "Apply only if the resource is still at this version (ETag), else 412.",
}


def _resource_paths(name: str, endpoint: str) -> JSON:
    item = _ref(name)
    listed = _ref("ListResponse")
    ok = {"description": "The resource.", "content": _content(item)}
    return {
        endpoint: {
            "get": _operation(
                f"List or filter {name}s",
                {"200": {"description": "A page of results.", "content": _content(listed)}},
                parameters=_LISTING,
            ),
            "post": _operation(
                f"Create a {name}",
                {
                    "201": {"description": "Created.", "content": _content(item)},
                    "409": _error("uniqueness: the userName/displayName/externalId is taken."),
                },
                body=item,
                parameters=_PROJECTION,
            ),
        },
        f"{endpoint}/.search": {
            "post": _operation(
                f"Search {name}s",
                {"200": {"description": "A page of results.", "content": _content(listed)}},
                body=_ref("SearchRequest"),
            ),
        },
        f"{endpoint}/{{id}}": {
            "parameters": [
                {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "get": _operation(
                f"Read a {name}",
                {"200": ok, "304": {"description": "Not modified."}},
                parameters=_PROJECTION,
            ),
            "put": _operation(
                f"Replace a {name}",
                {"200": ok, "412": _error("Version mismatch.")},
                body=item,
                parameters=[*_PROJECTION, _IF_MATCH],
            ),
            "patch": _operation(
                f"Modify a {name}",
                {
                    "200": ok,
                    "204": {"description": "Modified (Prefer: return=minimal)."},
                    "412": _error("Version mismatch."),
                },
                body=_ref("PatchOp"),
                parameters=[*_PROJECTION, _IF_MATCH],
            ),
            "delete": _operation(
                f"Delete a {name}",
                {"204": {"description": "Deleted."}, "412": _error("Version mismatch.")},
                parameters=[_IF_MATCH],
            ),
        },
    }


# --- the management API (api/management.py) -----------------------------------------------

_ANY_OBJECT: JSON = {"type": "object"}
_ANY_LIST: JSON = {"type": "array", "items": {"type": "object"}}


def _management_error(description: str) -> JSON:
    return {
        "description": description,
        "content": {"application/json": {"schema": _ref("ManagementError")}},
        "headers": _TRACKING,
    }


_MANAGEMENT_ERRORS = {
    "400": _management_error("The body or a parameter is not valid."),
    "401": _management_error("No valid API key or console session (IDS-401-131)."),
    "403": _management_error(
        "The operator's role does not allow it (IDS-403-130), or a session's change "
        "without its CSRF token (IDS-403-131)."
    ),
    "404": _management_error(
        "No such organisation, integration or object for this operator (another "
        "organisation's are not found either)."
    ),
    "409": _management_error("The job cannot do it now: a cycle runs, it is paused, …"),
    "502": _management_error("The integration's directory or application refused or failed."),
    "503": _management_error("The database, or the directory or application, is unreachable."),
}

_MANAGEMENT = (
    # path under /api/v1, method, summary, success status, body?, query parameters
    ("/me", "get", "The operator making the request, and its session's CSRF token", "200", False, ()),
    ("/orgs", "get", "The organisations the operator sees", "200", False, ()),
    ("/orgs/{org}", "get", "One organisation", "200", False, ()),
    ("/orgs/{org}/directory-sync", "put", "Allow or stop directory sync: {\"allowed\": bool} (full)", "200", True, ()),
    ("/orgs/{org}/integrations", "get", "The organisation's integrations and their jobs", "200", False, ()),
    ("/orgs/{org}/integrations", "post", "Add an integration: {kind, name, settings} (full)", "201", True, ()),
    ("/orgs/{org}/findings", "get", "Every open finding of the organisation", "200", False, ()),
    ("/orgs/{org}/users", "get", "Users, 50 a page in id order, by name prefix; next/previous pages with after/before", "200", False, ("search", "after", "before")),
    ("/orgs/{org}/users/{id}", "get", "One user, its provisioning integration", "200", False, ()),
    ("/orgs/{org}/groups", "get", "Groups, 50 a page in id order, by name prefix; next/previous pages with after/before", "200", False, ("search", "after", "before")),
    ("/orgs/{org}/groups/{id}", "get", "One group and its first 100 members", "200", False, ()),
    ("/orgs/{org}/audit-log", "get", "The audit log, newest first", "200", False,
     ("since", "until", "category", "activity", "limit")),
    ("/orgs/{org}/tokens", "get", "SCIM tokens (never their secrets)", "200", False, ()),
    ("/orgs/{org}/tokens", "post", "Issue a SCIM token, shown once (full)", "201", True, ()),
    ("/orgs/{org}/tokens/{token}", "delete", "Revoke a SCIM token (full)", "200", False, ()),
    ("/integrations/{integration}", "get", "One integration and its job", "200", False, ()),
    ("/integrations/{integration}", "patch", "Change job options: {options} (full)", "200", True, ()),
    ("/integrations/{integration}", "delete", "Remove an integration (full)", "204", False, ()),
    ("/integrations/{integration}/run", "post", "Run a cycle in the server (full, users)", "202", False, ()),
    ("/integrations/{integration}/preview", "post", "What a cycle would change, per attribute (full, users)", "200", False, ()),
    ("/integrations/{integration}/pause", "post", "Pause the job (full, users)", "200", False, ()),
    ("/integrations/{integration}/resume", "post", "Resume the job (full, users)", "200", False, ()),
    ("/integrations/{integration}/restart", "post", "Restart: {reset: [...]} (full, users)", "200", True, ()),
    ("/integrations/{integration}/approve", "post", "Apply staged deletions (full, users)", "200", False, ()),
    ("/integrations/{integration}/validate", "post", "The validation checklist (full, users)", "200", False, ()),
    ("/integrations/{integration}/provision", "post", "Provision one object now: {source_id, object_type} (full, users)", "200", True, ()),
    ("/integrations/{integration}/progress", "get", "The running cycle's progress", "200", False, ()),
    ("/integrations/{integration}/cycles", "get", "Recent cycles", "200", False, ("limit",)),
    ("/integrations/{integration}/provisioning-log", "get", "The provisioning log", "200", False,
     ("cycle", "action", "result", "limit")),
    ("/integrations/{integration}/finding", "get", "The open finding, the job, a consent link", "200", False, ()),
    ("/debug-info/{tracking_id}", "get", "The redacted bundle of a tracking ID", "200", False, ()),
)  # fmt: skip


def _management_paths() -> JSON:
    paths: JSON = {}
    for path, method, summary, status, body, query in _MANAGEMENT:
        names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
        success: JSON = {"description": summary}
        if status != "204":
            shape = _ANY_LIST if method == "get" and path.endswith(("s", "log")) else _ANY_OBJECT
            success["content"] = {"application/json": {"schema": {"anyOf": [shape, _ANY_OBJECT]}}}
        operation: JSON = {
            "summary": summary,
            "tags": ["Management"],
            "security": [{"apiKey": []}],
            "responses": {status: {**success, "headers": _TRACKING}, **_MANAGEMENT_ERRORS},
        }
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in names
        ] + [{"name": name, "in": "query", "schema": {"type": "string"}} for name in query]
        if parameters:
            operation["parameters"] = parameters
        if body:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _ANY_OBJECT}},
            }
        paths.setdefault("/api/v1" + path, {})[method] = operation
    return paths


def openapi_document() -> JSON:
    scim_paths: JSON = {
        "/ServiceProviderConfig": {
            "get": _operation(
                "Service provider configuration",
                {
                    "200": {
                        "description": "What this hub supports.",
                        "content": _content({"type": "object"}),
                    }
                },
            )
        },
        "/ResourceTypes": {
            "get": _operation(
                "Resource types",
                {
                    "200": {
                        "description": "User and Group.",
                        "content": _content(_ref("ListResponse")),
                    }
                },
            )
        },
        "/ResourceTypes/{name}": {
            "parameters": [
                {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "get": _operation(
                "One resource type",
                {
                    "200": {
                        "description": "The resource type.",
                        "content": _content({"type": "object"}),
                    }
                },
            ),
        },
        "/Schemas": {
            "get": _operation(
                "Schemas, custom extensions included",
                {
                    "200": {
                        "description": "Schema representations (RFC 7643 §7).",
                        "content": _content(_ref("ListResponse")),
                    }
                },
            )
        },
        "/Schemas/{urn}": {
            "parameters": [
                {"name": "urn", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "get": _operation(
                "One schema",
                {"200": {"description": "The schema.", "content": _content({"type": "object"})}},
            ),
        },
        **_resource_paths("User", "/Users"),
        **_resource_paths("Group", "/Groups"),
        "/.search": {
            "post": _operation(
                "Search users and groups together",
                {
                    "200": {
                        "description": "Users first, then groups.",
                        "content": _content(_ref("ListResponse")),
                    }
                },
                body=_ref("SearchRequest"),
            )
        },
        "/Bulk": {
            "post": _operation(
                "Many operations in one request (RFC 7644 §3.7)",
                {
                    "200": {
                        "description": "One result per operation.",
                        "content": _content(_ref("BulkResponse")),
                    },
                    "413": _error("Too many operations, or too large."),
                },
                body=_ref("BulkRequest"),
            )
        },
        # RFC 7644 §3.11 defines /Me for every SCIM method; without it each answers 501.
        "/Me": {
            method: _operation(
                "Not available: tokens belong to organisations, not users",
                {"501": _error("Not implemented.")},
            )
            for method in ("get", "post", "put", "patch", "delete")
        },
    }
    paths: JSON = {
        "/healthz": {
            "get": {
                "summary": "Liveness and database reachability",
                "tags": ["Operations"],
                "security": [],
                "responses": {
                    "200": {
                        "description": "Ready.",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["status"],
                                    "properties": {"status": {"const": "ok"}},
                                }
                            }
                        },
                    },
                    "503": _error("The database is unreachable."),
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "tags": ["Operations"],
                "security": [],
                "responses": {
                    "200": {
                        "description": "OpenAPI 3.1.",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
    }
    org = {
        "name": "org_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "description": "The organisation (tenant) id; the bearer token must belong to it.",
    }
    for suffix, item in scim_paths.items():
        paths[f"/scim/{{org_id}}/v2{suffix}"] = {
            **item,
            "parameters": [org, *item.get("parameters", [])],
        }
    paths.update(_management_paths())
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "idsync",
            "version": __version__,
            "description": "Identity sync hub: a multi-tenant SCIM 2.0 service provider (RFC 7643/7644). "
            "Errors carry a stable code (IDS-nnn-nnn) and a tracking ID.",
        },
        "paths": paths,
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An operator's API key (idsync admin key create EMAIL --name NAME), or a "
                    "console session cookie with its CSRF token in X-CSRF-Token.",
                },
            },
            "schemas": {
                "ManagementError": {
                    "type": "object",
                    "required": ["error", "tracking_id"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "status", "title", "message", "action"],
                            "properties": {
                                "code": {"type": "string", "pattern": "^IDS-[0-9]{3}-[0-9]{3}$"},
                                "status": {"type": "integer"},
                                "title": {"type": "string"},
                                "message": {"type": "string"},
                                "action": {"type": "string"},
                            },
                        },
                        "tracking_id": {"type": ["string", "null"]},
                    },
                },
                "User": _resource_schema("User"),
                "Group": _resource_schema("Group"),
                "Error": {
                    "type": "object",
                    "required": ["schemas", "status"],
                    "properties": {
                        "schemas": {"type": "array", "items": {"type": "string"}},
                        "status": {"type": "string"},
                        "scimType": {"type": "string"},
                        "detail": {
                            "type": "string",
                            "description": "What happened and what to do, then (code, tracking ID).",
                        },
                    },
                },
                "ListResponse": {
                    "type": "object",
                    "properties": {
                        "schemas": {"type": "array", "items": {"type": "string"}},
                        "totalResults": {"type": "integer"},
                        "startIndex": {"type": "integer"},
                        "itemsPerPage": {"type": "integer"},
                        "Resources": {"type": "array", "items": {"type": "object"}},
                    },
                },
                "PatchOp": {
                    "type": "object",
                    "required": ["schemas", "Operations"],
                    "properties": {
                        "schemas": _schemas(PATCH_OP),
                        "Operations": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "op": {"type": "string", "enum": ["add", "remove", "replace"]},
                                    "path": {"type": "string"},
                                    "value": {},
                                },
                            },
                        },
                    },
                },
                "SearchRequest": {
                    "type": "object",
                    "required": ["schemas"],
                    "properties": {
                        "schemas": _schemas(SEARCH_REQUEST),
                        "filter": {"type": "string"},
                        "sortBy": {"type": "string"},
                        "sortOrder": {"type": "string", "enum": ["ascending", "descending"]},
                        "startIndex": _START_INDEX,
                        "count": _COUNT,
                        "attributes": {"type": "array", "items": {"type": "string"}},
                        "excludedAttributes": {"type": "array", "items": {"type": "string"}},
                    },
                },
                "BulkRequest": {
                    "type": "object",
                    "required": ["schemas", "Operations"],
                    "properties": {
                        "schemas": _schemas(BULK_REQUEST),
                        "failOnErrors": {"type": "integer", "minimum": 0},
                        "Operations": {"type": "array", "items": {"type": "object"}},
                    },
                },
                "BulkResponse": {
                    "type": "object",
                    "properties": {
                        "schemas": {"type": "array", "items": {"type": "string"}},
                        "Operations": {"type": "array", "items": {"type": "object"}},
                    },
                },
            },
        },
    }
