"""Full reads from a real slapd: pages, exact attributes, resumable checkpoints, nesting, no passwords."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import ldap3
import pytest

from idsync.connectors.ldap import LdapSettings
from idsync.connectors.ldap.source import LdapSource
from idsync.contract.records import MemberRef, Page, ReadStart, SourceObject
from idsync.errors.catalogue import IdsyncError
from tests.slapd import (
    ADMIN_DN,
    GROUPS,
    PEOPLE,
    USER_PASSWORD,
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


def read_all(source: LdapSource, object_type: str, start: ReadStart | None = None) -> list[Page]:
    return list(source.read(object_type, start or ReadStart()))  # type: ignore[arg-type]


def objects(pages: list[Page]) -> list[SourceObject]:
    return [obj for page in pages for obj in page.objects]


def test_full_read_pages_users_with_exact_attributes(server: SlapdProcess) -> None:
    seed(server, users=7)
    conn = server.admin()
    with LdapSource(ldap_settings(server, page_size=3)) as source:
        pages = read_all(source, "user")
    assert [len(page.objects) for page in pages] == [3, 3, 1]
    assert [page.watermark is not None for page in pages] == [False, False, True]
    assert all(page.resume is not None for page in pages[:-1])
    users = {obj.attributes["userName"]: obj for obj in objects(pages)}
    assert sorted(users) == [f"user{n:05d}" for n in range(1, 8)]
    second = users["user00002"]
    assert second.source_id == entry_uuid(conn, user_dn(2))
    expected = user_attributes(2)
    assert dict(second.attributes) == {
        "userName": "user00002",
        "enabled": True,
        "displayName": expected["displayName"],
        "givenName": expected["givenName"],
        "surname": expected["sn"],
        "mail": expected["mail"],
        "title": "Engineer",
        "department": expected["departmentNumber"],
        "employeeId": expected["employeeNumber"],
        "mobile": expected["mobile"],
        "telephoneNumber": expected["telephoneNumber"],
        "city": "Lyon",
        "country": "FR",
        "preferredLanguage": "fr-FR",
        "manager": entry_uuid(conn, user_dn(1)),  # the manager's anchor, not its DN
        "dn": user_dn(2),
    }
    assert users["user00001"].attributes["manager"] is None


def test_multi_valued_attributes_are_lists_and_missing_ones_none(server: SlapdProcess) -> None:
    seed(server, users=1)
    conn = server.admin()
    conn.modify(
        user_dn(1),
        {
            "telephoneNumber": [(ldap3.MODIFY_REPLACE, ["+1 555 0001", "+1 555 0002"])],
            "title": [(ldap3.MODIFY_DELETE, [])],
            "displayName": [(ldap3.MODIFY_DELETE, [])],
        },
    )
    with LdapSource(ldap_settings(server, extra_attributes=("employeeType",))) as source:
        (user,) = objects(read_all(source, "user"))
    assert user.attributes["telephoneNumber"] == ["+1 555 0001", "+1 555 0002"]
    assert user.attributes["title"] is None
    assert user.attributes["displayName"] == "User 00001"  # falls back to cn
    assert user.attributes["employeeType"] is None


def test_groups_carry_their_whole_member_list_as_anchors(server: SlapdProcess) -> None:
    seed(server, users=5, groups=3, members_per_group=2)
    conn = server.admin()
    anchors = {n: entry_uuid(conn, user_dn(n)) for n in range(1, 6)}
    with LdapSource(ldap_settings(server, page_size=2)) as source:
        pages = read_all(source, "group")
    assert [len(page.objects) for page in pages] == [2, 1]
    groups = {obj.attributes["displayName"]: obj for obj in objects(pages)}
    assert set(groups) == {"group0001", "group0002", "group0003"}
    assert all(group.members_complete for group in groups.values())
    assert groups["group0002"].members_added == (
        MemberRef("user", anchors[3]),
        MemberRef("user", anchors[4]),
    )
    assert groups["group0002"].source_id == entry_uuid(conn, group_dn(2))
    assert groups["group0002"].attributes["dn"] == group_dn(2)


def test_resume_in_a_new_source_reads_the_rest_exactly_once(server: SlapdProcess) -> None:
    seed(server, users=10)
    settings = ldap_settings(server, page_size=3)
    with LdapSource(settings) as first:
        pages = first.read("user", ReadStart())
        applied = [next(pages), next(pages)]  # the cycle stops after two pages
    checkpoint = applied[-1].resume
    with LdapSource(settings) as second:
        rest = read_all(second, "user", ReadStart(resume=checkpoint))
    before = [obj.source_id for obj in objects(applied)]
    after = [obj.source_id for obj in objects(rest)]
    assert len(before) == 6
    assert len(after) == 4
    assert set(before).isdisjoint(after)
    assert rest[-1].watermark == checkpoint["next"]  # taken when the interrupted read began


def test_resume_after_the_directory_changed_reads_everything_again(server: SlapdProcess) -> None:
    seed(server, users=6)
    settings = ldap_settings(server, page_size=2)
    with LdapSource(settings) as first:
        page = next(iter(first.read("user", ReadStart())))
    server.admin().delete(user_dn(1))  # shifts every later entry back by one
    with LdapSource(settings) as second:
        rest = objects(read_all(second, "user", ReadStart(resume=page.resume)))
    # Skipping two entries now would skip one never handed out: all are read again instead.
    assert sorted(obj.attributes["userName"] for obj in rest) == [
        f"user{n:05d}" for n in range(2, 7)
    ]


def _nested(conn: ldap3.Connection) -> None:
    """outer = {user1, middle}; middle = {user2, inner}; inner = {user3, outer} (a cycle)."""
    nesting = {
        "outer": [user_dn(1), f"cn=middle,{GROUPS}"],
        "middle": [user_dn(2), f"cn=inner,{GROUPS}"],
        "inner": [user_dn(3), f"cn=outer,{GROUPS}", "uid=elsewhere,dc=example,dc=org"],
    }
    # groupOfNames needs a member to exist: add them all first, then wire them up.
    for name in nesting:
        conn.add(f"cn={name},{GROUPS}", ["groupOfNames"], {"cn": name, "member": [ADMIN_DN]})
    for name, members in nesting.items():
        conn.modify(f"cn={name},{GROUPS}", {"member": [(ldap3.MODIFY_REPLACE, members)]})


def test_nested_groups_flatten_to_users(server: SlapdProcess) -> None:
    seed(server, users=4)
    conn = server.admin()
    _nested(conn)
    users = [entry_uuid(conn, user_dn(n)) for n in (1, 2, 3)]
    with LdapSource(ldap_settings(server, nested="flatten")) as source:
        groups = {o.attributes["displayName"]: o for o in objects(read_all(source, "group"))}
    for name in ("outer", "middle", "inner"):
        assert {ref.source_id for ref in groups[name].members_added} == set(users), name
        assert {ref.object_type for ref in groups[name].members_added} == {"user"}


def test_nested_groups_direct_are_group_members(server: SlapdProcess) -> None:
    seed(server, users=4)
    conn = server.admin()
    _nested(conn)
    with LdapSource(ldap_settings(server, nested="direct")) as source:
        groups = {o.attributes["displayName"]: o for o in objects(read_all(source, "group"))}
    assert groups["outer"].members_added == (
        MemberRef("user", entry_uuid(conn, user_dn(1))),
        MemberRef("group", entry_uuid(conn, f"cn=middle,{GROUPS}")),
    )
    # the member outside the bases and the rootdn placeholder are skipped
    assert groups["inner"].members_added == (
        MemberRef("user", entry_uuid(conn, user_dn(3))),
        MemberRef("group", entry_uuid(conn, f"cn=outer,{GROUPS}")),
    )


@pytest.mark.parametrize(
    "overrides",
    [
        {"extra_attributes": ("userPassword",)},
        {"extra_attributes": ("unicodePwd",)},
        {"extra_attributes": ("userPassword;binary",)},
        {"extra_attributes": ("*",)},
        {"attributes": {"mail": "supplementalCredentials"}},
    ],
)
def test_settings_refuse_password_attributes(
    server: SlapdProcess, overrides: dict[str, object]
) -> None:
    with pytest.raises(IdsyncError) as caught:
        ldap_settings(server, **overrides)
    assert caught.value.error.code == "IDS-400-031"


def test_passwords_never_appear_in_what_is_read(server: SlapdProcess) -> None:
    seed(server, users=3, groups=1, members_per_group=3)
    with LdapSource(ldap_settings(server, extra_attributes=("employeeType", "uid"))) as source:
        pages = read_all(source, "user") + read_all(source, "group")
        one = source.read_one("user", objects(pages)[0].source_id)
    text = repr(pages) + repr(one)
    assert "user00001" in text
    assert USER_PASSWORD not in text
    assert "userpassword" not in text.lower()


def test_entry_without_username_is_rejected_whole(server: SlapdProcess) -> None:
    seed(server, users=2)
    conn = server.admin()
    conn.add(f"cn=No Uid,{PEOPLE}", ["inetOrgPerson"], {"cn": "No Uid", "sn": "Uid"})
    with LdapSource(ldap_settings(server)) as source:
        pages = read_all(source, "user")
    rejected = [item for page in pages for item in page.rejected]
    assert len(objects(pages)) == 2
    assert [item.reference for item in rejected] == [f"cn=No Uid,{PEOPLE}"]
    assert rejected[0].source_id == entry_uuid(conn, f"cn=No Uid,{PEOPLE}")
    assert rejected[0].error.error.code == "IDS-400-040"
    assert "uid" in rejected[0].error.message


def test_read_one_finds_by_anchor(server: SlapdProcess) -> None:
    seed(server, users=3, groups=1, members_per_group=2)
    conn = server.admin()
    with LdapSource(ldap_settings(server)) as source:
        user = source.read_one("user", entry_uuid(conn, user_dn(2)))
        group = source.read_one("group", entry_uuid(conn, group_dn(1)))
        missing = source.read_one("user", "00000000-0000-0000-0000-000000000000")
        wrong_type = source.read_one("group", entry_uuid(conn, user_dn(2)))
    assert user is not None
    assert user.attributes["userName"] == "user00002"
    assert user.attributes["manager"] == entry_uuid(conn, user_dn(1))
    assert group is not None
    assert {ref.source_id for ref in group.members_added} == {
        entry_uuid(conn, user_dn(1)),
        entry_uuid(conn, user_dn(2)),
    }
    assert missing is None
    assert wrong_type is None


def test_settings_from_an_integration_record() -> None:
    settings = LdapSettings.from_integration(
        "corp",
        {
            "url": "ldaps://dc1.example.org",
            "bind_dn": "CN=svc,DC=example,DC=org",
            "dialect": "ad",
            "user_base_dns": ["OU=Staff,DC=example,DC=org"],
            "attributes": {"userName": "mail"},
            "ca_file": None,
        },
        {"password": "pw-Secret-1"},
    )
    assert settings.anchor_attribute == "objectGUID"
    assert settings.group_base_dns == ("OU=Staff,DC=example,DC=org",)
    assert settings.user_attribute_map["userName"] == ("mail",)
    assert settings.disabled_rule.attribute == "userAccountControl"
    assert "pw-Secret-1" not in repr(settings)
    for bad in ({"url": "http://x"}, {"surprise": 1}, {"page_size": 0}, {"nested": "deep"}):
        with pytest.raises(IdsyncError) as caught:
            LdapSettings.from_integration(
                "corp",
                {"url": "ldap://h", "bind_dn": "cn=a", "user_base_dns": ["dc=x"], **bad},
                {"password": "p"},
            )
        assert caught.value.error.code == "IDS-400-031"
    with pytest.raises(IdsyncError, match="password is empty"):
        LdapSettings.from_integration(
            "corp", {"url": "ldap://h", "bind_dn": "cn=a", "user_base_dns": ["dc=x"]}, {}
        )
