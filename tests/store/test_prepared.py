"""A prepared lookup gives what SQLAlchemy's own execution gives: the same columns, the
same converted values (JSON documents, UTC datetimes, booleans), and database errors
as SQLAlchemy's exceptions."""

from __future__ import annotations

from datetime import UTC

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from idsync.config import Settings
from idsync.hub.groups import GroupService
from idsync.hub.tenant import Hub, Tenant
from idsync.hub.users import UserService
from idsync.scim.provider import default_description
from idsync.store import resources as store
from idsync.store.database import Database
from idsync.store.prepared import Prepared
from tests.conftest import Org
from tests.scimdata import group, user


def test_a_prepared_lookup_returns_what_sqlalchemy_returns(database: Database, org: Org) -> None:
    hub = Hub(database, Settings(database_url="unused"))
    tenant = Tenant(org.id, default_description(), f"http://hub/scim/{org.id}/v2")
    users, groups = UserService(hub), GroupService(hub)
    created = users.create(tenant, user("same@example.com"), users.projection(tenant))
    groups.create(tenant, group("Team", members=[created.resource_id]), groups.projection(tenant))
    with database.read() as conn:
        prepared = store.lookup(conn, "User", org.id, "user_name_key", "same@example.com", 0, 9)
        executed = conn.execute(
            sa.select(*store._selected("User", conn.dialect.name)).where(
                store.table("User").c.org_id == org.id,
                store.table("User").c.user_name_key == "same@example.com",
            )
        ).all()
    assert prepared.total == 1
    [row], [reference] = prepared.rows, executed
    assert row._fields == tuple(reference._fields)
    assert tuple(row) == tuple(reference)
    assert row.doc["userName"] == "same@example.com"
    assert row.created_at.tzinfo is UTC and row.active is True
    assert [name for _, name, _ in row.direct_groups] == ["Team"]


def test_a_database_error_is_sqlalchemys_error(database: Database) -> None:
    missing = sa.table("no_such_table", sa.column("id", sa.String))
    with database.read() as conn:
        prepared = Prepared(
            sa.select(missing.c.id).where(missing.c.id == sa.bindparam("id", type_=sa.String)),
            conn.dialect,
        )
        with pytest.raises(DBAPIError) as failed:
            prepared.rows(conn, {"id": "x"})
    assert "no_such_table" in str(failed.value)


def test_parameters_that_need_converting_are_refused(database: Database) -> None:
    t = store.table("User")
    with pytest.raises(ValueError, match="no conversion"):
        Prepared(
            sa.select(t.c.id).where(t.c.created_at > sa.bindparam("when")), database.engine.dialect
        )
