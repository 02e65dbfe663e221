"""Updates, deactivations, deletes, managers and member changes travel through ``/Bulk``
(RFC 7644 §3.7) as creates do: within its limits, each object's answer mapped back to that
object, and one by one when the application refuses Bulk, or part of it. Against a real
scim2-server, its traffic seen (and, for a narrower Bulk, shaped) by the recording proxy."""

from __future__ import annotations

import time
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from idsync.connectors.retry import RetryPolicy
from idsync.connectors.scim import ScimSettings, ScimTarget, parse_compat
from idsync.contract.errors import AccessDenied, Unavailable
from idsync.contract.protocols import MANAGER_TARGET, Desired
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

FAST = RetryPolicy(
    attempts=3, backoff_initial=0.01, backoff_max=0.05, throttle_retries=3, retry_after_max=5
)
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def target(db: Database, url: str, token: str, **options: Any) -> ScimTarget:
    compat = parse_compat(options.pop("compat", None))
    settings = ScimSettings(
        url=url, token=token, integration="acme-app", retry=FAST, compat=compat, **options
    )
    push = ScimTarget(settings, db, make_integration(db))
    _ = push.capabilities  # discovered before the proxy injects any fault
    return push


def user(n: int | str, **extra: Any) -> Desired:
    assignments = {"userName": f"user{n}@example.com", "title": "Engineer", **extra}
    return Desired(f"src-{n}", tuple(assignments.items()), f"user{n}@example.com")


def created(push: ScimTarget, count: int, prefix: str = "") -> list[str]:
    results = push.create("user", [user(f"{prefix}{n}") for n in range(count)])
    assert all(r.error is None and r.target_id for r in results)
    return [str(r.target_id) for r in results]


def fetch(peer: Peer, path: str) -> dict[str, Any]:
    response = httpx.get(f"{peer.url}{path}", headers={"Authorization": f"Bearer {peer.token}"})
    response.raise_for_status()
    return dict(response.json())


def by_hand(peer: Peer, method: str, path: str, body: Any = None) -> httpx.Response:
    """A change made in the application by someone else than idsync."""
    return httpx.request(
        method, f"{peer.url}{path}", headers={"Authorization": f"Bearer {peer.token}"}, json=body
    )


def sent_alone(proxy: Proxy, *methods: str) -> list[str]:
    return [f"{c.method} {c.path}" for m in methods for c in proxy.calls(m) if not c.bulk]


@pytest.fixture
def small(tmp_path: Path) -> Iterator[tuple[Peer, Proxy]]:
    """scim2-server advertising a small Bulk: 3 operations, 1,000 bytes."""
    peer = start_scim2_server(
        tmp_path, config=small_bulk_config(max_operations=3, max_payload=1000)
    )
    proxy = start_proxy(peer.url)
    yield peer, proxy
    proxy.stop()
    peer.stop()


def test_updates_deactivations_and_deletes_travel_in_bulk_within_its_limits(
    database: Database, small: tuple[Peer, Proxy]
) -> None:
    peer, proxy = small
    push = target(database, proxy.url, peer.token, concurrency=2)
    ids = created(push, 10)
    proxy.reset()

    # Long titles: the payload limit, not maxOperations, bounds these requests.
    titles = {n: f"Manager {n} " + "x" * 250 for n in range(6)}
    results = push.update("user", [(ids[n], user(n, title=titles[n])) for n in range(6)])
    assert [(r.error, r.changed) for r in results] == [(None, ("title",))] * 6
    off = push.deactivate("user", [ids[6], ids[7]])
    assert [(r.error, r.deactivated) for r in off] == [(None, True)] * 2
    gone = push.delete("user", [ids[8], ids[9]])
    assert [r.error for r in gone] == [None, None]

    assert sent_alone(proxy, "PATCH", "DELETE", "PUT") == []
    bulks = proxy.bulks()
    assert all(len(r.operations) <= 3 and r.size <= 1000 for r in bulks)
    assert any(len(r.operations) < 3 for r in bulks[:3])  # the title PATCHes: by payload
    assert all("failOnErrors" not in r.body for r in bulks)  # one bad object stops nothing
    patches = {c.path: c.body for c in proxy.calls("PATCH")}
    assert set(patches) == {f"/Users/{ids[n]}" for n in range(8)}
    assert patches[f"/Users/{ids[0]}"] == {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "replace", "path": "title", "value": titles[0]}],
    }
    assert patches[f"/Users/{ids[6]}"]["Operations"] == [
        {"op": "replace", "path": "active", "value": False}
    ]
    deletes = [op for r in bulks for op in r.operations if op["method"] == "DELETE"]
    assert [op["path"] for op in deletes] == [f"/Users/{ids[8]}", f"/Users/{ids[9]}"]
    assert all("data" not in op for op in deletes)

    for n in range(6):
        assert fetch(peer, f"/Users/{ids[n]}")["title"] == titles[n]
    assert fetch(peer, f"/Users/{ids[6]}")["active"] is False
    assert by_hand(peer, "GET", f"/Users/{ids[8]}").status_code == 404
    with database.read() as conn:
        ledger = push_state.pushed_objects(conn, push.integration_id, "user", ids)
    assert {n: ledger[ids[n]]["title"] for n in range(6)} == titles
    assert ledger[ids[7]]["active"] is False and ids[8] not in ledger and ids[9] not in ledger


def test_managers_and_member_changes_travel_in_bulk(
    database: Database, peer: Peer, proxy: Proxy
) -> None:
    push = target(database, proxy.url, peer.token)
    boss, a, b, c = created(push, 4)
    [one, two] = push.create(
        "group", [Desired(g, (("displayName", g),), g) for g in ("One", "Two")]
    )
    assert one.target_id and two.target_id
    proxy.reset()
    push.set_references([(a, boss), (b, boss), (c, boss)])
    added = push.add_members(
        [(one.target_id, "user", a), (one.target_id, "user", b), (two.target_id, "user", c)]
    )
    assert added == 3
    assert push.remove_memberships_of("user", [a, c]) == 2

    assert sent_alone(proxy, "PATCH") == []
    assert len(proxy.requests) == len(proxy.bulks()) == 3  # managers, adds, removals
    managers = proxy.bulks()[0].operations
    assert [op["data"]["Operations"] for op in managers] == [
        [{"op": "replace", "path": MANAGER_TARGET, "value": {"value": boss}}]
    ] * 3
    assert fetch(peer, f"/Users/{b}")[MANAGER_TARGET.rsplit(":", 1)[0]]["manager"] == {
        "value": boss
    }
    assert {m["value"] for m in fetch(peer, f"/Groups/{one.target_id}")["members"]} == {b}
    assert not fetch(peer, f"/Groups/{two.target_id}").get("members")


def test_one_bad_object_in_a_bulk_request_fails_alone_with_its_error(
    database: Database, peer: Peer, proxy: Proxy
) -> None:
    push = target(database, proxy.url, peer.token)
    ids = created(push, 6)
    taken = by_hand(
        peer,
        "POST",
        "/Users",
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "taken@example.com",
        },
    ).json()["id"]
    assert by_hand(peer, "DELETE", f"/Users/{ids[3]}").status_code == 204
    assert by_hand(peer, "DELETE", f"/Users/{ids[5]}").status_code == 204
    proxy.reset()

    renamed = Desired("src-1", (("userName", "Taken@example.com"),), "Taken@example.com")
    results = push.update(
        "user",
        [
            (ids[0], user(0, title="Director")),
            (ids[1], renamed),  # 409: another user of the application holds it
            (ids[2], user(2, active="certainly")),  # 400: not a boolean
            (ids[3], user(3, title="Director")),  # 404: deleted in the application
            (ids[4], user(4, title="Director")),
        ],
    )
    [bulk] = proxy.bulks()
    assert len(bulk.operations) == 5 and sent_alone(proxy, "PATCH") == []
    ok, clash, bad, deleted, last = results
    assert ok.error is None and last.error is None and ok.changed == ("title",)
    assert clash.error is not None and clash.error.error.code == "IDS-409-050"
    assert taken in clash.error.message
    assert bad.error is not None and bad.error.error.code == "IDS-400-050"
    assert "HTTP 400" in bad.error.message and "invalidValue" in bad.error.message
    assert deleted.error is not None and deleted.error.error.code == "IDS-409-051"
    assert not any(r.changed for r in (clash, bad, deleted))  # a failed update changed nothing
    with database.read() as conn:
        ledger = push_state.pushed_objects(conn, push.integration_id, "user", ids)
    assert [ledger[ids[n]]["title"] for n in (0, 4)] == ["Director", "Director"]
    assert ledger[ids[1]]["userName"] == "user1@example.com"  # kept as it was: escrowed
    assert "active" not in ledger[ids[2]]

    proxy.reset()
    results = push.delete("user", [ids[0], ids[5], "someone-elses"])
    assert [c.status for c in proxy.calls("DELETE")] == [204, 404]  # never the stranger
    assert [r.error for r in results[:2]] == [None, None]  # 404: already gone
    assert results[2].error is not None and results[2].error.error.code == "IDS-409-013"


@pytest.mark.parametrize(
    ("status", "creates_in_bulk"),
    [(501, False), (400, True)],
    ids=["no-bulk-after-all", "cannot-read-patch-in-bulk"],
)
def test_a_bulk_request_refused_whole_is_sent_one_by_one_and_not_asked_again(
    database: Database, peer: Peer, proxy: Proxy, status: int, creates_in_bulk: bool
) -> None:
    push = target(database, proxy.url, peer.token)
    ids = created(push, 6)
    proxy.reset()
    proxy.fail(status, times=1)
    with capture_logs() as logs:
        results = push.update("user", [(ids[n], user(n, title="Lead")) for n in range(4)])
    assert [r.error for r in results] == [None] * 4
    assert [r.status for r in proxy.bulks()] == [status]
    assert len(sent_alone(proxy, "PATCH")) == 4
    event = "scim.bulk_unusable" if status == 501 else "scim.bulk_method_unusable"
    assert [e["event"] for e in logs if e["event"].startswith("scim.bulk")] == [event]

    proxy.reset()
    push.update("user", [(ids[n], user(n, title="Head")) for n in range(4, 6)])
    push.create("user", [user(n) for n in range(6, 8)])
    assert len(sent_alone(proxy, "PATCH")) == 2  # not asked again
    assert len(proxy.bulks()) == (1 if creates_in_bulk else 0)
    assert all(fetch(peer, f"/Users/{ids[n]}")["title"] == "Head" for n in range(4, 6))


def test_an_application_without_patch_in_bulk_is_asked_once_and_the_rest_stays_in_bulk(
    database: Database, peer: Peer, proxy: Proxy
) -> None:
    push = target(database, proxy.url, peer.token)
    ids = created(push, 6)
    proxy.bulk_refused = {"PATCH": 501}
    proxy.reset()
    with capture_logs() as logs:
        results = push.update("user", [(ids[n], user(n, title="Lead")) for n in range(3)])
    assert [(r.error, r.changed) for r in results] == [(None, ("title",))] * 3
    [bulk] = proxy.bulks()
    assert [a["status"] for a in bulk.response["Operations"]] == ["501"] * 3
    assert len(sent_alone(proxy, "PATCH")) == 3  # each sent again, alone
    assert [e["method"] for e in logs if e["event"] == "scim.bulk_method_unusable"] == ["PATCH"]

    proxy.reset()
    push.deactivate("user", [ids[3], ids[4]])
    push.delete("user", [ids[4], ids[5]])
    assert len(sent_alone(proxy, "PATCH")) == 2 and sent_alone(proxy, "DELETE") == []
    assert [r.status for r in proxy.bulks()] == [200]  # the DELETEs, still in Bulk
    assert [fetch(peer, f"/Users/{ids[n]}")["title"] for n in range(3)] == ["Lead"] * 3
    assert fetch(peer, f"/Users/{ids[3]}")["active"] is False


def test_answers_without_bulk_ids_are_matched_by_location(
    database: Database, peer: Peer, proxy: Proxy
) -> None:
    """RFC 7644 §3.7.3 requires ``bulkId`` in answers to POST only."""
    push = target(database, proxy.url, peer.token, member_batch=1)
    ids = created(push, 4)
    [group] = push.create("group", [Desired("g", (("displayName", "Team"),), "Team")])
    assert group.target_id
    proxy.bulk_ids_dropped = True
    assert by_hand(peer, "DELETE", f"/Users/{ids[1]}").status_code == 204
    proxy.reset()
    results = push.update("user", [(ids[n], user(n, title="Lead")) for n in range(3)])
    assert [r.error is None for r in results] == [True, False, True]
    assert results[1].error is not None and results[1].error.error.code == "IDS-409-051"
    # Three PATCHes of one group in one request: matched in the order they were sent.
    members = [(group.target_id, "user", ids[n]) for n in (0, 2, 3)]
    assert push.add_members(members) == 3
    assert sent_alone(proxy, "PATCH") == []
    assert len(proxy.bulks()) == 2
    assert all("bulkId" not in a for r in proxy.bulks() for a in r.response["Operations"])
    members_now = {m["value"] for m in fetch(peer, f"/Groups/{group.target_id}")["members"]}
    assert members_now == {ids[0], ids[2], ids[3]}


def test_bulk_requests_are_throttled_retried_and_refused_as_single_requests_are(
    database: Database, peer: Peer, proxy: Proxy
) -> None:
    push = target(database, proxy.url, peer.token)
    ids = created(push, 4)
    proxy.reset()
    proxy.fail(429, times=1, retry_after=0.3)
    started = time.monotonic()
    results = push.update("user", [(ids[n], user(n, title="Lead")) for n in range(4)])
    assert time.monotonic() - started >= 0.3  # Retry-After honoured
    assert [r.error for r in results] == [None] * 4
    assert [r.status for r in proxy.bulks()] == [429, 200] and not sent_alone(proxy, "PATCH")

    proxy.reset()
    proxy.fail_until_cleared(401)
    with pytest.raises(AccessDenied) as denied:
        push.delete("user", ids[:2])
    assert denied.value.error.code == "IDS-502-030"
    assert len(proxy.requests) == 1  # never retried, never sent again one by one
    proxy.clear()

    proxy.fail(503, times=10)
    with pytest.raises(Unavailable):
        push.update("user", [(ids[n], user(n, title="Head")) for n in range(2)])
    proxy.clear()
    with database.read() as conn:
        ledger = push_state.pushed_objects(conn, push.integration_id, "user", ids)
    assert all(ledger[i]["title"] == "Lead" for i in ids)  # nothing recorded as sent


def test_a_large_batch_is_spread_over_concurrent_bulk_requests(
    database: Database, peer: Peer, proxy: Proxy
) -> None:
    push = target(database, proxy.url, peer.token, concurrency=4)
    ids = created(push, 400)
    proxy.reset()
    results = push.update("user", [(ids[n], user(n, title="Lead")) for n in range(400)])
    assert all(r.error is None for r in results)
    bulks = proxy.bulks()
    assert sorted(len(r.operations) for r in bulks) == [100] * 4
    spans = sorted((r.started, r.started + r.seconds) for r in bulks)
    assert any(later[0] < earlier[1] for earlier, later in pairwise(spans))

    one = target(database, proxy.url, peer.token, concurrency=1)
    mine = created(one, 3, prefix="c")
    proxy.reset()
    one.update("user", [(i, user(f"c{n}", title="Lead")) for n, i in enumerate(mine)])
    assert [len(r.operations) for r in proxy.bulks()] == [3]


def test_a_large_member_patch_goes_alone_and_small_ones_in_bulk(
    database: Database, peer: Peer, proxy: Proxy
) -> None:
    """A PATCH of hundreds of members is a request's worth of work: in a Bulk request it
    would only make every other operation wait for it (and the whole request time out)."""
    push = target(database, proxy.url, peer.token)
    ids = created(push, 300)
    groups = push.create(
        "group", [Desired(f"g{n}", (("displayName", f"G{n}"),), f"G{n}") for n in range(3)]
    )
    big, small_one, small_two = (str(g.target_id) for g in groups)
    proxy.reset()
    members = [(big, "user", i) for i in ids] + [(small_one, "user", ids[0])]
    assert push.add_members([*members, (small_two, "user", ids[1])]) == 302
    [alone] = [c for c in proxy.calls("PATCH") if not c.bulk]
    assert alone.path.endswith(f"/Groups/{big}") and len(alone.operations[0]["value"]) == 300
    [bulk] = proxy.bulks()
    assert sorted(op["path"] for op in bulk.operations) == sorted(
        [f"/Groups/{small_one}", f"/Groups/{small_two}"]
    )
    assert len(fetch(peer, f"/Groups/{big}")["members"]) == 300
