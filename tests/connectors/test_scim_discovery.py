"""Discovery reads what the application says it can do, from scim2-server and from idsync."""

from __future__ import annotations

import pytest

from idsync.connectors.retry import RetryPolicy
from idsync.connectors.scim import ScimSettings, scim_settings
from idsync.connectors.scim.client import ScimClient
from idsync.connectors.scim.discovery import discover
from idsync.contract.errors import AccessDenied
from idsync.errors.catalogue import IdsyncError
from idsync.scim.urns import ENTERPRISE_USER
from idsync.store.database import Database
from tests.conftest import Server, make_org
from tests.scim_peer import Peer, start_proxy

FAST = RetryPolicy(attempts=2, backoff_initial=0.01, backoff_max=0.02, throttle_retries=2)


def test_scim2_server_capabilities_are_read(peer: Peer) -> None:
    client = ScimClient(ScimSettings(url=peer.url, token=peer.token, retry=FAST))
    capabilities = discover(client)
    client.close()
    assert capabilities.patch and capabilities.bulk and capabilities.filter
    assert capabilities.bulk_max_operations == 1000
    assert capabilities.bulk_max_payload == 1_048_576
    assert capabilities.filter_max_results == 1000
    assert capabilities.endpoint("user") == "/Users"
    assert capabilities.endpoint("group") == "/Groups"
    assert ENTERPRISE_USER in capabilities.extensions["user"]
    assert capabilities.fallbacks == ()
    assert capabilities.supports("user", 'emails[type eq "work"].value')
    assert capabilities.supports("user", "name.givenName")
    assert capabilities.supports("user", f"{ENTERPRISE_USER}:department")
    assert not capabilities.supports("user", "favouriteColour")
    assert not capabilities.supports("group", f"{ENTERPRISE_USER}:department")


def test_idsync_capabilities_are_read(database: Database, server: Server) -> None:
    org = make_org(database, server)
    client = ScimClient(ScimSettings(url=org.scim_url, token=org.token, retry=FAST))
    capabilities = discover(client)
    client.close()
    assert capabilities.bulk and capabilities.bulk_max_operations == 1000
    assert capabilities.bulk_max_payload == 4_194_304
    assert capabilities.etag and capabilities.patch
    assert capabilities.endpoint("group") == "/Groups"
    assert capabilities.supports("user", "userName")
    assert not capabilities.supports("user", "noSuchAttribute")


def test_partial_discovery_falls_back_to_rfc_defaults(peer: Peer) -> None:
    proxy = start_proxy(peer.url)
    try:
        proxy.fail(404, times=2)  # ServiceProviderConfig and ResourceTypes answer 404
        client = ScimClient(ScimSettings(url=proxy.url, token=peer.token, retry=FAST))
        capabilities = discover(client)
        client.close()
    finally:
        proxy.stop()
    assert not capabilities.bulk  # never assumed without advertised limits
    assert capabilities.patch and capabilities.endpoint("user") == "/Users"
    assert len(capabilities.fallbacks) == 2
    assert "/ServiceProviderConfig answered HTTP 404" in capabilities.fallbacks[0]


def test_a_url_that_is_not_scim_is_reported(peer: Peer) -> None:
    client = ScimClient(ScimSettings(url=f"{peer.url}/nothing-here", token=peer.token, retry=FAST))
    with pytest.raises(AccessDenied) as caught:
        discover(client)
    client.close()
    assert caught.value.error.code == "IDS-502-032"
    assert peer.token not in str(caught.value)


def test_settings_validate_and_hide_the_token() -> None:
    settings = scim_settings(
        "acme",
        {"url": "https://acme.example.com/scim/v2", "compat": "entra-compatible,filter=off"},
        {"token": "s3cr3t-token"},
    )
    assert settings.compat.bulk == "off" and settings.compat.member_remove == "value-list"
    assert settings.compat.filter == "off"
    assert "s3cr3t-token" not in repr(settings)
    with pytest.raises(IdsyncError) as plain:
        scim_settings("acme", {"url": "http://acme.example.com/scim/v2"}, {"token": "t"})
    assert plain.value.error.code == "IDS-400-031"
    with pytest.raises(IdsyncError, match="compat"):
        scim_settings(
            "a", {"url": "https://a.example/v2", "compat": "bulk=sometimes"}, {"token": "t"}
        )
    with pytest.raises(IdsyncError, match="concurrency"):
        scim_settings("a", {"url": "https://a.example/v2", "concurrency": 0}, {"token": "t"})
