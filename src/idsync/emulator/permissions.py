"""Microsoft Graph application permissions (app roles) the emulator knows, and who needs which.

The ids are Microsoft Graph's published app role ids
(https://learn.microsoft.com/graph/permissions-reference), so audit events and the
Graph service principal's ``appRoles`` look as they do in a real tenant.
"""

from __future__ import annotations

from typing import Any, Final

# value -> (app role id, admin consent display name)
GRAPH_ROLES: Final[dict[str, tuple[str, str]]] = {
    "User.Read.All": ("df021288-bdef-4463-88db-98f22de89214", "Read all users' full profiles"),
    "User.ReadWrite.All": (
        "741f803b-c850-494e-b5df-cde7c675a1ca",
        "Read and write all users' full profiles",
    ),
    "Group.Read.All": ("5b567255-7703-4780-807c-7be8301ae99b", "Read all groups"),
    "Group.ReadWrite.All": ("62a82d76-70ea-41e2-9197-370581804d09", "Read and write all groups"),
    "GroupMember.Read.All": ("98830695-27a2-44f7-8c18-0c3ebc9698f6", "Read all group memberships"),
    "GroupMember.ReadWrite.All": (
        "dbaae8cf-10b5-4b86-a4a1-f871c94c6695",
        "Read and write all group memberships",
    ),
    "Directory.Read.All": ("7ab1d382-f21e-4acd-a863-ba3e13f7da61", "Read directory data"),
    "Directory.ReadWrite.All": (
        "19dbc75e-c2e2-444c-a770-ec69d8559fc7",
        "Read and write directory data",
    ),
    "AuditLog.Read.All": ("b0afded3-3588-46d8-8b3d-9842eff778da", "Read all audit log data"),
    "Application.Read.All": ("9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30", "Read all applications"),
    "Application.ReadWrite.All": (
        "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9",
        "Read and write all applications",
    ),
}

SYNC_APP_PERMISSIONS: Final = [
    "User.Read.All",
    "Group.Read.All",
    "AuditLog.Read.All",
    "Application.Read.All",
]

# What the printed admin token (a Global Administrator's delegated token) may do.
ADMIN_SCOPES: Final = [
    "Directory.ReadWrite.All",
    "User.ReadWrite.All",
    "Group.ReadWrite.All",
    "Application.ReadWrite.All",
    "AuditLog.Read.All",
]

# The permissions, any one of which allows an operation (least privileged first), as each
# operation's page under https://learn.microsoft.com/graph/api/ lists them.
READ_USERS: Final = frozenset(
    {"User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}
)
WRITE_USERS: Final = frozenset({"User.ReadWrite.All", "Directory.ReadWrite.All"})
READ_GROUPS: Final = frozenset(
    {
        "Group.Read.All",
        "Group.ReadWrite.All",
        "GroupMember.Read.All",
        "GroupMember.ReadWrite.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
    }
)
WRITE_GROUPS: Final = frozenset({"Group.ReadWrite.All", "Directory.ReadWrite.All"})
WRITE_MEMBERS: Final = frozenset(
    {"GroupMember.ReadWrite.All", "Group.ReadWrite.All", "Directory.ReadWrite.All"}
)
READ_APPS: Final = frozenset(
    {
        "Application.Read.All",
        "Application.ReadWrite.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
    }
)
WRITE_APPS: Final = frozenset({"Application.ReadWrite.All", "Directory.ReadWrite.All"})
READ_AUDIT: Final = frozenset({"AuditLog.Read.All"})
READ_ORG: Final = READ_USERS | READ_GROUPS | READ_APPS


def role_id(permission: str) -> str:
    return GRAPH_ROLES.get(permission, ("00000000-0000-0000-0000-000000000000", ""))[0]


def describe(permission: str) -> str:
    return GRAPH_ROLES.get(permission, ("", permission))[1]


def graph_app_roles() -> list[dict[str, Any]]:
    """``appRoles`` of the Microsoft Graph service principal (the ones listed above)."""
    return [
        {
            "allowedMemberTypes": ["Application"],
            "description": f"Allows the app to {name[0].lower()}{name[1:]} without a signed-in user.",
            "displayName": name,
            "id": role,
            "isEnabled": True,
            "origin": "Application",
            "value": value,
        }
        for value, (role, name) in GRAPH_ROLES.items()
    ]
