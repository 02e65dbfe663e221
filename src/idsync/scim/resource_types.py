"""A resource type and the schemas it carries (RFC 7643 §6), with attribute resolution.

Resolution turns an attribute path as a client writes it (``name.givenName``,
``urn:…:enterprise:2.0:User:manager.value``, ``EMAILS``) into the definitions
it designates, case-insensitively (RFC 7643 §2.1), and into the keys the
attribute is stored under in a resource's JSON document.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

from scim2_models.path import AttrPath

from idsync.scim.attributes import COMMON_ATTRIBUTES, AttributeDef


@dataclass(frozen=True)
class Resolved:
    """An attribute path bound to its definitions."""

    attribute: AttributeDef
    sub: AttributeDef | None
    extension: str | None
    """The extension URN the attribute lives under in the document, if not core."""

    @property
    def target(self) -> AttributeDef:
        """The attribute whose value is compared: the sub-attribute when there is one."""
        return self.sub or self.attribute

    @property
    def doc_keys(self) -> tuple[str, ...]:
        """Keys from the document root to the (head) attribute, canonical spelling."""
        head = (self.attribute.name,)
        return (self.extension, *head) if self.extension else head


@dataclass(frozen=True)
class ResourceTypeSchema:
    name: str
    endpoint: str
    core_schema: str
    extensions: tuple[tuple[str, bool], ...]
    """(URN, required) for each extension, canonical spelling."""
    attributes: Mapping[str, AttributeDef]
    """Core and common attributes by lowercased name."""
    extension_attributes: Mapping[str, Mapping[str, AttributeDef]]
    """Extension attributes by lowercased URN, then lowercased name."""

    def extension_urn(self, urn: str) -> str | None:
        """The canonical spelling of an extension URN this type carries, if it does."""
        lowered = urn.lower()
        return next((u for u, _ in self.extensions if u.lower() == lowered), None)

    def resolve(self, path: AttrPath) -> Resolved | None:
        """Bind a parsed attribute path, or None when this type has no such attribute."""
        extension: str | None = None
        if path.uri is None or path.uri.lower() == self.core_schema.lower():
            attribute = self.attributes.get(path.attr.lower())
            if attribute is None and path.uri is None:
                # Entra writes `manager eq "…"` for the enterprise extension's manager:
                # an unqualified name no core attribute has, that exactly one extension has.
                extension = self._only_extension_with(path.attr)
                if extension is not None:
                    attribute = self.extension_attributes[extension.lower()][path.attr.lower()]
        else:
            extension = self.extension_urn(path.uri)
            if extension is None:
                return None
            attribute = self.extension_attributes[extension.lower()].get(path.attr.lower())
        if attribute is None:
            return None
        sub = None
        if path.sub_attr is not None:
            sub = attribute.sub(path.sub_attr)
            if sub is None:
                return None
        return Resolved(attribute=attribute, sub=sub, extension=extension)

    def _only_extension_with(self, name: str) -> str | None:
        owners = [
            urn
            for urn, _ in self.extensions
            if name.lower() in self.extension_attributes[urn.lower()]
        ]
        return owners[0] if len(owners) == 1 else None

    def resolve_text(self, text: str) -> Resolved | None:
        """Bind an attribute path given as text (``attributes=``, ``sortBy=``)."""
        parsed = parse_attr_path(text)
        return None if parsed is None else self.resolve(parsed)

    @cached_property
    def has_hidden_attributes(self) -> bool:
        """Whether a stored attribute is returned only on request, or never (e.g. a custom PIN).

        The core ``password`` does not count: the hub keeps only its hash, outside the document.
        """
        hidden = ("never", "request")
        return any(
            a.returned in hidden or any(s.returned in hidden for s in a.sub_attributes.values())
            for extension, a in self.all_attributes()
            if extension is not None or a.name != "password"
        )

    def all_attributes(self) -> list[tuple[str | None, AttributeDef]]:
        """Every top-level attribute with the extension URN it lives under."""
        found: list[tuple[str | None, AttributeDef]] = [(None, a) for a in self.attributes.values()]
        for urn, _ in self.extensions:
            found.extend((urn, a) for a in self.extension_attributes[urn.lower()].values())
        return found


def build_resource_type(
    name: str,
    endpoint: str,
    core: tuple[str, Mapping[str, AttributeDef]],
    extensions: list[tuple[str, bool, Mapping[str, AttributeDef]]],
) -> ResourceTypeSchema:
    core_urn, core_attributes = core
    return ResourceTypeSchema(
        name=name,
        endpoint=endpoint,
        core_schema=core_urn,
        extensions=tuple((urn, required) for urn, required, _ in extensions),
        attributes={**COMMON_ATTRIBUTES, **core_attributes},
        extension_attributes={urn.lower(): attrs for urn, _, attrs in extensions},
    )


def parse_attr_path(text: str) -> AttrPath | None:
    """Parse ``[URN ":"] name ["." sub]`` as used by ``attributes`` and ``sortBy``.

    A bare schema URN (a whole extension) is not an attribute path; callers that
    accept one check ``ResourceTypeSchema.extension_urn`` first.
    """
    text = text.strip()
    if not text:
        return None
    uri: str | None = None
    rest = text
    if text.lower().startswith("urn:"):
        uri, _, rest = text.rpartition(":")
    attr, _, sub = rest.partition(".")
    try:
        return AttrPath(attr=attr, sub_attr=sub or None, uri=uri)
    except ValueError:
        return None
