"""Default attribute mappings: the shape each connector declares its defaults in.

A connector's description lists, per direction, the mapping an integration starts
from (``Connector.default_mappings``): per object type, (SCIM target path, source
attribute) pairs; the source ``$id`` is the object's anchor. The directory names below
are shared by the connectors that read directory-like sources (LDAP/AD, files): they
name what they read with these canonical attributes, and their settings say which
directory attribute or column feeds each.
"""

from __future__ import annotations

from collections.abc import Mapping

from idsync.contract.protocols import MANAGER_TARGET
from idsync.contract.records import ObjectType
from idsync.scim.urns import ENTERPRISE_USER

DefaultMappings = Mapping[ObjectType, tuple[tuple[str, str], ...]]
"""Per object type: (SCIM target path, source attribute) pairs, in mapping order."""

DIRECTORY: DefaultMappings = {
    "user": (
        ("userName", "userName"),
        ("externalId", "$id"),
        ("active", "enabled"),
        ("displayName", "displayName"),
        ("name.givenName", "givenName"),
        ("name.familyName", "surname"),
        ('emails[type eq "work"].value', "mail"),
        ("title", "title"),
        ("preferredLanguage", "preferredLanguage"),
        ('phoneNumbers[type eq "mobile"].value', "mobile"),
        ('phoneNumbers[type eq "work"].value', "telephoneNumber"),
        ('addresses[type eq "work"].locality', "city"),
        ('addresses[type eq "work"].country', "country"),
        (f"{ENTERPRISE_USER}:department", "department"),
        (f"{ENTERPRISE_USER}:employeeNumber", "employeeId"),
        (MANAGER_TARGET, "manager"),
    ),
    "group": (("displayName", "displayName"), ("externalId", "$id")),
}
"""LDAP/AD and files: the canonical names their connectors give what they read."""
