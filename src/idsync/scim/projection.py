"""``attributes`` and ``excludedAttributes`` (RFC 7644 §3.4.2.5, §3.9), applied to a rendered resource.

The ``returned`` characteristic (RFC 7643 §2.2) decides what survives:
``always`` is kept whatever is asked, ``never`` is never shown, ``request``
only when named in ``attributes``, ``default`` unless excluded (or, when
``attributes`` is given, unless not named).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from idsync.errors.catalogue import INVALID_PARAMETER, IdsyncError
from idsync.scim.attributes import AttributeDef
from idsync.scim.resource_types import ResourceTypeSchema, parse_attr_path

TopKey = tuple[str | None, str]
"""(extension URN or None, lowercased attribute name)."""


@dataclass(frozen=True)
class Selection:
    whole: frozenset[TopKey] = frozenset()
    subs: Mapping[TopKey, frozenset[str]] = field(default_factory=dict)
    extensions: frozenset[str] = frozenset()
    """Extensions named as a whole by their bare URN."""

    def names(self, key: TopKey) -> bool:
        return (
            key in self.whole
            or key in self.subs
            or (key[0] is not None and key[0] in self.extensions)
        )


@dataclass(frozen=True)
class Projection:
    include: Selection | None = None
    exclude: Selection | None = None

    @property
    def is_default(self) -> bool:
        return self.include is None and self.exclude is None

    def returns(self, attribute: AttributeDef, extension: str | None = None) -> bool:
        """Whether a top-level attribute will be in the response (e.g. to skip loading members)."""
        key = (extension, attribute.name.lower())
        if attribute.returned == "always":
            return True
        if attribute.returned == "never":
            return False
        if self.include is not None:
            return self.include.names(key)
        if attribute.returned == "request":
            return False
        return not (
            self.exclude is not None
            and (
                key in self.exclude.whole
                or (extension is not None and extension in self.exclude.extensions)
            )
        )

    def apply(self, resource: dict[str, Any], rts: ResourceTypeSchema) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in resource.items():
            if key == "schemas":
                result[key] = value
                continue
            extension = rts.extension_urn(key) if key.startswith("urn:") else None
            if extension is not None:
                block = self._apply_block(value, rts, extension)
                if block:
                    result[key] = block
                continue
            attribute = rts.attributes.get(key.lower())
            kept = self._apply_attribute(key, value, attribute, None)
            if kept is not _DROP:
                result[key] = kept
        return result

    def _apply_block(
        self, block: dict[str, Any], rts: ResourceTypeSchema, urn: str
    ) -> dict[str, Any]:
        definitions = rts.extension_attributes[urn.lower()]
        kept_block: dict[str, Any] = {}
        for key, value in block.items():
            kept = self._apply_attribute(key, value, definitions.get(key.lower()), urn)
            if kept is not _DROP:
                kept_block[key] = kept
        return kept_block

    def _apply_attribute(
        self, key: str, value: Any, attribute: AttributeDef | None, extension: str | None
    ) -> Any:
        if attribute is None:
            return value
        if not self.returns(attribute, extension):
            return _DROP
        top: TopKey = (extension, attribute.name.lower())
        if attribute.returned == "always" or not attribute.is_complex:
            return value
        if self.include is not None and top not in self.include.whole and top in self.include.subs:
            return _filter_subs(value, attribute, keep=self.include.subs[top])
        if self.exclude is not None and top in self.exclude.subs:
            return _filter_subs(value, attribute, drop=self.exclude.subs[top])
        return _filter_subs(value, attribute) if _has_hidden_subs(attribute) else value


class _Drop:
    pass


_DROP = _Drop()


def _has_hidden_subs(attribute: AttributeDef) -> bool:
    return any(s.returned in ("never", "request") for s in attribute.sub_attributes.values())


def _filter_subs(
    value: Any,
    attribute: AttributeDef,
    keep: frozenset[str] | None = None,
    drop: frozenset[str] = frozenset(),
) -> Any:
    def one(entry: Any) -> Any:
        if not isinstance(entry, dict):
            return entry
        out = {}
        for k, v in entry.items():
            sub = attribute.sub(k)
            name = k.lower()
            if sub is not None and sub.returned == "always":
                out[k] = v
            elif sub is not None and sub.returned == "never":
                continue
            elif keep is not None:
                if name in keep:
                    out[k] = v
            elif name not in drop and (sub is None or sub.returned != "request"):
                out[k] = v
        return out

    if isinstance(value, list):
        return [e for e in (one(v) for v in value) if e]
    return one(value)


def parse_selection(
    paths: Iterable[str], rts: ResourceTypeSchema, *, parameter: str, strict: bool = True
) -> Selection:
    """Read attribute paths (``name.givenName``, a full URN path, or a bare extension URN)."""
    whole: set[TopKey] = set()
    subs: dict[TopKey, set[str]] = {}
    extensions: set[str] = set()
    for text in paths:
        text = text.strip()
        if not text:
            continue
        bare = rts.extension_urn(text)
        if bare is not None:
            extensions.add(bare)
            continue
        parsed = parse_attr_path(text)
        resolved = rts.resolve(parsed) if parsed is not None else None
        if resolved is None:
            if strict:
                raise IdsyncError(
                    INVALID_PARAMETER,
                    name=parameter,
                    reason=f"{rts.name} has no attribute {text!r}",
                )
            continue
        key: TopKey = (resolved.extension, resolved.attribute.name.lower())
        if resolved.sub is None:
            whole.add(key)
        else:
            subs.setdefault(key, set()).add(resolved.sub.name.lower())
    return Selection(
        whole=frozenset(whole),
        subs={k: frozenset(v) for k, v in subs.items()},
        extensions=frozenset(extensions),
    )


def split_list(raw: str | list[str] | None) -> list[str]:
    """``attributes=a,b`` in a URL, or a list in a SearchRequest body."""
    if raw is None:
        return []
    items = raw if isinstance(raw, list) else raw.split(",")
    return [item.strip() for item in items if isinstance(item, str) and item.strip()]


def build_projection(
    attributes: list[str], excluded: list[str], rts: ResourceTypeSchema, *, strict: bool = True
) -> Projection:
    if attributes and excluded:
        raise IdsyncError(
            INVALID_PARAMETER,
            name="attributes",
            reason="attributes and excludedAttributes cannot be combined (RFC 7644 §3.4.2.5)",
        )
    include = (
        parse_selection(attributes, rts, parameter="attributes", strict=strict)
        if attributes
        else None
    )
    exclude = (
        parse_selection(excluded, rts, parameter="excludedAttributes", strict=strict)
        if excluded
        else None
    )
    return Projection(include=include, exclude=exclude)
