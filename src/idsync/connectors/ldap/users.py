"""LDAP person entries as user :class:`SourceObject`\\ s, under the canonical attribute names.

The default mappings (idsync.contract.mappings.DIRECTORY) read ``userName``, ``enabled``,
``displayName``… whatever directory attribute feeds them (the settings' attribute
map). LDAP has no per-attribute deltas, so every record holds every mapped
attribute: one the entry lacks is None (cleared). Passwords are never among them:
the settings refuse secret attributes and searches name their attributes.
"""

from __future__ import annotations

from typing import Any

from idsync.connectors.ldap import ad
from idsync.connectors.ldap.entries import DnIndex, Entry, anchor_of, shape, text
from idsync.connectors.ldap.failures import Failures
from idsync.connectors.ldap.settings import LdapSettings
from idsync.contract.records import Rejected, SourceObject


def user_attribute_names(settings: LdapSettings) -> list[str]:
    """What a user search asks for: anchor, mapped attributes, the disabled flag, extras."""
    names = [settings.anchor_attribute]
    for candidates in settings.user_attribute_map.values():
        names.extend(candidates)
    names.append(settings.disabled_rule.attribute)
    names.extend(settings.extra_attributes)
    return list(dict.fromkeys(names))


def user_object(
    entry: Entry, settings: LdapSettings, index: DnIndex, failures: Failures
) -> SourceObject | Rejected:
    anchor = anchor_of(entry, settings.anchor_attribute)
    if anchor is None:
        reason = f"it has no {settings.anchor_attribute} (its anchor)"
        return Rejected("user", entry.dn, failures.invalid_entry("user", entry.dn, reason))
    attributes = _attributes(entry, settings, index)
    if not attributes.get("userName"):
        names = "/".join(settings.user_attribute_map["userName"])
        reason = f"it has no {names}, which becomes the user's userName"
        error = failures.invalid_entry("user", entry.dn, reason)
        return Rejected("user", entry.dn, error, source_id=anchor)
    return SourceObject("user", anchor, attributes)


def _attributes(entry: Entry, settings: LdapSettings, index: DnIndex) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    for canonical, candidates in settings.user_attribute_map.items():
        values = entry.first(candidates)
        if canonical == "manager":
            # The manager's anchor: DNs change on moves and renames, anchors do not.
            attributes[canonical] = index.anchor(text(values[0]), "user") if values else None
        elif canonical == "userName":
            attributes[canonical] = text(values[0]) if values else None
        else:
            attributes[canonical] = shape(values)
    attributes["enabled"] = not disabled(entry, settings)
    attributes["dn"] = entry.dn
    for name in settings.extra_attributes:
        attributes[name] = shape(entry.attributes.get(name.lower()))
    return attributes


def disabled(entry: Entry, settings: LdapSettings) -> bool:
    rule = settings.disabled_rule
    values = entry.attributes.get(rule.attribute.lower())
    if not values:
        return False
    return rule.bit is None or ad.flag_set(text(values[0]), rule.bit)
