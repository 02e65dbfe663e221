"""The SCIM connector's default attribute mappings, one per direction.

SCIM in, SCIM out: a source's attributes are already SCIM paths (see
idsync.scim.flatten), so the defaults copy them as they are. Reading a SCIM server,
its own id is the anchor (``externalId`` ← ``$id``); pushing the hub to an
application, the hub's own ``externalId`` travels and the application keeps its ids.
"""

from __future__ import annotations

from idsync.contract.mappings import DefaultMappings
from idsync.contract.protocols import MANAGER_TARGET
from idsync.scim.urns import ENTERPRISE_USER

_PATHS = tuple(
    (path, path)
    for path in (
        "active",
        "displayName",
        "name.givenName",
        "name.familyName",
        'emails[type eq "work"].value',
        "title",
        "preferredLanguage",
        'phoneNumbers[type eq "mobile"].value',
        'phoneNumbers[type eq "work"].value',
        'addresses[type eq "work"].locality',
        'addresses[type eq "work"].country',
        f"{ENTERPRISE_USER}:department",
        f"{ENTERPRISE_USER}:employeeNumber",
    )
)


def _user(external_id: str) -> tuple[tuple[str, str], ...]:
    return (
        ("userName", "userName"),
        ("externalId", external_id),
        *_PATHS,
        (MANAGER_TARGET, "manager"),
    )


SOURCE: DefaultMappings = {
    "user": _user("$id"),
    "group": (("displayName", "displayName"), ("externalId", "$id")),
}
PUSH: DefaultMappings = {
    "user": _user("externalId"),
    "group": (("displayName", "displayName"), ("externalId", "externalId")),
}
