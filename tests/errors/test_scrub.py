"""The one scrubber (issue 9 item 4): secrets go where they stand as secrets, and nothing
else of a message changes."""

from __future__ import annotations

import pytest

from idsync.errors.scrub import REDACTED, SCRUB, Scrubber

LONG = "Sup3r-s3cret-value"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("ldap://cn=admin:pa55@dc1:389", f"ldap://cn=admin:{REDACTED}@dc1:389"),
        (
            "GET /v1.0/users/delta?$skiptoken=abcDEF&$select=id",
            f"GET /v1.0/users/delta?$skiptoken={REDACTED}&$select=id",
        ),
        (
            "GET /v1.0/groups/delta?%24deltatoken=abc",
            f"GET /v1.0/groups/delta?%24deltatoken={REDACTED}",
        ),
        (
            "POST /token client_secret=xyz&grant_type=client_credentials",
            f"POST /token client_secret={REDACTED}&grant_type=client_credentials",
        ),
        ("redirect /cb?code=0.AXo1&state=s", f"redirect /cb?code={REDACTED}&state=s"),
        ("Authorization: Basic dXNlcjpwYXNz\r\nHost: x", f"Authorization: {REDACTED}\r\nHost: x"),
        ("Cookie: session=abc; theme=dark", f"Cookie: {REDACTED}"),
        ("echoed Bearer eyJ0eXAi.abc-def_g in the body", f"echoed Bearer {REDACTED} in the body"),
        (
            '{"password": "hunter2", "userName": "ann"}',
            f'{{"password": {REDACTED}, "userName": "ann"}}',
        ),
        (f"the server said {LONG}", f"the server said {REDACTED}"),
    ],
)
def test_secrets_are_redacted_where_they_stand_as_secrets(text: str, shown: str) -> None:
    assert Scrubber([LONG, "wrong"])(text) == shown


@pytest.mark.parametrize(
    "text",
    [
        "AD data 52e: the user name or password is wrong",
        "[Errno 111] Connection refused",
        "Send the header 'Authorization: Bearer <token>'; an administrator creates tokens",
        "error IDS-409-013 reason_code=IDS-502-020 at 2026-12-04T04:02:48Z",
        "GET /scim/v2/Users?filter=userName%20eq%20%22ann%22",
    ],
)
def test_short_secrets_and_ordinary_words_are_left_alone(text: str) -> None:
    assert Scrubber(["wrong", "refused", "Bearer", "token"])(text) == text


def test_a_secret_that_changes_is_read_each_time() -> None:
    current = ["first-token-value"]
    scrub = Scrubber(lambda: current)
    assert scrub("first-token-value") == REDACTED
    current[0] = "second-token-value"
    assert scrub("first-token-value second-token-value") == f"first-token-value {REDACTED}"


def test_fields_named_as_secrets_are_redacted_whole() -> None:
    fields = SCRUB.fields(
        {"event": "bind", "password": "x", "client-secret": "y", "code": "IDS-400-100", "n": 3}
    )
    assert fields == {
        "event": "bind",
        "password": REDACTED,
        "client-secret": REDACTED,
        "code": "IDS-400-100",
        "n": 3,
    }
