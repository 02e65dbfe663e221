"""When slapd refuses, is missing a base, stops or limits us: the right error, never "no users"."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from ldap3.core import exceptions as ldap_exc

from idsync.connectors.ldap.failures import Failures
from idsync.connectors.ldap.source import LdapSource
from idsync.connectors.retry import Retry
from idsync.contract.errors import AccessDenied, Unavailable
from idsync.contract.records import ReadStart
from tests.slapd import (
    ADMIN_PASSWORD,
    PEOPLE,
    SUFFIX,
    USER_PASSWORD,
    SlapdProcess,
    ldap_settings,
    running,
    seed,
    user_dn,
)

WRONG_PASSWORD = "Wr0ng-but-s3cret!"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SlapdProcess]:
    yield from running(tmp_path, paged_limit=4)


def read_users(source: LdapSource) -> int:
    return sum(len(page.objects) for page in source.read("user", ReadStart()))


def test_wrong_password_is_access_denied_without_the_password(server: SlapdProcess) -> None:
    settings = ldap_settings(server, password=WRONG_PASSWORD)
    with LdapSource(settings) as source:
        with pytest.raises(AccessDenied) as caught:
            read_users(source)
        health = source.check()
    error = caught.value
    assert error.error.code == "IDS-502-020"
    assert "49 invalidCredentials" in error.message
    assert "corp-ldap" in error.message
    assert "--password-file" in error.action
    for text in (str(error), repr(error), repr(error.params), repr(source), repr(health)):
        assert WRONG_PASSWORD not in text
    assert not health.ok
    assert health.details["code"] == "IDS-502-020"
    assert health.details["retryable"] is False


def test_a_missing_base_is_quarantined_not_read_as_empty(server: SlapdProcess) -> None:
    seed(server, users=2)
    missing = f"ou=gone,{SUFFIX}"
    settings = ldap_settings(server, user_base_dns=(PEOPLE, missing))
    with LdapSource(settings) as source:
        with pytest.raises(AccessDenied) as caught:
            list(source.read("user", ReadStart()))
        health = source.check()
    assert caught.value.error.code == "IDS-502-022"
    assert missing in caught.value.message
    assert "dc=example,dc=org" in caught.value.message  # the closest entry that exists
    assert not health.ok
    assert health.details["code"] == "IDS-502-022"


def test_check_reports_the_server_without_secrets(server: SlapdProcess) -> None:
    with LdapSource(ldap_settings(server)) as source:
        health = source.check()
    assert health.ok, health.details
    assert health.details["naming_contexts"] == [SUFFIX]
    assert health.details["paged_results"] is True
    assert health.details["tls"] == "none"
    assert "in clear" in health.details["warning"]
    assert ADMIN_PASSWORD not in repr(health)


def test_a_stopped_server_is_unavailable_after_retries(server: SlapdProcess) -> None:
    settings = ldap_settings(server)
    server.stop()
    waits: list[float] = []
    with LdapSource(settings, sleep=waits.append) as source:
        with pytest.raises(Unavailable) as caught:
            read_users(source)
        assert len(waits) == 2  # three attempts in all, with backoff between them
        health = source.check()
    assert caught.value.error.code == "IDS-503-011"
    assert "gave up after 3 attempts" in caught.value.message
    assert "Connection refused" in caught.value.message
    assert not health.ok
    assert health.details["retryable"] is True


def test_a_server_that_comes_back_is_read_on_retry(server: SlapdProcess) -> None:
    seed(server, users=3)
    settings = ldap_settings(server)
    with LdapSource(settings) as source:
        assert read_users(source) == 3
        server.stop()
        server.start()  # new ports: point a new source at them
    with LdapSource(ldap_settings(server)) as again:
        assert read_users(again) == 3


def test_a_size_limit_is_unavailable_with_a_hint(server: SlapdProcess) -> None:
    seed(server, users=6)
    # A plain user (not the rootdn) gets at most 4 entries from a paged search here.
    settings = ldap_settings(server, bind_dn=user_dn(1), password=USER_PASSWORD, page_size=2)
    with LdapSource(settings) as source, pytest.raises(Unavailable) as caught:
        read_users(source)
    assert caught.value.error.code == "IDS-503-020"
    assert "size limit" in caught.value.message
    assert "idsync integration update corp-ldap --page-size N" in caught.value.action
    assert USER_PASSWORD not in str(caught.value)


def test_result_codes_are_classified(server: SlapdProcess) -> None:
    failures = Failures(ldap_settings(server))
    denied = failures.classify(
        ldap_exc.LDAPInsufficientAccessRightsResult(
            result=50, description="insufficientAccessRights"
        ),
        what="ou=people",
    )
    busy = failures.classify(ldap_exc.LDAPBusyResult(result=51, description="busy"))
    down = failures.classify(ldap_exc.LDAPUnavailableResult(result=52, description="unavailable"))
    ad_locked = failures.classify(
        ldap_exc.LDAPInvalidCredentialsResult(
            result=49,
            description="invalidCredentials",
            message="80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, "
            "data 775, v4563",
        )
    )
    assert isinstance(denied, AccessDenied)
    assert denied.error.code == "IDS-502-021"
    assert isinstance(busy, Retry)
    assert isinstance(down, Retry)
    assert isinstance(ad_locked, AccessDenied)
    assert "the account is locked out" in ad_locked.message


def test_a_short_password_does_not_mangle_the_reason(server: SlapdProcess) -> None:
    """Issue 9 item 4: a password that is also an ordinary word ("refused", "user")
    is not cut out of the server's text; the reason reads as the server wrote it."""
    settings = ldap_settings(server, password="refused")
    server.stop()
    with LdapSource(settings, sleep=lambda _: None) as source, pytest.raises(Unavailable) as caught:
        read_users(source)
    assert "[Errno 111] Connection refused" in caught.value.message
    assert "<redacted>" not in caught.value.message
    ad_refused = Failures(ldap_settings(server, password="user")).classify(
        ldap_exc.LDAPInvalidCredentialsResult(
            result=49,
            description="invalidCredentials",
            message="80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, "
            "data 52e, v4563",
        )
    )
    assert isinstance(ad_refused, AccessDenied)
    assert "AD data 52e: the user name or password is incorrect" in ad_refused.message


def test_a_long_password_echoed_by_the_server_is_redacted(server: SlapdProcess) -> None:
    failures = Failures(ldap_settings(server, password=WRONG_PASSWORD))
    echoed = failures.classify(
        ldap_exc.LDAPOperationsErrorResult(
            result=1, description="operationsError", message=f"bind with {WRONG_PASSWORD} failed"
        )
    )
    assert isinstance(echoed, Unavailable)
    assert WRONG_PASSWORD not in echoed.message
    assert "bind with <redacted> failed" in echoed.message
