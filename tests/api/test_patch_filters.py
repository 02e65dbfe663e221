"""PATCH paths with value filters (RFC 7644 §3.5.2): what a filter that matches nothing does,
and what a PATCH of many filtered operations costs (issue 9, items 8 and 22)."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import httpx
import pytest

from tests.commands import run_idsync
from tests.conftest import Org, Server
from tests.scimdata import assert_scim_error, patch, user


def create(scim: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    response = scim.post("/Users", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def set_patch_upsert(server: Server, org: Org, value: str) -> subprocess.CompletedProcess[str]:
    """``idsync org set`` as an administrator runs it, on the server's own database."""
    command = ["org", "set", org.id, "--patch-upsert", value, "--database", server.database_url]
    return run_idsync(command, text=True, timeout=120)


WORK_ONLY = [{"value": "work@example.com", "type": "work"}]
HOME_VALUE = 'emails[type eq "home"].value'


@pytest.mark.parametrize("op", ["replace", "add"])
def test_a_filter_that_matches_nothing_is_no_target_and_changes_nothing(
    scim: httpx.Client, org: Org, op: str
) -> None:
    """RFC 7644 §3.5.2.3: "the service provider SHALL indicate failure ... noTarget"."""
    created = create(scim, user(emails=WORK_ONLY, title="Engineer"))
    response = scim.patch(
        f"/Users/{created['id']}",
        json=patch(
            {"op": "replace", "path": "title", "value": "Manager"},
            {"op": op, "path": HOME_VALUE, "value": "home@example.com"},
        ),
    )
    assert_scim_error(response, 400, "noTarget", code="IDS-400-011")
    assert f"idsync org set {org.id} --patch-upsert all" in response.json()["detail"]
    fetched = scim.get(f"/Users/{created['id']}").json()
    assert fetched["emails"] == WORK_ONLY
    assert fetched["title"] == "Engineer"
    assert fetched["meta"]["version"] == 'W/"1"'


@pytest.mark.parametrize(
    ("query", "op"),
    [("?aadOptscim062020", "replace"), ("", "Replace"), ("", "Add")],
    ids=["flag-in-tenant-url", "capitalised-replace", "capitalised-add"],
)
def test_a_request_recognisably_entras_creates_the_value_its_filter_describes(
    scim: httpx.Client, query: str, op: str
) -> None:
    """MS SCIM tutorial "Update User [Multi-valued properties]": Entra expects the upsert."""
    created = create(scim, user(emails=WORK_ONLY))
    response = scim.patch(
        f"/Users/{created['id']}{query}",
        json=patch({"op": op, "path": HOME_VALUE, "value": "home@example.com"}),
    )
    assert response.status_code == 200, response.text
    assert scim.get(f"/Users/{created['id']}").json()["emails"] == [
        *WORK_ONLY,
        {"type": "home", "value": "home@example.com"},
    ]


def test_an_org_can_refuse_entras_upsert_or_allow_it_for_every_client(
    scim: httpx.Client, server: Server, org: Org
) -> None:
    created = create(scim, user(emails=WORK_ONLY))
    entra = patch({"op": "Replace", "path": HOME_VALUE, "value": "home@example.com"})
    plain = patch({"op": "replace", "path": 'emails[type eq "other"].value', "value": "o@x.org"})

    refused = set_patch_upsert(server, org, "none")
    assert refused.returncode == 0, refused.stderr
    assert_scim_error(scim.patch(f"/Users/{created['id']}", json=entra), 400, "noTarget")

    allowed = set_patch_upsert(server, org, "all")
    assert allowed.returncode == 0, allowed.stderr
    assert "all" in allowed.stdout
    assert scim.patch(f"/Users/{created['id']}", json=plain).status_code == 200
    assert {e["type"] for e in scim.get(f"/Users/{created['id']}").json()["emails"]} == {
        "work",
        "other",
    }

    wrong = set_patch_upsert(server, org, "sometimes")
    assert wrong.returncode != 0
    assert wrong.stderr.startswith("error IDS-400-022: "), wrong.stderr


def test_a_filter_that_describes_no_value_is_no_target_even_for_entra(
    scim: httpx.Client,
) -> None:
    """Only eq comparisons joined by and describe a value that can be created."""
    created = create(scim, user(emails=WORK_ONLY))
    response = scim.patch(
        f"/Users/{created['id']}?aadOptscim062020",
        json=patch({"op": "replace", "path": 'emails[value co "nowhere"].type', "value": "x"}),
    )
    assert_scim_error(response, 400, "noTarget")
    assert scim.get(f"/Users/{created['id']}").json()["emails"] == WORK_ONLY


# --- item 22: the cost of a PATCH grows linearly with it --------------------------------------


def patch_work(server: Server, response: httpx.Response) -> dict[str, int]:
    """What the server counted for this request (its log line's ``work``)."""
    lines = server.log_lines_with(response.headers["x-tracking-id"])
    assert len(lines) == 1, lines
    work: dict[str, int] = json.loads(lines[0])["work"]
    return work


def retype_every_email(scim: httpx.Client, n: int) -> tuple[httpx.Response, dict[str, Any]]:
    """A user with n emails, and one PATCH of n operations each selecting one by its value."""
    emails = [{"value": f"e{i}@example.com", "type": "work"} for i in range(n)]
    created = create(scim, user(emails=emails))
    operations = [
        {"op": "replace", "path": f'emails[value eq "e{i}@example.com"].type', "value": "home"}
        for i in range(n)
    ]
    response = scim.patch(f"/Users/{created['id']}", json=patch(*operations))
    return response, created


def test_a_patch_of_n_filtered_operations_reads_each_value_a_bounded_number_of_times(
    scim: httpx.Client, server: Server
) -> None:
    """n=400 took 17 s (O(n²) filter compilations, under the write lock); now the work is
    counted by the server on the real code path: one compilation per distinct filter, and
    a number of values read proportional to n, not n²."""
    counts = {}
    for n in (100, 400):
        response, created = retype_every_email(scim, n)
        assert response.status_code == 200, response.text
        assert {e["type"] for e in response.json()["emails"]} == {"home"}
        assert len(scim.get(f"/Users/{created['id']}").json()["emails"]) == n
        counts[n] = patch_work(server, response)
        assert counts[n]["operations"] == n
        assert counts[n]["filters_compiled"] == n
    # Four times the operations on four times the values: four times the work.
    assert counts[400]["values_examined"] == 4 * counts[100]["values_examined"]
    assert counts[400]["values_examined"] <= 2 * (400 + 400)


def test_the_same_filter_in_many_operations_is_compiled_once(
    scim: httpx.Client, server: Server
) -> None:
    created = create(scim, user(emails=[{"value": "a@example.com", "type": "work"}]))
    operations = [
        {"op": "replace", "path": 'emails[type eq "work"].display', "value": f"A{i}"}
        for i in range(50)
    ]
    response = scim.patch(f"/Users/{created['id']}", json=patch(*operations))
    assert response.status_code == 200, response.text
    assert response.json()["emails"][0]["display"] == "A49"
    assert patch_work(server, response)["filters_compiled"] == 1


def test_filters_no_index_can_answer_are_refused_beyond_a_bound(scim: httpx.Client) -> None:
    """A co filter reads every value: 2,000 of them over 200 values are refused, not ground
    through (the bound is 200,000 values read)."""
    emails = [{"value": f"e{i}@example.com", "type": "work"} for i in range(200)]
    created = create(scim, user(emails=emails))
    operations = [
        {"op": "replace", "path": 'emails[value co "example"].display', "value": f"x{i}"}
        for i in range(2000)
    ]
    response = scim.patch(f"/Users/{created['id']}", json=patch(*operations))
    assert_scim_error(response, 400, "tooMany", code="IDS-400-014")
    assert "display" not in scim.get(f"/Users/{created['id']}").json()["emails"][0]
