"""Incremental reads by RFC 4533 content synchronisation from a real slapd (syncprov).

The test slapd runs syncprov with a session log (tests/slapd.py, ``Syncprov``): a refresh
from the last cycle's cookie names the deletions. Without a session log, or with one too
short, the server lists what is still present instead (the present phase). A cookie it
cannot serve means reading everything again.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

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
    Syncprov,
    entry_uuid,
    group_dn,
    ldap_settings,
    running,
    seed,
    start_slapd,
    user_attributes,
    user_dn,
)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SlapdProcess]:
    yield from running(tmp_path)


def read(source: LdapSource, object_type: str, watermark: object = None) -> list[Page]:
    return list(source.read(object_type, ReadStart(watermark=watermark)))  # type: ignore[arg-type]


def by_id(pages: list[Page]) -> dict[str, SourceObject]:
    return {obj.source_id: obj for page in pages for obj in page.objects}


def removed(pages: list[Page]) -> set[str]:
    return {obj.source_id for page in pages for obj in page.objects if obj.removed}


def replace_title(conn: ldap3.Connection, dn: str, title: str) -> None:
    assert conn.modify(dn, {"title": [(ldap3.MODIFY_REPLACE, [title])]})


class FirstRead(NamedTuple):
    conn: ldap3.Connection
    """Bound as the rootdn, to change the directory after."""
    anchors: dict[int, str]
    """Each seeded user's entryUUID, by its number."""
    settings: Any
    """Connector settings that read one entry per page."""
    watermark: Any
    """What the first full read left: where the next cycle starts from."""


def read_once_page_by_page(server: SlapdProcess, users: int) -> FirstRead:
    """Seed ``users`` users and read them all once, one per page, as a first cycle."""
    seed(server, users=users)
    conn = server.admin()
    anchors = {n: entry_uuid(conn, user_dn(n)) for n in range(1, users + 1)}
    settings = ldap_settings(server, page_size=1)
    with LdapSource(settings) as source:
        watermark = read(source, "user")[-1].watermark
    return FirstRead(conn, anchors, settings, watermark)


def test_adds_changes_moves_and_deletions_come_from_the_server_without_a_sweep(
    server: SlapdProcess,
) -> None:
    seed(server, users=6)
    conn = server.admin()
    conn.add(f"ou=staff,{PEOPLE}", ["organizationalUnit"], {"ou": "staff"})
    anchors = {n: entry_uuid(conn, user_dn(n)) for n in range(1, 7)}
    with LdapSource(ldap_settings(server, page_size=2)) as source:
        full = read(source, "user")
        watermark = full[-1].watermark
        assert set(watermark["cookies"]) == {PEOPLE}  # taken with the full read

        conn.add(user_dn(7), attributes=user_attributes(7))
        replace_title(conn, user_dn(2), "Director")
        locked = {"pwdAccountLockedTime": [(ldap3.MODIFY_REPLACE, ["000001010000Z"])]}
        conn.modify(user_dn(3), locked)
        conn.modify_dn(user_dn(4), "uid=user00004", new_superior=f"ou=staff,{PEOPLE}")
        conn.delete(user_dn(5))
        conn.modify_dn(user_dn(6), "uid=user00006", new_superior=SUFFIX)  # out of the base

        changes = read(source, "user", watermark)
        nothing = read(source, "user", changes[-1].watermark)
    changed = by_id(changes)
    added = entry_uuid(conn, user_dn(7))
    assert anchors[1] not in changed  # untouched: not read at all
    assert changed[added].attributes["userName"] == "user00007"
    assert changed[anchors[2]].attributes["title"] == "Director"
    assert changed[anchors[2]].attributes["mail"] == "user00002@example.org"  # every attribute
    assert changed[anchors[2]].attributes["manager"] == anchors[1]  # resolved, not swept
    assert changed[anchors[3]].attributes["enabled"] is False
    moved = changed[anchors[4]]  # same anchor, new DN: an update, not a delete + create
    assert moved.attributes["dn"] == f"uid=user00004,ou=staff,{PEOPLE}"
    assert not moved.removed
    assert removed(changes) == {anchors[5], anchors[6]}  # deleted, and moved out of the base
    last = changes[-1]
    assert last.present is None  # no sweep: the server named what is gone
    assert last.removals is not None
    assert last.removals.mode == "syncrepl"
    assert "session log" in last.removals.reason
    assert last.watermark["cookies"] != watermark["cookies"]
    assert [page.objects for page in nothing] == [()]
    assert nothing[-1].watermark["cookies"] == last.watermark["cookies"]  # nothing changed


def test_group_member_changes_resolve_members_that_did_not_change(server: SlapdProcess) -> None:
    seed(server, users=5, groups=3, members_per_group=2)
    conn = server.admin()
    users = {n: entry_uuid(conn, user_dn(n)) for n in range(1, 6)}
    groups = {n: entry_uuid(conn, group_dn(n)) for n in range(1, 4)}
    with LdapSource(ldap_settings(server)) as source:
        watermark = read(source, "group")[-1].watermark
        outside = f"uid=nobody,{SUFFIX}"  # not under the bases: skipped, as ever
        missing = f"uid=gone,{PEOPLE}"  # under the base but no such entry: skipped
        change = [(ldap3.MODIFY_ADD, [user_dn(4), user_dn(5), outside, missing])]
        conn.modify(group_dn(1), {"member": [*change, (ldap3.MODIFY_DELETE, [user_dn(1)])]})
        conn.delete(group_dn(3))
        conn.modify_dn(group_dn(2), "cn=renamed")  # a rename keeps the anchor
        changes = read(source, "group", watermark)
    changed = by_id(changes)
    assert set(changed) == {groups[1], groups[2], groups[3]}
    assert changed[groups[2]].attributes["displayName"] == "renamed"
    assert not changed[groups[2]].removed
    group = changed[groups[1]]
    assert group.members_complete
    assert set(group.members_added) == {
        MemberRef("user", users[2]),
        MemberRef("user", users[4]),
        MemberRef("user", users[5]),
    }
    assert changed[groups[3]].removed
    assert changes[-1].present is None


def test_a_nested_change_resends_the_groups_that_contain_it(server: SlapdProcess) -> None:
    seed(server, users=3)
    conn = server.admin()
    conn.add(f"cn=inner,{GROUPS}", ["groupOfNames"], {"cn": "inner", "member": [user_dn(1)]})
    conn.add(
        f"cn=middle,{GROUPS}", ["groupOfNames"], {"cn": "middle", "member": [f"cn=inner,{GROUPS}"]}
    )
    conn.add(
        f"cn=outer,{GROUPS}", ["groupOfNames"], {"cn": "outer", "member": [f"cn=middle,{GROUPS}"]}
    )
    middle, outer = (entry_uuid(conn, f"cn={cn},{GROUPS}") for cn in ("middle", "outer"))
    with LdapSource(ldap_settings(server, nested="flatten")) as source:
        watermark = read(source, "group")[-1].watermark
        conn.modify(f"cn=inner,{GROUPS}", {"member": [(ldap3.MODIFY_ADD, [user_dn(2)])]})
        changed = by_id(read(source, "group", watermark))
    expected = {entry_uuid(conn, user_dn(1)), entry_uuid(conn, user_dn(2))}
    assert {ref.source_id for ref in changed[middle].members_added} == expected
    assert {ref.source_id for ref in changed[outer].members_added} == expected


def test_without_a_session_log_the_present_phase_finds_deletions(tmp_path: Path) -> None:
    server = start_slapd(tmp_path, syncprov=Syncprov(sessionlog=None))
    try:
        seed(server, users=4)
        conn = server.admin()
        anchors = {n: entry_uuid(conn, user_dn(n)) for n in range(1, 5)}
        with LdapSource(ldap_settings(server)) as source:
            watermark = read(source, "user")[-1].watermark
            replace_title(conn, user_dn(1), "Changed")
            conn.delete(user_dn(2))
            changes = read(source, "user", watermark)
    finally:
        server.stop()
    assert set(by_id(changes)) == {anchors[1]}
    last = changes[-1]
    assert last.present == {anchors[1], anchors[3], anchors[4]}  # user 2 is gone
    assert last.removals is not None
    assert last.removals.mode == "syncrepl"
    assert "present phase" in last.removals.reason


def test_more_deletions_than_the_session_log_holds_are_found_by_the_present_phase(
    tmp_path: Path,
) -> None:
    server = start_slapd(tmp_path, syncprov=Syncprov(sessionlog=2))
    try:
        seed(server, users=6)
        conn = server.admin()
        anchors = {n: entry_uuid(conn, user_dn(n)) for n in range(1, 7)}
        with LdapSource(ldap_settings(server)) as source:
            watermark = read(source, "user")[-1].watermark
            for n in (2, 3, 4, 5):
                conn.delete(user_dn(n))
            changes = read(source, "user", watermark)
    finally:
        server.stop()
    assert changes[-1].present is not None
    assert changes[-1].present - removed(changes) == {anchors[1], anchors[6]}


def test_a_cookie_the_server_cannot_serve_means_reading_everything_again(
    tmp_path: Path,
) -> None:
    """With olcSpReloadHint, syncprov answers e-syncRefreshRequired (4096) to a cookie
    older than anything it can account for; OpenLDAP answers unwillingToPerform to one
    newer than its own state (a directory restored from a backup)."""
    server = start_slapd(tmp_path, syncprov=Syncprov(sessionlog=2, reload_hint=True))
    try:
        seed(server, users=2)
        with LdapSource(ldap_settings(server)) as source:
            watermark = read(source, "user")[-1].watermark
            for label, csn in (
                ("stale", "19990101000000.000000Z"),
                ("ahead", "20990101000000.000000Z"),
            ):
                cookie = f"rid=000,csn={csn}#000000#000#000000".encode()
                foreign = {**watermark, "cookies": {PEOPLE: base64.b64encode(cookie).decode()}}
                with pytest.raises(WatermarkExpired) as caught:
                    read(source, "user", foreign)
                assert caught.value.error.code == "IDS-410-010", label
                assert "sync cookie" in caught.value.message, label
    finally:
        server.stop()


def test_a_resumed_content_synchronisation_hands_out_the_rest_and_keeps_the_deletions(
    server: SlapdProcess,
) -> None:
    conn, anchors, settings, watermark = read_once_page_by_page(server, users=6)
    for n in (1, 2, 3):
        replace_title(conn, user_dn(n), "Changed")
    conn.delete(user_dn(5))
    with LdapSource(settings) as first:  # reads one page, then its process dies
        page = next(iter(first.read("user", ReadStart(watermark=watermark))))
    assert page.watermark is None  # the new cookie is saved with the last page only
    with LdapSource(settings) as second:
        rest = list(second.read("user", ReadStart(resume=page.resume)))
    before, after = by_id([page]), by_id(rest)
    assert set(before).isdisjoint(after)  # the server answered the same: nothing twice
    assert set(before) | set(after) == {anchors[1], anchors[2], anchors[3], anchors[5]}
    assert removed([page, *rest]) == {anchors[5]}
    with LdapSource(settings) as third:
        assert by_id(read(third, "user", rest[-1].watermark)) == {}


def test_a_resume_after_the_directory_changed_hands_out_everything_again(
    server: SlapdProcess,
) -> None:
    conn, anchors, settings, watermark = read_once_page_by_page(server, users=4)
    replace_title(conn, user_dn(1), "Changed")
    conn.delete(user_dn(2))
    with LdapSource(settings) as first:
        page = next(iter(first.read("user", ReadStart(watermark=watermark))))
    assert set(by_id([page])) == {anchors[1]}
    conn.delete(user_dn(1))  # what was handed out is no longer what the server answers
    replace_title(conn, user_dn(3), "Later")
    with LdapSource(settings) as second:
        rest = list(second.read("user", ReadStart(resume=page.resume)))
    assert set(by_id(rest)) == {anchors[1], anchors[2], anchors[3]}
    assert removed(rest) == {anchors[1], anchors[2]}


def test_a_server_without_syncprov_is_swept(tmp_path: Path) -> None:
    server = start_slapd(tmp_path, syncprov=Syncprov(enabled=False))
    try:
        seed(server, users=3)
        conn = server.admin()
        gone = entry_uuid(conn, user_dn(3))
        with LdapSource(ldap_settings(server)) as source:
            watermark = read(source, "user")[-1].watermark
            conn.delete(user_dn(3))
            changes = read(source, "user", watermark)
            health = source.check()
    finally:
        server.stop()
    assert "cookies" not in watermark
    last = changes[-1]
    assert last.present is not None
    assert gone not in last.present
    assert last.removals is not None
    assert last.removals.mode == "sweep"
    assert "syncprov" in last.removals.reason
    assert health.details["deletions"]["mode"] == "sweep"


def test_check_says_deletions_come_from_content_synchronisation(server: SlapdProcess) -> None:
    with LdapSource(ldap_settings(server)) as source:
        health = source.check()
    assert health.ok, health.details
    assert health.details["deletions"]["mode"] == "syncrepl"


def test_a_watermark_without_cookies_is_swept_once_then_synchronised(server: SlapdProcess) -> None:
    """A watermark saved before content synchronisation (or by a sweep read) holds no
    cookie: that read sweeps, and takes the cookies the next one uses."""
    seed(server, users=3)
    conn = server.admin()
    gone = entry_uuid(conn, user_dn(3))
    with LdapSource(ldap_settings(server)) as source:
        old: dict[str, Any] = dict(read(source, "user")[-1].watermark)
        del old["cookies"]
        conn.delete(user_dn(3))
        swept = read(source, "user", old)
        synced = read(source, "user", swept[-1].watermark)
    assert swept[-1].removals is not None
    assert swept[-1].removals.mode == "sweep"
    assert swept[-1].present is not None
    assert gone not in swept[-1].present
    assert set(swept[-1].watermark["cookies"]) == {PEOPLE}
    assert synced[-1].removals is not None
    assert synced[-1].removals.mode == "syncrepl"


def _reader(server: SlapdProcess, changes: int, **overrides: Any) -> list[Page]:
    """As an ordinary account (not the rootdn): a full read, then ``changes`` changes."""
    conn = server.admin()
    reader = f"cn=reader,{SUFFIX}"
    conn.add(reader, ["person"], {"cn": "reader", "sn": "Reader", "userPassword": "R3ader-pw!"})
    for n in range(1, changes + 1):
        conn.add(user_dn(n), attributes=user_attributes(n))
    settings = ldap_settings(server, bind_dn=reader, password="R3ader-pw!", **overrides)
    with LdapSource(settings) as source:
        watermark = read(source, "user")[-1].watermark
        for n in range(1, changes + 1):
            replace_title(conn, user_dn(n), "Changed")
        return read(source, "user", watermark)


def test_an_account_held_to_the_default_size_limit_falls_back_to_the_sweep(
    tmp_path: Path,
) -> None:
    """slapd gives a bind account 500 entries per unpaged search by default: with only the
    paged searches' limit raised (what the sweep needs), a refresh with more changes is cut
    short, so the read sweeps instead, and says why."""
    server = start_slapd(tmp_path, limits="users size.prtotal=unlimited")
    try:
        changes = _reader(server, 520, page_size=100)
    finally:
        server.stop()
    assert len(by_id(changes)) == 520
    last = changes[-1]
    assert last.removals is not None
    assert last.removals.mode == "sweep"
    assert "size limit" in last.removals.reason
    assert "olcLimits" in last.removals.reason
    assert last.present is not None


def test_an_account_without_a_size_limit_synchronises(tmp_path: Path) -> None:
    """What docs/ldap.md tells administrators to set for the bind account."""
    server = start_slapd(tmp_path, limits="users size=unlimited")
    try:
        changes = _reader(server, 520, page_size=100)
    finally:
        server.stop()
    assert len(by_id(changes)) == 520
    assert changes[-1].removals is not None
    assert changes[-1].removals.mode == "syncrepl"


def test_a_directory_restored_from_a_live_backup_lists_what_it_holds(tmp_path: Path) -> None:
    """A dump of a running slapd may hold no contextCSN: the restored server starts a
    change state of its own, newer than the cookie, with an empty session log, so it
    answers with a present phase, and the user the backup lacks is gone. (A cold backup's
    older state refuses the cookie: tests/sync/test_ldap_sync.py.)"""
    server = start_slapd(tmp_path)
    try:
        seed(server, users=3)
        backup = server.backup(tmp_path / "live.ldif", cold=False)
        conn = server.admin()
        conn.add(user_dn(4), attributes=user_attributes(4))
        lost = entry_uuid(conn, user_dn(4))
        conn.unbind()
        with LdapSource(ldap_settings(server)) as source:
            watermark = read(source, "user")[-1].watermark
        server.restore(backup)
        with LdapSource(ldap_settings(server)) as source:
            changes = read(source, "user", watermark)
    finally:
        server.stop()
    present = changes[-1].present
    assert present is not None
    assert len(present) == 3
    assert lost not in present
