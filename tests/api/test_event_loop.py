"""Which requests run on the event loop (api/http.py). On PostgreSQL only a GET of at most
one user by a unique key does: one indexed round trip to the server. Anything that could
keep the server busy for long (a list, a filter without an index, a group with its
members, a write) goes to a thread, so it never holds up the other requests of its worker."""

from __future__ import annotations

import pytest

from idsync.api.http import _one_user_by_key


@pytest.mark.parametrize(
    ("method", "rest", "params"),
    [
        ("GET", "/Users", {"filter": 'userName eq "ann@example.org"'}),
        ("GET", "/Users", {"filter": 'USERNAME EQ "ann@example.org"', "attributes": "id"}),
        ("GET", "/Users", {"filter": 'externalId eq "a \\"quoted\\" id"'}),
        ("GET", "/Users", {"filter": ' id eq "2819c223-7f76-453a-919d-413861904646" '}),
        ("GET", "/users", {"filter": 'userName eq ""'}),
        ("GET", "/Users/2819c223-7f76-453a-919d-413861904646", {}),
    ],
)
def test_a_get_of_one_user_by_a_unique_key_runs_on_the_loop(
    method: str, rest: str, params: dict[str, str]
) -> None:
    assert _one_user_by_key(method, rest, params)


@pytest.mark.parametrize(
    ("method", "rest", "params"),
    [
        ("GET", "/Users", {}),  # a page of every user
        ("GET", "/Users", {"filter": 'userName co "ann"'}),  # no index answers it
        ("GET", "/Users", {"filter": 'displayName eq "Ann"'}),  # not unique
        ("GET", "/Users", {"filter": 'userName eq "a" or userName eq "b"'}),
        ("GET", "/Users", {"filter": 'userName eq "a" and active eq true'}),
        ("GET", "/Users", {"filter": 'userName eq "a"" or ""b"'}),
        ("GET", "/Groups", {"filter": 'displayName eq "Staff"'}),  # with its members
        ("GET", "/Groups/2819c223-7f76-453a-919d-413861904646", {}),
        ("GET", "/Users/2819c223/groups", {}),
        ("POST", "/Users/.search", {}),
        ("DELETE", "/Users/2819c223-7f76-453a-919d-413861904646", {}),
        ("PATCH", "/Users/2819c223-7f76-453a-919d-413861904646", {}),
    ],
)
def test_anything_else_runs_in_a_thread(method: str, rest: str, params: dict[str, str]) -> None:
    assert not _one_user_by_key(method, rest, params)
