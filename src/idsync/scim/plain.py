"""Plain documents: the common write body, checked without building scim2-models models.

The hub validates every POST, PUT and PATCH result with the scim2-models resource
model of the org (RFC 7643 §2, §7: types, required attributes, mutability, primary
uniqueness) and stores what the model dumps. That is most of a POST's time: the
models run a wrap validator and an after validator on every object of the body, and
measured on the benchmark's user, validating and dumping cost ~185 µs of the
~1 ms a POST takes on one worker.

Most bodies are plain: known attributes in the org's schemas, each value already of
its JSON type (a string for a string, ``true`` for a boolean), no read-only or
write-only attribute, at most one ``primary``. For those, the model's dump is the
body with every name in its schema's spelling, which :func:`plain_document` builds
directly. Everything else (a value pydantic would coerce or refuse, a dateTime,
reference, binary or decimal to check, a missing required attribute, an unknown
name, a read-only attribute the model would drop) is not plain: the function
returns None and the caller validates with the model as before, errors included.
``tests/scim/test_plain.py`` checks, on generated bodies, that a plain document is
always exactly what the model dumps.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from idsync.scim.attributes import AttributeDef
from idsync.scim.resource_types import ResourceTypeSchema

_JSON_TYPES: dict[str, type] = {"string": str, "boolean": bool, "integer": int}
"""Attribute types whose plain value is one JSON type, taken as is by the models.

``type(value) is`` is the test: a bool is an int to ``isinstance``, and pydantic
turns ``1`` into ``True`` for a boolean. dateTime, reference, binary and decimal
values are parsed or checked by the models, so they are never plain."""
_WRITABLE = ("readWrite", "immutable")


class _NotPlain(Exception):
    """The body needs the model: raised inside, answered by None outside."""


def plain_document(resource: Mapping[str, Any], rts: ResourceTypeSchema) -> dict[str, Any] | None:
    """What the org's model would dump for ``resource``, or None if only it can tell.

    ``resource`` is a body as ``compat.normalise_resource`` leaves it: a dict whose
    ``schemas`` lists canonical URNs and whose extension keys are canonical.
    """
    try:
        return _document(resource, rts)
    except _NotPlain:
        return None


def _document(resource: Mapping[str, Any], rts: ResourceTypeSchema) -> dict[str, Any]:
    document: dict[str, Any] = {"schemas": list(resource["schemas"])}
    for key, value in resource.items():
        if key == "schemas":
            continue
        extension = rts.extension_attributes.get(key.lower()) if key[:4].lower() == "urn:" else None
        if extension is not None:
            document[key] = _object(value, extension)
        else:
            attribute = _attribute(rts.attributes, key)
            document[attribute.name] = _value(value, attribute)
    _require(document, rts.attributes)
    for urn, required in rts.extensions:
        if required and urn not in document:
            raise _NotPlain
    return document


def _attribute(attributes: Mapping[str, AttributeDef], key: str) -> AttributeDef:
    attribute = attributes.get(key.lower())
    if attribute is None or attribute.mutability not in _WRITABLE:
        raise _NotPlain
    return attribute


def _object(value: Any, attributes: Mapping[str, AttributeDef]) -> dict[str, Any]:
    """A complex value (or an extension's block): every key known, writable and plain."""
    if type(value) is not dict or not value:
        raise _NotPlain
    checked: dict[str, Any] = {}
    for key, item in value.items():
        attribute = _attribute(attributes, key)
        checked[attribute.name] = _value(item, attribute)
    _require(checked, attributes)
    return checked


def _value(value: Any, attribute: AttributeDef) -> Any:
    if attribute.multi_valued:
        if type(value) is not list or not value:
            raise _NotPlain
        items = [_single(item, attribute) for item in value]
        if attribute.is_complex and sum(item.get("primary") is True for item in items) > 1:
            raise _NotPlain  # the model names the error (RFC 7643 §2.4)
        return items
    return _single(value, attribute)


def _single(value: Any, attribute: AttributeDef) -> Any:
    if attribute.is_complex:
        return _object(value, attribute.sub_attributes)
    if type(value) is not _JSON_TYPES.get(attribute.type):
        raise _NotPlain
    return value


def _require(checked: Mapping[str, Any], attributes: Mapping[str, AttributeDef]) -> None:
    """A required attribute missing: the model's error (RFC 7643 §2.2 ``required``)."""
    for attribute in attributes.values():
        if attribute.required and attribute.name not in checked:
            raise _NotPlain
