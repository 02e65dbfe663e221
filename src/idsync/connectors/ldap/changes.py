"""Watermarks: from which point an incremental read asks "what changed since".

- OpenLDAP: every entry carries ``entryCSN`` (a change sequence number, ordered; RFC
  4533's sync state). The watermark is the database's ``contextCSN`` (the newest CSN,
  kept by the syncprov overlay) read *before* the read starts; the next read asks for
  ``(entryCSN>=watermark)``. Re-reading the boundary entries is harmless (the engine is
  idempotent), missing a change is not, hence ``>=`` and, with several servers' CSNs
  (multi-provider), the smallest of them. Without a readable contextCSN, the largest
  entryCSN (else modifyTimestamp) seen by the anchors sweep at the start is used: any
  later change carries a larger one.
- OpenLDAP with syncprov also keeps, per base, the RFC 4533 sync cookie the server
  gave for that moment (:mod:`.syncrepl`): the next read asks the server what changed
  since the cookie, deletions included, instead of filtering on entryCSN and sweeping.
  The CSN stays in the watermark for the read that cannot use the cookies.
- Active Directory: ``uSNChanged`` > the ``highestCommittedUSN`` the rootDSE showed at
  the start of the previous read (Microsoft: "Polling for Changes Using the USNChanged
  Attribute"). USNs are per domain controller: the watermark names the DC (its
  ``dnsHostName`` and ``invocationId``, which changes when it is restored from a
  backup), and another DC's answer means reading everything again.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from ldap3.utils.conv import escape_filter_chars  # type: ignore[import-untyped, unused-ignore]

from idsync.connectors.ldap.entries import normal_dn
from idsync.connectors.ldap.failures import Failures

MARK_ATTRIBUTES = {"openldap": ("entryCSN", "modifyTimestamp"), "ad": ("uSNChanged",)}


@dataclass(frozen=True, slots=True)
class Mark:
    """A point in the directory's change history."""

    dialect: str
    attribute: str
    value: str | None
    """None: the directory was empty; everything is a change."""
    dc: str | None = None
    invocation_id: str | None = None
    cookies: tuple[tuple[str, str], ...] = ()
    """OpenLDAP: (normalised base DN, base64 of its RFC 4533 sync cookie) per base."""

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"dialect": self.dialect, "attribute": self.attribute}
        data["value"] = self.value
        if self.dialect == "ad":
            data.update(dc=self.dc, invocation_id=self.invocation_id)
        if self.cookies:
            data["cookies"] = dict(self.cookies)
        return data

    def cookie(self, base: str) -> bytes | None:
        """The sync cookie saved for ``base``, if any."""
        wanted = normal_dn(base)
        for saved, value in self.cookies:
            if saved == wanted:
                return base64.b64decode(value) or None
        return None

    def with_cookies(self, cookies: Mapping[str, bytes]) -> Mark:
        """This mark with the sync cookie of each base in ``cookies`` (by base DN)."""
        pairs = tuple(
            (normal_dn(base), base64.b64encode(value).decode("ascii"))
            for base, value in cookies.items()
        )
        return replace(self, cookies=pairs)

    @classmethod
    def from_json(cls, data: Any, dialect: str, failures: Failures) -> Mark:
        if not isinstance(data, Mapping) or data.get("dialect") != dialect:
            raise failures.watermark_expired(f"the saved watermark is not an {dialect} one")
        attribute, value = data.get("attribute"), data.get("value")
        if attribute not in MARK_ATTRIBUTES[dialect] or not isinstance(value, str | None):
            raise failures.watermark_expired("the saved watermark is malformed")
        cookies = _cookies(data.get("cookies") or {}, failures)
        return cls(dialect, attribute, value, data.get("dc"), data.get("invocation_id"), cookies)

    def clause(self) -> str:
        """The filter part selecting entries changed since this mark ("" if all are)."""
        if self.value is None:
            return ""
        if self.attribute == "uSNChanged":
            # AD filters have >= but not > (RFC 4515): after N is >= N+1.
            return f"(uSNChanged>={int(self.value) + 1})"
        return f"({self.attribute}>={escape_filter_chars(self.value)})"

    def changed(self, value: str | None) -> bool:
        """Whether an entry with this mark attribute's ``value`` changed since the mark."""
        if self.value is None:
            return True
        if value is None:
            return False
        if self.attribute == "uSNChanged":
            return int(value) > int(self.value)
        return value >= self.value


def _cookies(saved: Any, failures: Failures) -> tuple[tuple[str, str], ...]:
    if not isinstance(saved, Mapping):
        raise failures.watermark_expired("the saved sync cookies are malformed")
    pairs = []
    for base, value in saved.items():
        try:
            base64.b64decode(str(value), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise failures.watermark_expired("a saved sync cookie is malformed") from exc
        pairs.append((str(base), str(value)))
    return tuple(pairs)


def newest(values: list[str], attribute: str) -> str | None:
    """The latest of several marks: numerically for USNs, else as ordered strings (CSNs and
    GeneralizedTime in the same format order like their text)."""
    if not values:
        return None
    if attribute == "uSNChanged":
        return str(max(int(value) for value in values))
    return max(values)
