"""What only Active Directory does, as small pure functions (no server needed to test them).

- ``objectGUID`` is 16 bytes in the little-endian GUID layout Windows uses; AD tools
  show it as the string ``uuid.UUID(bytes_le=…)`` gives. In a filter it is written
  byte by byte as ``\\xx`` escapes (RFC 4515 §3).
- ``userAccountControl`` bit 0x2 (ADS_UF_ACCOUNTDISABLE) marks a disabled account.
- Large multi-valued attributes (``member``) come in ranges: ``member;range=0-1499``,
  and the last range ends in ``*`` ("Searching Using Range Retrieval", MS-ADTS §3.1.1.3.1.3.3).
- Deleted objects stay under the Deleted Objects container, found only with the Show
  Deleted control (LDAP_SERVER_SHOW_DELETED_OID, 1.2.840.113556.1.4.417) or, once the
  Recycle Bin has recycled them, only with Show Recycled (LDAP_SERVER_SHOW_RECYCLED_OID,
  1.2.840.113556.1.4.2064).
- A refused bind carries a ``data NNN`` sub-code in its diagnostic message
  ("80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 52e, v4563").
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence

from idsync.contract.records import ObjectType, SourceObject

SHOW_DELETED_OID = "1.2.840.113556.1.4.417"
SHOW_RECYCLED_OID = "1.2.840.113556.1.4.2064"
DELETED_OBJECTS_WKGUID = "18E2EA80684F11D2B9AA00C04F79F805"
"""GUID_DELETED_OBJECTS_CONTAINER_W (MS-ADTS §6.1.1.4): bind to ``<WKGUID=…,NC>``."""
ACCOUNTDISABLE = 0x2

_RANGE = re.compile(r"^(?P<name>[^;]+);range=(?P<low>\d+)-(?P<high>\d+|\*)$", re.IGNORECASE)
_BIND_DATA = re.compile(r"\bdata ([0-9a-f]{3,8})\b", re.IGNORECASE)

# Sub-codes of a refused bind (Microsoft: "LDAP error 49" / AcceptSecurityContext data codes,
# the Win32 errors of the same number: 0x52e ERROR_LOGON_FAILURE "The user name or password
# is incorrect"). Samba answers 52e for an unknown user too, where Windows answers 525.
BIND_REASONS: dict[str, str] = {
    "525": "the user does not exist",
    "52e": "the user name or password is incorrect",
    "530": "the account may not sign in at this time",
    "531": "the account may not sign in from this computer",
    "532": "the password has expired",
    "533": "the account is disabled",
    "568": "the account has too many security identifiers",
    "701": "the account has expired",
    "773": "the password must be changed before the first sign-in",
    "775": "the account is locked out",
}


def guid_string(raw: bytes) -> str:
    """``objectGUID`` bytes as AD shows them (e.g. in ADUC's attribute editor)."""
    return str(uuid.UUID(bytes_le=bytes(raw)))


def guid_filter_value(guid: str) -> str:
    """The GUID string as an escaped octet string for ``(objectGUID=…)`` (RFC 4515 §3)."""
    return "".join(f"\\{octet:02x}" for octet in uuid.UUID(guid).bytes_le)


def flag_set(value: str | int | None, bit: int) -> bool:
    """True if ``bit`` is set in an integer attribute such as userAccountControl."""
    if value is None:
        return False
    try:
        return int(value) & bit != 0
    except ValueError:
        return False


def parse_range(description: str) -> tuple[str, int, int | None] | None:
    """``member;range=0-1499`` -> ("member", 0, 1499); the last range ends in None (``*``)."""
    match = _RANGE.match(description)
    if match is None:
        return None
    high = match.group("high")
    return match.group("name"), int(match.group("low")), None if high == "*" else int(high)


def ranged_values(
    attributes: Mapping[str, Sequence[bytes]], name: str, size: int | None = None
) -> tuple[list[bytes], str | None]:
    """The values of ``name`` in an entry, and the attribute to ask for next when AD sent
    only a range of them, or None when it sent the last one (``…-*``). The next range is
    ``size`` values long (``member;range=1500-1999``), or open (``member;range=1500-*``:
    as many as the DC sends) without a size."""
    values = list(attributes.get(name.lower(), ()))
    following: str | None = None
    for key, chunk in attributes.items():
        parsed = parse_range(key)
        if parsed is None or parsed[0].lower() != name.lower():
            continue
        values.extend(chunk)
        _, _, high = parsed
        if high is not None:
            end = "*" if size is None else str(high + size)
            following = f"{parsed[0]};range={high + 1}-{end}"
    return values, following


def bind_data(diagnostic: str) -> str | None:
    """AD's ``data NNN`` sub-code of a refused bind (e.g. ``52e``), if the message has one."""
    match = _BIND_DATA.search(diagnostic or "")
    return match.group(1).lower() if match else None


def bind_reason(diagnostic: str) -> str | None:
    """What AD's ``data NNN`` sub-code says about a refused bind, if the message has one."""
    code = bind_data(diagnostic)
    if code is None:
        return None
    reason = BIND_REASONS.get(code)
    return f"AD data {code}: {reason}" if reason else f"AD data {code}"


def tombstone_object(
    object_type: ObjectType, attributes: Mapping[str, Sequence[bytes]]
) -> SourceObject | None:
    """A deleted object from the Deleted Objects container, as a removal (None: no GUID).

    With the AD Recycle Bin, a deleted object keeps its attributes and can be restored
    until it is recycled (``isRecycled`` TRUE); only then is it gone for good.
    """
    guids = attributes.get("objectguid") or ()
    if not guids or len(guids[0]) != 16:
        return None
    recycled = [value.upper() for value in attributes.get("isrecycled") or ()]
    return SourceObject(
        object_type, guid_string(guids[0]), removed=True, permanently=b"TRUE" in recycled
    )


def deleted_control(supported: Sequence[str]) -> str:
    """The control that shows every deleted object to a search: Show Recycled where the
    DC has it (Windows Server 2008 R2 and later, Samba 4), else Show Deleted.

    With the Recycle Bin on, an object that moves on from deleted to recycled is visible
    only under Show Recycled (MS-ADTS §3.1.1.3.4.1.26): with Show Deleted alone, the
    step that makes a deletion final would never be seen.
    """
    return SHOW_RECYCLED_OID if SHOW_RECYCLED_OID in supported else SHOW_DELETED_OID


def is_deleted(attributes: Mapping[str, Sequence[bytes]]) -> bool:
    """Whether an entry read back ``isDeleted: TRUE`` (LDAP booleans are upper case, RFC 4517 §3.3.3)."""
    return [value.upper() for value in attributes.get("isdeleted") or ()] == [b"TRUE"]


def deleted_objects_base(naming_context: str) -> str:
    return f"<WKGUID={DELETED_OBJECTS_WKGUID},{naming_context}>"


def kind_filter(object_type: ObjectType) -> str:
    """Users (not computers, which are users too) or groups, whatever the integration's filter."""
    if object_type == "group":
        return "(objectClass=group)"
    return "(&(objectClass=user)(!(objectClass=computer)))"


def tombstone_filter(object_type: ObjectType, after_usn: int) -> str:
    # AD filters have >= but not > (RFC 4515): "changed after N" is uSNChanged>=N+1.
    return f"(&(isDeleted=TRUE){kind_filter(object_type)}(uSNChanged>={after_usn + 1}))"


def usn_window(after_usn: int, until_usn: int) -> str:
    """The filter terms for "changed after ``after_usn``, up to ``until_usn``" (RFC 4515
    has >= and <=, not >: after N is >= N+1)."""
    return f"(uSNChanged>={after_usn + 1})(uSNChanged<={until_usn})"
