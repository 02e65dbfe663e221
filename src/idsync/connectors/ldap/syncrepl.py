"""RFC 4533 content synchronisation (syncrepl), refreshOnly mode: the wire format and what one refresh said.

ldap3 has no RFC 4533 support: it sends a control as (OID, criticality, BER bytes) and
hands back the values of the controls and intermediate responses it does not know as
raw bytes (``connection.response`` keeps the ``intermediateResponse`` messages of a
search in order with its entries). So the Sync Request Control is encoded here, and
the Sync State and Sync Done controls and the Sync Info Message decoded here, with
pyasn1 (ldap3's own ASN.1 library), from the ASN.1 of RFC 4533 §2 (IMPLICIT TAGS, as
RFC 4511).

A refreshOnly search with a cookie (§3.3) answers, for the content the search selects
(base, scope, filter), what changed since the cookie:

- changed entries, whole, each with a Sync State Control (``add`` or ``modify``);
- deleted entries, by entryUUID only: a Sync State ``delete``, or a syncIdSet Sync
  Info Message with ``refreshDeletes`` TRUE (OpenLDAP's syncprov replays its session
  log so, and reports an entry that was modified out of the content, moved out of the
  base or no longer matching the filter, as deleted);
- or, when the server cannot list the deletions (no session log, or the cookie is
  older than it), a *present phase* (§3.4, §2.5): the entryUUID of every entry still
  in the content (Sync State ``present``, or syncIdSets with ``refreshDeletes``
  FALSE). The phase ends with a refreshPresent message or with a Sync Done Control
  whose ``refreshDeletes`` is FALSE; every entry not reported present is gone.

The Sync Done Control carries the cookie for the next refresh; a server that found
nothing changed may send none (OpenLDAP does not), and the old cookie stays valid.
A cookie the server can no longer serve is refused with ``e-syncRefreshRequired``
(4096, §3.3.2): the content must be read again in full.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pyasn1.codec.ber import decoder  # type: ignore[import-untyped, unused-ignore]
from pyasn1.codec.der import encoder  # type: ignore[import-untyped, unused-ignore]
from pyasn1.error import PyAsn1Error  # type: ignore[import-untyped, unused-ignore]
from pyasn1.type import namedtype, namedval, tag, univ  # type: ignore[import-untyped, unused-ignore]

from idsync.connectors.ldap.entries import Entry

SYNC_REQUEST_OID = "1.3.6.1.4.1.4203.1.9.1.1"
SYNC_STATE_OID = "1.3.6.1.4.1.4203.1.9.1.2"
SYNC_DONE_OID = "1.3.6.1.4.1.4203.1.9.1.3"
SYNC_INFO_OID = "1.3.6.1.4.1.4203.1.9.1.4"
E_SYNC_REFRESH_REQUIRED = 4096
"""RFC 4533 §2.6: the cookie is too old (or foreign); the client must start afresh."""

_REFRESH_ONLY = 1
_PRESENT, _ADD, _MODIFY, _DELETE = 0, 1, 2, 3


class Unusable(Exception):
    """Content synchronisation cannot be used here: the database has no syncprov (the
    control is unavailable), a limit cut the answer short, or the answer breaks RFC 4533.
    The read lists what is present with the sweep instead."""


class SyncError(Unusable):
    """The server's answer does not follow RFC 4533."""


class CookieRefused(Exception):
    """The server cannot serve the cookie (e-syncRefreshRequired; OpenLDAP also answers
    unwillingToPerform to a cookie newer than its own state, e.g. after a restore): the
    content must be read in full."""


# --- RFC 4533 §2: the ASN.1 ------------------------------------------------------------------


def _implicit(number: int, *, constructed: bool) -> Any:
    form = tag.tagFormatConstructed if constructed else tag.tagFormatSimple
    return tag.Tag(tag.tagClassContext, form, number)


class _SyncRequestValue(univ.Sequence):  # type: ignore[misc]
    """§2.2: mode ENUMERATED { refreshOnly (1), refreshAndPersist (3) }, cookie, reloadHint."""

    componentType = namedtype.NamedTypes(
        namedtype.NamedType(
            "mode",
            univ.Enumerated(
                namedValues=namedval.NamedValues(("refreshOnly", 1), ("refreshAndPersist", 3))
            ),
        ),
        namedtype.OptionalNamedType("cookie", univ.OctetString()),
        namedtype.DefaultedNamedType("reloadHint", univ.Boolean(False)),
    )


class _SyncStateValue(univ.Sequence):  # type: ignore[misc]
    """§2.3: state ENUMERATED { present (0), add (1), modify (2), delete (3) }, entryUUID, cookie."""

    componentType = namedtype.NamedTypes(
        namedtype.NamedType("state", univ.Enumerated()),
        namedtype.NamedType("entryUUID", univ.OctetString()),
        namedtype.OptionalNamedType("cookie", univ.OctetString()),
    )


class _SyncDoneValue(univ.Sequence):  # type: ignore[misc]
    """§2.4: cookie, refreshDeletes BOOLEAN DEFAULT FALSE."""

    componentType = namedtype.NamedTypes(
        namedtype.OptionalNamedType("cookie", univ.OctetString()),
        namedtype.DefaultedNamedType("refreshDeletes", univ.Boolean(False)),
    )


class _RefreshDelete(univ.Sequence):  # type: ignore[misc]
    """§2.5 refreshDelete [1]: cookie, refreshDone BOOLEAN DEFAULT TRUE."""

    tagSet = univ.Sequence.tagSet.tagImplicitly(_implicit(1, constructed=True))
    componentType = namedtype.NamedTypes(
        namedtype.OptionalNamedType("cookie", univ.OctetString()),
        namedtype.DefaultedNamedType("refreshDone", univ.Boolean(True)),
    )


class _RefreshPresent(_RefreshDelete):
    """§2.5 refreshPresent [2]: the same shape as refreshDelete."""

    tagSet = univ.Sequence.tagSet.tagImplicitly(_implicit(2, constructed=True))


class _SyncIdSet(univ.Sequence):  # type: ignore[misc]
    """§2.5 syncIdSet [3]: cookie, refreshDeletes BOOLEAN DEFAULT FALSE, syncUUIDs SET OF."""

    tagSet = univ.Sequence.tagSet.tagImplicitly(_implicit(3, constructed=True))
    componentType = namedtype.NamedTypes(
        namedtype.OptionalNamedType("cookie", univ.OctetString()),
        namedtype.DefaultedNamedType("refreshDeletes", univ.Boolean(False)),
        namedtype.NamedType("syncUUIDs", univ.SetOf(componentType=univ.OctetString())),
    )


class _SyncInfoValue(univ.Choice):  # type: ignore[misc]
    """§2.5: newcookie [0] | refreshDelete [1] | refreshPresent [2] | syncIdSet [3]."""

    componentType = namedtype.NamedTypes(
        namedtype.NamedType(
            "newcookie", univ.OctetString().subtype(implicitTag=_implicit(0, constructed=False))
        ),
        namedtype.NamedType("refreshDelete", _RefreshDelete()),
        namedtype.NamedType("refreshPresent", _RefreshPresent()),
        namedtype.NamedType("syncIdSet", _SyncIdSet()),
    )


def request_control(cookie: bytes | None) -> tuple[str, bool, bytes]:
    """The Sync Request Control of a refreshOnly search (critical: a server that ignored
    it would answer with the whole content, unmarked, and no cookie)."""
    value = _SyncRequestValue()
    value["mode"] = _REFRESH_ONLY
    if cookie is not None:
        value["cookie"] = cookie
    return SYNC_REQUEST_OID, True, bytes(encoder.encode(value))


def _decode(raw: Any, spec: Any) -> Any:
    try:
        decoded, rest = decoder.decode(bytes(raw or b""), asn1Spec=spec)
    except (PyAsn1Error, TypeError, ValueError) as exc:
        raise SyncError(f"undecodable {type(spec).__name__.strip('_')}: {exc}") from exc
    if rest:
        raise SyncError(f"trailing bytes after a {type(spec).__name__.strip('_')}")
    return decoded


def _cookie(value: Any) -> bytes | None:
    component = value["cookie"]
    return bytes(component) if component.isValue else None


def uuid_text(raw: bytes) -> str:
    """A syncUUID (§2.1: the 16 octets of RFC 4122) as entryUUID's text form (RFC 4530)."""
    if len(raw) != 16:
        raise SyncError(f"a syncUUID of {len(raw)} octets, not 16")
    return str(uuid.UUID(bytes=bytes(raw)))


# --- one refresh --------------------------------------------------------------------------------


@dataclass
class Refresh:
    """What one refreshOnly search answered, in the server's order."""

    changed: list[tuple[str, Entry]] = field(default_factory=list)
    """(entryUUID, entry) of every added or modified entry."""
    deleted: list[str] = field(default_factory=list)
    present: set[str] = field(default_factory=set)
    """Every entryUUID reported present, changed entries included."""
    present_phase: bool = False
    """The server listed what is present (§3.4): what it did not list is gone."""
    cookie: bytes | None = None
    """The newest cookie the server sent; None: it sent none (nothing changed)."""

    def absorb(self, item: Mapping[str, Any]) -> None:
        """One message of the search's answer (an ldap3 response dict)."""
        kind = item.get("type")
        if kind == "searchResEntry":
            self._entry(item)
        elif kind == "intermediateResponse" and item.get("responseName") == SYNC_INFO_OID:
            self._info(item.get("responseValue") or b"")

    def finish(self, result: Mapping[str, Any]) -> None:
        """The searchResultDone: its Sync Done Control ends the refresh (§2.4, §3.3.2)."""
        control = ((result.get("controls") or {}).get(SYNC_DONE_OID)) or None
        if control is None:
            raise SyncError("the search ended without a Sync Done Control")
        done = _decode(control.get("value"), _SyncDoneValue())
        self._take_cookie(_cookie(done))
        if not bool(done["refreshDeletes"]):
            self.present_phase = True

    def _entry(self, item: Mapping[str, Any]) -> None:
        control = (item.get("controls") or {}).get(SYNC_STATE_OID)
        if control is None:
            raise SyncError(f"{item.get('dn')}: an entry without a Sync State Control")
        state = _decode(control.get("value"), _SyncStateValue())
        anchor = uuid_text(bytes(state["entryUUID"]))
        self._take_cookie(_cookie(state))
        code = int(state["state"])
        if code == _DELETE:
            self.deleted.append(anchor)
            return
        self.present.add(anchor)
        if code in (_ADD, _MODIFY):
            self.changed.append((anchor, Entry.of(item)))
        elif code != _PRESENT:
            raise SyncError(f"unknown Sync State {code}")

    def _info(self, raw: bytes) -> None:
        info = _decode(raw, _SyncInfoValue())
        name = info.getName()
        value = info.getComponent()
        if name == "newcookie":
            self._take_cookie(bytes(value))
            return
        self._take_cookie(_cookie(value))
        if name == "refreshPresent":
            self.present_phase = True  # §3.4: the present phase ends here
        elif name == "syncIdSet":
            anchors = [uuid_text(bytes(raw_uuid)) for raw_uuid in value["syncUUIDs"]]
            if bool(value["refreshDeletes"]):
                self.deleted.extend(anchors)
            else:
                self.present.update(anchors)

    def _take_cookie(self, cookie: bytes | None) -> None:
        if cookie:
            self.cookie = cookie


def refresh_of(response: Iterable[Mapping[str, Any]], result: Mapping[str, Any]) -> Refresh:
    """A refresh from one search's ``connection.response`` and ``connection.result``."""
    refresh = Refresh()
    for item in response:
        refresh.absorb(item)
    refresh.finish(result)
    return refresh


def changes(refreshes: list[Refresh]) -> list[tuple[str, Entry | None]]:
    """The changed entries, then the deleted entryUUIDs, of every base's refresh. An
    entry one base reports gone and another holds (moved from one base to the other)
    is not gone."""
    held = set().union(*(refresh.present for refresh in refreshes))
    changed = {a: e for r in refreshes for a, e in r.changed}
    deleted = dict.fromkeys(a for r in refreshes for a in r.deleted if a not in held)
    return [*changed.items(), *((anchor, None) for anchor in deleted)]
