"""Entra ID's default attribute mappings: Graph's user and group properties → SCIM,
as Entra's own provisioning to a SCIM application maps them by default."""

from __future__ import annotations

from idsync.contract.mappings import DefaultMappings
from idsync.contract.protocols import MANAGER_TARGET
from idsync.scim.urns import ENTERPRISE_USER

GRAPH: DefaultMappings = {
    "user": (
        ("userName", "userPrincipalName"),
        ("externalId", "$id"),
        ("active", "accountEnabled"),
        ("displayName", "displayName"),
        ("name.givenName", "givenName"),
        ("name.familyName", "surname"),
        ('emails[type eq "work"].value', "mail"),
        ("title", "jobTitle"),
        ("preferredLanguage", "preferredLanguage"),
        ('phoneNumbers[type eq "mobile"].value', "mobilePhone"),
        ('phoneNumbers[type eq "work"].value', "businessPhones"),
        ('addresses[type eq "work"].locality', "city"),
        ('addresses[type eq "work"].country', "country"),
        (f"{ENTERPRISE_USER}:department", "department"),
        (f"{ENTERPRISE_USER}:employeeNumber", "employeeId"),
        (MANAGER_TARGET, "manager"),
    ),
    "group": (("displayName", "displayName"), ("externalId", "$id")),
}
