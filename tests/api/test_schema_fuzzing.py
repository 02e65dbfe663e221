"""A schema-driven fuzzer (Schemathesis) against the live server finds no mismatch.

It generates requests from the served OpenAPI document (valid ones and invalid ones)
and checks every answer against it: no server error, only documented status codes,
content types, headers and bodies, 405 with Allow for undocumented methods. The
document must say what the hub really answers.

Not checked: whether every schema-valid request is accepted. A SCIM filter, a PATCH
path or an ``attributes`` list is a small language (RFC 7644 §3.4.2.2, §3.5.2) that
JSON Schema cannot express, so valid-looking strings can still be refused with 400;
the hub's own tests pin those grammars.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from idsync.manage import operators
from idsync.store.database import Database
from tests.conftest import Org, Server

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "response_headers_conformance",
        "unsupported_method",
        "allow_header_conformance",
    ]
)


# The coverage phase (every boundary and invalid value the document implies, a few
# thousand requests) costs three minutes: it runs on PostgreSQL, whose errors differ most
# from the document's promises; SQLite gets the examples, fuzzing and stateful phases.
# test_hostile_input.py drives the same hostile values through both databases.
PHASES = {
    "postgresql": "examples,coverage,fuzzing,stateful",
    "sqlite": "examples,fuzzing,stateful",
}


def test_a_schema_driven_fuzzer_finds_no_mismatch(
    server: Server, org: Org, database: Database, tmp_path: Path
) -> None:
    # The management API is driven as a full operator of the same organisation.
    email = f"fuzz-{org.id[:8]}@example.com"
    operators.create_operator(database, email, "fuzzing password", "full", org.id, actor="tests")
    key = operators.create_key(database, email, "fuzzing", actor="tests").secret
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        f"""
headers = {{ Authorization = "Bearer {org.token}" }}

[parameters]
org_id = "{org.id}"
org = "{org.id}"

[[operations]]
include-path-regex = "^/api/v1/"
headers = {{ Authorization = "Bearer {key}" }}

# RFC 7644 §3.11: a service provider without /Me SHOULD answer 501.
[[operations]]
include-path = "/scim/{{org_id}}/v2/Me"
headers = {{ Authorization = "Bearer {org.token}" }}
checks.not_a_server_error.expected-statuses = ["2XX", "4XX", 501]
"""
    )
    command = [
        str(Path(sys.executable).parent / "st"),
        "--config-file",
        str(config),
        "run",
        f"{server.url}/openapi.json",
        "--url",
        server.url,
        "--checks",
        CHECKS,
        "--max-examples",
        "5",
        "--seed",
        "1",
        "--generation-database",
        "none",
        "--no-color",
        "--phases",
        PHASES[server.database_url.split(":", 1)[0].split("+", 1)[0]],
    ]
    result = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
