"""Named switches for the ways real SCIM applications deviate from RFC 7644.

Every switch defaults to what the RFC says; an integration turns on only the
deviations its application needs. Presets bundle the usual combinations.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from idsync.errors.catalogue import INVALID_INTEGRATION, IdsyncError

_CHOICES: dict[str, tuple[Any, ...]] = {
    "bulk": ("auto", "off"),
    "update": ("patch", "put"),
    "member_remove": ("path-filter", "value-list"),
    "filter": ("auto", "eq", "off"),
    "value_paths": (True, False),
}


@dataclass(frozen=True, slots=True)
class Compat:
    bulk: str = "auto"
    """``auto``: use /Bulk when ServiceProviderConfig says so (RFC 7644 §3.7); ``off``: never
    (applications that advertise Bulk but answer it wrongly, or not at all)."""
    update: str = "patch"
    """``patch`` (RFC 7644 §3.5.2) or ``put``: the whole resource (applications without PATCH)."""
    member_remove: str = "path-filter"
    """``path-filter``: ``{"op":"remove","path":"members[value eq \\"id\\"]"}`` (RFC 7644
    §3.5.2.2); ``value-list``: ``{"op":"remove","path":"members","value":[{"value":id}]}``,
    the form Microsoft Entra sends and many applications built for it expect."""
    filter: str = "auto"
    """``auto``: match with ``filter`` (RFC 7644 §3.4.2.2), up to 50 ``eq`` terms joined by
    ``or`` per request; ``eq``: one ``eq`` per request, as Microsoft Entra sends
    (applications that index a single comparison but scan for an ``or``, as scim2-server's
    in-memory storage does); ``off``: list and compare here (applications whose filter is
    missing or broken)."""
    value_paths: bool = True
    """True: PATCH ``emails[type eq "work"].value``; False: replace the whole multi-valued
    attribute (applications that reject value-path filters in PATCH paths)."""

    def __post_init__(self) -> None:
        for name, choices in _CHOICES.items():
            if getattr(self, name) not in choices:
                raise IdsyncError(
                    INVALID_INTEGRATION,
                    reason=f"compat {name}={getattr(self, name)!r} is not one of "
                    + ", ".join(str(c).lower() for c in choices),
                    hint="See docs/scim-push.md, 'Compatibility switches'.",
                )

    def describe(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


PRESETS: dict[str, Compat] = {
    "rfc": Compat(),
    # What Microsoft Entra provisioning sends: no Bulk, one object per request, members
    # removed by value list. Applications "built for Entra" often accept nothing else.
    "entra-compatible": Compat(bulk="off", member_remove="value-list"),
    # Applications that implement only GET/POST/PUT/DELETE.
    "no-patch": Compat(bulk="off", update="put", value_paths=False),
    # Minimal implementations: no Bulk, no working filter, no value paths.
    "minimal": Compat(bulk="off", filter="off", value_paths=False),
}


def parse_compat(value: Any) -> Compat:
    """A Compat from settings: a preset name, ``key=value`` words (comma-separated or a
    list, presets first, later words win), or a mapping of switches."""
    if value is None or value == "":
        return Compat()
    if isinstance(value, Compat):
        return value
    if isinstance(value, Mapping):
        return _apply(Compat(), value)
    words = value.split(",") if isinstance(value, str) else list(value)
    return _from_words(words)


def _from_words(words: Iterable[Any]) -> Compat:
    compat = Compat()
    for word in (str(w).strip() for w in words):
        if not word:
            continue
        name, sep, setting = word.partition("=")
        if not sep:
            if word not in PRESETS:
                raise _unknown(f"unknown compat preset {word!r}")
            compat = PRESETS[word]
            continue
        compat = _apply(compat, {name.strip(): setting.strip()})
    return compat


def _apply(compat: Compat, switches: Mapping[str, Any]) -> Compat:
    changes: dict[str, Any] = {}
    for raw, setting in switches.items():
        name = str(raw).replace("-", "_")
        if name not in _CHOICES:
            raise _unknown(f"unknown compat switch {raw!r}")
        changes[name] = _boolean(setting) if name == "value_paths" else str(setting).lower()
    return replace(compat, **changes)


def _boolean(setting: Any) -> Any:
    if isinstance(setting, bool):
        return setting
    text = str(setting).lower()
    return {"true": True, "on": True, "yes": True, "false": False, "off": False, "no": False}.get(
        text, setting
    )


def _unknown(reason: str) -> IdsyncError:
    return IdsyncError(
        INVALID_INTEGRATION,
        reason=reason,
        hint="Presets: " + ", ".join(PRESETS) + "; switches: " + ", ".join(_CHOICES) + ".",
    )
