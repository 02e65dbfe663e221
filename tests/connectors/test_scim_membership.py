"""Group members pushed as differences only: the ledger says what idsync added, so a
one-member change to a 10,000-member group is one small PATCH, and a member list is
never sent whole (RFC 7644 §3.5.2: no ``replace`` of ``members``)."""

from __future__ import annotations

import httpx

from idsync.connectors.retry import RetryPolicy
from idsync.connectors.scim import ScimSettings, ScimTarget, parse_compat
from idsync.contract.protocols import Desired
from idsync.store import push_state
from idsync.store.database import Database
from tests.conftest import Server, make_org
from tests.scim_peer import Peer, Proxy, make_integration, start_proxy

FAST = RetryPolicy(attempts=3, backoff_initial=0.01, backoff_max=0.05, throttle_retries=3)


def target(db: Database, url: str, token: str, compat: str | None = None) -> ScimTarget:
    settings = ScimSettings(
        url=url, token=token, integration="acme-app", retry=FAST, compat=parse_compat(compat)
    )
    return ScimTarget(settings, db, make_integration(db))


def users(push: ScimTarget, count: int, prefix: str = "m") -> list[str]:
    items = [
        Desired(f"{prefix}{n}", (("userName", f"{prefix}{n}@example.com"),), None)
        for n in range(count)
    ]
    results = push.create("user", items)
    assert all(r.error is None for r in results)
    return [str(r.target_id) for r in results]


def group(push: ScimTarget, name: str) -> str:
    [result] = push.create("group", [Desired(name, (("displayName", name),), name)])
    assert result.target_id
    return result.target_id


def members_of(url: str, token: str, group_id: str) -> set[str]:
    response = httpx.get(
        f"{url}/Groups/{group_id}", headers={"Authorization": f"Bearer {token}"}, timeout=60
    )
    return {m["value"] for m in response.json().get("members") or []}


def never_a_member_list_replace(proxy: Proxy) -> None:
    """No PATCH, alone or inside /Bulk, replaces a member list."""
    for call in proxy.calls("PATCH"):
        for operation in call.operations:
            assert not (
                operation.get("op", "").lower() == "replace"
                and operation.get("path", "members") == "members"
            )


def test_one_member_change_to_a_big_group_is_one_small_patch(
    database: Database, peer: Peer, proxy: Proxy
) -> None:
    # 2,000 members: four full PATCHes of 500, and a list far bigger than any one change
    # (10,000 took a minute of CI for the same answers).
    push = target(database, proxy.url, peer.token)
    user_ids = users(push, 2_001)
    group_id = group(push, "Everyone")
    proxy.reset()
    added = push.add_members([(group_id, "user", u) for u in user_ids[:2_000]])
    assert added == 2_000
    assert len(members_of(peer.url, peer.token, group_id)) == 2_000
    patches = proxy.calls("PATCH", "/Groups/")
    assert len(patches) == 4  # 500 members per PATCH
    assert all(sum(len(op["value"]) for op in p.operations) <= 500 for p in patches)
    # Each is a request's worth of work: sent alone, never one Bulk request waiting on all.
    assert not proxy.bulks()
    never_a_member_list_replace(proxy)
    proxy.reset()

    assert push.add_members([(group_id, "user", user_ids[2_000])]) == 1
    [add] = proxy.requests
    assert add.method == "PATCH" and add.path.endswith(f"/Groups/{group_id}")
    assert add.operations == [
        {"op": "add", "path": "members", "value": [{"value": user_ids[2_000]}]}
    ]
    assert add.size < 200
    proxy.reset()

    assert push.remove_members([(group_id, "user", user_ids[42])]) == 1
    [remove] = proxy.requests
    assert remove.method == "PATCH" and remove.size < 200
    assert remove.operations == [{"op": "remove", "path": f'members[value eq "{user_ids[42]}"]'}]
    members = members_of(peer.url, peer.token, group_id)
    assert len(members) == 2_000 and user_ids[42] not in members and user_ids[2_000] in members
    proxy.reset()

    # Adding members the ledger already has costs nothing at all.
    assert push.add_members([(group_id, "user", u) for u in user_ids[100:200]]) == 0
    assert proxy.requests == []


def test_full_reconcile_removes_only_what_idsync_added(
    database: Database, peer: Peer, proxy: Proxy
) -> None:
    push = target(database, proxy.url, peer.token)
    a, b, c, by_hand = users(push, 4)
    group_id = group(push, "Team")
    push.add_members([(group_id, "user", a), (group_id, "user", b), (group_id, "user", c)])
    httpx.patch(
        f"{peer.url}/Groups/{group_id}",
        headers={"Authorization": f"Bearer {peer.token}"},
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": by_hand}]}],
        },
    ).raise_for_status()
    proxy.reset()
    assert push.add_members([(group_id, "user", a), (group_id, "user", c)], seen="cycle-2") == 0
    assert proxy.requests == []  # already there: only the ledger is marked
    assert push.remove_unlisted_members([group_id], "cycle-2") == 1
    [remove] = proxy.requests
    assert remove.operations == [{"op": "remove", "path": f'members[value eq "{b}"]'}]
    assert members_of(peer.url, peer.token, group_id) == {a, c, by_hand}
    with database.read() as conn:
        assert push_state.count_members(conn, push.integration_id, group_id) == 2
    never_a_member_list_replace(proxy)


def test_replace_members_sends_only_the_difference(
    database: Database, peer: Peer, proxy: Proxy
) -> None:
    push = target(database, proxy.url, peer.token)
    a, b, c = users(push, 3)
    group_id = group(push, "Ops")
    push.add_members([(group_id, "user", a), (group_id, "user", b)])
    proxy.reset()
    assert push.replace_members({group_id: [("user", b), ("user", c)]}, seen="s") == (1, 1)
    assert [op["op"] for r in proxy.calls("PATCH") for op in r.operations] == ["add", "remove"]
    assert members_of(peer.url, peer.token, group_id) == {b, c}
    never_a_member_list_replace(proxy)


def test_removing_a_member_already_gone_is_done(
    database: Database, peer: Peer, proxy: Proxy
) -> None:
    push = target(database, proxy.url, peer.token)
    a, b = users(push, 2)
    group_id = group(push, "Gone")
    push.add_members([(group_id, "user", a), (group_id, "user", b)])
    httpx.patch(
        f"{peer.url}/Groups/{group_id}",
        headers={"Authorization": f"Bearer {peer.token}"},
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "remove", "path": f'members[value eq "{a}"]'}],
        },
    ).raise_for_status()
    assert push.remove_members([(group_id, "user", a), (group_id, "user", b)]) == 2
    assert members_of(peer.url, peer.token, group_id) == set()


def test_value_list_removal_against_idsync(database: Database, server: Server) -> None:
    org = make_org(database, server)
    proxy = start_proxy(org.scim_url)
    try:
        push = target(database, proxy.url, org.token, "entra-compatible")
        a, b = users(push, 2)
        group_id = group(push, "Entra style")
        push.add_members([(group_id, "user", a), (group_id, "user", b)])
        proxy.reset()
        assert push.remove_members([(group_id, "user", a)]) == 1
        [remove] = proxy.requests
        assert remove.operations == [{"op": "remove", "path": "members", "value": [{"value": a}]}]
        assert members_of(org.scim_url, org.token, group_id) == {b}
    finally:
        proxy.stop()


def test_a_member_that_left_the_source_leaves_every_group_idsync_put_it_in(
    database: Database, peer: Peer, proxy: Proxy
) -> None:
    push = target(database, proxy.url, peer.token)
    a, b = users(push, 2)
    one, two, by_hand = group(push, "One"), group(push, "Two"), group(push, "By hand")
    push.add_members([(one, "user", a), (one, "user", b), (two, "user", a)])
    httpx.patch(
        f"{peer.url}/Groups/{by_hand}",
        headers={"Authorization": f"Bearer {peer.token}"},
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": a}]}],
        },
    ).raise_for_status()
    proxy.reset()
    assert push.remove_memberships_of("user", [a]) == 2
    assert members_of(peer.url, peer.token, one) == {b}
    assert members_of(peer.url, peer.token, two) == set()
    assert members_of(peer.url, peer.token, by_hand) == {a}  # not idsync's to remove
    [bulk] = proxy.requests  # both groups' PATCHes in one Bulk request
    assert bulk.path.endswith("/Bulk")
    assert sorted(c.path for c in proxy.calls("PATCH", "/Groups/")) == sorted(
        [f"/Groups/{one}", f"/Groups/{two}"]
    )
    never_a_member_list_replace(proxy)
