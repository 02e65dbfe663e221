"""ScimSource reads another SCIM server: paged full reads, incremental reads on
meta.lastModified, deletions through ``present``, against scim2-server and idsync."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from idsync.connectors.retry import RetryPolicy
from idsync.connectors.scim import ScimSettings, ScimSource
from idsync.contract.errors import AccessDenied, WatermarkExpired
from idsync.contract.records import MemberRef, Page, ReadStart
from idsync.scim.urns import GROUP, PATCH_OP, USER
from idsync.store.database import Database
from tests.conftest import Server, make_org
from tests.scim_peer import Peer, start_proxy

FAST = RetryPolicy(attempts=2, backoff_initial=0.01, backoff_max=0.02, throttle_retries=2)


class Directory:
    """Writes to the SCIM server the source reads."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.http = httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=30)

    def user(self, name: str, **extra: Any) -> str:
        body = {"schemas": [USER], "userName": name, **extra}
        return str(self.http.post(f"{self.url}/Users", json=body).raise_for_status().json()["id"])

    def group(self, name: str, members: list[dict[str, str]]) -> str:
        body = {"schemas": [GROUP], "displayName": name, "members": members}
        return str(self.http.post(f"{self.url}/Groups", json=body).raise_for_status().json()["id"])

    def retitle(self, user_id: str, title: str) -> None:
        body = {
            "schemas": [PATCH_OP],
            "Operations": [{"op": "replace", "path": "title", "value": title}],
        }
        self.http.patch(f"{self.url}/Users/{user_id}", json=body).raise_for_status()

    def delete(self, user_id: str) -> None:
        self.http.delete(f"{self.url}/Users/{user_id}").raise_for_status()


def source(url: str, token: str, page_size: int = 2) -> ScimSource:
    return ScimSource(
        ScimSettings(
            url=url, token=token, integration="peer-directory", page_size=page_size, retry=FAST
        )
    )


def read_all(reader: ScimSource, object_type: Any, start: ReadStart) -> list[Page]:
    return list(reader.read(object_type, start))


def check_full_and_incremental(url: str, token: str) -> None:
    directory = Directory(url, token)
    ids = [
        directory.user(
            f"person{n}@example.com",
            title="Engineer",
            emails=[{"type": "work", "value": f"p{n}@example.com"}],
        )
        for n in range(5)
    ]
    reader = source(url, token)
    pages = read_all(reader, "user", ReadStart())
    assert len(pages) >= 3 and all(p.resume for p in pages[:-1]) and pages[-1].is_last
    objects = {o.source_id: o for p in pages for o in p.objects}
    assert set(objects) == set(ids)
    first = objects[ids[0]].attributes
    assert first["userName"] == "person0@example.com" and first["title"] == "Engineer"
    assert first['emails[type eq "work"].value'] == "p0@example.com"
    assert pages[-1].present is None  # a full read needs no sweep

    # A cycle that stopped after the first page continues from its checkpoint.
    resumed = read_all(reader, "user", ReadStart(resume=pages[0].resume))
    assert {o.source_id for p in resumed for o in p.objects} == set(ids) - {
        o.source_id for o in pages[0].objects
    }

    watermark = pages[-1].watermark
    time.sleep(1.1)  # past the second of the last change, whatever the server's precision
    directory.retitle(ids[1], "Manager")
    directory.delete(ids[4])
    changes = read_all(reader, "user", ReadStart(watermark=watermark))
    changed = {o.source_id: o for p in changes for o in p.objects}
    assert ids[1] in changed and changed[ids[1]].attributes["title"] == "Manager"
    assert not set(changed) & {ids[0], ids[2], ids[3]}
    assert changes[-1].present == frozenset(ids[:4])
    assert changes[-1].watermark != watermark


def test_full_and_incremental_read_of_scim2_server(peer: Peer) -> None:
    check_full_and_incremental(peer.url, peer.token)


def test_full_and_incremental_read_of_idsync(database: Database, server: Server) -> None:
    org = make_org(database, server)
    check_full_and_incremental(org.scim_url, org.token)


def test_groups_carry_their_whole_member_list(peer: Peer) -> None:
    directory = Directory(peer.url, peer.token)
    alice = directory.user("alice@example.com")
    inner = directory.group("Inner", [{"value": alice}])
    outer = directory.group("Outer", [{"value": alice, "type": "User"}, {"value": inner}])
    reader = source(peer.url, peer.token, page_size=10)
    groups = {o.source_id: o for p in read_all(reader, "group", ReadStart()) for o in p.objects}
    assert groups[outer].members_complete and groups[outer].attributes == {"displayName": "Outer"}
    assert set(groups[outer].members_added) == {MemberRef("user", alice), MemberRef("group", inner)}
    one = reader.read_one("group", inner)
    assert one is not None and one.members_added == (MemberRef("user", alice),)
    assert reader.read_one("user", "no-such-id") is None


def test_a_server_refusing_the_lastmodified_filter_is_read_in_full(peer: Peer) -> None:
    Directory(peer.url, peer.token).user("solo@example.com")
    proxy = start_proxy(peer.url)
    try:
        reader = source(proxy.url, peer.token)
        _ = reader.capabilities
        proxy.fail(400, times=1)
        with pytest.raises(WatermarkExpired) as caught:
            read_all(reader, "user", ReadStart(watermark={"lastModified": "2020-01-01T00:00:00Z"}))
        assert caught.value.error.code == "IDS-410-010"
        proxy.reset()
        with pytest.raises(WatermarkExpired):  # not asked again by this instance
            read_all(reader, "user", ReadStart(watermark={"lastModified": "2020-01-01T00:00:00Z"}))
        assert proxy.requests == []
        assert len([o for p in read_all(reader, "user", ReadStart()) for o in p.objects]) == 1
    finally:
        proxy.stop()


def test_check_proves_the_token(peer: Peer) -> None:
    health = source(peer.url, peer.token).check()
    assert health.ok and health.details["bulk"] is True
    bad = source(peer.url, "wrong-token").check()
    assert not bad.ok and bad.details["code"] == "IDS-502-030"
    assert "wrong-token" not in str(bad.details)
    with pytest.raises(AccessDenied):
        read_all(source(peer.url, "wrong-token"), "user", ReadStart())
