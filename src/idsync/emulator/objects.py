"""User and group properties: which exist, which are returned by default, how writes are checked.

Property names and defaults follow the resource pages
https://learn.microsoft.com/graph/api/resources/user and
https://learn.microsoft.com/graph/api/resources/group: a ``GET`` without ``$select``
returns the documented default set; ``$select`` may name any property of the type (the
ones the emulator does not store come back as ``null``, or are left out of delta
responses, which include only properties that were ever set).
"""

from __future__ import annotations

from typing import Any, Final

from idsync.emulator.directory import State
from idsync.emulator.responses import GraphError

USER_DEFAULT: Final = (
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
)
# Stored, and writable through POST/PATCH (with their JSON types).
USER_WRITABLE: Final[dict[str, type | tuple[type, ...]]] = {
    "accountEnabled": bool,
    "businessPhones": list,
    "city": str,
    "companyName": str,
    "country": str,
    "department": str,
    "displayName": str,
    "employeeId": str,
    "employeeType": str,
    "givenName": str,
    "jobTitle": str,
    "mail": str,
    "mailNickname": str,
    "mobilePhone": str,
    "officeLocation": str,
    "postalCode": str,
    "preferredLanguage": str,
    "state": str,
    "streetAddress": str,
    "surname": str,
    "usageLocation": str,
    "userPrincipalName": str,
    "userType": str,
}
USER_READ_ONLY: Final = ("id", "createdDateTime")
# Valid for $select though never stored here (Graph returns them as null when unset).
USER_OTHER: Final = (
    "ageGroup",
    "assignedLicenses",
    "assignedPlans",
    "consentProvidedForMinor",
    "creationType",
    "deletedDateTime",
    "employeeHireDate",
    "employeeLeaveDateTime",
    "employeeOrgData",
    "externalUserState",
    "faxNumber",
    "identities",
    "imAddresses",
    "lastPasswordChangeDateTime",
    "legalAgeGroupClassification",
    "onPremisesDistinguishedName",
    "onPremisesDomainName",
    "onPremisesExtensionAttributes",
    "onPremisesImmutableId",
    "onPremisesLastSyncDateTime",
    "onPremisesSamAccountName",
    "onPremisesSecurityIdentifier",
    "onPremisesSyncEnabled",
    "onPremisesUserPrincipalName",
    "otherMails",
    "passwordPolicies",
    "preferredDataLocation",
    "proxyAddresses",
    "securityIdentifier",
    "showInAddressList",
    "signInSessionsValidFromDateTime",
)
USER_REQUIRED: Final = ("accountEnabled", "displayName", "mailNickname", "userPrincipalName")

GROUP_DEFAULT: Final = (
    "createdDateTime",
    "description",
    "displayName",
    "groupTypes",
    "mail",
    "mailEnabled",
    "mailNickname",
    "securityEnabled",
    "visibility",
)
GROUP_WRITABLE: Final[dict[str, type | tuple[type, ...]]] = {
    "description": str,
    "displayName": str,
    "groupTypes": list,
    "mailEnabled": bool,
    "mailNickname": str,
    "securityEnabled": bool,
    "visibility": str,
}
GROUP_READ_ONLY: Final = ("id", "createdDateTime", "mail")
GROUP_OTHER: Final = (
    "classification",
    "deletedDateTime",
    "expirationDateTime",
    "isAssignableToRole",
    "membershipRule",
    "membershipRuleProcessingState",
    "onPremisesDomainName",
    "onPremisesLastSyncDateTime",
    "onPremisesNetBiosName",
    "onPremisesSamAccountName",
    "onPremisesSecurityIdentifier",
    "onPremisesSyncEnabled",
    "preferredDataLocation",
    "preferredLanguage",
    "proxyAddresses",
    "renewedDateTime",
    "securityIdentifier",
    "theme",
)
GROUP_REQUIRED: Final = ("displayName", "mailEnabled", "mailNickname", "securityEnabled")

_USER_NAMES = {
    n.lower(): n for n in (*USER_DEFAULT, *USER_WRITABLE, *USER_READ_ONLY, *USER_OTHER, "manager")
}
_GROUP_NAMES = {
    n.lower(): n
    for n in (*GROUP_DEFAULT, *GROUP_WRITABLE, *GROUP_READ_ONLY, *GROUP_OTHER, "members", "owners")
}


def parse_select(kind: str, text: str | None) -> tuple[str, ...] | None:
    """Canonical property names of a ``$select`` (``None``: no ``$select``)."""
    if text is None or not text.strip():
        return None
    names = _USER_NAMES if kind == "users" else _GROUP_NAMES
    type_name = "user" if kind == "users" else "group"
    selected: list[str] = []
    for raw in text.split(","):
        name = raw.strip()
        if not name:
            continue
        canonical = names.get(name.lower())
        if canonical is None:
            raise GraphError(
                400,
                "BadRequest",
                f"Could not find a property named '{name}' on type 'microsoft.graph.{type_name}'.",
            )
        if canonical != "id" and canonical not in selected:
            selected.append(canonical)
    return tuple(selected)


def properties(kind: str, select: tuple[str, ...] | None) -> tuple[str, ...]:
    """The scalar properties to return (without ``id`` and navigation properties)."""
    if select is None:
        return USER_DEFAULT if kind == "users" else GROUP_DEFAULT
    return tuple(p for p in select if p not in ("manager", "members", "owners"))


def project(state: State, props: tuple[str, ...], nulls: bool) -> dict[str, Any]:
    """The object as Graph returns it: the given properties, then ``id``.

    ``nulls``: list and get return unset properties as null; delta leaves them out.
    """
    body = {p: state.get(p) for p in props} if nulls else {p: state[p] for p in props if p in state}
    body["id"] = state["id"]
    return body


def check_write(
    kind: str, body: Any, *, creating: bool, extra_allowed: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Validate a POST/PATCH body; returns the properties to store."""
    type_name = "User" if kind == "users" else "Group"
    if not isinstance(body, dict):
        raise GraphError(400, "BadRequest", "Empty Payload. JSON content expected.")
    writable = USER_WRITABLE if kind == "users" else GROUP_WRITABLE
    read_only = USER_READ_ONLY if kind == "users" else GROUP_READ_ONLY
    changes: dict[str, Any] = {}
    for name, value in body.items():
        if name in extra_allowed or name.startswith("@odata."):
            continue
        if name in read_only:
            raise GraphError(
                400,
                "Request_BadRequest",
                f"Property '{name}' is read-only and cannot be set.",
            )
        expected = writable.get(name)
        if expected is None:
            raise GraphError(400, "Request_BadRequest", f"Invalid property '{name}'.")
        if value is not None and not isinstance(value, expected):
            raise GraphError(
                400,
                "Request_BadRequest",
                f"Invalid value specified for property '{name}' of resource '{type_name}'.",
            )
        if isinstance(value, list) and not all(isinstance(v, str) for v in value):
            raise GraphError(
                400,
                "Request_BadRequest",
                f"Invalid value specified for property '{name}' of resource '{type_name}'.",
            )
        changes[name] = value
    if creating:
        required = USER_REQUIRED if kind == "users" else GROUP_REQUIRED
        for name in required:
            if changes.get(name) in (None, ""):
                raise GraphError(
                    400,
                    "Request_BadRequest",
                    f"Invalid value specified for property '{name}' of resource '{type_name}'.",
                )
    elif not changes and not any(name in body for name in extra_allowed):
        raise GraphError(400, "BadRequest", "Empty Payload. JSON content expected.")
    for name in ("displayName", "userPrincipalName", "mailNickname", "accountEnabled"):
        if name in changes and changes[name] in (None, ""):
            raise GraphError(
                400,
                "Request_BadRequest",
                f"Invalid value specified for property '{name}' of resource '{type_name}'.",
            )
    return changes
