"""The connector's settings and retry arithmetic, without a server."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from idsync.connectors.entra import ClientCertificate, EntraSettings
from idsync.connectors.retry import GaveUp, Retry, RetryPolicy, call, parse_retry_after
from idsync.errors.catalogue import IdsyncError


def test_repr_hides_the_secret_and_the_private_key() -> None:
    secret = "Zx8Q~very-secret-value"
    settings = EntraSettings("tenant", "client", client_secret=secret)
    assert secret not in repr(settings)
    assert secret not in str(settings)
    assert "<hidden>" in repr(settings)
    key = "-----BEGIN PRIVATE KEY-----\nMIIEv...\n-----END PRIVATE KEY-----"
    with_cert = EntraSettings("t", "c", certificate=ClientCertificate(key, "AB12"))
    assert key not in repr(with_cert)
    assert "AB12" in repr(with_cert)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"client_secret": None}, "exactly one"),
        ({"certificate": ClientCertificate("k", "t")}, "exactly one"),
        ({"graph_url": "http://graph.example"}, "https://"),
        ({"authority": "login.microsoftonline.com"}, "https://"),
        ({"page_size": 1000}, "page_size"),
        ({"tenant_id": " "}, "tenant id"),
    ],
)
def test_invalid_settings_are_refused(overrides: dict[str, object], reason: str) -> None:
    arguments: dict[str, object] = {"tenant_id": "t", "client_id": "c", "client_secret": "s"}
    with pytest.raises(IdsyncError) as caught:
        EntraSettings(**{**arguments, **overrides})  # type: ignore[arg-type]
    assert caught.value.error.code == "IDS-400-031"
    assert reason in caught.value.message


def test_derived_urls() -> None:
    settings = EntraSettings("contoso", "app-1", client_secret="s", graph_url="https://g.example/")
    assert settings.consent_url == (
        "https://login.microsoftonline.com/contoso/adminconsent?client_id=app-1"
    )
    assert settings.graph_scope == "https://g.example/.default"
    assert settings.uses_microsoft_authority
    assert not EntraSettings("t", "c", client_secret="s", authority="https://127.0.0.1:9")\
        .uses_microsoft_authority  # fmt: skip


def test_retry_after_forms() -> None:
    now = datetime(2015, 10, 21, 7, 27, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=now) == 60
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_backoff_grows_with_jitter_and_stays_capped() -> None:
    policy = RetryPolicy(backoff_initial=1, backoff_max=8)
    for failures, ceiling in [(1, 1), (2, 2), (3, 4), (4, 8), (9, 8)]:
        assert all(ceiling / 2 <= policy.backoff(failures) <= ceiling for _ in range(50))


def test_call_retries_then_gives_up() -> None:
    waits: list[float] = []
    tries: list[int] = []

    def flaky() -> str:
        tries.append(1)
        if len(tries) < 3:
            raise Retry("boom")
        return "ok"

    policy = RetryPolicy(attempts=3, backoff_initial=0.01, backoff_max=0.01)
    assert call(flaky, policy, sleep=waits.append) == "ok"
    assert len(waits) == 2

    def always_throttled() -> str:
        raise Retry("slow down", throttled=True, retry_after=7)

    with pytest.raises(GaveUp) as caught:
        call(always_throttled, RetryPolicy(throttle_retries=2), sleep=waits.append)
    assert waits[2:] == [7, 7]
    assert caught.value.retry_after == 7
    assert caught.value.last.throttled
