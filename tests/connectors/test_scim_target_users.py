"""ScimTarget against a real scim2-server, its traffic seen through the recording proxy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from idsync.connectors.retry import RetryPolicy
from idsync.connectors.scim import ScimSettings, ScimTarget, parse_compat
from idsync.contract.protocols import MANAGER_TARGET, Desired
from idsync.scim.urns import ENTERPRISE_USER
from idsync.store import push_state
from idsync.store.database import Database
from tests.scim_peer import (
    Peer,
    Proxy,
    make_integration,
    small_bulk_config,
    start_proxy,
    start_scim2_server,
)

FAST = RetryPolicy(attempts=3, backoff_initial=0.01, backoff_max=0.05, throttle_retries=3)


def target(db: Database, url: str, token: str, **options: Any) -> ScimTarget:
    compat = parse_compat(options.pop("compat", None))
    settings = ScimSettings(
        url=url, token=token, integration="acme-app", retry=FAST, compat=compat, **options
    )
    return ScimTarget(settings, db, make_integration(db))


def user(n: int | str, **extra: Any) -> Desired:
    assignments = {"userName": f"user{n}@example.com", "displayName": f"User {n}", **extra}
    return Desired(f"src-{n}", tuple(assignments.items()), f"user{n}@example.com")


def fetch(peer: Peer, path: str) -> dict[str, Any]:
    response = httpx.get(f"{peer.url}{path}", headers={"Authorization": f"Bearer {peer.token}"})
    response.raise_for_status()
    return dict(response.json())


def test_create_uses_bulk_within_max_operations_and_payload(
    database: Database, tmp_path: Path
) -> None:
    small = start_scim2_server(
        tmp_path, config=small_bulk_config(max_operations=3, max_payload=1500)
    )
    proxy = start_proxy(small.url)
    try:
        push = target(database, proxy.url, small.token)
        items = [user(n, title="Engineer " + "x" * 150) for n in range(10)]
        results = push.create("user", items)
        bulks = proxy.of("POST", "/Bulk")
        assert len(bulks) >= 4
        assert all(len(r.operations) <= 3 and r.size <= 1500 for r in bulks)
        assert sum(len(r.operations) for r in bulks) == 10
        assert not proxy.of("POST", "/Users")  # nothing fell back to single POSTs
        assert [r.source_id for r in results] == [i.source_id for i in items]
        for item, result in zip(items, results, strict=True):
            assert result.error is None and result.target_id
            assert fetch(small, f"/Users/{result.target_id}")["userName"] == item.key
        with database.read() as conn:
            ledger = push_state.pushed_objects(
                conn, push.integration_id, "user", [r.target_id for r in results if r.target_id]
            )
        assert len(ledger) == 10
        push.close()
    finally:
        proxy.stop()
        small.stop()


def test_create_without_bulk_posts_each_object(
    database: Database, peer: Peer, proxy: Proxy
) -> None:
    push = target(database, proxy.url, peer.token, compat="bulk=off", concurrency=3)
    results = push.create("user", [user(n) for n in range(6)])
    assert all(r.error is None and r.target_id for r in results)
    assert len(proxy.of("POST", "/Users")) == 6 and not proxy.of("POST", "/Bulk")


def test_update_patches_only_what_changed(database: Database, peer: Peer, proxy: Proxy) -> None:
    push = target(database, proxy.url, peer.token)
    work = 'emails[type eq "work"].value'
    [created] = push.create("user", [user(1, title="Engineer", **{work: "u1@example.com"})])
    user_id = created.target_id
    assert user_id
    proxy.reset()

    [same] = push.update("user", [(user_id, user(1, title="Engineer", **{work: "u1@example.com"}))])
    assert same.changed == () and same.error is None
    assert proxy.requests == []  # nothing changed: nothing sent

    [changed] = push.update(
        "user", [(user_id, user(1, title="Manager", **{work: "u1@example.com"}))]
    )
    assert changed.changed == ("title",)
    [patch] = proxy.of("PATCH")
    assert patch.operations == [{"op": "replace", "path": "title", "value": "Manager"}]

    proxy.reset()
    mobile = 'phoneNumbers[type eq "mobile"].value'
    [more] = push.update(
        "user",
        [
            (
                user_id,
                Desired(
                    "src-1",
                    ((mobile, "+1 555 0100"), ("title", None), (work, "new@example.com")),
                    None,
                ),
            )
        ],
    )
    assert set(more.changed) == {mobile, "title", work}
    [patch] = proxy.of("PATCH")
    assert sorted(patch.operations, key=str) == sorted(
        [
            {"op": "remove", "path": "title"},
            {"op": "replace", "path": 'emails[type eq "work"].value', "value": "new@example.com"},
            {
                "op": "add",
                "path": "phoneNumbers",
                "value": [{"type": "mobile", "value": "+1 555 0100"}],
            },
        ],
        key=str,
    )
    now = fetch(peer, f"/Users/{user_id}")
    assert "title" not in now
    assert now["emails"] == [{"type": "work", "value": "new@example.com"}]
    assert now["phoneNumbers"] == [{"type": "mobile", "value": "+1 555 0100"}]


def test_compat_put_replaces_the_whole_resource(
    database: Database, peer: Peer, proxy: Proxy
) -> None:
    push = target(database, proxy.url, peer.token, compat="no-patch")
    [created] = push.create("user", [user(2, title="Engineer")])
    assert created.target_id
    [updated] = push.update("user", [(created.target_id, user(2, title="Director"))])
    assert updated.changed == ("title",) and updated.error is None
    [put] = proxy.of("PUT")
    assert put.body["userName"] == "user2@example.com" and put.body["title"] == "Director"
    assert not proxy.of("PATCH")
    assert fetch(peer, f"/Users/{created.target_id}")["title"] == "Director"


def test_value_paths_off_replaces_the_multi_valued_attribute(
    database: Database, peer: Peer, proxy: Proxy
) -> None:
    push = target(database, proxy.url, peer.token, compat="value_paths=false")
    work = 'emails[type eq "work"].value'
    [created] = push.create("user", [user(3, **{work: "a@example.com"})])
    assert created.target_id
    push.update("user", [(created.target_id, user(3, **{work: "b@example.com"}))])
    [patch] = proxy.of("PATCH")
    assert patch.operations == [
        {"op": "replace", "path": "emails", "value": [{"type": "work", "value": "b@example.com"}]}
    ]


def test_match_is_case_insensitive_batched_and_knows_the_owner(
    database: Database, peer: Peer, proxy: Proxy
) -> None:
    push = target(database, proxy.url, peer.token)
    [ours] = push.create("user", [user("ours")])
    handmade = httpx.post(
        f"{peer.url}/Users",
        headers={"Authorization": f"Bearer {peer.token}"},
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "Hand.Made@example.com",
        },
    ).json()["id"]
    proxy.reset()
    values = ["USERours@EXAMPLE.com", "hand.made@example.com"] + [
        f"nobody{n}@example.com" for n in range(120)
    ]
    found = push.match("user", "userName", values)
    assert set(found) == {"USERours@EXAMPLE.com", "hand.made@example.com"}
    assert found["USERours@EXAMPLE.com"].target_id == ours.target_id
    assert found["USERours@EXAMPLE.com"].owner == push.integration_id
    hand_made = found["hand.made@example.com"]
    assert (hand_made.target_id, hand_made.owner, hand_made.transferable) == (handmade, None, False)
    assert hand_made.owner_name.startswith("no integration of idsync")
    assert hand_made.where.endswith(f"(id {handmade})")
    gets = [g for g in proxy.of("GET", "/Users") if "filter" in g.query]
    assert len(gets) == 3  # 122 values, at most 50 per filter
    assert all(g.query["filter"][0].count(" eq ") <= 50 for g in gets)


def test_an_application_empty_at_the_start_is_not_searched(
    database: Database, peer: Peer, proxy: Proxy
) -> None:
    push = target(database, proxy.url, peer.token)
    assert push.match("user", "userName", ["a@example.com", "b@example.com"]) == {}
    push.create("user", [user("a")])
    assert push.match("user", "userName", ["c@example.com"]) == {}
    gets = proxy.of("GET", "/Users")
    assert [g.query.get("count") for g in gets] == [["0"]], "one count, no filter"
    # A new target (the next cycle) sees the application is no longer empty and searches.
    again = target(database, proxy.url, peer.token)
    proxy.reset()
    assert set(again.match("user", "userName", ["USERa@example.com"])) == {"USERa@example.com"}
    assert any("filter" in g.query for g in proxy.of("GET", "/Users"))


def test_match_by_listing_when_filter_is_off(database: Database, peer: Peer, proxy: Proxy) -> None:
    push = target(database, proxy.url, peer.token, compat="filter=off")
    push.create("user", [user(n) for n in range(3)])
    found = push.match("user", "userName", ["USER1@example.com"])
    assert list(found) == ["USER1@example.com"]
    assert all("filter" not in g.query for g in proxy.of("GET", "/Users"))


def test_match_with_one_eq_per_request_when_compat_says_so(
    database: Database, peer: Peer, proxy: Proxy
) -> None:
    """``filter=eq``: one comparison per request, ``concurrency`` at a time, for
    applications that index a single ``eq`` but scan for an ``or`` (scim2-server)."""
    push = target(database, proxy.url, peer.token, compat="filter=eq", concurrency=3)
    made = push.create("user", [user(n) for n in range(3)])
    proxy.reset()
    values = ["USER0@example.com", "user2@example.com", "nobody@example.com"]
    found = push.match("user", "userName", values)
    assert {v: e.target_id for v, e in found.items()} == {
        "USER0@example.com": made[0].target_id,
        "user2@example.com": made[2].target_id,
    }
    filters = sorted(g.query["filter"][0] for g in proxy.of("GET", "/Users") if "filter" in g.query)
    assert filters == sorted(f'userName eq "{v}"' for v in values)


def test_deactivate_delete_and_manager(database: Database, peer: Peer, proxy: Proxy) -> None:
    push = target(database, proxy.url, peer.token)
    boss, worker = push.create("user", [user("boss"), user("worker")])
    assert boss.target_id and worker.target_id
    proxy.reset()
    push.set_references([(worker.target_id, boss.target_id)])
    [patch] = proxy.of("PATCH")
    assert patch.operations == [
        {"op": "replace", "path": MANAGER_TARGET, "value": {"value": boss.target_id}}
    ]
    assert (
        fetch(peer, f"/Users/{worker.target_id}")[ENTERPRISE_USER]["manager"]["value"]
        == boss.target_id
    )
    push.set_references([(worker.target_id, boss.target_id)])
    assert len(proxy.of("PATCH")) == 1  # unchanged: not sent again

    [off] = push.deactivate("user", [worker.target_id])
    assert off.deactivated and off.error is None
    assert fetch(peer, f"/Users/{worker.target_id}")["active"] is False

    httpx.delete(
        f"{peer.url}/Users/{boss.target_id}", headers={"Authorization": f"Bearer {peer.token}"}
    )
    proxy.reset()
    results = push.delete("user", [worker.target_id, boss.target_id])
    assert [r.error for r in results] == [None, None]  # a 404 counts as done
    assert [c.status for c in proxy.calls("DELETE")] == [204, 404]
    assert len(proxy.bulks()) == 1 and len(proxy.requests) == 1  # both in one Bulk request
    [stranger] = push.delete("user", ["not-ours"])
    assert stranger.error is not None and stranger.error.error.code == "IDS-409-013"


def test_external_id_reaches_the_application_though_no_schema_lists_it(
    database: Database, peer: Peer, proxy: Proxy
) -> None:
    """RFC 7643 §3.1: ``externalId`` is common to every resource, so scim2-server's /Schemas
    (as RFC 7643 §8.7.1's) does not list it; it is still the application's to store."""
    push = target(database, proxy.url, peer.token)
    [created] = push.create("user", [user("ext", externalId="hub-id-1")])
    assert created.error is None and created.dropped is None and created.target_id
    [group] = push.create(
        "group", [Desired("g", (("displayName", "G"), ("externalId", "g-1")), "G")]
    )
    assert group.error is None and group.dropped is None and group.target_id
    assert fetch(peer, f"/Users/{created.target_id}")["externalId"] == "hub-id-1"
    assert fetch(peer, f"/Groups/{group.target_id}")["externalId"] == "g-1"
    [updated] = push.update("user", [(created.target_id, user("ext", externalId="hub-id-2"))])
    assert updated.changed == ("externalId",) and updated.dropped is None
    assert fetch(peer, f"/Users/{created.target_id}")["externalId"] == "hub-id-2"


def test_a_create_answered_409_for_an_earlier_unanswered_create_takes_that_object(
    database: Database, peer: Peer, proxy: Proxy
) -> None:
    """A cycle cut off after sending a create leaves the key noted (``push_creating``). The
    next cycle may match before the application has finished that create, and its own
    create of the object is answered 409: the object is the earlier create's, so it is
    taken as this integration's and updated, not failed. A 409 for a key nobody here
    sent stays a conflict."""
    push = target(database, proxy.url, peer.token)
    with database.write() as conn:
        push_state.note_creating(conn, push.integration_id, "user", ["user1@example.com"])
    core = ["urn:ietf:params:scim:schemas:core:2.0:User"]
    made = {
        name: httpx.post(
            f"{peer.url}/Users",
            headers={"Authorization": f"Bearer {peer.token}"},
            json={"schemas": core, "userName": name, "displayName": "Before"},
        ).json()["id"]
        for name in ("User1@example.com", "user2@example.com")
    }
    proxy.reset()

    earlier, stranger = push.create("user", [user(1), user(2)])

    assert earlier.error is None and earlier.target_id == made["User1@example.com"]
    assert earlier.changed == ("displayName", "userName")
    assert fetch(peer, f"/Users/{earlier.target_id}")["displayName"] == "User 1"
    assert stranger.target_id is None and stranger.error is not None
    assert stranger.error.error.code == "IDS-409-050"
    assert fetch(peer, f"/Users/{made['user2@example.com']}")["displayName"] == "Before"
    with database.read() as conn:
        ids = list(made.values())
        assert set(push_state.pushed_objects(conn, push.integration_id, "user", ids)) == {
            earlier.target_id
        }
        keys = ["user1@example.com", "user2@example.com"]
        assert push_state.creating(conn, push.integration_id, "user", keys) == set()
