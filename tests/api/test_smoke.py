import httpx

from tests.scimdata import user


def test_created_user_reads_back(scim: httpx.Client) -> None:
    created = scim.post("/Users", json=user("bjensen@example.com"))
    assert created.status_code == 201, created.text
    fetched = scim.get(f"/Users/{created.json()['id']}")
    assert fetched.json()["userName"] == "bjensen@example.com"
