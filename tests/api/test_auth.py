"""Bearer tokens: missing, unknown, revoked, expired; all 401 with a SCIM body, all audited."""

from __future__ import annotations

import time
from datetime import timedelta

import httpx

from idsync.config import Settings
from idsync.hub.tokens import hash_secret
from idsync.manage import tokens
from idsync.store import audit
from idsync.store.database import Database
from tests.conftest import Org
from tests.scimdata import ERROR


def audit_events(database: Database, **filters: object) -> list[audit.AuditRecord]:
    with database.read() as conn:
        return audit.query(conn, **filters)  # type: ignore[arg-type]


def assert_unauthorized(response: httpx.Response, code: str) -> None:
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('Bearer realm="idsync"')
    body = response.json()
    assert body["schemas"] == [ERROR]
    assert body["status"] == "401"
    assert code in body["detail"]
    assert response.headers["x-tracking-id"] in body["detail"]
    assert response.headers["x-idsync-error"] == code


def test_missing_token(org: Org) -> None:
    assert_unauthorized(httpx.get(f"{org.scim_url}/Users"), "IDS-401-002")


def test_basic_auth_is_refused_with_the_scheme_named(org: Org) -> None:
    response = httpx.get(f"{org.scim_url}/Users", auth=("user", "pass"))
    assert_unauthorized(response, "IDS-401-005")
    assert "'Basic'" in response.json()["detail"]


def _unknown_token_refusals(database: Database) -> int:
    return sum(
        e.count
        for e in audit_events(database, activity="Reject token", limit=10_000)
        if e.details["code"] == "IDS-401-003"
    )


def test_unknown_token_is_refused_and_counted_in_the_audit_log(
    org: Org, database: Database
) -> None:
    before = _unknown_token_refusals(database)
    response = httpx.get(
        f"{org.scim_url}/Users", headers={"Authorization": "Bearer idsync_not-a-real-one"}
    )
    assert_unauthorized(response, "IDS-401-003")
    # One row per source and minute counts them (see test_abuse.py).
    assert _unknown_token_refusals(database) == before + 1
    (event,) = [
        e
        for e in audit_events(database, activity="Reject token")
        if e.details["code"] == "IDS-401-003"
    ][:1]
    assert event.category == "Security"
    assert event.details["source"] == "127.0.0.1"


def test_revoked_token_says_when_it_was_revoked(org: Org, database: Database) -> None:
    """A revoke from another process (here the test) holds within token_cache_seconds."""
    headers = {"Authorization": f"Bearer {org.token}"}
    assert httpx.get(f"{org.scim_url}/Users", headers=headers).status_code == 200
    tokens.revoke(database, org.token_id, actor="tests")
    revoked = time.monotonic()
    while True:
        response = httpx.get(f"{org.scim_url}/Users", headers=headers)
        if response.status_code != 200:
            break
        assert time.monotonic() - revoked < Settings().token_cache_seconds + 2
        time.sleep(0.05)
    assert_unauthorized(response, "IDS-401-001")
    assert httpx.get(f"{org.scim_url}/Users", headers=headers).status_code == 401
    assert "was revoked on" in response.json()["detail"]
    assert "idsync token create" in response.json()["detail"]
    activities = {e.activity for e in audit_events(database, org_id=org.id)}
    assert {"Create token", "Revoke token", "Reject token"} <= activities


def test_expired_token(org: Org, database: Database) -> None:
    issued = tokens.issue(
        database, org.id, "short", actor="tests", expires_in=timedelta(seconds=-1)
    )
    response = httpx.get(
        f"{org.scim_url}/Users", headers={"Authorization": f"Bearer {issued.secret}"}
    )
    assert_unauthorized(response, "IDS-401-004")


def test_use_records_last_used_time(org: Org, database: Database) -> None:
    before = next(t for t in tokens.list_for(database, org.id) if t.id == org.token_id)
    assert before.last_used_at is None
    httpx.get(f"{org.scim_url}/Users", headers={"Authorization": f"Bearer {org.token}"})
    after = next(t for t in tokens.list_for(database, org.id) if t.id == org.token_id)
    assert after.last_used_at is not None


def test_token_is_stored_only_as_a_hash(org: Org, database: Database) -> None:
    with database.read() as conn:
        rows = conn.exec_driver_sql("SELECT * FROM tokens").all()
    flat = " ".join(str(v) for row in rows for v in row)
    assert org.token not in flat
    assert hash_secret(org.token) in flat


def test_discovery_needs_a_token_too(org: Org) -> None:
    for path in ("/ServiceProviderConfig", "/Schemas", "/ResourceTypes"):
        assert httpx.get(f"{org.scim_url}{path}").status_code == 401
