"""SCIM 2.0 endpoints (RFC 7644 §3): requests routed to the hub's operations.

The HTTP layer turns a request into a ``Call`` and hands it here; ``/Bulk``
hands each of its operations here too, so a bulk operation behaves exactly as
the same request sent alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from idsync.api import discovery
from idsync.api.bulk import run_bulk
from idsync.api.calls import Call, Reply, error_reply
from idsync.errors.catalogue import (
    ENDPOINT_NOT_FOUND,
    METHOD_NOT_ALLOWED,
    NOT_IMPLEMENTED,
    RESOURCE_NOT_FOUND,
    SCHEMA_NOT_FOUND,
    IdsyncError,
)
from idsync.hub import listing
from idsync.hub.groups import GroupService
from idsync.hub.resources import Outcome, ResourceService
from idsync.hub.tenant import Hub, Tenant
from idsync.hub.users import UserService
from idsync.scim.compat import is_entra_request
from idsync.scim.filter import check_known_somewhere, parse_filter
from idsync.scim.projection import split_list


class ScimApi:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.settings = hub.settings
        self.services: dict[str, ResourceService] = {
            "users": UserService(hub),
            "groups": GroupService(hub),
        }

    def handle(self, tenant: Tenant, call: Call) -> Reply:
        try:
            reply = self._route(tenant, call)
        except IdsyncError as exc:
            reply = error_reply(exc, tenant.tracking_id)
        reply.warnings.extend(tenant.warnings)
        if tenant.work.operations:
            reply.work = tenant.work.as_dict()
        return reply

    # --- routing ------------------------------------------------------------------------------

    def _route(self, tenant: Tenant, call: Call) -> Reply:
        segments = call.segments
        head = segments[0].lower() if segments else ""
        rest = segments[1:]
        if head in self.services:
            return self._resources(tenant, call, self.services[head], rest)
        routes: dict[str, Callable[[Tenant, Call, list[str]], Reply]] = {
            "serviceproviderconfig": self._service_provider_config,
            "resourcetypes": self._resource_types,
            "schemas": self._schemas,
            ".search": self._root_search,
            "bulk": self._bulk,
            "me": self._me,
        }
        handler = routes.get(head)
        if handler is None:
            raise IdsyncError(ENDPOINT_NOT_FOUND, path=call.path or "/")
        return handler(tenant, call, rest)

    def _allow(self, call: Call, *methods: str) -> None:
        if call.method not in methods:
            # HEAD is served wherever GET is (the HTTP layer turns it into a GET).
            allowed = ("HEAD", *methods) if "GET" in methods else methods
            raise IdsyncError(
                METHOD_NOT_ALLOWED,
                method=call.method,
                path=call.path,
                allowed=", ".join(sorted(allowed)),
            )

    # --- discovery ------------------------------------------------------------------------------

    def _service_provider_config(self, tenant: Tenant, call: Call, rest: list[str]) -> Reply:
        self._allow(call, "GET")
        if rest:
            raise IdsyncError(ENDPOINT_NOT_FOUND, path=call.path)
        return Reply(200, discovery.service_provider_config(self.settings, tenant))

    def _resource_types(self, tenant: Tenant, call: Call, rest: list[str]) -> Reply:
        self._allow(call, "GET")
        if not rest:
            items = discovery.resource_types(tenant)
            return Reply(200, listing.list_response(len(items), 1, items))
        name = discovery.find_resource_type(rest[0]) if len(rest) == 1 else None
        if name is None:
            raise IdsyncError(RESOURCE_NOT_FOUND, resource_type="ResourceType", id="/".join(rest))
        return Reply(200, discovery.resource_type(tenant, name))

    def _schemas(self, tenant: Tenant, call: Call, rest: list[str]) -> Reply:
        self._allow(call, "GET")
        if not rest:
            items = discovery.schemas(tenant)
            return Reply(200, listing.list_response(len(items), 1, items))
        urn = discovery.find_schema(tenant, "/".join(rest))
        if urn is None:
            raise IdsyncError(SCHEMA_NOT_FOUND, schema="/".join(rest))
        return Reply(200, discovery.schema(tenant, urn))

    def _me(self, tenant: Tenant, call: Call, rest: list[str]) -> Reply:
        # RFC 7644 §3.11 defines /Me for the SCIM methods; any other method is a 405.
        self._allow(call, "GET", "POST", "PUT", "PATCH", "DELETE")
        raise IdsyncError(
            NOT_IMPLEMENTED,
            feature="/Me",
            alternative="idsync tokens belong to an organisation, not to a user, so there is no "
            "authenticated subject for /Me (RFC 7644 §3.11); use /Users/{id}.",
        )

    # --- resources ----------------------------------------------------------------------------

    def _projection(self, service: ResourceService, tenant: Tenant, call: Call) -> Any:
        return service.projection(
            tenant,
            split_list(call.param("attributes")),
            split_list(call.param("excludedAttributes")),
        )

    def _resources(
        self, tenant: Tenant, call: Call, service: ResourceService, rest: list[str]
    ) -> Reply:
        if not rest:
            self._allow(call, "GET", "POST")
            if call.method == "GET":
                query = listing.from_params(call.params, self.settings)
                return self._list(tenant, service, query)
            outcome = service.create(tenant, call.json(), self._projection(service, tenant, call))
            return self._written(outcome)
        if len(rest) != 1:
            raise IdsyncError(ENDPOINT_NOT_FOUND, path=call.path)
        if rest[0] == ".search":
            self._allow(call, "POST")
            return self._list(
                tenant, service, listing.from_search_request(call.json(), self.settings)
            )
        resource_id = rest[0]
        self._allow(call, "GET", "PUT", "PATCH", "DELETE")
        if_match = call.headers.get("if-match")
        if call.method == "GET":
            resource, version = service.get(
                tenant, resource_id, self._projection(service, tenant, call)
            )
            etag = f'W/"{version}"'
            if _matches(call.headers.get("if-none-match"), etag):
                return Reply(304, None, {"ETag": etag})
            return Reply(200, resource, {"ETag": etag})
        if call.method == "DELETE":
            service.delete(tenant, resource_id, if_match)
            return Reply(204)
        minimal = _minimal(
            call, default=tenant.minimal_group_patch and service.resource_type == "Group"
        )
        projection = (
            # Nothing is returned: do not load the members or groups only to drop them.
            service.projection(tenant, excluded=[service.relation_attribute])
            if minimal
            else self._projection(service, tenant, call)
        )
        if call.method == "PUT":
            outcome = service.replace(tenant, resource_id, call.json(), if_match, projection)
        else:
            body = call.json()
            entra = is_entra_request(call.params, body)
            outcome = service.patch(tenant, resource_id, body, if_match, projection, entra=entra)
        return self._written(outcome, minimal=minimal)

    def _written(self, outcome: Outcome, *, minimal: bool = False) -> Reply:
        headers = {"ETag": outcome.etag}
        if outcome.created:
            headers["Location"] = outcome.location
            return Reply(201, outcome.resource, headers)
        if minimal:
            # RFC 7644 §3.5.2 allows 204 after a successful update (RFC 7240 Prefer).
            headers["Preference-Applied"] = "return=minimal"
            return Reply(204, None, headers)
        return Reply(200, outcome.resource, headers)

    def _list(self, tenant: Tenant, service: ResourceService, query: listing.ListQuery) -> Reply:
        total, resources = service.search(tenant, query)
        return Reply(200, listing.list_response(total, query.start_index, resources))

    def _root_search(self, tenant: Tenant, call: Call, rest: list[str]) -> Reply:
        """POST /.search over every resource type (RFC 7644 §3.4.3): users first, then groups."""
        self._allow(call, "POST")
        if rest:
            raise IdsyncError(ENDPOINT_NOT_FOUND, path=call.path)
        query = listing.from_search_request(call.json(), self.settings)
        if query.filter:
            types = [service.rts(tenant) for service in self.services.values()]
            check_known_somewhere(parse_filter(query.filter), types)
        offset, remaining = query.start_index - 1, query.count
        total, resources = 0, []
        for service in self.services.values():
            count, _ = service.search(tenant, query, lenient=True, offset=0, limit=0)
            if remaining > 0 and offset < count:
                _, page = service.search(
                    tenant, query, lenient=True, offset=offset, limit=remaining
                )
                resources.extend(page)
                remaining -= len(page)
            offset = max(0, offset - count)
            total += count
        return Reply(200, listing.list_response(total, query.start_index, resources))

    def _bulk(self, tenant: Tenant, call: Call, rest: list[str]) -> Reply:
        self._allow(call, "POST")
        if rest:
            raise IdsyncError(ENDPOINT_NOT_FOUND, path=call.path)
        return Reply(200, run_bulk(self.handle, self.settings, tenant, call.json()))


def _minimal(call: Call, *, default: bool) -> bool:
    """Whether to answer a PUT/PATCH with 204: the client's Prefer header, else the org's choice."""
    prefer = call.headers.get("prefer", "").replace(" ", "").lower()
    if "return=minimal" in prefer:
        return True
    if "return=representation" in prefer:
        return False
    return default and call.method == "PATCH"


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag.removeprefix("W/") in tags
