"""OpenLDAP → idsync → the hub, end to end: a real ``slapd`` (started, seeded and stopped by
the test), ``idsync integration add ldap`` and ``idsync sync run`` through the CLI, the hub read
back over SCIM. The hub must equal the directory after the initial cycle and after an
incremental one with adds, changes, a disable, a DN move, membership changes and deletions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import ldap3
import pytest

from idsync.store.database import Database
from tests.conftest import Server, make_org
from tests.slapd import (
    ADMIN_DN,
    ADMIN_PASSWORD,
    GROUPS,
    PEOPLE,
    SlapdProcess,
    group_dn,
    running,
    seed,
    user_attributes,
    user_dn,
)
from tests.sync.conftest import hub_resources, idsync

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


@pytest.fixture
def directory(tmp_path: Path) -> Iterator[SlapdProcess]:
    yield from running(tmp_path)


def _directory_state(server: SlapdProcess) -> tuple[dict[str, Any], dict[str, set[str]]]:
    """Users by uid (mail, name, enabled, manager uid) and groups by cn (member uids)."""
    conn = server.admin()
    conn.search(
        PEOPLE,
        "(objectClass=inetOrgPerson)",
        attributes=["uid", "mail", "givenName", "sn", "manager", "pwdAccountLockedTime"],
    )
    users = {}
    for entry in conn.entries:
        attrs = entry.entry_attributes_as_dict
        manager = attrs.get("manager") or [None]
        users[attrs["uid"][0]] = {
            "mail": attrs["mail"][0],
            "givenName": attrs["givenName"][0],
            "familyName": attrs["sn"][0],
            "active": not attrs.get("pwdAccountLockedTime"),
            "manager": manager[0].split(",")[0].removeprefix("uid=") if manager[0] else None,
        }
    conn.search(GROUPS, "(objectClass=groupOfNames)", attributes=["cn", "member"])
    groups = {
        entry.entry_attributes_as_dict["cn"][0]: {
            dn.split(",")[0].removeprefix("uid=")
            for dn in entry.entry_attributes_as_dict.get("member", [])
            if dn.startswith("uid=")
        }
        for entry in conn.entries
    }
    conn.unbind()
    # Without the refint overlay a deleted user's DN stays in its groups: it is no member.
    return users, {name: members & set(users) for name, members in groups.items()}


def _assert_hub_equals_directory(scim: httpx.Client, server: SlapdProcess) -> None:
    users, groups = _directory_state(server)
    hub = {u["userName"]: u for u in hub_resources(scim, "/Users")}
    by_id = {u["id"]: name for name, u in hub.items()}
    for uid, user in users.items():
        found = hub.get(uid)
        assert found is not None, f"{uid} is missing from the hub"
        assert found["emails"][0]["value"] == user["mail"]
        assert found["name"]["givenName"] == user["givenName"]
        assert found["name"]["familyName"] == user["familyName"]
        assert found["active"] is user["active"], uid
        manager = found.get(ENTERPRISE, {}).get("manager", {}).get("value")
        assert by_id.get(manager) == user["manager"], uid
    for uid in set(hub) - set(users):
        assert hub[uid]["active"] is False, f"{uid} left the directory but is still active"
    hub_groups = {g["displayName"]: g for g in hub_resources(scim, "/Groups")}
    assert set(hub_groups) == set(groups)
    for name, members in groups.items():
        assert {by_id[m["value"]] for m in hub_groups[name].get("members", [])} == members, name


def _change_directory(server: SlapdProcess) -> None:
    conn = server.admin()
    added = dict(user_attributes(20))
    added["manager"] = user_dn(2)
    assert conn.add(user_dn(20), attributes=added)
    assert conn.modify(user_dn(3), {"givenName": [(ldap3.MODIFY_REPLACE, ["Renamed"])]})
    assert conn.modify(user_dn(4), {"manager": [(ldap3.MODIFY_REPLACE, [user_dn(5)])]})
    locked = {"pwdAccountLockedTime": [(ldap3.MODIFY_REPLACE, ["000001010000Z"])]}
    assert conn.modify(user_dn(5), locked)
    assert conn.add(f"ou=staff,{PEOPLE}", "organizationalUnit")
    assert conn.modify_dn(user_dn(6), "uid=user00006", new_superior=f"ou=staff,{PEOPLE}")
    moved = f"uid=user00006,ou=staff,{PEOPLE}"
    assert conn.modify(
        group_dn(1),
        {
            "member": [
                (ldap3.MODIFY_ADD, [user_dn(20)]),
                (ldap3.MODIFY_DELETE, [user_dn(2)]),
            ]
        },
    )
    assert conn.modify(group_dn(2), {"member": [(ldap3.MODIFY_ADD, [moved])]})
    assert conn.delete(user_dn(7))
    assert conn.delete(group_dn(3))
    conn.unbind()


def test_openldap_syncs_into_the_hub_initial_and_incremental(
    database: Database, server: Server, directory: SlapdProcess, tmp_path: Path
) -> None:
    seed(directory, users=12, groups=3, members_per_group=5)
    password = tmp_path / "password"
    password.write_text(ADMIN_PASSWORD)
    org = make_org(database, server)
    url = server.database_url
    added = idsync(
        url, "integration", "add", "ldap", "--org", org.id, "--url", directory.url,
        "--bind-dn", ADMIN_DN, "--password-file", str(password), "--dialect", "openldap",
        "--user-base", PEOPLE, "--group-base", GROUPS, "--no-auto-sync", "--page-size", "5",
    )  # fmt: skip
    assert "password" not in str(idsync(url, "integration", "show", added["id"]))
    with httpx.Client(
        base_url=org.scim_url, headers={"Authorization": f"Bearer {org.token}"}, timeout=30
    ) as scim:
        report = idsync(url, "sync", "run", added["id"])
        assert report["status"] == "Active", (report["reason_code"], report["reason"])
        assert report["counts"]["create"] == 15
        _assert_hub_equals_directory(scim, directory)

        _change_directory(directory)
        report = idsync(url, "sync", "run", added["id"])
        assert report["status"] == "Active", (report["reason_code"], report["reason"])
        assert report["mode"] == "incremental"
        counts = report["counts"]
        assert counts["create"] == 1, counts
        assert counts["disable"] == 2, counts  # the locked account and the deleted one
        assert counts["delete"] == 1, counts  # the deleted group
        _assert_hub_equals_directory(scim, directory)

        report = idsync(url, "sync", "run", added["id"])
        counts = report["counts"]
        assert not any(counts.get(k) for k in ("create", "update", "delete", "disable")), counts


def test_a_wrong_bind_password_quarantines_without_changing_anything(
    database: Database, server: Server, directory: SlapdProcess, tmp_path: Path
) -> None:
    seed(directory, users=3)
    password = tmp_path / "password"
    password.write_text("not the password")
    org = make_org(database, server)
    url = server.database_url
    added = idsync(
        url, "integration", "add", "ldap", "--org", org.id, "--url", directory.url,
        "--bind-dn", ADMIN_DN, "--password-file", str(password), "--dialect", "openldap",
        "--user-base", PEOPLE, "--no-auto-sync",
    )  # fmt: skip
    report = idsync(url, "sync", "run", added["id"])
    assert report["status"] == "Quarantine"
    assert report["reason_code"] == "IDS-502-020"
    assert "not the password" not in report["reason"]
    assert report["counts"].get("create", 0) == 0


def test_a_new_user_base_is_read_in_full_by_the_next_cycle(
    database: Database, server: Server, directory: SlapdProcess, tmp_path: Path
) -> None:
    """Users that were already in a base added with ``integration update`` are provisioned
    by the next cycle, though they did not change since the watermark."""
    seed(directory, users=3)
    contractors = "ou=contractors,dc=example,dc=org"
    conn = directory.admin()
    assert conn.add(contractors, "organizationalUnit")
    contractor = dict(user_attributes(50))
    assert conn.add(f"uid=user00050,{contractors}", attributes=contractor)
    conn.unbind()
    password = tmp_path / "password"
    password.write_text(ADMIN_PASSWORD)
    org = make_org(database, server)
    url = server.database_url
    added = idsync(
        url, "integration", "add", "ldap", "--org", org.id, "--name", "Corp LDAP",
        "--url", directory.url, "--bind-dn", ADMIN_DN, "--password-file", str(password),
        "--dialect", "openldap", "--user-base", PEOPLE, "--group-base", GROUPS,
        "--no-auto-sync",
    )  # fmt: skip
    assert idsync(url, "sync", "run", added["id"])["counts"]["create"] == 3
    # A change moves the directory's contextCSN past the contractor's entryCSN, so an
    # incremental read from the next watermark would not see the contractor again.
    conn = directory.admin()
    assert conn.modify(user_dn(1), {"title": [(ldap3.MODIFY_REPLACE, ["Lead"])]})
    conn.unbind()
    incremental = idsync(url, "sync", "run", added["id"])
    assert (incremental["mode"], incremental["counts"]["update"]) == ("incremental", 1)
    assert idsync(url, "sync", "run", added["id"])["mode"] == "incremental"

    updated = idsync(
        url, "integration", "update", added["id"], "--user-base", PEOPLE,
        "--user-base", contractors,
    )  # fmt: skip
    assert updated["changed"] == ["settings.user_base_dns"]
    report = idsync(url, "sync", "run", added["id"])
    assert report["status"] == "Active", (report["reason_code"], report["reason"])
    assert report["counts"].get("create") == 1, report["counts"]
    with httpx.Client(
        base_url=org.scim_url, headers={"Authorization": f"Bearer {org.token}"}, timeout=30
    ) as scim:
        names = {u["userName"] for u in hub_resources(scim, "/Users")}
    assert "user00050" in names
    events = idsync(url, "audit", "list", "--org", org.id, "--activity", "Update integration")
    assert [e["details"] for e in events] == [
        {"changed": ["settings.user_base_dns"], "full_read_next": True}
    ]
