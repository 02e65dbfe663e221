"""Filters run as SQL (RFC 7644 §3.4.2.2), checked against scim2-models' own evaluator.

The same users are stored in the hub and kept as scim2-models objects; every
filter must select on the server exactly what ``ScimFilter.match`` selects in
Python. The table pins the grammar's corners; the property test throws
generated filters at both.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scim2_models import Context, ScimFilter

from idsync.scim.provider import default_description
from tests.conftest import Org
from tests.scimdata import ENTERPRISE, USER

PEOPLE: list[dict[str, Any]] = [
    {
        "userName": "bjensen@example.com",
        "displayName": "Barbara Jensen",
        "title": "Tour Guide",
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "active": True,
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": True},
            {"value": "babs@jensen.org", "type": "home"},
        ],
        ENTERPRISE: {"employeeNumber": "701984", "department": "Tour Operations"},
    },
    {
        "userName": "jsmith@example.com",
        "displayName": "John Smith",
        "active": False,
        "name": {"givenName": "John", "familyName": "Smith"},
        "emails": [{"value": "john@smith.example.org", "type": "work"}],
        ENTERPRISE: {"employeeNumber": "1002", "department": "Finance"},
    },
    {
        "userName": "Zoë.Ångström@Example.com",
        "displayName": "Zoë Ångström",
        "title": "CTO",
        "name": {"givenName": "Zoë", "familyName": "Ångström"},
        "active": True,
        "emails": [{"value": "zoe@example.com", "type": "other"}],
    },
    {
        "userName": "mdoe@example.com",
        "active": True,
        "nickName": "",
        "phoneNumbers": [{"value": "+1-201-555-0123", "type": "mobile"}],
        "addresses": [{"type": "work", "locality": "Hollywood", "country": "US"}],
    },
    {
        "userName": "a_b%c@example.com",
        "displayName": "Percent_Underscore",
        "active": True,
        "title": "100% sure",
        "emails": [{"value": "a_b%c@example.com", "type": "work"}],
    },
    {"userName": "noattrs@example.com"},
]

FILTERS = [
    ('userName eq "BJENSEN@example.com"', {"bjensen@example.com"}),
    ('userName ne "bjensen@example.com"', "all-but:bjensen@example.com"),
    ('userName sw "J"', {"jsmith@example.com"}),
    ('userName ew "@EXAMPLE.com"', "all"),
    ('userName co "%"', {"a_b%c@example.com"}),
    ('userName co "_"', {"a_b%c@example.com"}),
    ('userName eq "zoë.ångström@example.com"', {"Zoë.Ångström@Example.com"}),
    ('displayName co "JENSEN"', {"bjensen@example.com"}),
    ("title pr", {"bjensen@example.com", "Zoë.Ångström@Example.com", "a_b%c@example.com"}),
    ("nickName pr", set()),
    ("not (title pr)", {"jsmith@example.com", "mdoe@example.com", "noattrs@example.com"}),
    ('title ne "CTO"', "all-but:Zoë.Ångström@Example.com"),
    ("active eq false", {"jsmith@example.com"}),
    (
        "active eq true and title pr",
        {"bjensen@example.com", "Zoë.Ångström@Example.com", "a_b%c@example.com"},
    ),
    ('name.familyName eq "jensen"', {"bjensen@example.com"}),
    ('name.givenName sw "Zo"', {"Zoë.Ångström@Example.com"}),
    (
        'emails co "example.com"',
        {"bjensen@example.com", "Zoë.Ångström@Example.com", "a_b%c@example.com"},
    ),
    (
        'emails[type eq "work" and value co "@example"]',
        {"bjensen@example.com", "a_b%c@example.com"},
    ),
    ('emails[type eq "home"]', {"bjensen@example.com"}),
    ('emails[type eq "work"].value eq "john@smith.example.org"', {"jsmith@example.com"}),
    ('emails.type eq "other"', {"Zoë.Ångström@Example.com"}),
    (
        "emails pr",
        {
            "bjensen@example.com",
            "jsmith@example.com",
            "Zoë.Ångström@Example.com",
            "a_b%c@example.com",
        },
    ),
    ('emails ne "zoe@example.com"', "all-but:Zoë.Ångström@Example.com"),
    ('phoneNumbers[type eq "mobile" and value sw "+1"]', {"mdoe@example.com"}),
    ('addresses[locality eq "hollywood"]', {"mdoe@example.com"}),
    (f'{ENTERPRISE}:employeeNumber eq "701984"', {"bjensen@example.com"}),
    (f'{ENTERPRISE}:department sw "tour"', {"bjensen@example.com"}),
    (f"{ENTERPRISE}:department pr", {"bjensen@example.com", "jsmith@example.com"}),
    (
        'userName eq "mdoe@example.com" or userName eq "jsmith@example.com" and active eq true',
        {"mdoe@example.com"},
    ),
    (
        '(userName eq "mdoe@example.com" or userName eq "jsmith@example.com") and active eq true',
        {"mdoe@example.com"},
    ),
    # noattrs@ is active: the hub's users are active unless something deactivates them.
    ('not (userName eq "mdoe@example.com" or active eq true)', {"jsmith@example.com"}),
    (f'{USER}:userName eq "mdoe@example.com"', {"mdoe@example.com"}),
    ('meta.resourceType eq "User"', "all"),
    ('meta.created gt "2000-01-01T00:00:00Z"', "all"),
    ('meta.lastModified lt "2000-01-01T00:00:00Z"', set()),
    ('meta.version eq "W/\\"1\\""', "all"),
    ("userName eq null", set()),
    ("title eq null", {"jsmith@example.com", "mdoe@example.com", "noattrs@example.com"}),
]


@pytest.fixture(scope="module")
def people(database: Any, server: Any) -> tuple[httpx.Client, dict[str, str]]:
    from tests.conftest import make_org

    org: Org = make_org(database, server)
    client = httpx.Client(
        base_url=org.scim_url,
        timeout=30,
        headers={"Authorization": f"Bearer {org.token}", "Content-Type": "application/scim+json"},
    )
    ids = {}
    for person in PEOPLE:
        schemas = [USER] + ([ENTERPRISE] if ENTERPRISE in person else [])
        response = client.post("/Users", json={"schemas": schemas, **person})
        assert response.status_code == 201, response.text
        ids[response.json()["userName"]] = response.json()["id"]
    return client, ids


def server_selects(client: httpx.Client, expression: str) -> set[str]:
    response = client.get("/Users", params={"filter": expression, "count": "1000"})
    assert response.status_code == 200, f"{expression}: {response.text}"
    body = response.json()
    assert body["totalResults"] == len(body["Resources"])
    return {r["userName"] for r in body["Resources"]}


def expected_set(expected: Any) -> set[str]:
    everyone = {p["userName"] for p in PEOPLE}
    if expected == "all":
        return everyone
    if isinstance(expected, str) and expected.startswith("all-but:"):
        return everyone - {expected.removeprefix("all-but:")}
    return set(expected)


@pytest.mark.parametrize(("expression", "expected"), FILTERS, ids=[f for f, _ in FILTERS])
def test_filter_selects(
    people: tuple[httpx.Client, dict[str, str]], expression: str, expected: Any
) -> None:
    client, _ = people
    assert server_selects(client, expression) == expected_set(expected)


def test_filter_in_search_body_selects_the_same(
    people: tuple[httpx.Client, dict[str, str]],
) -> None:
    client, _ = people
    for expression, expected in FILTERS[:10]:
        response = client.post(
            "/Users/.search",
            json={
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                "filter": expression,
                "count": 1000,
            },
        )
        assert {r["userName"] for r in response.json()["Resources"]} == expected_set(expected), (
            expression
        )


# --- property: the server and scim2-models' evaluator agree --------------------------------

MODEL = default_description().models["User"]


def as_returned(client: httpx.Client) -> list[Any]:
    """The users as the server returns them, as scim2-models objects: the oracle's input."""
    listed = client.get("/Users", params={"count": "1000"}).json()["Resources"]
    return [MODEL.model_validate(r, scim_ctx=Context.RESOURCE_QUERY_RESPONSE) for r in listed]


STRING_PATHS = [
    "userName",
    "displayName",
    "title",
    "name.givenName",
    "name.familyName",
    "emails.value",
    "emails.type",
    f"{ENTERPRISE}:department",
    "nickName",
]
WORDS = st.sampled_from(
    [
        "b",
        "J",
        "example",
        "EXAMPLE.COM",
        "jensen",
        "Zoë",
        "work",
        "tour",
        "%",
        "",
        "bjensen@example.com",
        "Smith",
        "o",
    ]
)
comparison = st.builds(
    lambda path, op, word: f'{path} {op} "{word}"',
    st.sampled_from(STRING_PATHS),
    st.sampled_from(["eq", "ne", "co", "sw", "ew", "gt", "lt"]),
    WORDS,
)
presence = st.builds(
    lambda path: f"{path} pr", st.sampled_from([*STRING_PATHS, "emails", "active"])
)
boolean = st.builds(lambda v: f"active eq {v}", st.sampled_from(["true", "false"]))
value_path = st.builds(
    lambda t, w: f'emails[type eq "{t}" or value co "{w}"]',
    st.sampled_from(["work", "home", "nope"]),
    WORDS,
)
atom = st.one_of(comparison, presence, boolean, value_path)
expression = st.recursive(
    atom,
    lambda inner: st.one_of(
        st.builds(lambda a, b: f"{a} and {b}", inner, inner),
        st.builds(lambda a, b: f"({a}) or ({b})", inner, inner),
        st.builds(lambda a: f"not ({a})", inner),
    ),
    max_leaves=4,
)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(expression)
def test_server_agrees_with_scim2_models(
    people: tuple[httpx.Client, dict[str, str]], expression: str
) -> None:
    client, _ = people
    oracle = ScimFilter[MODEL](expression)  # type: ignore[valid-type]
    expected = {o.user_name for o in as_returned(client) if oracle.match(o)}
    assert server_selects(client, expression) == expected
