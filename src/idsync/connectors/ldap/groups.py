"""LDAP group entries as group :class:`SourceObject`\\ s with their whole member list.

``member`` / ``uniqueMember`` (RFC 4519) hold DNs: they are resolved to anchors
through the sweep's index, and members outside what the integration reads are
skipped. ``members_complete``: an LDAP group always says who all its members are,
so the engine replaces the memberships and sends the target only the difference.
Nested groups are flattened to their users, or reported as group members ("direct").
"""

from __future__ import annotations

from idsync.connectors.ldap.entries import DnIndex, Entry, anchor_of, text
from idsync.connectors.ldap.failures import Failures
from idsync.connectors.ldap.settings import LdapSettings
from idsync.contract.records import Rejected, SourceObject
from idsync.logs import get_logger

log = get_logger("idsync.connectors.ldap")


def group_attribute_names(settings: LdapSettings, *, members: bool = True) -> list[str]:
    names = [settings.anchor_attribute, *settings.group_name_attributes]
    if members:
        names.extend(settings.member_requests)
    return list(dict.fromkeys(names))


def group_object(
    entry: Entry,
    member_dns: list[str],
    settings: LdapSettings,
    index: DnIndex,
    failures: Failures,
) -> SourceObject | Rejected:
    anchor = anchor_of(entry, settings.anchor_attribute)
    if anchor is None:
        reason = f"it has no {settings.anchor_attribute} (its anchor)"
        return Rejected("group", entry.dn, failures.invalid_entry("group", entry.dn, reason))
    name = entry.first(settings.group_name_attributes)
    if not name:
        reason = f"it has no {'/'.join(settings.group_name_attributes)} for its displayName"
        error = failures.invalid_entry("group", entry.dn, reason)
        return Rejected("group", entry.dn, error, source_id=anchor)
    members, skipped = index.resolve(member_dns, flatten=settings.nested == "flatten")
    if skipped:
        log.debug("ldap.members_skipped", group=entry.dn, count=skipped)
    return SourceObject(
        "group",
        anchor,
        {"displayName": text(name[0]), "dn": entry.dn},
        members_added=tuple(members),
        members_complete=True,
    )
