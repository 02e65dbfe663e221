"""A column's value among many, written the way each database takes a long list best.

SQLAlchemy's ``in_`` binds one parameter per value: for a page's 500 source ids that
is 500 placeholders rendered and 500 values adapted on every call. Both databases
take the list as one parameter instead: PostgreSQL as an array (``= ANY(:values)``),
SQLite as a JSON array it reads with ``json_each``. Measured with the links lookup a
sync cycle makes for every page, per 1,000 ids: 12 ms against 4 ms on PostgreSQL,
2.1–3.2 ms against 1.5–1.7 ms on SQLite.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


def any_of(column: sa.ColumnElement[Any], values: Sequence[str], dialect: str) -> Any:
    """``column IN (values)``, the values bound as one parameter."""
    if dialect == "postgresql":
        array = sa.bindparam(None, list(values), type_=postgresql.ARRAY(column.type))
        return column == sa.any_(array)
    listed = sa.func.json_each(sa.bindparam(None, orjson.dumps(list(values)).decode()))
    return column.in_(sa.select(listed.table_valued("value").c.value))
