"""``any_of`` (one parameter: an array on PostgreSQL, JSON on SQLite) finds exactly what
``IN`` finds, whatever the values hold: quotes, commas, braces and backslashes are
syntax in PostgreSQL's array text and in JSON, so a value carrying them must still
arrive whole."""

from __future__ import annotations

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from idsync.store.database import Database
from idsync.store.lists import any_of

PROBE = sa.Table(
    "idsync_probe_lists", sa.MetaData(), sa.Column("value", sa.Text), prefixes=["TEMPORARY"]
)

# Every character a source id or userName may hold (PostgreSQL refuses NUL in text).
VALUES = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
    | st.sampled_from(list("{}\",\\ '()[]NULL")),
    max_size=12,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(stored=st.lists(VALUES, max_size=20, unique=True), asked=st.lists(VALUES, max_size=20))
def test_any_of_finds_what_in_finds(
    database: Database, stored: list[str], asked: list[str]
) -> None:
    asked = asked + stored[::2]  # some of them are there
    with database.write() as conn:
        PROBE.create(conn, checkfirst=True)
        conn.execute(PROBE.delete())
        if stored:
            conn.execute(PROBE.insert(), [{"value": value} for value in stored])
        query = sa.select(PROBE.c.value).where(any_of(PROBE.c.value, asked, conn.dialect.name))
        found = list(conn.scalars(query))
    assert sorted(found) == sorted(set(stored) & set(asked))
