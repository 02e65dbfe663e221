"""What the hub exposes: no SQL parameters or row contents in its log, a private SQLite
file, and nothing of a mis-sent secret echoed back."""

from __future__ import annotations

import stat
import uuid
from pathlib import Path

import httpx

from tests.conftest import Org, PrivateDatabase, make_org, start_server, stop_server
from tests.scimdata import assert_scim_error, user


def _set_trap(database: PrivateDatabase) -> None:
    """A rule the hub knows nothing of: the database itself refuses users named trap-…"""
    with database.db.connect() as conn:
        if database.db.is_sqlite:
            conn.exec_driver_sql(
                "CREATE TRIGGER trap BEFORE INSERT ON users WHEN NEW.user_name LIKE 'trap-%' "
                "BEGIN SELECT RAISE(ABORT, 'trap'); END"
            )
        else:
            conn.exec_driver_sql(
                "ALTER TABLE users ADD CONSTRAINT trap CHECK (user_name NOT LIKE 'trap-%%')"
            )
        conn.commit()


def test_a_database_error_is_logged_without_the_values_it_was_given(
    private_database: PrivateDatabase, tmp_path: Path
) -> None:
    _set_trap(private_database)
    server = start_server(private_database.url, tmp_path / "serve.log")
    try:
        org = make_org(private_database.db, server)
        marker = uuid.uuid4().hex
        password = f"Pw-{marker}"
        response = httpx.post(
            f"{org.scim_url}/Users",
            headers={"Authorization": f"Bearer {org.token}"},
            json=user(f"trap-{marker}@example.com", password=password, title=f"title-{marker}"),
            timeout=30,
        )
        # The database refused the row for a reason the hub cannot name: an internal error.
        assert response.status_code == 500
        tracking_id = response.headers["x-tracking-id"]
        logged = "\n".join(server.log_lines_with(tracking_id))
        assert "trap" in logged, "the log line must still say which rule failed"
        for secret in (marker, "$argon2", password):
            assert secret not in logged
        assert "Failing row" not in logged
        assert "[parameters:" not in logged
    finally:
        stop_server(server)


def test_a_new_sqlite_database_and_its_wal_files_are_private(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "idsync.db"
    path.parent.mkdir()
    url = f"sqlite:///{path}"
    server = start_server(url, tmp_path / "serve.log")  # creates and migrates the file
    try:
        from idsync.store.database import open_database

        org = make_org(open_database(url), server)
        created = httpx.post(
            f"{org.scim_url}/Users", headers={"Authorization": f"Bearer {org.token}"}, json=user()
        )
        assert created.status_code == 201
        for name in ("idsync.db", "idsync.db-wal", "idsync.db-shm"):
            mode = stat.S_IMODE((path.parent / name).stat().st_mode)
            assert mode == 0o600, f"{name} is {oct(mode)}"
    finally:
        stop_server(server)


def test_a_token_sent_without_the_bearer_scheme_is_not_echoed(org: Org) -> None:
    for header in (
        org.token,
        f"Token{org.token}",
        "idsync_abcdefghijklmnop",
        "correct-horse-battery-staple",
    ):
        response = httpx.get(f"{org.scim_url}/Users", headers={"Authorization": header})
        assert_scim_error(response, 401, code="IDS-401-005")
        shown = response.text + str(response.headers)
        assert header[:10] not in shown
        assert header[7:17] not in shown
    named = httpx.get(f"{org.scim_url}/Users", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert "'Basic'" in named.json()["detail"]
