"""What a SCIM service provider says it can do (RFC 7644 §4), read once per connector.

``/ServiceProviderConfig``, ``/ResourceTypes`` and ``/Schemas`` decide: PATCH or
PUT, Bulk and its limits (§3.7.4), filtering and ``maxResults``, ETags, where
Users and Groups live, which extensions exist, and which attributes each schema
has (assignments for others are dropped, not sent). An application that
answers only part of it gets RFC defaults for the rest, and ``fallbacks`` says
which, so a check can report it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from idsync.connectors.scim.client import Reply, ScimClient
from idsync.contract.records import ObjectType
from idsync.logs import get_logger
from idsync.scim.urns import ENTERPRISE_USER, GROUP, USER

log = get_logger("idsync.connectors.scim")

_CORE: dict[ObjectType, str] = {"user": USER, "group": GROUP}
_NAMES: dict[ObjectType, str] = {"user": "User", "group": "Group"}
_DEFAULT_ENDPOINTS: dict[ObjectType, str] = {"user": "/Users", "group": "/Groups"}
_PATH = re.compile(r"^(?:(?P<urn>urn:.+):)?(?P<attr>[A-Za-z$][\w$-]*)(?:\[[^\]]*\])?(?:\.(?P<sub>[A-Za-z$][\w$-]*))?$")  # fmt: skip
_MAX_RESULTS_DEFAULT = 100
_COMMON = frozenset({"id", "externalid", "meta"})
"""RFC 7643 §3.1: attributes every resource has, which no schema lists among its own
(RFC 7643 §7; scim2-server's /Schemas, like the RFC's, has no ``externalId``)."""


@dataclass(frozen=True, slots=True)
class Capabilities:
    patch: bool = True
    bulk: bool = False
    bulk_max_operations: int = 0
    bulk_max_payload: int = 0
    filter: bool = True
    filter_max_results: int = _MAX_RESULTS_DEFAULT
    etag: bool = False
    sort: bool = False
    endpoints: Mapping[ObjectType, str] = field(default_factory=lambda: dict(_DEFAULT_ENDPOINTS))
    extensions: Mapping[ObjectType, tuple[str, ...]] = field(
        default_factory=lambda: {"user": (ENTERPRISE_USER,), "group": ()}
    )
    attributes: Mapping[str, frozenset[str]] | None = None
    """Schema URN → its attribute names, lowercased (sub-attributes as ``name.givenname``);
    None when /Schemas could not be read: nothing is dropped then."""
    fallbacks: tuple[str, ...] = ()
    """What the application did not say and the RFC defaults stand in for."""

    def endpoint(self, object_type: ObjectType) -> str:
        return self.endpoints.get(object_type, _DEFAULT_ENDPOINTS[object_type])

    def supports(self, object_type: ObjectType, path: str) -> bool:
        """Whether the application's schemas have the attribute a mapping path assigns."""
        if self.attributes is None:
            return True
        match = _PATH.match(path)
        if match is None:
            return False
        urn, attr, sub = match.group("urn", "attr", "sub")
        if urn is None and attr.lower() in _COMMON:
            return True
        schema = urn or _CORE[object_type]
        if urn and urn not in self.extensions.get(object_type, ()):
            return False
        names = self.attributes.get(schema)
        if names is None:  # a schema the application did not describe: trust the mapping
            return True
        if attr.lower() not in names:
            return False
        return sub is None or f"{attr}.{sub}".lower() in names or attr.lower() in _opaque(names)

    def describe(self) -> dict[str, Any]:
        return {
            "patch": self.patch,
            "bulk": self.bulk,
            "bulk_max_operations": self.bulk_max_operations,
            "bulk_max_payload": self.bulk_max_payload,
            "filter": self.filter,
            "filter_max_results": self.filter_max_results,
            "etag": self.etag,
            "endpoints": dict(self.endpoints),
            "extensions": {k: list(v) for k, v in self.extensions.items()},
            "fallbacks": list(self.fallbacks),
        }


def _opaque(names: frozenset[str]) -> frozenset[str]:
    """Complex attributes described without sub-attributes: any sub-attribute is allowed."""
    parents = {name.split(".", 1)[0] for name in names if "." in name}
    return frozenset(name for name in names if "." not in name and name not in parents)


def discover(client: ScimClient) -> Capabilities:
    """Read the three discovery endpoints (401/403 raise; anything else falls back)."""
    fallbacks: list[str] = []
    config = _read(client, "/ServiceProviderConfig", fallbacks)
    resource_types = _resources(_read(client, "/ResourceTypes", fallbacks))
    schemas = _resources(_read(client, "/Schemas", fallbacks))
    if len(fallbacks) == 3 and not _answers_scim(client):
        raise client.failures.not_scim(
            "no discovery endpoint and no /Users answered: " + "; ".join(fallbacks)
        )
    capabilities = Capabilities(
        **_config(config, fallbacks),
        **_types(resource_types, fallbacks),
        attributes=_attributes(schemas) if schemas else None,
        fallbacks=tuple(fallbacks),
    )
    if fallbacks:
        log.info(
            "scim.discovery_partial",
            integration=client.settings.integration,
            fallbacks=list(fallbacks),
        )
    return capabilities


def _read(client: ScimClient, path: str, fallbacks: list[str]) -> JsonLike:
    reply = client.get(path)
    if reply.ok and reply.body:
        return reply.body
    fallbacks.append(f"{path} answered HTTP {reply.status}: using RFC 7644 defaults")
    return {}


JsonLike = dict[str, Any]


def _answers_scim(client: ScimClient) -> bool:
    reply: Reply = client.get(_DEFAULT_ENDPOINTS["user"], {"count": "1"})
    return reply.ok and ("Resources" in reply.body or "totalResults" in reply.body)


def _resources(body: JsonLike) -> list[JsonLike]:
    # A ListResponse (RFC 7644 §4), or a bare list some applications return.
    items = body.get("Resources") if isinstance(body, dict) else None
    return [item for item in items or [] if isinstance(item, dict)]


def _section(config: JsonLike, name: str) -> JsonLike:
    value = config.get(name)
    return value if isinstance(value, dict) else {}


def _config(config: JsonLike, fallbacks: list[str]) -> dict[str, Any]:
    if not config:
        return {}
    patch, bulk, filter_ = (_section(config, n) for n in ("patch", "bulk", "filter"))
    found: dict[str, Any] = {
        "patch": bool(patch.get("supported", True)),
        "bulk": bool(bulk.get("supported", False)),
        "filter": bool(filter_.get("supported", True)),
        "etag": bool(_section(config, "etag").get("supported", False)),
        "sort": bool(_section(config, "sort").get("supported", False)),
    }
    if found["bulk"]:
        found["bulk_max_operations"] = _positive(bulk.get("maxOperations"))
        found["bulk_max_payload"] = _positive(bulk.get("maxPayloadSize"))
        if not found["bulk_max_operations"] or not found["bulk_max_payload"]:
            # RFC 7644 §5 makes both required with Bulk: without them no size is safe.
            fallbacks.append("bulk limits missing: Bulk not used")
            found["bulk"] = False
    found["filter_max_results"] = _positive(filter_.get("maxResults")) or _MAX_RESULTS_DEFAULT
    return found


def _positive(value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return 0
    return max(number, 0)


def _types(resource_types: list[JsonLike], fallbacks: list[str]) -> dict[str, Any]:
    if not resource_types:
        return {}
    endpoints: dict[ObjectType, str] = {}
    extensions: dict[ObjectType, tuple[str, ...]] = {}
    for object_type, core in _CORE.items():
        entry = next(
            (t for t in resource_types if t.get("schema") == core or t.get("name") == _NAMES[object_type]),
            None,
        )  # fmt: skip
        if entry is None:
            fallbacks.append(f"no {_NAMES[object_type]} resource type: using the RFC default")
            continue
        endpoint = str(entry.get("endpoint") or _DEFAULT_ENDPOINTS[object_type])
        endpoints[object_type] = endpoint if endpoint.startswith("/") else f"/{endpoint}"
        extensions[object_type] = tuple(
            str(ext["schema"])
            for ext in entry.get("schemaExtensions") or []
            if isinstance(ext, dict) and ext.get("schema")
        )
    return {
        "endpoints": {**_DEFAULT_ENDPOINTS, **endpoints},
        "extensions": {"user": (ENTERPRISE_USER,), "group": (), **extensions},
    }


def _attributes(schemas: list[JsonLike]) -> dict[str, frozenset[str]]:
    found: dict[str, frozenset[str]] = {}
    for schema in schemas:
        names: set[str] = set()
        for attribute in schema.get("attributes") or []:
            if not isinstance(attribute, dict) or not attribute.get("name"):
                continue
            name = str(attribute["name"]).lower()
            names.add(name)
            for sub in attribute.get("subAttributes") or []:
                if isinstance(sub, dict) and sub.get("name"):
                    names.add(f"{name}.{str(sub['name']).lower()}")
        if schema.get("id"):
            found[str(schema["id"])] = frozenset(names)
    return found
