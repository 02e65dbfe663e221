"""The LDAP source against a real Active Directory domain controller (Samba 4, tests/samba.py).

What these pin, as Samba 4.17 answers (found by experiment, see the module's tests):

- an ordinary Domain Users account finds the Deleted Objects container under the
  Show Deleted control but sees none of its attributes and none of its children; the
  domain Administrator reads both. Tombstone mode is chosen only on proof (the
  container's own isDeleted=TRUE read back), otherwise deletions come from the sweep;
- with the Recycle Bin on, a deleted object keeps its attributes (isRecycled unset) and
  shows under Show Deleted; once recycled it shows only under Show Recycled
  (1.2.840.113556.1.4.2064), as MS-ADTS §3.1.1.3.4.1.26 says;
- a refused bind carries AD's ``data NNN`` sub-code: 52e (also for a user that does
  not exist: Samba never sends 525), 533 disabled, 701 expired, 773 must change its
  password, 775 locked out;
- the DC's self-signed certificate names ``DC1.idsync.test``: reached by IP address,
  the host name does not match;
- Samba has no MaxValRange of its own (it returns every ``member`` value) but answers
  explicit ``member;range=low-high`` requests as AD does, ending in ``-*``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from idsync.connectors.ldap import LdapSettings
from idsync.connectors.ldap.source import LdapSource
from idsync.contract.errors import AccessDenied
from idsync.contract.records import MemberRef, ObjectType, Page, ReadStart, SourceObject
from idsync.errors.catalogue import IdsyncError
from tests.samba import (
    ADMIN_DN,
    ADMIN_PASSWORD,
    BASE,
    BIND_DN,
    BIND_PASSWORD,
    USER_PASSWORD,
    SambaDC,
    ad_settings,
    running_dc,
    session_template,
)


@pytest.fixture(scope="session")
def samba_template(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    return session_template(tmp_path_factory, worker_id)


@pytest.fixture
def dc(samba_template: Path, tmp_path: Path) -> Iterator[SambaDC]:
    yield from running_dc(samba_template, tmp_path)


@pytest.fixture
def recycle_bin_dc(samba_template: Path, tmp_path: Path) -> Iterator[SambaDC]:
    yield from running_dc(samba_template, tmp_path, recycle_bin=True)


@pytest.fixture(scope="module")
def shared_dc(samba_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SambaDC]:
    """One DC for the tests that only bind or connect (they change nothing it holds)."""
    yield from running_dc(samba_template, tmp_path_factory.mktemp("shared-dc"))


def read(source: LdapSource, object_type: ObjectType, watermark: Any = None) -> list[Page]:
    return list(source.read(object_type, ReadStart(watermark=watermark)))


def by_id(pages: list[Page]) -> dict[str, SourceObject]:
    return {obj.source_id: obj for page in pages for obj in page.objects}


def as_admin(dc: SambaDC, **overrides: Any) -> Any:
    return ad_settings(dc, bind_dn=ADMIN_DN, password=ADMIN_PASSWORD, **overrides)


# --- reads ------------------------------------------------------------------------------------


def test_an_ordinary_account_reads_users_and_groups_then_their_changes(dc: SambaDC) -> None:
    ann, bob = dc.add_user("ann"), dc.add_user("bob")
    team = dc.add_group("team", [ann, bob])
    ids = {dn: dc.guid(dn) for dn in (ann, bob, team)}
    with LdapSource(ad_settings(dc, page_size=1)) as source:
        users, groups = read(source, "user"), read(source, "group")
        assert set(by_id(users)) == {ids[ann], ids[bob]}
        assert by_id(users)[ids[ann]].attributes["userName"] == "ann@idsync.test"
        assert by_id(users)[ids[ann]].attributes["enabled"] is True
        members = set(by_id(groups)[ids[team]].members_added)
        assert members == {MemberRef("user", ids[ann]), MemberRef("user", ids[bob])}

        dc.modify(ann, {"title": "Director"})
        dc.set_enabled(bob, False)
        cid = dc.add_user("cid")
        changes = read(source, "user", users[-1].watermark)
    changed = by_id(changes)
    assert set(changed) == {ids[ann], ids[bob], dc.guid(cid)}
    assert changed[ids[ann]].attributes["title"] == "Director"
    assert changed[ids[bob]].attributes["enabled"] is False


# --- deletions: tombstones only on proof --------------------------------------------------------


def test_an_ordinary_account_cannot_prove_tombstones_so_deletions_come_from_the_sweep(
    dc: SambaDC,
) -> None:
    ann, bob = dc.add_user("ann"), dc.add_user("bob")
    gone = dc.guid(bob)
    with LdapSource(ad_settings(dc)) as source:
        watermark = read(source, "user")[-1].watermark
        dc.delete(bob)
        changes = read(source, "user", watermark)
        health = source.check()
    last = changes[-1]
    assert last.present is not None
    assert gone not in last.present  # the deletion reaches the engine
    assert dc.guid(ann) in last.present
    assert last.removals is not None
    assert last.removals.mode == "sweep"
    assert "Deleted Objects" in last.removals.reason
    assert health.ok, health.details
    assert health.details["deletions"]["mode"] == "sweep"
    assert "cannot read the Deleted Objects container" in health.details["deletions"]["reason"]


@pytest.mark.parametrize("account", ["granted", "administrator"])
def test_an_account_that_reads_deleted_objects_gets_tombstones(dc: SambaDC, account: str) -> None:
    """An ordinary account granted List Contents + Read Property on the container, as
    docs/ldap.md says, proves it as the domain Administrator does."""
    dc.add_user("ann")
    bob = dc.add_user("bob")
    gone = dc.guid(bob)
    if account == "granted":
        dc.grant_deleted_objects(BIND_DN)
    settings = ad_settings(dc) if account == "granted" else as_admin(dc)
    with LdapSource(settings) as source:
        watermark = read(source, "user")[-1].watermark
        dc.delete(bob)
        changes = read(source, "user", watermark)
        health = source.check()
    removed = by_id(changes)[gone]
    assert removed.removed
    assert removed.permanently  # without the Recycle Bin a tombstone is recycled at once
    assert changes[-1].removals is not None
    assert changes[-1].removals.mode == "tombstones"
    assert health.details["deletions"]["mode"] == "tombstones"


def test_tombstones_required_but_unreadable_is_an_error_not_silence(dc: SambaDC) -> None:
    dc.add_user("ann")
    with LdapSource(ad_settings(dc, deletions="tombstones")) as source:
        watermark = read(source, "user")[-1].watermark
        with pytest.raises(AccessDenied) as caught:
            read(source, "user", watermark)
        health = source.check()
    assert caught.value.error.code == "IDS-502-071"
    assert BIND_DN in caught.value.message
    assert "--deletions sweep" in caught.value.action
    assert not health.ok
    assert health.details["code"] == "IDS-502-071"


def test_a_recycled_object_is_read_as_gone_for_good(recycle_bin_dc: SambaDC) -> None:
    dc = recycle_bin_dc
    bob = dc.add_user("bob")
    gone = dc.guid(bob)
    with LdapSource(as_admin(dc)) as source:
        watermark = read(source, "user")[-1].watermark
        dc.delete(bob)
        deleted = read(source, "user", watermark)
        assert by_id(deleted)[gone].removed
        assert not by_id(deleted)[gone].permanently  # in the Recycle Bin: restorable

        dc.recycle_deleted()
        state = dc.deleted(gone)
        assert state is not None
        assert state.get("isRecycled") == [b"TRUE"]
        recycled = read(source, "user", deleted[-1].watermark)
    assert by_id(recycled)[gone].removed
    assert by_id(recycled)[gone].permanently


# --- binds ---------------------------------------------------------------------------------------


USERS = f"CN=Users,{BASE}"


@pytest.fixture(scope="module")
def accounts(shared_dc: SambaDC) -> dict[str, str]:
    dc = shared_dc
    dn = {name: dc.add_user(name, ou=USERS) for name in ("locked", "expired", "renew")}
    dn["disabled"] = dc.add_user("disabled", ou=USERS, enabled=False)
    dc.modify(dn["expired"], {"accountExpires": "1"})  # expired in 1601
    dc.modify(dn["renew"], {"pwdLastSet": "0"})  # must change the password at next sign-in
    dc.set_lockout(2)
    for _ in range(3):  # wrong passwords until the account locks
        with LdapSource(ad_settings(dc, bind_dn=dn["locked"], password="not it")) as source:
            assert not source.check().ok
    return dn


@pytest.mark.parametrize(
    ("who", "password", "expected"),
    [
        ("svc", "Wr0ng-pass!", "AD data 52e: the user name or password is incorrect"),
        ("nobody", "Wr0ng-pass!", "AD data 52e: the user name or password is incorrect"),
        ("disabled", USER_PASSWORD, "AD data 533: the account is disabled"),
        ("expired", USER_PASSWORD, "AD data 701: the account has expired"),
        ("renew", USER_PASSWORD, "AD data 773: the password must be changed"),
        ("locked", USER_PASSWORD, "AD data 775: the account is locked out"),
    ],
)
def test_a_refused_bind_says_why_by_ad_sub_code(
    shared_dc: SambaDC, accounts: dict[str, str], who: str, password: str, expected: str
) -> None:
    bind_dn = {"svc": BIND_DN, "nobody": f"CN=nobody,{USERS}"}.get(who) or accounts[who]
    with LdapSource(ad_settings(shared_dc, bind_dn=bind_dn, password=password)) as source:
        health = source.check()
    assert not health.ok
    assert health.details["code"] == "IDS-502-020"
    assert "49 invalidCredentials" in health.details["message"]
    assert expected in health.details["message"]
    assert password not in repr(health.details)


def test_the_ordinary_bind_account_binds(shared_dc: SambaDC) -> None:
    with LdapSource(ad_settings(shared_dc, password=BIND_PASSWORD)) as source:
        health = source.check()
    assert health.ok, health.details
    assert "Samba" in health.details["vendor"]


# --- TLS --------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["ldaps", "starttls"])
def test_a_certificate_for_another_host_name_is_named_as_such(
    shared_dc: SambaDC, mode: str
) -> None:
    url = shared_dc.ldaps_url if mode == "ldaps" else shared_dc.url
    settings = ad_settings(
        shared_dc, url=url, start_tls=mode == "starttls", ca_file=shared_dc.ca_file
    )
    with LdapSource(settings) as source:
        health = source.check()
    assert not health.ok
    assert health.details["code"] == "IDS-502-070"
    message = health.details["message"]
    assert f"does not name {shared_dc.address!r}" in message
    assert "DC1.idsync.test" in message
    assert "serialNumber" not in message  # not ldap3's dump of the certificate
    assert "Samba Administration" not in message
    scheme = "ldaps" if mode == "ldaps" else "ldap"
    assert f"--url {scheme}://DC1.idsync.test" in health.details["action"]


# --- large groups: range retrieval ---------------------------------------------------------------


def test_a_group_larger_than_the_range_is_read_whole(dc: SambaDC) -> None:
    names = [f"member{n:02d}" for n in range(27)]
    members = dc.add_users(names)
    big = dc.add_group("big", members)
    outer = dc.add_group("outer", [big])  # flattened: its members are big's, read by range too
    expected = {MemberRef("user", dc.guid(dn)) for dn in members}
    with LdapSource(ad_settings(dc, range_size=10)) as source:
        read(source, "user")
        groups = by_id(read(source, "group"))
        one = source.read_one("group", dc.guid(big))
    assert len(groups[dc.guid(big)].members_added) == 27
    assert set(groups[dc.guid(big)].members_added) == expected
    assert set(groups[dc.guid(outer)].members_added) == expected
    assert one is not None
    assert set(one.members_added) == expected


def test_range_size_is_an_active_directory_setting() -> None:
    with pytest.raises(IdsyncError) as caught:
        LdapSettings(
            url="ldap://127.0.0.1",
            bind_dn="cn=x,dc=example,dc=org",
            password="x-Secret-9",
            user_base_dns=("dc=example,dc=org",),
            dialect="openldap",
            range_size=10,
        )
    assert "range_size" in caught.value.message


# --- incremental reads without a sweep ------------------------------------------------------------


def move(dc: SambaDC, dn: str, superior: str) -> str:
    """Move an entry under ``superior``; its new DN."""
    rdn = dn.split(",", 1)[0]
    conn = dc.admin()
    try:
        conn.modify_dn(dn, rdn, new_superior=superior)
    finally:
        conn.unbind()
    return f"{rdn},{superior}"


def test_with_tombstones_an_incremental_read_follows_the_changes_without_a_sweep(
    dc: SambaDC,
) -> None:
    """Changes by uSNChanged, deletions from the tombstones, and users that left the base
    or the filter from what changed since the last cycle; members and managers that did
    not change are resolved by DN, not by sweeping the bases."""
    ann, bob, cid, dan, eve = (dc.add_user(n) for n in ("ann", "bob", "cid", "dan", "eve"))
    team = dc.add_group("team", [ann, bob])
    ids = {dn: dc.guid(dn) for dn in (ann, bob, cid, dan, eve, team)}
    settings = as_admin(
        dc, user_filter="(&(objectCategory=person)(objectClass=user)(!(description=left)))"
    )
    with LdapSource(settings) as source:
        users, groups = read(source, "user"), read(source, "group")
        dc.modify(ann, {"title": "Director", "manager": dan})
        dc.delete(bob)
        move(dc, cid, USERS)  # out of the base
        dc.modify(eve, {"description": "left"})  # out of the filter
        dc.add_members(team, [dan])
        user_changes = read(source, "user", users[-1].watermark)
        group_changes = read(source, "group", groups[-1].watermark)
    changed = by_id(user_changes)
    assert changed[ids[ann]].attributes["title"] == "Director"
    assert changed[ids[ann]].attributes["manager"] == ids[dan]  # resolved, dan unchanged
    assert ids[dan] not in changed
    assert {i for i, o in changed.items() if o.removed} == {ids[bob], ids[cid], ids[eve]}
    assert changed[ids[bob]].permanently  # a tombstone's own verdict
    assert not changed[ids[cid]].permanently  # left the base: disabled, not deleted
    last = user_changes[-1]
    assert last.present is None  # no sweep
    assert last.removals is not None
    assert last.removals.mode == "tombstones"
    members = set(by_id(group_changes)[ids[team]].members_added)
    assert members == {MemberRef("user", ids[ann]), MemberRef("user", ids[dan])}
    assert group_changes[-1].present is None


def test_with_tombstones_a_nested_change_resends_the_groups_that_contain_it(dc: SambaDC) -> None:
    ann, bob = dc.add_user("ann"), dc.add_user("bob")
    inner = dc.add_group("inner", [ann])
    outer = dc.add_group("outer", [inner])
    with LdapSource(as_admin(dc)) as source:
        watermark = read(source, "group")[-1].watermark
        dc.add_members(inner, [bob])
        changed = by_id(read(source, "group", watermark))
    expected = {MemberRef("user", dc.guid(ann)), MemberRef("user", dc.guid(bob))}
    assert set(changed[dc.guid(outer)].members_added) == expected
    assert set(changed[dc.guid(inner)].members_added) == expected


def test_a_resumed_tombstone_read_still_sees_what_left_the_base(dc: SambaDC) -> None:
    ann, bob, cid = (dc.add_user(n) for n in ("ann", "bob", "cid"))
    settings = as_admin(dc, page_size=1)
    with LdapSource(settings) as source:
        watermark = read(source, "user")[-1].watermark
    dc.modify(ann, {"title": "Director"})
    dc.modify(bob, {"title": "Director"})
    move(dc, cid, USERS)
    with LdapSource(settings) as first:  # one page, then its process dies
        page = next(iter(first.read("user", ReadStart(watermark=watermark))))
    with LdapSource(settings) as second:
        rest = list(second.read("user", ReadStart(resume=page.resume)))
    seen = by_id([page, *rest])
    assert {dc.guid(ann), dc.guid(bob)} <= set(seen)
    assert seen[dc.guid(f"CN=cid,{USERS}")].removed
