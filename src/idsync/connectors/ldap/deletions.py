"""How an incremental LDAP read sees removals, and why that way (``Removals``, shown to administrators).

- ``syncrepl`` (OpenLDAP): the server offers RFC 4533 content synchronisation (its
  rootDSE lists the Sync Request Control), the anchor is entryUUID (the only name sync
  messages give entries), and the last cycle's watermark holds a sync cookie for every
  base. The server then names the deleted entries, or lists those still present;
- ``tombstones`` (AD): the bind account can be *shown* to read the Deleted Objects
  container (see :meth:`Deletions.ad`), and the bases lie in the domain's naming
  context (where objects that leave them are looked for);
- ``sweep`` otherwise, with the reason: an anchors-only sweep lists what is present.

The cookies a read takes for the next one come from here too (:meth:`Deletions.cookies`).
"""

from __future__ import annotations

from idsync.connectors.ldap import ad, syncrepl
from idsync.connectors.ldap.changes import Mark
from idsync.connectors.ldap.client import BASE, LdapClient
from idsync.connectors.ldap.entries import Entry, texts, under
from idsync.connectors.ldap.settings import LdapSettings
from idsync.contract.errors import AccessDenied
from idsync.contract.records import ObjectType, Removals
from idsync.errors.catalogue import LDAP_BASE_MISSING
from idsync.logs import get_logger

log = get_logger("idsync.connectors.ldap")

SWEEP = "each incremental read lists every entry still in the bases; the rest is gone"
SYNCREPL = (
    "the server reports each deletion since the last cycle, and each entry moved out of "
    "the bases or the filter (RFC 4533 content synchronisation, syncprov's session log)"
)
PRESENT_PHASE = (
    "the server's session log did not reach back to the last cycle, so it listed every "
    "entry still present (RFC 4533 present phase); the rest is gone"
)
TOMBSTONES = (
    "the bind account reads the Deleted Objects container: deleted objects come from it "
    "(still in the Recycle Bin: disabled; recycled: deleted), and objects moved out of the "
    "bases or the filter from the objects changed since the last cycle"
)


def swept(why: str) -> Removals:
    return Removals("sweep", f"{why}: {SWEEP}")


class Deletions:
    """Decides, for one LDAP source, how its incremental reads see removals."""

    def __init__(self, client: LdapClient, settings: LdapSettings) -> None:
        self._client = client
        self.settings = settings

    def of_check(self, root: Entry) -> Removals:
        """How an incremental read with a current watermark sees deletions (``check``)."""
        if self.settings.dialect == "ad":
            return self.ad(root)
        why_not = self.syncrepl_unusable(root)
        if why_not is None:
            try:
                self.cookies("user")
            except (syncrepl.Unusable, syncrepl.CookieRefused) as exc:
                why_not = f"the server refused content synchronisation ({exc})"
        return swept(why_not) if why_not is not None else Removals("syncrepl", SYNCREPL)

    def of_read(self, object_type: ObjectType, since: Mark, root: Entry) -> Removals:
        """How an incremental read from ``since`` sees deletions."""
        if self.settings.dialect == "ad":
            return self.ad(root)
        why_not = self.syncrepl_unusable(root)
        if why_not is None and any(since.cookie(b) is None for b in self._bases(object_type)):
            why_not = (
                "the last cycle's watermark holds no sync cookie for every base (this read "
                "takes them, for the next one)"
            )
        return swept(why_not) if why_not is not None else Removals("syncrepl", SYNCREPL)

    # --- OpenLDAP: content synchronisation -------------------------------------------------

    def syncrepl_unusable(self, root: Entry) -> str | None:
        """Why content synchronisation (RFC 4533) cannot serve this integration; None if it can."""
        settings = self.settings
        if settings.dialect != "openldap":
            return "Active Directory does not offer it"
        if settings.deletions == "sweep":
            return "the integration's deletions setting is sweep"
        if settings.anchor_attribute.lower() != "entryuuid":
            # Sync messages name entries by entryUUID only (RFC 4533 §2.1).
            return (
                f"the anchor is {settings.anchor_attribute}, and the server names entries "
                "by entryUUID"
            )
        if syncrepl.SYNC_REQUEST_OID not in texts(root, "supportedControl"):
            return "the server does not offer RFC 4533 content synchronisation (no syncprov)"
        return None

    def with_cookies(self, object_type: ObjectType, mark: Mark | None) -> tuple[Mark | None, str]:
        """``mark`` with a fresh sync cookie per base; else ``mark`` and why the server
        gives none (content synchronisation being usable otherwise)."""
        if mark is None:  # contextCSN is syncprov's: without it, no sync state either
            return mark, "the database of the bases keeps no contextCSN (no syncprov overlay on it)"
        try:
            return mark.with_cookies(self.cookies(object_type)), ""
        except (syncrepl.Unusable, syncrepl.CookieRefused) as exc:
            log.info(
                "ldap.syncrepl_unavailable", integration=self.settings.integration, reason=str(exc)
            )
            return mark, f"the server refused content synchronisation ({exc})"

    def cookies(self, object_type: ObjectType) -> dict[str, bytes]:
        """The server's sync cookie for each base, now: a base-scope refreshOnly search
        (one entry, no attributes). OpenLDAP's cookie names the database's contextCSN
        only (``rid=…,csn=…``), not the search that got it: it is the cookie a refresh of
        the whole content would end with at this moment, without reading that content."""
        cookies: dict[str, bytes] = {}
        for base in self._bases(object_type):
            refresh = self._client.sync(base, "(objectClass=*)", ["1.1"], None, scope=BASE)
            if refresh.cookie is None:
                raise syncrepl.Unusable("the server gave no cookie (it has no change state yet)")
            cookies[base] = refresh.cookie
        return cookies

    # --- Active Directory: tombstones ---------------------------------------------------------

    def ad(self, root: Entry) -> Removals:
        """How an incremental read sees deletions on AD: from the tombstones only on proof.

        An account without rights on the Deleted Objects container still *finds* it
        under the Show Deleted control, but sees none of its attributes and none of the
        tombstones in it (Samba and AD alike; Microsoft: "Retrieving Deleted Objects"):
        an empty answer proves nothing. The container itself carries ``isDeleted=TRUE``;
        an account that reads that value back reads the tombstones. Objects moved out of
        the bases are no tombstones: they are found among the objects changed since the
        last cycle, within the domain's naming context.
        """
        settings = self.settings
        if settings.deletions == "sweep":
            return swept("the integration's deletions setting is sweep")
        why_not = self._deleted_objects_unreadable(root)
        if why_not is None and not self._in_domain(root):
            why_not = "a base lies outside the domain's naming context"
        if why_not is None:
            return Removals("tombstones", TOMBSTONES)
        if settings.deletions == "tombstones":
            raise self._client.failures.deleted_objects_unreadable(why_not)
        log.info("ldap.tombstones_unreadable", integration=settings.integration, reason=why_not)
        return swept(f"{settings.bind_dn} cannot read the Deleted Objects container ({why_not})")

    def _in_domain(self, root: Entry) -> bool:
        contexts = texts(root, "defaultNamingContext")
        bases = (*self.settings.user_base_dns, *self.settings.group_base_dns)
        return bool(contexts) and all(under(base, contexts[:1]) for base in bases)

    def _deleted_objects_unreadable(self, root: Entry) -> str | None:
        """Why the bind account cannot read the Deleted Objects container; None if it can."""
        contexts = texts(root, "defaultNamingContext")
        if not contexts:
            return "the rootDSE names no defaultNamingContext"
        try:
            found = self._client.search(
                ad.deleted_objects_base(contexts[0]),
                "(objectClass=*)",
                ["isDeleted"],
                scope=BASE,
                controls=[(ad.deleted_control(texts(root, "supportedControl")), True, None)],
            )
        except AccessDenied as exc:
            hidden = exc.error is LDAP_BASE_MISSING
            return "the container is hidden from it" if hidden else "access to it is denied"
        if not found:
            return "the container is hidden from it"
        if not ad.is_deleted(found[0].attributes):
            return "it sees the container but not its attributes nor what it holds"
        return None

    def _bases(self, object_type: ObjectType) -> tuple[str, ...]:
        settings = self.settings
        return settings.user_base_dns if object_type == "user" else settings.group_base_dns
