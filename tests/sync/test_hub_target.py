"""The hub as a sync target keeps the SCIM API's invariants."""

from __future__ import annotations

from idsync.connectors.hub import HubTarget
from idsync.store.database import Database
from tests.sync.conftest import ENTERPRISE, Connected, hub_resources


def test_deleting_a_manager_clears_the_references_to_it(
    connected: Connected, database: Database
) -> None:
    connected.sync()
    users = hub_resources(connected.scim, "/Users")
    reports = [u for u in users if u.get(ENTERPRISE, {}).get("manager")]
    manager_id = reports[0][ENTERPRISE]["manager"]["value"]
    managed = [u["id"] for u in reports if u[ENTERPRISE]["manager"]["value"] == manager_id]

    target = HubTarget(database, connected.org.id, connected.integration_id)
    [result] = target.delete("user", [manager_id])
    assert result.error is None

    for user_id in managed:
        user = connected.scim.get(f"/Users/{user_id}").json()
        assert "manager" not in user.get(ENTERPRISE, {}), user
        before = next(u for u in reports if u["id"] == user_id)
        assert user["meta"]["version"] != before["meta"]["version"]
