"""A SCIM resource as a flat record of attribute paths, the form sync sources report.

The hub (when it is the source of a push) and a SCIM server read as a source both
hand the engine attributes named by the SCIM paths the mapping assigns
(``name.givenName``, ``emails[type eq "work"].value``, the enterprise extension's
URN-prefixed names; RFC 7644 §3.10), so the default mapping of either is the
identity. Multi-valued attributes are keyed by their ``type`` (RFC 7643 §2.4);
a user's manager becomes ``manager``, the manager's own id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from idsync.scim.urns import ENTERPRISE_USER

_SIMPLE = ("userName", "displayName", "nickName", "title", "preferredLanguage", "locale",
           "timezone", "userType", "profileUrl", "active")  # fmt: skip
_COMPLEX: dict[str, tuple[str, ...]] = {"name": ("givenName", "familyName", "middleName", "formatted",
                     "honorificPrefix", "honorificSuffix")}  # fmt: skip
_TYPED: dict[str, tuple[str, ...]] = {
    "emails": ("value",),
    "phoneNumbers": ("value",),
    "addresses": ("streetAddress", "locality", "region", "postalCode", "country", "formatted"),
}
_ENTERPRISE = ("employeeNumber", "costCenter", "organization", "division", "department")


def flatten_user(resource: Mapping[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for attr in _SIMPLE:
        if attr in resource:
            flat[attr] = resource[attr]
    if "externalId" in resource:
        flat["externalId"] = resource["externalId"]
    for attr, subs in _COMPLEX.items():
        value = resource.get(attr) or {}
        for sub in subs:
            if sub in value:
                flat[f"{attr}.{sub}"] = value[sub]
    for attr, subs in _TYPED.items():
        for item in resource.get(attr) or []:
            type_ = item.get("type")
            if not type_:
                continue
            for sub in subs:
                key = f'{attr}[type eq "{type_}"].{sub}'
                if sub in item and key not in flat:  # the first of a type wins
                    flat[key] = item[sub]
    enterprise = resource.get(ENTERPRISE_USER) or {}
    for attr in _ENTERPRISE:
        if attr in enterprise:
            flat[f"{ENTERPRISE_USER}:{attr}"] = enterprise[attr]
    manager = enterprise.get("manager")
    flat["manager"] = manager.get("value") if isinstance(manager, Mapping) else None
    return flat


def flatten_group(resource: Mapping[str, Any]) -> dict[str, Any]:
    return {attr: resource[attr] for attr in ("displayName", "externalId") if attr in resource}
