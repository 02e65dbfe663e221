"""Reading users and groups from the emulator with Graph delta queries: full, incremental, resumed."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import pytest

from idsync.connectors.entra.source import EntraSource
from idsync.connectors.entra.users import USER_ATTRIBUTES
from idsync.contract.errors import WatermarkExpired
from idsync.contract.records import MemberRef, Page, ReadStart, SourceObject
from tests.connectors.conftest import Emulator

MEMBER_TYPES = {"#microsoft.graph.user": "user", "#microsoft.graph.group": "group"}


def read_all(source: EntraSource, object_type: Any, start: ReadStart | None = None) -> list[Page]:
    return list(source.read(object_type, start or ReadStart()))


def objects(pages: list[Page]) -> list[SourceObject]:
    return [obj for page in pages for obj in page.objects]


def memberships(pages: list[Page]) -> dict[str, set[MemberRef]]:
    """Each group's members, merged over every record of it (a big group spans pages)."""
    merged: dict[str, set[MemberRef]] = defaultdict(set)
    for obj in objects(pages):
        merged[obj.source_id] |= set(obj.members_added)
        merged[obj.source_id] -= set(obj.members_removed)
    return merged


def assert_well_formed(pages: list[Page]) -> None:
    assert pages, "a read yields at least one page"
    for page in pages[:-1]:
        assert page.watermark is None
        # The next page, and whether this round lists whole users (a resumed first round does).
        assert set(page.resume) == {"next", "whole"}
    assert set(pages[-1].watermark) == {"delta"}
    assert pages[-1].resume is None


def manager_of(emulator: Emulator, user_id: str) -> str | None:
    response = emulator.admin.get(f"/v1.0/users/{user_id}/manager", params={"$select": "id"})
    if response.status_code == 404:
        return None
    response.raise_for_status()
    return str(response.json()["id"])


def test_full_read(emulator_factory: Any) -> None:
    # A member budget of 7 per page splits every group over several records.
    emulator = emulator_factory(users=40, groups=5, seed=7, members_per_page=7)
    with emulator.source(page_size=13) as source:
        user_pages = read_all(source, "user")
        group_pages = read_all(source, "group")
    assert_well_formed(user_pages)
    assert_well_formed(group_pages)
    assert len(user_pages) > 1, "page_size=13 must split 40 users over several pages"

    users = objects(user_pages)
    counts = Counter(user.source_id for user in users)
    assert all(count == 1 for count in counts.values()), "every user exactly once"
    expected = emulator.all("/v1.0/users", **{"$select": ",".join(USER_ATTRIBUTES)})
    assert set(counts) == {user["id"] for user in expected}
    by_id = {user.source_id: user for user in users}
    for user in expected:
        read = by_id[user["id"]]
        assert not read.removed
        for name in USER_ATTRIBUTES[1:]:
            assert read.attributes.get(name) == user.get(name), (user["id"], name)
        assert read.attributes.get("manager") == manager_of(emulator, user["id"])

    groups = emulator.all("/v1.0/groups", **{"$select": "id,displayName,description"})
    read_groups = {group.source_id: group for group in objects(group_pages)}
    assert set(read_groups) == {group["id"] for group in groups}
    merged = memberships(group_pages)
    for group in groups:
        assert read_groups[group["id"]].attributes["displayName"] == group["displayName"]
        members = emulator.all(f"/v1.0/groups/{group['id']}/members", **{"$select": "id"})
        expected_refs = {
            MemberRef(MEMBER_TYPES[m["@odata.type"]], m["id"])  # type: ignore[arg-type]
            for m in members
            if m["@odata.type"] in MEMBER_TYPES
        }
        assert merged[group["id"]] == expected_refs, group["displayName"]
    records = Counter(group.source_id for group in objects(group_pages))
    assert max(records.values()) > 1, "big groups come back in chunks, as Graph sends them"
    every_add = [(g.source_id, ref) for g in objects(group_pages) for ref in g.members_added]
    assert len(every_add) == len(set(every_add)), "every membership exactly once"


def test_incremental_read(emulator: Emulator) -> None:
    graph = emulator.info["graph_url"]
    # No groups, no reports: deleting it changes only itself.
    victim = emulator.create_user("victim")
    with emulator.source() as source:
        user_mark = read_all(source, "user")[-1].watermark
        group_pages = read_all(source, "group")
    group_mark = group_pages[-1].watermark
    users = [u["id"] for u in emulator.all("/v1.0/users", **{"$select": "id"}) if u["id"] != victim]
    updated, disabled = users[0], users[1]
    groups = memberships(group_pages)
    shrinks = next(g for g in sorted(groups) if any(r.object_type == "user" for r in groups[g]))
    renamed, grows = [g for g in sorted(groups) if g != shrinks][:2]
    leaving = next(ref for ref in sorted(groups[shrinks], key=str) if ref.object_type == "user")

    created = emulator.create_user("newcomer")
    emulator.write("PATCH", f"/v1.0/users/{updated}", {"jobTitle": "Chief Delta Officer"})
    emulator.write("PUT", f"/v1.0/users/{updated}/manager/$ref",
                   {"@odata.id": f"{graph}/v1.0/users/{created}"})  # fmt: skip
    emulator.write("PATCH", f"/v1.0/users/{disabled}", {"accountEnabled": False})
    emulator.write("DELETE", f"/v1.0/users/{victim}")
    emulator.write("PATCH", f"/v1.0/groups/{renamed}", {"displayName": "Renamed by the test"})
    emulator.write("POST", f"/v1.0/groups/{grows}/members/$ref",
                   {"@odata.id": f"{graph}/v1.0/directoryObjects/{created}"})  # fmt: skip
    emulator.write("DELETE", f"/v1.0/groups/{shrinks}/members/{leaving.source_id}/$ref")

    with emulator.source() as source:
        user_pages = read_all(source, "user", ReadStart(watermark=user_mark))
        group_changes = read_all(source, "group", ReadStart(watermark=group_mark))
    assert_well_formed(user_pages)
    changed = {user.source_id: user for user in objects(user_pages)}
    assert set(changed) == {created, updated, disabled, victim}
    assert changed[created].attributes["displayName"] == "newcomer"
    assert changed[updated].attributes["jobTitle"] == "Chief Delta Officer"
    assert changed[updated].attributes["manager"] == created
    assert changed[disabled].attributes["accountEnabled"] is False
    assert (changed[victim].removed, changed[victim].permanently) == (True, False)

    changed_groups = {group.source_id: group for group in objects(group_changes)}
    assert set(changed_groups) == {renamed, grows, shrinks}
    assert changed_groups[renamed].attributes["displayName"] == "Renamed by the test"
    assert changed_groups[grows].members_added == (MemberRef("user", created),)
    assert changed_groups[shrinks].members_removed == (leaving,)
    assert not changed_groups[renamed].members_added
    assert not changed_groups[renamed].members_removed


def test_incremental_read_of_nothing_keeps_a_watermark(emulator: Emulator) -> None:
    with emulator.source() as source:
        mark = read_all(source, "user")[-1].watermark
        pages = read_all(source, "user", ReadStart(watermark=mark))
    assert objects(pages) == []
    assert set(pages[-1].watermark) == {"delta"}


def test_permanent_deletion(emulator: Emulator) -> None:
    doomed = emulator.create_user("doomed")
    with emulator.source() as source:
        mark = read_all(source, "user")[-1].watermark
        emulator.write("DELETE", f"/v1.0/users/{doomed}")
        emulator.write("DELETE", f"/v1.0/directory/deletedItems/{doomed}")
        changes = objects(read_all(source, "user", ReadStart(watermark=mark)))
    assert [(u.source_id, u.removed, u.permanently) for u in changes] == [(doomed, True, True)]


def test_resume_from_checkpoint(emulator_factory: Any) -> None:
    emulator = emulator_factory(users=40, groups=3, seed=3)
    with emulator.source(page_size=9) as source:
        full = objects(read_all(source, "user"))
        reader = source.read("user", ReadStart())
        first, second = next(reader), next(reader)
        reader.close()  # the cycle "crashed" after applying two pages
    with emulator.source(page_size=9) as source:
        rest = read_all(source, "user", ReadStart(resume=second.resume))
    resumed = [*first.objects, *second.objects, *objects(rest)]
    assert sorted(u.source_id for u in resumed) == sorted(u.source_id for u in full)
    assert len(resumed) == len(full), "nothing read twice, nothing lost"
    assert rest[-1].watermark is not None


def test_expired_watermark(emulator: Emulator) -> None:
    with emulator.source() as source:
        mark = read_all(source, "user")[-1].watermark
        emulator.write("POST", "/_emulator/expire-delta-tokens")
        with pytest.raises(WatermarkExpired) as caught:
            read_all(source, "user", ReadStart(watermark=mark))
    assert caught.value.error.code == "IDS-410-010"
    assert "contoso-entra" in caught.value.message
    assert "HTTP 410" in caught.value.message


def test_watermark_for_another_host_is_not_followed(emulator: Emulator) -> None:
    foreign = {"delta": "https://graph.example.net/v1.0/users/delta?$deltatoken=abc"}
    with emulator.source() as source, pytest.raises(WatermarkExpired) as caught:
        read_all(source, "user", ReadStart(watermark=foreign))
    assert "not a Graph link on" in caught.value.message


def test_read_one(emulator: Emulator) -> None:
    graph = emulator.info["graph_url"]
    boss, worker = emulator.create_user("boss"), emulator.create_user("worker")
    emulator.write("PUT", f"/v1.0/users/{worker}/manager/$ref",
                   {"@odata.id": f"{graph}/v1.0/users/{boss}"})  # fmt: skip
    group = emulator.all("/v1.0/groups", **{"$select": "id"})[0]["id"]
    emulator.write("POST", f"/v1.0/groups/{group}/members/$ref",
                   {"@odata.id": f"{graph}/v1.0/directoryObjects/{worker}"})  # fmt: skip
    members = emulator.all(f"/v1.0/groups/{group}/members", **{"$select": "id"})
    with emulator.source() as source:
        user = source.read_one("user", worker)
        lone = source.read_one("user", boss)
        read_group = source.read_one("group", group)
        missing = source.read_one("user", "00000000-0000-0000-0000-000000000000")
    assert user is not None and user.attributes["displayName"] == "worker"
    assert user.attributes["manager"] == boss
    assert lone is not None and lone.attributes["manager"] is None
    assert read_group is not None
    assert MemberRef("user", worker) in read_group.members_added
    assert len(read_group.members_added) == len(
        [m for m in members if m["@odata.type"] in MEMBER_TYPES]
    )
    assert missing is None
