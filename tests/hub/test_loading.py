"""What the hub reads from the database: members only when they are returned, lookups by index."""

from __future__ import annotations

from idsync.config import Settings
from idsync.hub.groups import GroupService
from idsync.hub.listing import ListQuery
from idsync.hub.tenant import Hub, Tenant
from idsync.hub.users import UserService
from idsync.scim.provider import default_description
from idsync.store.database import Database
from tests.conftest import Org
from tests.scimdata import group, user
from tests.statements import statements


def tenant_for(org: Org) -> Tenant:
    return Tenant(org.id, default_description(), f"http://hub/scim/{org.id}/v2")


def test_excluded_members_are_never_read(database: Database, org: Org) -> None:
    hub = Hub(database, Settings(database_url="unused"))
    users, groups = UserService(hub), GroupService(hub)
    tenant = tenant_for(org)
    alice = users.create(tenant, user(), users.projection(tenant))
    created = groups.create(tenant, group(members=[alice.resource_id]), groups.projection(tenant))
    without = groups.projection(tenant, excluded=["members"])
    with statements(database) as seen:
        resource, _ = groups.get(tenant, created.resource_id, without)
        groups.search(
            tenant,
            ListQuery(
                filter=f'displayName eq "{created.resource["displayName"]}"', excluded=("members",)
            ),
        )
    assert "members" not in resource
    assert not [s for s in seen if "memberships" in s], seen
    with statements(database) as seen:
        resource, _ = groups.get(tenant, created.resource_id, groups.projection(tenant))
    assert [m["value"] for m in resource["members"]] == [alice.resource_id]
    assert [s for s in seen if "memberships" in s]


def test_username_lookup_is_one_statement_groups_included(database: Database, org: Org) -> None:
    """Entra ID and Okta look a user up before every write: the user, its groups, no count."""
    hub = Hub(database, Settings(database_url="unused"))
    users, groups = UserService(hub), GroupService(hub)
    tenant = tenant_for(org)
    created = users.create(tenant, user("lookup@example.com"), users.projection(tenant))
    team = groups.create(
        tenant, group("Team", members=[created.resource_id]), groups.projection(tenant)
    )
    with statements(database) as seen:
        total, found = users.search(tenant, ListQuery(filter='userName eq "LOOKUP@example.com"'))
    assert total == 1
    assert [r["userName"] for r in found] == ["lookup@example.com"]
    assert [(g["value"], g["type"]) for g in found[0]["groups"]] == [(team.resource_id, "direct")]
    selects = [s for s in seen if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 1, selects
    assert "user_name_key" in selects[0]
    assert "count(" not in selects[0].lower()


def test_nested_groups_cost_one_statement_per_level(database: Database, org: Org) -> None:
    hub = Hub(database, Settings(database_url="unused"))
    users, groups = UserService(hub), GroupService(hub)
    tenant = tenant_for(org)
    created = users.create(tenant, user(), users.projection(tenant))
    team = groups.create(
        tenant, group("Team", members=[created.resource_id]), groups.projection(tenant)
    )
    division = groups.create(
        tenant, group("Division", members=[team.resource_id]), groups.projection(tenant)
    )
    with statements(database) as seen:
        resource, _ = users.get(tenant, created.resource_id, users.projection(tenant))
    assert {(g["value"], g["type"]) for g in resource["groups"]} == {
        (team.resource_id, "direct"),
        (division.resource_id, "indirect"),
    }
    selects = [s for s in seen if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 3, selects  # the user, Team's parents, Division's parents


def test_a_user_name_prefix_is_read_as_an_index_range_and_misses_nobody(
    database: Database, org: Org
) -> None:
    """``userName sw`` reads one range of the userName index on SQLite, and finds exactly
    the names Python's startswith finds, code points at the edges of the range included."""
    hub = Hub(database, Settings(database_url="unused"))
    service = UserService(hub)
    tenant = tenant_for(org)
    names = [
        "ab", "ab\U0010ffff", "ab\U0010ffffz", "ab\ud7ffx", "ab\ue000", "ac", "aa\U0010ffff",
        "ab\U0001f600", "b", "a",
    ]  # fmt: skip
    for name in names:
        service.create(tenant, user(name), service.projection(tenant))
    for prefix in ("ab", "ab\U0010ffff", "ab\ud7ff", "a", "aa\U0010ffff", "ac", "zz"):
        text = prefix.encode("unicode_escape").decode()  # a SCIM filter string, JSON-escaped
        query = ListQuery(filter=f'userName sw "{_json_escape(prefix)}"', count=100)
        with statements(database) as seen:
            _, found = service.search(tenant, query)
        expected = {n for n in names if n.startswith(prefix)}
        assert {u["userName"] for u in found} == expected, text
        if database.is_sqlite:
            assert any("user_name_key >=" in s for s in seen)


def _json_escape(text: str) -> str:
    import json

    return json.dumps(text)[1:-1]
