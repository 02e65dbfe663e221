"""Operators, sessions and roles, checked with direct HTTP requests against ``idsync serve``
(both databases): what each role may do, one org's operator against another org, CSRF,
the session cookie, lockout and throttling, API keys, and the audit trail."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from idsync.config import Settings
from idsync.errors.catalogue import IdsyncError
from idsync.manage import integrations, jobs, orgs, tokens
from idsync.manage import operators as manage_operators
from idsync.store.database import Database
from tests.conftest import PrivateDatabase, Server, start_server, stop_server
from tests.console.conftest import PASSWORD, idsync_admin

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def operator(database: Database, role: str, org_id: str | None) -> str:
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
    manage_operators.create_operator(database, email, PASSWORD, role, org_id, actor="tests")
    return email


def signed_in(server: Server, email: str) -> httpx.Client:
    client = httpx.Client(base_url=server.url, timeout=30, follow_redirects=False)
    answer = client.post("/admin/login", data={"email": email, "password": PASSWORD})
    assert answer.status_code == 303, answer.text
    return client


def csrf_of(client: httpx.Client, org_id: str) -> str:
    page = client.get(f"/admin/orgs/{org_id}/sync")
    assert page.status_code == 200, page.text
    found = CSRF.search(page.text)
    assert found is not None
    return found.group(1)


def entra(database: Database, org_id: str) -> str:
    """An Entra integration (never opened by these tests), added as the console adds one."""
    record = integrations.add_from_form(
        database, _settings(), org_id=org_id, kind="entra", name="Entra ID",
        values={"tenant_id": "contoso.example", "client_id": str(uuid.uuid4()),
                "client_secret": "not-a-real-secret"},
        actor="tests",
    )  # fmt: skip
    return record.id


def _settings() -> Any:
    from idsync.config import Settings

    return Settings.from_env()


def code_of(answer: httpx.Response) -> str:
    if answer.headers.get("content-type", "").startswith("application/json"):
        return str(answer.json()["error"]["code"])
    found = re.search(r'data-code="([^"]+)"', answer.text)
    return found.group(1) if found else f"HTTP {answer.status_code}"


@pytest.fixture
def org_a(database: Database) -> str:
    return orgs.create_org(database, f"A {uuid.uuid4().hex[:8]}", actor="tests").id


@pytest.fixture
def org_b(database: Database) -> str:
    return orgs.create_org(database, f"B {uuid.uuid4().hex[:8]}", actor="tests").id


def test_the_session_cookie_is_http_only_and_same_site(
    database: Database, server: Server, org_a: str
) -> None:
    email = operator(database, "readonly", org_a)
    with httpx.Client(base_url=server.url, follow_redirects=False) as client:
        answer = client.post("/admin/login", data={"email": email, "password": PASSWORD})
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("idsync_session=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Path=/" in cookie
    assert answer.headers["location"] == "/admin"


def test_changes_without_the_sessions_csrf_token_are_refused(
    database: Database, server: Server, org_a: str
) -> None:
    email = operator(database, "full", org_a)
    client = signed_in(server, email)
    other = signed_in(server, email)
    switch = f"/admin/orgs/{org_a}/sync/switch"
    for token in (None, csrf_of(other, org_a)):  # none, and another session's
        data = {"allowed": "off", **({"csrf_token": token} if token else {})}
        refused = client.post(switch, data=data)
        assert refused.status_code == 403
        assert code_of(refused) == "IDS-403-131"
    api = f"/api/v1/orgs/{org_a}/directory-sync"
    refused = client.put(api, json={"allowed": False})
    assert (refused.status_code, code_of(refused)) == (403, "IDS-403-131")
    assert orgs.get_org(database, org_a).directory_sync is True

    accepted = client.post(switch, data={"allowed": "off", "csrf_token": csrf_of(client, org_a)})
    assert accepted.status_code == 303
    assert orgs.get_org(database, org_a).directory_sync is False
    accepted = client.put(
        api, json={"allowed": True}, headers={"X-CSRF-Token": csrf_of(client, org_a)}
    )
    assert accepted.status_code == 200, accepted.text
    assert orgs.get_org(database, org_a).directory_sync is True


def test_a_read_only_operator_changes_nothing(
    database: Database, server: Server, org_a: str
) -> None:
    integration = entra(database, org_a)
    token = tokens.issue(database, org_a, "SCIM", actor="tests").record.id
    client = signed_in(server, operator(database, "readonly", org_a))
    assert client.get(f"/admin/orgs/{org_a}/sync").status_code == 200
    csrf = {"X-CSRF-Token": csrf_of(client, org_a)}
    form = {"csrf_token": csrf["X-CSRF-Token"]}
    before = (
        integrations.get_integration(database, integration),
        integrations.get_job(database, integration),
    )
    attempts = [
        client.put(f"/api/v1/orgs/{org_a}/directory-sync", json={"allowed": False}, headers=csrf),
        client.post(f"/api/v1/orgs/{org_a}/integrations", json={"kind": "entra"}, headers=csrf),
        client.patch(
            f"/api/v1/integrations/{integration}",
            json={"options": {"auto_sync": False}},
            headers=csrf,
        ),
        client.delete(f"/api/v1/integrations/{integration}", headers=csrf),
        client.post(f"/api/v1/orgs/{org_a}/tokens", json={"name": "x"}, headers=csrf),
        client.delete(f"/api/v1/orgs/{org_a}/tokens/{token}", headers=csrf),
        *(
            client.post(f"/api/v1/integrations/{integration}/{action}", headers=csrf)
            for action in ("run", "preview", "pause", "resume", "restart", "approve", "validate")
        ),
        client.post(f"/admin/orgs/{org_a}/sync/switch", data={**form, "allowed": "off"}),
        client.post(f"/admin/orgs/{org_a}/integrations", data={**form, "kind": "entra"}),
        *(
            client.post(f"/admin/integrations/{integration}/{action}", data=form)
            for action in ("run", "pause", "restart", "auto-sync", "remove", "validate")
        ),
    ]
    assert {(a.status_code, code_of(a)) for a in attempts} == {(403, "IDS-403-130")}
    after = (
        integrations.get_integration(database, integration),
        integrations.get_job(database, integration),
    )
    assert after == before
    assert orgs.get_org(database, org_a).directory_sync is True
    assert tokens.list_for(database, org_a)[0].revoked_at is None


def test_a_user_administrator_runs_integrations_but_not_their_credentials(
    database: Database, server: Server, org_a: str
) -> None:
    integration = entra(database, org_a)
    client = signed_in(server, operator(database, "users", org_a))
    csrf = {"X-CSRF-Token": csrf_of(client, org_a)}
    paused = client.post(f"/api/v1/integrations/{integration}/pause", headers=csrf)
    assert paused.status_code == 200, paused.text
    assert paused.json()["status"] == "Paused"
    for refused in (
        client.patch(
            f"/api/v1/integrations/{integration}",
            json={"options": {"auto_sync": False}},
            headers=csrf,
        ),
        client.post(f"/api/v1/orgs/{org_a}/tokens", json={"name": "x"}, headers=csrf),
        client.put(f"/api/v1/orgs/{org_a}/directory-sync", json={"allowed": False}, headers=csrf),
    ):
        assert (refused.status_code, code_of(refused)) == (403, "IDS-403-130")
        assert "is a users operator and may not" in refused.json()["error"]["message"]


def test_an_operator_of_one_org_sees_nothing_of_another(
    database: Database, server: Server, org_a: str, org_b: str
) -> None:
    theirs = entra(database, org_b)
    client = signed_in(server, operator(database, "full", org_a))
    assert [o["id"] for o in client.get("/api/v1/orgs").json()] == [org_a]
    # The other org's things are not found, as if they did not exist; an integration does
    # not even say which organisation it belongs to.
    for path, code in (
        (f"/api/v1/orgs/{org_b}", "IDS-404-002"),
        (f"/api/v1/orgs/{org_b}/integrations", "IDS-404-002"),
        (f"/api/v1/orgs/{org_b}/users", "IDS-404-002"),
        (f"/api/v1/orgs/{org_b}/audit-log", "IDS-404-002"),
        (f"/api/v1/orgs/{org_b}/tokens", "IDS-404-002"),
        (f"/api/v1/integrations/{theirs}", "IDS-404-010"),
        (f"/api/v1/integrations/{theirs}/finding", "IDS-404-010"),
        (f"/admin/orgs/{org_b}", "IDS-404-002"),
        (f"/admin/orgs/{org_b}/users", "IDS-404-002"),
        (f"/admin/orgs/{org_b}/sync", "IDS-404-002"),
        (f"/admin/orgs/{org_b}/logs", "IDS-404-002"),
        (f"/admin/integrations/{theirs}", "IDS-404-010"),
        (f"/admin/integrations/{theirs}/finding", "IDS-404-010"),
    ):
        answer = client.get(path)
        assert (answer.status_code, code_of(answer)) == (404, code), path
        assert "Entra ID" not in answer.text
        if "/integrations/" in path:
            assert org_b not in answer.text
    csrf = {"X-CSRF-Token": csrf_of(client, org_a)}
    paused = client.post(f"/api/v1/integrations/{theirs}/pause", headers=csrf)
    assert paused.status_code == 404
    assert integrations.get_job(database, theirs).status == "NotRun"
    # A tracking ID of the other org's (its administrator paused its job) finds nothing.
    their_action = jobs.set_paused(database, theirs, True, actor="tests").tracking_id
    answer = client.get(f"/api/v1/debug-info/{their_action}")
    assert (answer.status_code, code_of(answer)) == (404, "IDS-404-011")
    assert org_b not in answer.text
    # The org's home page lands on its own org, not on a list of everyone's.
    assert client.get("/admin").headers["location"] == f"/admin/orgs/{org_a}"


def test_sign_in_locks_after_failures_until_a_new_password(
    database: Database, server: Server, org_a: str
) -> None:
    email = operator(database, "full", org_a)
    with httpx.Client(base_url=server.url, follow_redirects=False) as client:
        for _ in range(5):
            failed = client.post(
                "/admin/login", data={"email": email, "password": "wrong password"}
            )
            assert (failed.status_code, code_of(failed)) == (401, "IDS-401-130")
            assert "idsync_session" not in failed.headers.get("set-cookie", "")
        locked = client.post("/admin/login", data={"email": email, "password": PASSWORD})
        assert (locked.status_code, code_of(locked)) == (429, "IDS-429-130")
        # What the error advises, run as printed (the password on stdin).
        subprocess.run(
            [sys.executable, "-m", "idsync", "admin", "reset-password", email,
             "--database", server.database_url],
            input=PASSWORD + "\n", text=True, check=True, capture_output=True,
        )  # fmt: skip
        assert (
            client.post("/admin/login", data={"email": email, "password": PASSWORD}).status_code
            == 303
        )
    events = [e for e in manage_operators_audit(database, org_a) if e.target == email]
    assert [e.activity for e in events if e.result == "failure"].count("Sign in") == 5
    assert any(e.activity == "Reset operator password" for e in events)


def manage_operators_audit(database: Database, org_id: str) -> list[Any]:
    from idsync.manage.audit import list_events

    return list_events(database, org_id=org_id, category="Security", limit=1000)


@pytest.fixture
def throttled(private_database: PrivateDatabase, tmp_path: Path) -> Iterator[Server]:
    handle = start_server(
        private_database.url, tmp_path / "serve.log", env={"IDSYNC_SIGN_IN_ADDRESS_LIMIT": "3"}
    )
    yield handle
    stop_server(handle)


def test_an_address_that_keeps_failing_is_refused_whatever_the_account(
    private_database: PrivateDatabase, throttled: Server
) -> None:
    org = orgs.create_org(private_database.db, "Throttled", actor="tests").id
    email = operator(private_database.db, "full", org)
    with httpx.Client(base_url=throttled.url, follow_redirects=False) as client:
        for guess in ("nobody@example.com", "someone@example.com", email):
            failed = client.post(
                "/admin/login", data={"email": guess, "password": "wrong password"}
            )
            assert code_of(failed) == "IDS-401-130"
        refused = client.post("/admin/login", data={"email": email, "password": PASSWORD})
    assert (refused.status_code, code_of(refused)) == (429, "IDS-429-131")


def test_failures_just_before_a_window_ends_still_count_just_after_it(
    private_database: PrivateDatabase,
) -> None:
    """The address counter's windows are fixed (15 minutes): failures up to the limit
    just before a boundary must still refuse a sign-in just after it."""
    database = private_database.db
    config = replace(Settings.from_env(), sign_in_address_limit=3)
    org = orgs.create_org(database, "Windows", actor="tests").id
    email = operator(database, "full", org)
    window = config.sign_in_locked_minutes * 60
    boundary = datetime.fromtimestamp((time.time() // window + 1) * window, UTC)
    for guess in ("nobody@example.com", "someone@example.com", email):
        with pytest.raises(IdsyncError) as failed:
            manage_operators.sign_in(
                database, config, guess, "wrong password", "192.0.2.7",
                now=boundary - timedelta(seconds=1),
            )  # fmt: skip
        assert failed.value.error.code == "IDS-401-130"

    with pytest.raises(IdsyncError) as refused:
        manage_operators.sign_in(
            database, config, email, PASSWORD, "192.0.2.7", now=boundary + timedelta(seconds=1)
        )
    assert refused.value.error.code == "IDS-429-131"


def test_api_keys_act_as_their_operator_without_csrf_until_revoked(
    database: Database, server: Server, org_a: str
) -> None:
    email = operator(database, "users", org_a)
    integration = entra(database, org_a)
    issued = manage_operators.create_key(database, email, "nightly", actor="tests")
    key = {"Authorization": f"Bearer {issued.secret}"}
    with httpx.Client(base_url=server.url, timeout=30) as client:
        assert client.get("/api/v1/me", headers=key).json()["operator"]["email"] == email
        paused = client.post(f"/api/v1/integrations/{integration}/pause", headers=key)
        assert paused.status_code == 200, paused.text
        manage_operators.revoke_key(database, email, issued.record.id, actor="tests")
        refused = client.get("/api/v1/me", headers=key)
        assert (refused.status_code, code_of(refused)) == (401, "IDS-401-131")
        assert client.get("/api/v1/me").status_code == 401


def test_every_operator_action_is_audited_with_who_and_from_where(
    database: Database, server: Server, org_a: str
) -> None:
    email = operator(database, "full", org_a)
    integration = entra(database, org_a)
    client = signed_in(server, email)
    csrf = csrf_of(client, org_a)
    assert (
        client.post(
            f"/admin/integrations/{integration}/pause", data={"csrf_token": csrf}
        ).status_code
        == 303
    )
    assert client.post("/admin/logout", data={"csrf_token": csrf}).status_code == 303
    events = manage_operators_audit(database, org_a) + [
        e for e in _all_events(database, org_a) if e.category != "Security"
    ]
    activities = {(e.activity, e.actor) for e in events}
    assert ("Pause sync job", f"{email} (console, 127.0.0.1)") in activities
    assert ("Sign in", email) in activities
    assert ("Sign out", email) in activities
    # Signed out: the old cookie opens nothing.
    assert client.get(f"/admin/orgs/{org_a}").headers["location"].startswith("/admin/login")


def _all_events(database: Database, org_id: str) -> list[Any]:
    from idsync.manage.audit import list_events

    return list_events(database, org_id=org_id, limit=1000)


def test_the_sign_in_page_sends_nobody_to_another_site(
    server: Server, database: Database, org_a: str
) -> None:
    email = operator(database, "readonly", org_a)
    with httpx.Client(base_url=server.url, follow_redirects=False) as client:
        for target in ("https://evil.example/", "//evil.example/admin", "/admin/orgs/x"):
            answer = client.post(
                "/admin/login", data={"email": email, "password": PASSWORD, "next": target}
            )
            expected = target if target == "/admin/orgs/x" else "/admin"
            assert answer.headers["location"] == expected


def test_passwords_are_stored_as_argon2id_hashes(database: Database, org_a: str) -> None:
    email = operator(database, "readonly", org_a)
    with database.read() as conn:
        from idsync.store import operators as rows

        found = rows.find_operator(conn, email)
    assert found is not None
    assert found[1] is not None and found[1].startswith("$argon2id$")
    assert PASSWORD not in found[1]


def test_admin_create_reads_the_password_from_stdin(
    database: Database, server: Server, org_a: str
) -> None:
    email = f"script-{uuid.uuid4().hex[:6]}@example.com"
    idsync_admin(server.database_url, email, "readonly", org_a)
    client = signed_in(server, email)
    assert client.get(f"/admin/orgs/{org_a}").status_code == 200
