"""Every shell command in README.md and docs/*.md runs as written.

Each document's shell commands (see tests/docs/markdown.py) run in document order, as
a reader would run them: through bash, one after the other (variables a command sets
stay set), in a fresh folder — so the default database, ``sqlite:///idsync.db``, is a
new file there — with the ``idsync`` of this checkout on PATH and no ``IDSYNC_*``
variable set. The commands talk to real servers: ``idsync serve``, the Entra emulator,
slapd, scim2-server, PostgreSQL. Between the reader and the document stand three
tables, all this test adds to what the document says:

- FILL: what the document leaves to the reader (``<org id>``, a host, a file path) and
  the value the reader would put there: one the test set up (a server's address, a
  file; GIVEN) or one an earlier command printed (CAPTURE).
- CAPTURE: which command prints which value, e.g. ``idsync org create … --json`` the
  ``<org id>``.
- EXEMPT: lines that cannot run in a test, each with its reason. Those that run until
  stopped (``idsync serve``, ``worker``, ``emulator``) are started in the background
  instead, checked, and stopped when the document ends. An entry that matches no line
  of the documents fails the test, so the table cannot rot.

A command must exit 0, or with the code its comment gives (``# exits 3``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from tests.conftest import _postgres_schema, free_port
from tests.docs.markdown import Step, blocks, steps
from tests.entra_emulator import first_line
from tests.scim_peer import start_scim2_server
from tests.slapd import SUFFIX, SlapdProcess, seed, ssha, start_slapd

ROOT = Path(__file__).resolve().parents[2]
DOCS = {
    str(path.relative_to(ROOT)): path
    for path in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]
}
STEPS = {doc: steps(path, doc) for doc, path in sorted(DOCS.items())}
BIN = Path(sys.executable).parent
TIMEOUT = 180

# --- the tables ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Exempt:
    pattern: str
    """Searched in the command, on one line."""
    reason: str
    instead: str = ""
    """What runs in its place: ``serve``, ``worker``, ``emulator`` or ``demo`` (in the
    background)."""


UNTIL_STOPPED = (
    "runs until stopped: started in the background instead (with a free --port), "
    "the document goes on once {ready}, and it is stopped when the document ends"
)
EXEMPT = [
    Exempt(
        r"pip install -e \. && idsync serve$",
        "makes a venv and installs from PyPI (network; this test runs in an installed "
        "venv); its `idsync serve` " + UNTIL_STOPPED.format(ready="/healthz answers 200"),
        "serve",
    ),
    Exempt(
        r"pip install -e '\.\[test\]' && pytest$",
        "makes a venv and installs from PyPI (network), then runs this very test suite",
    ),
    Exempt(r"^idsync serve\b", UNTIL_STOPPED.format(ready="/healthz answers 200"), "serve"),
    Exempt(
        r"^idsync worker\b",
        UNTIL_STOPPED.format(ready="the worker has registered with procrastinate"),
        "worker",
    ),
    Exempt(
        r"^idsync emulator\b",
        UNTIL_STOPPED.format(ready="it has printed its JSON line (read as CAPTURE says)"),
        "emulator",
    ),
    Exempt(
        r"^idsync demo$",
        UNTIL_STOPPED.format(ready="its details are in the state folder for `demo break`"),
        "demo",
    ),
    Exempt(
        r"^idsync doctor --integration ID --sign-in$",
        "waits for a person to sign in in a browser; tests/health/test_who.py signs in as "
        "one, against the emulator's sign-in page",
    ),
    Exempt(
        r"^idsync integration add \w+ --org ORG .*\[--",
        "a usage synopsis ([…] optional, a|b one of), not a command; an example that runs "
        "is next to it",
    ),
]


@dataclass(frozen=True)
class Capture:
    doc: str
    pattern: str
    values: dict[str, str]
    """Value name → key of the JSON the command prints."""
    files: dict[str, str] = field(default_factory=dict)
    """File the reader saves → key of the JSON whose value it holds."""


CAPTURE = [
    Capture("README.md", r"^idsync org create .*--json", {"org": "id"}),
    Capture("README.md", r"^idsync token create .*--json", {"token": "token"}),
    Capture(
        "docs/sync.md",
        r"^idsync emulator .*--json",
        {
            "emulator tenant": "tenant_id",
            "emulator client": "client_id",
            "authority": "authority",
            "graph": "graph_url",
            "ca": "ca_file",
        },
        {"emulator-secret.txt": "client_secret"},
    ),
    Capture("docs/sync.md", r"^idsync integration add entra .*--json", {"integration": "id"}),
    Capture("docs/console.md", r"^idsync org create .*--json", {"org": "id"}),
    Capture("docs/console.md", r"^idsync admin key create .*--json", {"key": "key"}),
]

FILL: dict[str, dict[str, str]] = {
    "README.md": {
        "<org id>": "org",
        "<token>": "token",
        "127.0.0.1:8080": "hub",
        "postgresql://idsync@db.internal:5432/idsync": "postgres",
    },
    "docs/clients.md": {"<org id>": "org"},
    "docs/console.md": {"<org id>": "org", "<API key>": "key", "127.0.0.1:8080": "hub"},
    "docs/sync.md": {
        "<org id>": "org",
        # A real tenant's add stores its settings and contacts nothing; the cycles below
        # run on the emulator's integration, the last one added.
        "<tenant id>": "tenant",
        "<application id>": "client",
        "<file>": "secret file",
        "<tenant_id>": "emulator tenant",
        "<client_id>": "emulator client",
        "<authority>": "authority",
        "<graph_url>": "graph",
        "<ca_file>": "ca",
        "<integration id>": "integration",
        "postgresql://idsync@db/idsync": "postgres",
        "IDSYNC_SECRET_KEY=…": "key assignment",
    },
    "docs/ldap.md": {
        "ORG": "org",
        # corp-ad is only added (add checks the settings and contacts nothing); reads from
        # a real AD DC are pinned by tests/connectors/test_ad_samba.py.
        "/run/secrets/idsync-ldap": "secret file",
        "/etc/ssl/corp-root-ca.pem": "ca",
        "ldap://ldap.example.org": "slapd",
    },
    "docs/file-import.md": {
        "<org id>": "org",
        "/srv/hr/users.csv": "users.csv",
        "/srv/hr/groups.csv": "groups.csv",
        "/srv/hr/export.csv": "export.csv",
    },
    "docs/scim-push.md": {
        "<org id>": "org",
        "https://crm.example.com/scim/v2": "scim",
    },
}

# --- what the reader has before starting (GIVEN) -------------------------------------------------


@dataclass
class Walk:
    """One document's run: its folder, environment, values and background processes."""

    doc: str
    folder: Path
    env: dict[str, str]
    state: Path
    stack: ExitStack
    values: dict[str, str | Callable[[], str]] = field(default_factory=dict)

    def value(self, name: str, step: Step) -> str:
        found = self.values.get(name)
        assert found is not None, f"{step.where}: no value for {name!r} yet (see CAPTURE)"
        if callable(found):
            found = self.values[name] = found()
        return found

    def file(self, name: str, text: str) -> str:
        path = self.folder / name
        path.write_text(text)
        return str(path)


def idsync(walk: Walk, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [str(BIN / "idsync"), *args],
        cwd=walk.folder,
        env=walk.env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def given_nothing(walk: Walk) -> None:
    pass


def given_org(walk: Walk) -> None:
    """The organisation README's quick start creates."""
    walk.values["org"] = idsync(walk, "org", "create", "Contoso", "--json")["id"]


def given_postgres(walk: Walk) -> None:
    """A PostgreSQL database (a fresh schema), made when a command first names it."""
    walk.values["postgres"] = lambda: walk.stack.enter_context(contextmanager(_postgres_schema)())


def given_sync(walk: Walk) -> None:
    given_org(walk)
    given_postgres(walk)
    walk.values["tenant"] = "72f988bf-86f1-41af-91ab-2d7cd011db47"
    walk.values["client"] = "0d5c2d38-6e49-4a4b-a4ea-6b5a7c3a1f90"
    walk.values["secret file"] = walk.file("client-secret.txt", "a-real-tenant's-secret\n")
    walk.file("new-secret.txt", "a-new-secret\n")
    walk.values["key assignment"] = f"IDSYNC_SECRET_KEY={Fernet.generate_key().decode()}"


LDAP_BIND_DN = f"cn=idsync,ou=services,{SUFFIX}"
LDAP_PASSWORD = "Idsync-b1nd!"


def given_ldap(walk: Walk) -> None:
    """A directory with users, groups and the bind account the document names."""
    given_org(walk)
    server = start_slapd(walk.folder.parent / "slapd", tls=True)
    walk.stack.callback(server.stop)
    _add_bind_account(server)
    seed(server, users=5, groups=2, members_per_group=3)
    assert server.tls is not None
    walk.values["slapd"] = f"ldap://localhost:{server.port}"
    shutil.copy(server.tls.ca_file, walk.folder / "ca.pem")
    walk.values["ca"] = str(walk.folder / "ca.pem")
    walk.values["secret file"] = walk.file("idsync-ldap", f"{LDAP_PASSWORD}\n")
    walk.file("pw.txt", f"{LDAP_PASSWORD}\n")


def _add_bind_account(server: SlapdProcess) -> None:
    conn = server.admin()
    conn.add(f"ou=services,{SUFFIX}", attributes={"objectClass": ["organizationalUnit"]})
    conn.add(
        LDAP_BIND_DN,
        attributes={
            "objectClass": ["organizationalRole", "simpleSecurityObject"],
            "userPassword": ssha(LDAP_PASSWORD),
        },
    )
    assert conn.result["result"] == 0, conn.result
    conn.unbind()


def given_files(walk: Walk) -> None:
    """The HR export: the document's own example files."""
    given_org(walk)
    csv = [block.text for block in blocks(DOCS[walk.doc]) if block.lang == "csv"]
    for name, text in zip(("users.csv", "groups.csv", "export.csv"), csv, strict=True):
        walk.values[name] = walk.file(name, text)


def given_scim(walk: Walk) -> None:
    """An application: scim2-server, and its token in the file the document names."""
    given_org(walk)
    peer = start_scim2_server(walk.folder.parent)
    walk.stack.callback(peer.stop)
    walk.values["scim"] = peer.url
    walk.file("crm-token.txt", f"{peer.token}\n")


GIVEN: dict[str, Callable[[Walk], None]] = {
    "README.md": given_postgres,
    "docs/clients.md": given_org,
    "docs/console.md": given_nothing,
    "docs/sync.md": given_sync,
    "docs/ldap.md": given_ldap,
    "docs/file-import.md": given_files,
    "docs/scim-push.md": given_scim,
}

# --- running -------------------------------------------------------------------------------------


def exemption(step: Step) -> Exempt | None:
    return next((e for e in EXEMPT if re.search(e.pattern, step.flat)), None)


def filled(walk: Walk, step: Step) -> str:
    """The command with the reader's values; its comments (which may show what it prints,
    placeholders and all) left out."""
    text = "\n".join(_code(line) for line in step.text.splitlines())
    for literal, name in sorted(FILL.get(walk.doc, {}).items(), key=lambda i: -len(i[0])):
        pattern = re.compile(rf"(?<![\w.-]){re.escape(literal)}(?![\w.-])")
        if pattern.search(text):
            # Replaced literally: a value's backslashes are not a pattern's.
            text = pattern.sub(_literally(walk.value(name, step)), text)
    return text


def _literally(value: str) -> Callable[[re.Match[str]], str]:
    return lambda _: value


def _code(line: str) -> str:
    quote = ""
    for index, char in enumerate(line):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1].isspace()):
            return line[:index].rstrip()
    return line


def environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IDSYNC_", "XDG_", "PYTEST_"))}
    home.mkdir()
    # curl exits 22 on an HTTP error, as every other command does on a failure.
    (home / ".curlrc").write_text("fail-with-body\n")
    # What commands leave in temp folders (the emulator's certificates) goes with the test's.
    (home / "tmp").mkdir()
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        HOME=str(home),
        TMPDIR=str(home / "tmp"),
        COLUMNS="80",
    )
    return env


def run_step(walk: Walk, step: Step, text: str) -> None:
    script = f"source {walk.state}\nset -a\n{text}\n__status=$?\nexport -p > {walk.state}\nexit $__status\n"
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=walk.folder,
        env=walk.env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    if done.returncode != step.exit_code:
        pytest.fail(
            f"{step.where}: exited {done.returncode}, the document expects {step.exit_code}\n"
            f"$ {text}\n--- stderr ---\n{done.stderr}\n--- stdout ---\n{done.stdout[-3000:]}",
            pytrace=False,
        )
    capture(walk, step, done.stdout)


def capture(walk: Walk, step: Step, output: str) -> None:
    for entry in CAPTURE:
        if entry.doc == walk.doc and re.search(entry.pattern, step.flat):
            printed = json.loads(output.strip().splitlines()[0])
            walk.values.update({name: str(printed[key]) for name, key in entry.values.items()})
            for name, key in entry.files.items():
                walk.file(name, f"{printed[key]}\n")


def start(walk: Walk, step: Step, text: str, kind: str) -> None:
    """A command that runs until stopped, in the background as a reader's other shell."""
    command = next(part.strip() for part in text.split("&&") if part.strip().startswith("idsync"))
    port = free_port()
    if kind == "serve":
        command += f" --port {port}"
    log = walk.folder.parent / f"{kind}-{step.line}.log"
    process = subprocess.Popen(
        ["bash", "-c", f"source {walk.state}\nexec {command}"],
        cwd=walk.folder,
        env=walk.env,
        stdout=subprocess.PIPE if kind == "emulator" else log.open("wb"),
        stderr=log.open("ab") if kind == "emulator" else subprocess.STDOUT,
    )
    walk.stack.callback(_stop, process)
    if kind == "serve":
        _wait(step, process, log, lambda: _healthy(port))
        walk.values["hub"] = f"127.0.0.1:{port}"
    elif kind == "worker":
        _wait(step, process, log, lambda: _registered(walk))
    elif kind == "demo":
        pointer = Path(walk.env["HOME"]) / ".local" / "state" / "idsync" / "demo.json"
        # It starts two servers and runs a first cycle of 200 users: give it the time a
        # loaded CI machine needs.
        _wait(step, process, log, pointer.exists, seconds=TIMEOUT)
    else:
        capture(walk, step, _first_line(step, process, log))


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait(
    step: Step,
    process: subprocess.Popen[bytes],
    log: Path,
    ready: Callable[[], bool],
    seconds: float = 60,
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{step.where}: exited {process.returncode}\n{log.read_text()}")
        if ready():
            return
        time.sleep(0.2)
    pytest.fail(f"{step.where}: not ready after {seconds:.0f} s\n{log.read_text()}")


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def _registered(walk: Walk) -> bool:
    engine = sa.create_engine(
        walk.value("postgres", Step(walk.doc, 0, "")).replace(
            "postgresql://", "postgresql+psycopg://", 1
        )
    )
    try:
        with engine.connect() as conn:
            return bool(conn.exec_driver_sql("SELECT count(*) FROM procrastinate_workers").scalar())
    except sa.exc.ProgrammingError:
        return False  # its tables are not made yet
    finally:
        engine.dispose()


def _first_line(step: Step, process: subprocess.Popen[bytes], log: Path) -> str:
    line = first_line(process, timeout=60)
    if not line:
        pytest.fail(f"{step.where}: printed nothing\n{log.read_text()}")
    return line.decode()


@pytest.mark.parametrize("doc", sorted(STEPS))
def test_every_command_of_the_document_runs_as_written(doc: str, tmp_path: Path) -> None:
    folder = tmp_path / "work"
    folder.mkdir()
    with ExitStack() as stack:
        walk = Walk(doc, folder, environment(tmp_path / "home"), tmp_path / "shell.sh", stack)
        walk.state.write_text("")
        GIVEN.get(doc, given_nothing)(walk)
        for step in STEPS[doc]:
            skip = exemption(step)
            if skip is None:
                run_step(walk, step, filled(walk, step))
            elif skip.instead:
                start(walk, step, filled(walk, step), skip.instead)


def test_every_exemption_matches_a_line_of_the_docs() -> None:
    every = [step for found in STEPS.values() for step in found]
    for entry in EXEMPT:
        assert any(re.search(entry.pattern, step.flat) for step in every), entry


def test_every_fill_and_capture_is_used() -> None:
    for doc, table in FILL.items():
        for literal in table:
            assert any(literal in step.flat for step in STEPS[doc]), (doc, literal)
    for entry in CAPTURE:
        assert any(re.search(entry.pattern, step.flat) for step in STEPS[entry.doc]), entry


def test_the_docs_have_commands_to_run() -> None:
    # The extraction must keep finding them, or the test above proves nothing.
    assert all(STEPS[doc] for doc in GIVEN), [doc for doc in GIVEN if not STEPS[doc]]
