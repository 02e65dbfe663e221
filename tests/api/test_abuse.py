"""Refused credentials: counted per source and token prefix, limited with 429, pruned by age.

Each test runs its own server (its own database, its own limits), so that pushing one
address over the limit never turns another test's 401 into a 429.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from idsync.manage import tokens
from idsync.store import audit
from idsync.store.models import AUDIT_EVENTS
from idsync.store.types import utcnow
from tests.conftest import PrivateDatabase, Server, make_org, start_server, stop_server
from tests.scimdata import assert_scim_error

LIMIT = 5
# An hour: a test never waits for a window to end, and rarely straddles two.
WINDOW = 3600


@pytest.fixture
def limited_server(
    private_database: PrivateDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Server]:
    monkeypatch.setenv("IDSYNC_REJECTED_TOKEN_LIMIT", str(LIMIT))
    monkeypatch.setenv("IDSYNC_REJECTED_TOKEN_WINDOW_SECONDS", str(WINDOW))
    server = start_server(private_database.url, tmp_path / "serve.log", "--no-scheduler")
    yield server
    stop_server(server)


def _rejections(database: PrivateDatabase) -> list[audit.AuditRecord]:
    with database.db.read() as conn:
        return audit.query(conn, activity="Reject token", limit=1000)


def test_repeated_rejections_are_one_audit_row_with_a_count(
    private_database: PrivateDatabase, limited_server: Server
) -> None:
    org = make_org(private_database.db, limited_server)
    for _ in range(LIMIT - 1):
        response = httpx.get(
            f"{org.scim_url}/Users", headers={"Authorization": "Bearer idsync_not-a-real-one"}
        )
        assert_scim_error(response, 401, code="IDS-401-003")
    rows = _rejections(private_database)
    # One row per window: two only if the test straddled a window's end.
    assert 1 <= len(rows) <= 2
    assert sum(r.count for r in rows) == LIMIT - 1
    assert {r.details["source"] for r in rows} == {"127.0.0.1"}
    assert {r.details["code"] for r in rows} == {"IDS-401-003"}
    assert all("not-a-real-one" not in str(r.details) for r in rows)


def test_an_address_refused_too_often_gets_429_while_valid_tokens_still_work(
    private_database: PrivateDatabase, limited_server: Server
) -> None:
    org = make_org(private_database.db, limited_server)
    bad = {"Authorization": "Bearer idsync_guessed-wrong"}
    statuses = []
    for _ in range(2 * LIMIT + 1):
        response = httpx.get(f"{org.scim_url}/Users", headers=bad)
        statuses.append(response.status_code)
        if response.status_code == 429:
            break
    assert statuses[-1] == 429, statuses
    assert statuses.count(401) >= LIMIT
    assert_scim_error(response, 429, code="IDS-429-001")
    assert 1 <= int(response.headers["retry-after"]) <= WINDOW
    assert "127.0.0.1" in response.json()["detail"]
    # Held back without being checked: no more counting in the database.
    counted = sum(r.count for r in _rejections(private_database))
    for _ in range(3):
        assert httpx.get(f"{org.scim_url}/Users", headers=bad).status_code == 429
    assert sum(r.count for r in _rejections(private_database)) == counted
    # A valid token from the same address is never held back.
    good = {"Authorization": f"Bearer {org.token}"}
    assert httpx.get(f"{org.scim_url}/Users", headers=good).status_code == 200
    # Another token prefix (a revoked token) is counted apart: still its own 401.
    issued = tokens.issue(private_database.db, org.id, "old", actor="tests")
    tokens.revoke(private_database.db, issued.record.id, actor="tests")
    revoked = httpx.get(
        f"{org.scim_url}/Users", headers={"Authorization": f"Bearer {issued.secret}"}
    )
    assert_scim_error(revoked, 401, code="IDS-401-001")


def _add_old_events(database: PrivateDatabase, count: int, days: float) -> None:
    when = utcnow() - timedelta(days=days)
    with database.db.write() as conn:
        conn.execute(
            sa.insert(AUDIT_EVENTS),
            [
                {
                    "org_id": None,
                    "occurred_at": when,
                    "category": "Security",
                    "activity": "Old event",
                    "result": "success",
                    "actor": "tests",
                    "details": {},
                }
                for _ in range(count)
            ],
        )


def _activities(database: PrivateDatabase) -> list[str]:
    with database.db.read() as conn:
        return [r.activity for r in audit.query(conn, limit=10_000)]


def test_serve_prunes_the_audit_log_to_its_retention(
    private_database: PrivateDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _add_old_events(private_database, 2500, days=31)
    _add_old_events(private_database, 3, days=29)
    monkeypatch.setenv("IDSYNC_AUDIT_LOG_DAYS", "30")
    server = start_server(private_database.url, tmp_path / "serve.log")
    try:
        deadline = time.monotonic() + 30
        while _activities(private_database).count("Old event") > 3:
            assert time.monotonic() < deadline, "idsync serve did not prune the audit log"
            time.sleep(0.2)
    finally:
        stop_server(server)
    assert _activities(private_database).count("Old event") == 3


def test_recording_a_rejection_prunes_expired_rows_without_the_scheduler(
    private_database: PrivateDatabase, limited_server: Server
) -> None:
    _add_old_events(private_database, 50, days=400)
    org = make_org(private_database.db, limited_server)
    response = httpx.get(f"{org.scim_url}/Users", headers={"Authorization": "Bearer idsync_x"})
    assert response.status_code == 401
    assert "Old event" not in _activities(private_database)
