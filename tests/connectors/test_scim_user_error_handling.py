"""How ScimTarget reports failures: throttling waited out, credentials refused, one object's
error kept to that object. Faults are injected by the recording proxy in front of scim2-server."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from idsync.connectors.retry import RetryPolicy
from idsync.connectors.scim import ScimSettings, ScimTarget, parse_compat
from idsync.contract.errors import AccessDenied, Throttled, Unavailable
from idsync.contract.protocols import Desired
from idsync.store.database import Database
from tests.scim_peer import Peer, Proxy, make_integration

FAST = RetryPolicy(
    attempts=3, backoff_initial=0.01, backoff_max=0.05, throttle_retries=3, retry_after_max=5
)


def target(db: Database, url: str, token: str, compat: str | None = None) -> ScimTarget:
    settings = ScimSettings(
        url=url, token=token, integration="acme-app", retry=FAST, compat=parse_compat(compat)
    )
    push = ScimTarget(settings, db, make_integration(db))
    _ = push.capabilities  # discovered before faults are injected
    return push


def user(name: str, **extra: Any) -> Desired:
    return Desired(f"src-{name}", (("userName", name), *extra.items()), name)


def test_429_with_retry_after_is_waited_out(database: Database, peer: Peer, proxy: Proxy) -> None:
    push = target(database, proxy.url, peer.token, "bulk=off")
    proxy.fail(429, times=2, retry_after=0.3)
    started = time.monotonic()
    [result] = push.create("user", [user("patient@example.com")])
    assert time.monotonic() - started >= 0.6  # both Retry-After waits were honoured
    assert result.error is None and result.target_id
    assert [r.status for r in proxy.of("POST", "/Users")] == [429, 429, 201]


def test_endless_429_becomes_throttled(database: Database, peer: Peer, proxy: Proxy) -> None:
    push = target(database, proxy.url, peer.token, "bulk=off")
    proxy.fail(429, times=10, retry_after=0.01)
    with pytest.raises(Throttled) as caught:
        push.create("user", [user("never@example.com")])
    assert caught.value.error.code == "IDS-503-030"


def test_5xx_is_retried_then_unavailable(database: Database, peer: Peer, proxy: Proxy) -> None:
    push = target(database, proxy.url, peer.token, "bulk=off")
    proxy.fail(502, times=1)
    [result] = push.create("user", [user("second-try@example.com")])
    assert result.error is None
    proxy.fail(503, times=10)
    with pytest.raises(Unavailable) as caught:
        push.create("user", [user("down@example.com")])
    assert caught.value.error.code == "IDS-503-031"
    assert peer.token not in str(caught.value)


def test_401_is_access_denied_without_the_token(
    database: Database, peer: Peer, proxy: Proxy
) -> None:
    push = target(database, proxy.url, peer.token)
    proxy.fail_until_cleared(401)
    with pytest.raises(AccessDenied) as caught:
        push.create("user", [user("a@example.com"), user("b@example.com")])
    error = caught.value
    assert error.error.code == "IDS-502-030" and error.status == 401
    assert "acme-app" in error.message and "--token-file" in error.action
    for text in (
        str(error),
        error.message,
        error.action,
        repr(error),
        repr(push),
        repr(push.settings),
    ):
        assert peer.token not in text
    assert len(proxy.of("POST")) == 1  # never retried
    proxy.clear()
    assert all(r.error is None for r in push.create("user", [user("c@example.com")]))


def test_403_is_access_denied(database: Database, peer: Peer, proxy: Proxy) -> None:
    push = target(database, proxy.url, peer.token, "bulk=off")
    proxy.fail(403, times=1)
    with pytest.raises(AccessDenied) as caught:
        push.create("user", [user("forbidden@example.com")])
    assert caught.value.error.code == "IDS-502-031" and caught.value.status == 403
    assert "to create users" in caught.value.message


@pytest.mark.parametrize("compat", [None, "bulk=off"])
def test_one_objects_409_and_400_do_not_fail_the_batch(
    database: Database, peer: Peer, proxy: Proxy, compat: str | None
) -> None:
    taken = httpx.post(
        f"{peer.url}/Users",
        headers={"Authorization": f"Bearer {peer.token}"},
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "Taken@example.com",
        },
    ).json()["id"]
    push = target(database, proxy.url, peer.token, compat)
    items = [
        user("first@example.com"),
        user("taken@example.com"),
        user("bad@example.com", active="certainly"),
        user("last@example.com"),
    ]
    first, clash, bad, last = push.create("user", items)
    assert first.error is None and last.error is None and first.target_id and last.target_id
    assert clash.target_id is None and clash.error is not None
    assert clash.error.error.code == "IDS-409-050" and taken in clash.error.message
    assert bad.target_id is None and bad.error is not None
    assert bad.error.error.code == "IDS-400-050" and "HTTP 400" in bad.error.message


def test_patch_of_an_object_deleted_in_the_app(
    database: Database, peer: Peer, proxy: Proxy
) -> None:
    push = target(database, proxy.url, peer.token)
    [created] = push.create("user", [user("gone@example.com", title="A")])
    assert created.target_id
    httpx.delete(
        f"{peer.url}/Users/{created.target_id}", headers={"Authorization": f"Bearer {peer.token}"}
    )
    [result] = push.update("user", [(created.target_id, user("gone@example.com", title="B"))])
    assert result.error is not None and result.error.error.code == "IDS-409-051"
    assert "deleted" in result.error.message
