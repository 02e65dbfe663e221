"""Known deviations of real SCIM clients, normalised before a request is validated.

Each rule names the client behaviour it absorbs and where it is documented;
``docs/clients.md`` lists them with the tests that pin each one. Everything
else is validated strictly against the organisation's schemas.

Rules that scim2-models already applies are not repeated here: case-insensitive
attribute names, string booleans (``"False"``), read-only attributes in requests
(``id``, ``meta``, ``groups``) ignored. PATCH's own deviations (capitalised
``op`` values, ``remove`` with a ``value``, path filters that create the entry
they describe) are absorbed by ``idsync.scim.patch`` and ``hub/patching.py``;
this module says which requests are Entra's (``is_entra_request``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from idsync.errors.catalogue import INVALID_SYNTAX, INVALID_VALUE, IdsyncError
from idsync.scim.resource_types import ResourceTypeSchema
from idsync.scim.schemas import ENTERPRISE_USER


def normalise_resource(
    body: Any, rts: ResourceTypeSchema, *, require_schemas: bool = True
) -> dict[str, Any]:
    """A POST/PUT body, with client deviations absorbed; raises for what cannot be."""
    if not isinstance(body, dict):
        raise IdsyncError(INVALID_SYNTAX, reason=f"a {rts.name} must be a JSON object")
    resource = {k: v for k, v in body.items() if v is not None}  # null = unassigned (RFC 7643 §2.5)
    resource["schemas"] = _schemas(resource, rts, require=require_schemas)
    for key in list(resource):
        if key.lower().startswith("urn:") and key != "schemas":
            resource[key] = _extension_block(resource.pop(key), key, rts)
            urn = rts.extension_urn(key)
            if urn is not None and urn != key:
                resource[urn] = resource.pop(key)
    enterprise = resource.get(ENTERPRISE_USER)
    if isinstance(enterprise, dict) and "manager" in _lower_keys(enterprise):
        key = _lower_keys(enterprise)["manager"]
        manager = normalise_manager(enterprise[key])
        if manager is None:
            del enterprise[key]
        else:
            enterprise[key] = manager
    return resource


def _schemas(resource: Mapping[str, Any], rts: ResourceTypeSchema, *, require: bool) -> list[str]:
    raw = resource.get("schemas")
    if raw is None:
        if require:
            raise IdsyncError(
                INVALID_SYNTAX,
                reason=f"'schemas' is missing; a {rts.name} must list {rts.core_schema!r} (RFC 7643 §3)",
            )
        raw = [rts.core_schema]
    if not isinstance(raw, list) or not all(isinstance(s, str) for s in raw):
        raise IdsyncError(INVALID_SYNTAX, reason="'schemas' must be a list of schema URNs")
    if rts.core_schema.lower() not in {s.lower() for s in raw}:
        raise IdsyncError(
            INVALID_SYNTAX,
            reason=f"'schemas' must include {rts.core_schema!r} for a {rts.name}",
        )
    keys = {k.lower() for k in resource}
    schemas = [rts.core_schema]
    for urn in raw:
        canonical = rts.extension_urn(urn)
        if canonical is not None and canonical not in schemas:
            schemas.append(canonical)
        # Entra lists "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"
        # with no data under it (MS "Known issues" page); a listed URN carrying no
        # data changes nothing, so it is dropped rather than refused.
        elif canonical is None and urn.lower() != rts.core_schema.lower() and urn.lower() in keys:
            raise _undeclared(urn, rts)
    # Entra sends custom extension data without listing its URN (MS attribute
    # mapping docs): the key itself says which schema the data belongs to.
    for key in resource:
        canonical = rts.extension_urn(key) if key.lower().startswith("urn:") else None
        if canonical is not None and canonical not in schemas:
            schemas.append(canonical)
    return schemas


def _extension_block(value: Any, key: str, rts: ResourceTypeSchema) -> Any:
    if rts.extension_urn(key) is None:
        raise _undeclared(key, rts)
    if not isinstance(value, dict):
        raise IdsyncError(INVALID_VALUE, reason=f"the {key!r} extension must be a JSON object")
    return {k: v for k, v in value.items() if v is not None}


def _undeclared(urn: str, rts: ResourceTypeSchema) -> IdsyncError:
    return IdsyncError(
        INVALID_VALUE,
        reason=(
            f"the extension schema {urn!r} is not declared for {rts.name} in this organisation "
            f"(declared: {', '.join(u for u, _ in rts.extensions) or 'none'}); an administrator "
            "can declare it with idsync schema add --org <org id> FILE"
        ),
    )


def normalise_manager(value: Any) -> dict[str, Any] | None:
    """Entra sends the manager as a bare id, or a one-element list; RFC 7643 §4.3 wants an object.

    An empty string is Entra's validator clearing the manager.
    """
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return {"value": value}
    if isinstance(value, dict):
        cleaned = {k: v for k, v in value.items() if v is not None}
        if not cleaned.get(_lower_keys(cleaned).get("value", "value")):
            return None
        return cleaned
    raise IdsyncError(INVALID_VALUE, reason="manager must be an object with a 'value' (a user id)")


def _lower_keys(mapping: Mapping[str, Any]) -> dict[str, str]:
    return {k.lower(): k for k in mapping}


ENTRA_FLAG = "aadOptscim062020"
"""The Tenant URL flag that turns on Entra's RFC-conformant PATCH (MS "Known issues
and resolutions with SCIM 2.0 protocol compliance"); it then comes with every request."""


def is_entra_request(params: Mapping[str, str], body: Any) -> bool:
    """Whether a PATCH is recognisably Microsoft Entra ID's.

    Entra sends its PATCH operations either with the ``aadOptscim062020`` flag
    in the query (the Tenant URL carries it) or, without the flag, with the
    ``op`` capitalised ("Replace", "Add", "Remove"), which the same Microsoft
    page documents and no RFC 7644 example does. On-demand provisioning ignores
    the flag and sends the capitalised form, so a tenant sends both.
    Microsoft documents no User-Agent for its provisioning service, so the
    header is not used.
    """
    if any(key.lower() == ENTRA_FLAG.lower() for key in params):
        return True
    if not isinstance(body, dict):
        return False
    operations = next((v for k, v in body.items() if k.lower() == "operations"), None)
    return isinstance(operations, list) and any(
        isinstance(op, dict) and _capitalised(op) for op in operations
    )


def _capitalised(operation: Mapping[str, Any]) -> bool:
    op = next((v for k, v in operation.items() if k.lower() == "op"), None)
    return isinstance(op, str) and op[:1].isupper() and op.lower() in ("add", "remove", "replace")
