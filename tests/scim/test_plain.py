"""Plain documents: whenever ``plain_document`` answers, it answers what the org's
scim2-models model accepts and dumps; otherwise it declines and the model decides."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from scim2_models import Context, SCIMException

from idsync.errors.catalogue import IdsyncError
from idsync.scim.attributes import AttributeDef
from idsync.scim.compat import normalise_resource
from idsync.scim.plain import plain_document
from idsync.scim.provider import CustomSchema, ServiceDescription, default_description, describe
from idsync.scim.resource_types import ResourceTypeSchema

CUSTOM = "urn:example:params:scim:schemas:extension:test:2.0:User"
DESCRIPTIONS = {
    "built-in": default_description(),
    "custom": describe(
        [
            CustomSchema(
                "User",
                True,
                {
                    "id": CUSTOM,
                    "name": "Test",
                    "attributes": [
                        {"name": "badge", "type": "string", "required": True},
                        {"name": "level", "type": "integer"},
                        {"name": "score", "type": "decimal"},
                        {"name": "remote", "type": "boolean"},
                        {"name": "tags", "type": "string", "multiValued": True},
                        {"name": "hired", "type": "dateTime"},
                        {"name": "serial", "type": "string", "mutability": "readOnly"},
                        {
                            "name": "desk",
                            "type": "complex",
                            "subAttributes": [
                                {"name": "floor", "type": "integer", "required": True},
                                {"name": "room", "type": "string"},
                            ],
                        },
                    ],
                },
            )
        ]
    ),
}
CONTEXTS = (Context.RESOURCE_CREATION_REQUEST, Context.RESOURCE_REPLACEMENT_REQUEST)

# Values of every JSON type: most are wrong for any one attribute, which is the point.
scalars = st.one_of(
    st.text(max_size=12),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.none(),
    st.sampled_from(["true", "1", "2026-12-05T10:00:00Z", "https://example.com/a", "QUJD", ""]),
)


def _spelling(name: str) -> st.SearchStrategy[str]:
    return st.sampled_from([name, name.lower(), name.upper()])


def _well_typed(attribute: AttributeDef) -> st.SearchStrategy[Any]:
    simple: dict[str, st.SearchStrategy[Any]] = {
        "string": st.text(max_size=12),
        "boolean": st.booleans(),
        "integer": st.integers(-(2**40), 2**40),
        "decimal": st.floats(-100, 100),
        "dateTime": st.just("2026-12-05T10:00:00Z"),
        "reference": st.just("https://example.com/a"),
        "binary": st.just("QUJD"),
    }
    if attribute.is_complex:
        return _object(attribute.sub_attributes)
    return simple[attribute.type]


def _any_value(attribute: AttributeDef) -> st.SearchStrategy[Any]:
    """Nine times in ten of the attribute's type; else anything."""
    good = _well_typed(attribute)
    if attribute.multi_valued:
        good = st.lists(good, min_size=1, max_size=3)
    bad = st.one_of(scalars, st.lists(scalars, max_size=2), st.just([]))
    return st.integers(0, 9).flatmap(lambda n: good if n else bad)


def _object(attributes: Mapping[str, AttributeDef]) -> st.SearchStrategy[dict[str, Any]]:
    """A JSON object over ``attributes``: some of them, any spelling, at times a stranger.

    Mostly attributes whose values can be plain; one time in ten each, any writable
    attribute, any attribute at all (read-only ones too), a required one left out."""
    everything = sorted(attributes)
    writable = [k for k in everything if attributes[k].mutability in ("readWrite", "immutable")]
    json_typed = [
        k for k in writable if attributes[k].type in ("string", "boolean", "integer", "complex")
    ]
    required = [k for k in everything if attributes[k].required]

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        pick = draw(st.integers(0, 9))
        keys = (everything if pick == 0 else writable if pick == 1 else json_typed) or everything
        chosen = draw(st.lists(st.sampled_from(keys), min_size=1, max_size=4, unique=True))
        if draw(st.integers(0, 9)):
            chosen += [k for k in required if k not in chosen]
        body: dict[str, Any] = {}
        for key in chosen:
            attribute = attributes[key]
            body[draw(_spelling(attribute.name))] = draw(_any_value(attribute))
        if draw(st.integers(0, 9)) == 0:
            body[draw(st.sampled_from(["nickname2", "x", "Foo"]))] = draw(scalars)
        return body

    return build()


@st.composite
def bodies(draw: st.DrawFn, rts: ResourceTypeSchema) -> dict[str, Any]:
    body = draw(_object(rts.attributes))
    body["schemas"] = [rts.core_schema]
    for urn, required in rts.extensions:
        if draw(st.integers(0, 9 if required else 1)):
            block = draw(_object(rts.extension_attributes[urn.lower()]))
            body[draw(st.sampled_from([urn, urn.lower()]))] = block
            body["schemas"].append(urn)
    return body


def _model_dump(
    description: ServiceDescription, resource: dict[str, Any], ctx: Context, kind: str = "User"
) -> Any:
    model = description.models[kind].model_validate(resource, scim_ctx=ctx)
    doc = model.model_dump()
    doc.pop("id", None)
    doc.pop("meta", None)
    return doc


@pytest.mark.parametrize(
    ("name", "kind"), [("built-in", "User"), ("built-in", "Group"), ("custom", "User")]
)
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=st.data(), ctx=st.sampled_from(CONTEXTS))
def test_a_plain_document_is_what_the_model_dumps(
    name: str, kind: str, data: st.DataObject, ctx: Context
) -> None:
    description = DESCRIPTIONS[name]
    rts = description.resource_types[kind]
    try:
        resource = normalise_resource(data.draw(bodies(rts)), rts)
    except IdsyncError:
        return  # refused before validation either way
    plain = plain_document(resource, rts)
    event("plain" if plain is not None else "declined")
    if plain is None:
        return
    try:
        expected = _model_dump(description, resource, ctx, kind)
    except (ValidationError, SCIMException) as exc:
        raise AssertionError(f"plain, but the model refuses it: {exc}") from None
    assert plain == expected


BENCH_USER: dict[str, Any] = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    "userName": "ann",
    "name": {"givenName": "Ann", "familyName": "Lee"},
    "displayName": "Ann Lee",
    "emails": [{"value": "ann@example.com", "type": "work", "primary": True}],
    "active": True,
}
ENTRA_USER = {
    **BENCH_USER,
    "schemas": [
        *BENCH_USER["schemas"],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
    ],
    "externalId": "9f1c",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
        "employeeNumber": "42",
        "department": "Sales",
    },
}


@pytest.mark.parametrize("body", [BENCH_USER, ENTRA_USER], ids=["benchmark", "entra"])
def test_the_common_bodies_are_plain(body: dict[str, Any]) -> None:
    description = DESCRIPTIONS["built-in"]
    resource = normalise_resource(body, description.resource_types["User"])
    plain = plain_document(resource, description.resource_types["User"])
    assert plain is not None
    assert plain == _model_dump(description, resource, Context.RESOURCE_CREATION_REQUEST)


@pytest.mark.parametrize(
    "change",
    [
        {"active": "true"},  # pydantic would coerce it
        {"emails": [{"value": "a@b", "primary": True}, {"value": "c@d", "primary": True}]},
        {"profileUrl": "https://example.com/ann"},  # a reference: the model checks the URI
        {"id": "chosen-by-the-client"},  # read-only: the model drops it
        {"nickname2": "x"},  # unknown
        {"emails": []},
    ],
)
def test_what_only_the_model_can_judge_is_not_plain(change: dict[str, Any]) -> None:
    rts = DESCRIPTIONS["built-in"].resource_types["User"]
    assert plain_document(normalise_resource({**BENCH_USER, **change}, rts), rts) is None


def test_a_missing_required_attribute_is_not_plain() -> None:
    rts = DESCRIPTIONS["built-in"].resource_types["User"]
    body = {k: v for k, v in BENCH_USER.items() if k != "userName"}
    assert plain_document(normalise_resource(body, rts), rts) is None
