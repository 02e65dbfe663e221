"""The ``idsync`` command as other tools drive it: exact forms, JSON output, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.commands import run_idsync
from tests.conftest import start_server, stop_server


def idsync(
    *args: str, database: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    command = list(args)
    if database is not None:
        command += ["--database", database]
    result = run_idsync(command, text=True, timeout=120)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: str) -> None:
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error {code}: "), lines[0]
    assert "Traceback" not in result.stderr + result.stdout


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


def test_org_and_token_lifecycle(db_url: str) -> None:
    org = json.loads(idsync("org", "create", "Contoso", "--json", database=db_url).stdout)
    assert set(org) >= {"id", "name"}
    listed = json.loads(idsync("org", "list", "--json", database=db_url).stdout)
    assert [o["id"] for o in listed] == [org["id"]]

    token = json.loads(
        idsync(
            "token", "create", "--org", org["id"], "--name", "Entra ID", "--json", database=db_url
        ).stdout
    )
    assert token["token"].startswith("idsync_") and token["org_id"] == org["id"]
    tokens = json.loads(
        idsync("token", "list", "--org", org["id"], "--json", database=db_url).stdout
    )
    assert [t["id"] for t in tokens] == [token["id"]]
    assert token["token"] not in json.dumps(tokens)

    revoked = json.loads(idsync("token", "revoke", token["id"], "--json", database=db_url).stdout)
    assert revoked["revoked_at"] is not None
    events = json.loads(
        idsync("audit", "list", "--org", org["id"], "--json", database=db_url).stdout
    )
    assert [e["activity"] for e in events] == [
        "Revoke token",
        "Create token",
        "Create organisation",
    ]


def test_database_defaults_to_the_environment(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'env.db'}"
    result = run_idsync(
        ["org", "create", "Env", "--json"],
        text=True,
        env={**_env(), "IDSYNC_DATABASE_URL": url},
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "env.db").exists()


def test_database_defaults_to_a_file_in_the_current_folder(tmp_path: Path) -> None:
    env = {k: v for k, v in _env().items() if k != "IDSYNC_DATABASE_URL"}
    result = run_idsync(
        ["org", "create", "Here", "--json"],
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "idsync.db").exists()


def test_user_mistakes_print_one_line_with_the_code(db_url: str, tmp_path: Path) -> None:
    idsync("org", "create", "Dup", database=db_url)
    assert_one_line_error(
        idsync("org", "create", "dup", database=db_url, check=False), "IDS-409-002"
    )
    assert_one_line_error(
        idsync("token", "create", "--org", "nope", database=db_url, check=False), "IDS-404-002"
    )
    assert_one_line_error(
        idsync("token", "revoke", "nope", database=db_url, check=False), "IDS-404-004"
    )
    assert_one_line_error(idsync("org", "list", database="mysql://x/y", check=False), "IDS-400-020")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    org = json.loads(idsync("org", "create", "S", "--json", database=db_url).stdout)
    assert_one_line_error(
        idsync("schema", "add", "--org", org["id"], str(bad), database=db_url, check=False),
        "IDS-400-021",
    )
    assert_one_line_error(
        idsync("audit", "list", "--since", "yesterday", database=db_url, check=False), "IDS-400-022"
    )


def test_unreachable_database_is_one_line(tmp_path: Path) -> None:
    result = idsync("org", "list", database="postgresql://nobody@127.0.0.1:1/none", check=False)
    assert_one_line_error(result, "IDS-503-001")


def test_serve_migrates_a_new_database_and_answers_healthz(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    server = start_server(url, tmp_path / "serve.log")
    try:
        assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
        org = json.loads(idsync("org", "create", "Fresh", "--json", database=url).stdout)
        token = json.loads(
            idsync("token", "create", "--org", org["id"], "--json", database=url).stdout
        )
        response = httpx.get(
            f"{server.url}/scim/{org['id']}/v2/Users",
            headers={"Authorization": f"Bearer {token['token']}"},
        )
        assert response.status_code == 200
    finally:
        stop_server(server)


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)


def test_a_command_loads_its_own_module_only(db_url: str) -> None:
    """Every ``idsync`` a script or worker runs starts in about half a second: a command
    imports its own module, not the emulator's, the demo's or the other commands'."""
    idsync("org", "create", "Contoso", database=db_url)
    script = (
        "import json, sys\n"
        "from idsync.cli import main\n"
        f"sys.argv = ['idsync', 'org', 'list', '--json', '--database', {db_url!r}]\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "print(json.dumps(sorted(name for name in sys.modules if name.startswith('idsync.'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    listed, loaded = result.stdout.strip().splitlines()
    assert [org["name"] for org in json.loads(listed)] == ["Contoso"]
    modules = set(json.loads(loaded))
    commands = {name for name in modules if name.startswith("idsync.cli.")}
    assert commands == {"idsync.cli.common", "idsync.cli.orgs"}, commands
    assert not modules & {"idsync.emulator", "idsync.connectors.entra", "idsync.api"}
