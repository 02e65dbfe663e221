"""Incremental reads from a real slapd by the sweep: changes since the watermark (entryCSN),
moves, disables, and deletions from the list of what is present.

The sweep is what a server without RFC 4533 content synchronisation gets (and what
``deletions: sweep`` asks for): these tests ask for it, so the syncprov of the test
slapd is not used. tests/connectors/test_ldap_syncrepl.py reads the same changes by
content synchronisation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ldap3
import pytest

from idsync.connectors.ldap.source import LdapSource
from idsync.contract.errors import WatermarkExpired
from idsync.contract.records import MemberRef, Page, ReadStart, SourceObject
from tests.slapd import (
    GROUPS,
    PEOPLE,
    SUFFIX,
    SlapdProcess,
    entry_uuid,
    group_dn,
    ldap_settings,
    running,
    seed,
    user_attributes,
    user_dn,
)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SlapdProcess]:
    yield from running(tmp_path)


def sweep_settings(server: SlapdProcess, **overrides: Any) -> Any:
    return ldap_settings(server, deletions="sweep", **overrides)


def read(source: LdapSource, object_type: str, watermark: object = None) -> list[Page]:
    return list(source.read(object_type, ReadStart(watermark=watermark)))  # type: ignore[arg-type]


def by_id(pages: list[Page]) -> dict[str, SourceObject]:
    return {obj.source_id: obj for page in pages for obj in page.objects}


def test_user_changes_since_the_watermark(server: SlapdProcess) -> None:
    seed(server, users=6)
    conn = server.admin()
    conn.add(f"ou=staff,{PEOPLE}", ["organizationalUnit"], {"ou": "staff"})
    anchors = {n: entry_uuid(conn, user_dn(n)) for n in range(1, 7)}
    with LdapSource(sweep_settings(server, page_size=2)) as source:
        full = read(source, "user")
        watermark = full[-1].watermark
        assert by_id(full)[anchors[2]].attributes["enabled"] is True

        conn.add(user_dn(7), attributes=user_attributes(7))
        conn.modify(user_dn(2), {"title": [(ldap3.MODIFY_REPLACE, ["Director"])]})
        conn.modify(
            user_dn(3), {"pwdAccountLockedTime": [(ldap3.MODIFY_REPLACE, ["000001010000Z"])]}
        )
        conn.modify_dn(user_dn(4), "uid=user00004", new_superior=f"ou=staff,{PEOPLE}")
        conn.delete(user_dn(5))
        conn.modify_dn(user_dn(6), "uid=user00006", new_superior=SUFFIX)  # out of the base

        changes = read(source, "user", watermark)
    changed = by_id(changes)
    added = entry_uuid(conn, user_dn(7))
    assert anchors[1] not in changed  # untouched
    assert changed[added].attributes["userName"] == "user00007"
    assert changed[anchors[2]].attributes["title"] == "Director"
    assert changed[anchors[2]].attributes["mail"] == "user00002@example.org"  # every attribute
    assert changed[anchors[3]].attributes["enabled"] is False
    moved = changed[anchors[4]]  # same anchor, new DN: an update, not a delete + create
    assert moved.attributes["dn"] == f"uid=user00004,ou=staff,{PEOPLE}"
    assert not moved.removed
    present = changes[-1].present
    assert present is not None
    assert changes[-1].watermark is not None
    assert present == {anchors[1], anchors[2], anchors[3], anchors[4], added}
    assert anchors[5] not in present  # deleted
    assert anchors[6] not in present  # moved out of the base
    assert all(page.present is None for page in changes[:-1])


def test_nothing_changed_reads_nothing_but_what_is_present(server: SlapdProcess) -> None:
    seed(server, users=3)
    with LdapSource(sweep_settings(server)) as source:
        watermark = read(source, "user")[-1].watermark
        again = read(source, "user", watermark)
        # The boundary entry may be read again (>=), never anything older.
        assert len(by_id(again)) <= 1
        assert again[-1].present is not None
        assert len(again[-1].present) == 3
        assert read(source, "user", again[-1].watermark)[-1].watermark is not None


def test_group_member_changes_send_the_whole_list(server: SlapdProcess) -> None:
    seed(server, users=4, groups=3, members_per_group=2)
    conn = server.admin()
    users = {n: entry_uuid(conn, user_dn(n)) for n in range(1, 5)}
    groups = {n: entry_uuid(conn, group_dn(n)) for n in range(1, 4)}
    with LdapSource(sweep_settings(server)) as source:
        watermark = read(source, "group")[-1].watermark
        conn.modify(
            group_dn(1),
            {
                "member": [
                    (ldap3.MODIFY_ADD, [user_dn(4)]),
                    (ldap3.MODIFY_DELETE, [user_dn(1)]),
                ]
            },
        )
        conn.delete(group_dn(3))
        changes = read(source, "group", watermark)
    changed = by_id(changes)
    assert set(changed) == {groups[1]}
    group = changed[groups[1]]
    assert group.members_complete
    assert set(group.members_added) == {MemberRef("user", users[2]), MemberRef("user", users[4])}
    assert changes[-1].present == frozenset({groups[1], groups[2]})


def test_a_nested_change_resends_the_groups_that_contain_it(server: SlapdProcess) -> None:
    seed(server, users=3)
    conn = server.admin()
    conn.add(f"cn=inner,{GROUPS}", ["groupOfNames"], {"cn": "inner", "member": [user_dn(1)]})
    conn.add(
        f"cn=outer,{GROUPS}", ["groupOfNames"], {"cn": "outer", "member": [f"cn=inner,{GROUPS}"]}
    )
    outer = entry_uuid(conn, f"cn=outer,{GROUPS}")
    with LdapSource(sweep_settings(server, nested="flatten")) as source:
        watermark = read(source, "group")[-1].watermark
        conn.modify(f"cn=inner,{GROUPS}", {"member": [(ldap3.MODIFY_ADD, [user_dn(2)])]})
        changed = by_id(read(source, "group", watermark))
    assert {ref.source_id for ref in changed[outer].members_added} == {
        entry_uuid(conn, user_dn(1)),
        entry_uuid(conn, user_dn(2)),
    }


def test_a_resumed_incremental_read_keeps_its_watermark(server: SlapdProcess) -> None:
    seed(server, users=4)
    conn = server.admin()
    settings = sweep_settings(server, page_size=1)
    with LdapSource(settings) as source:
        watermark = read(source, "user")[-1].watermark
    for n in (1, 2, 3):
        conn.modify(user_dn(n), {"title": [(ldap3.MODIFY_REPLACE, ["Changed"])]})
    with LdapSource(settings) as first:
        page = next(iter(first.read("user", ReadStart(watermark=watermark))))
    conn.modify(user_dn(4), {"title": [(ldap3.MODIFY_REPLACE, ["Later"])]})
    with LdapSource(settings) as second:
        rest = list(second.read("user", ReadStart(resume=page.resume)))
    assert rest[-1].watermark == page.resume["next"]
    before, after = by_id([page]), by_id(rest)
    assert set(before).isdisjoint(after)
    names = {
        o.attributes["userName"]: o.attributes["title"] for o in [*before.values(), *after.values()]
    }
    assert sorted(names) == ["user00001", "user00002", "user00003", "user00004"]
    assert names["user00004"] == "Later"  # changed after the watermark, before the resume


def test_a_foreign_watermark_means_reading_everything(server: SlapdProcess) -> None:
    with LdapSource(sweep_settings(server)) as source, pytest.raises(WatermarkExpired) as caught:
        read(source, "user", {"dialect": "ad", "attribute": "uSNChanged", "value": "12"})
    assert caught.value.error.code == "IDS-410-010"
    assert "corp-ldap" in caught.value.message


def test_an_empty_change_set_ends_with_the_watermark(server: SlapdProcess) -> None:
    seed(server, users=3)
    conn = server.admin()
    anchors = {entry_uuid(conn, user_dn(n)) for n in (1, 2)}
    with LdapSource(sweep_settings(server)) as source:
        watermark = read(source, "user")[-1].watermark
        conn.delete(user_dn(3))  # the newest change is a delete: no entry carries its CSN
        first = read(source, "user", watermark)
        nothing = read(source, "user", first[-1].watermark)
    assert first[-1].present == frozenset(anchors)
    assert [page.objects for page in nothing] == [()]
    assert nothing[-1].present == frozenset(anchors)
    assert nothing[-1].watermark == first[-1].watermark


def test_a_user_added_or_moved_between_the_user_and_group_reads_is_still_a_member(
    server: SlapdProcess,
) -> None:
    """The group read reuses the user read's sweep: a member DN it does not know is read."""
    seed(server, users=3, groups=1, members_per_group=2)
    conn = server.admin()
    conn.add(f"ou=staff,{PEOPLE}", ["organizationalUnit"], {"ou": "staff"})
    with LdapSource(sweep_settings(server)) as source:
        read(source, "user")
        conn.add(user_dn(9), attributes=user_attributes(9))
        conn.modify_dn(user_dn(1), "uid=user00001", new_superior=f"ou=staff,{PEOPLE}")
        moved = f"uid=user00001,ou=staff,{PEOPLE}"
        conn.modify(group_dn(1), {"member": [(ldap3.MODIFY_REPLACE, [moved, user_dn(9)])]})
        [group] = by_id(read(source, "group")).values()
    assert set(group.members_added) == {
        MemberRef("user", entry_uuid(conn, moved)),
        MemberRef("user", entry_uuid(conn, user_dn(9))),
    }
