"""The Microsoft Graph application permissions the connector needs, and which ones a token
carries.

Each need is named by its least privileged permission and met by any of the permissions
that Graph's reference lists for the calls behind it (a broader one, such as
``Directory.Read.All``, also does). ``AuditLog.Read.All`` is not among them: only the
diagnosis reads the audit log, never a cycle.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from typing import Final

import orjson

_DIRECTORY: Final = frozenset({"Directory.Read.All", "Directory.ReadWrite.All"})

NEEDED: Final[Mapping[str, frozenset[str]]] = {
    # List users, user delta, a user's manager.
    "User.Read.All": frozenset({"User.Read.All", "User.ReadWrite.All"}) | _DIRECTORY,
    # Group delta and a group's members.
    "Group.Read.All": frozenset(
        {
            "Group.Read.All",
            "Group.ReadWrite.All",
            "GroupMember.Read.All",
            "GroupMember.ReadWrite.All",
        }
    )
    | _DIRECTORY,
    # Finding our own service principal (check()).
    "Application.Read.All": frozenset({"Application.Read.All", "Application.ReadWrite.All"})
    | _DIRECTORY,
}


def missing(granted: Iterable[str]) -> list[str]:
    """The needs no granted permission meets, by their least privileged names."""
    have = set(granted)
    return [need for need, any_of in NEEDED.items() if not have & any_of]


def token_roles(token: str) -> list[str] | None:
    """The application permissions an app-only access token carries (its ``roles`` claim),
    or None when the token does not show them (not a signed JWT: encrypted, or opaque).

    Read for reporting only, never to decide access: Graph checks the signature, we do not.
    A token without the claim carries no application permission at all: ``[]``.
    """
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = orjson.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(claims, dict):
        return None
    roles = claims.get("roles") or []
    return sorted(str(role) for role in roles) if isinstance(roles, list) else None
