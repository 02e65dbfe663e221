"""Alerts: a job entering Quarantine, and recovering, is told once to the org's webhook
(signed) and by e-mail, through real receivers on loopback; no secret in any of it."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from idsync.manage import orgs
from idsync.store.database import Database
from tests.commands import run_idsync
from tests.sync.conftest import Connected, Emulator
from tests.sync.test_source_failures import _delete_service_principal, _grant_admin_consent

# The test's SMTP server asks for a password without TLS (idsync's STARTTLS is off for it).
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH:UserWarning")

WEBHOOK_SECRET = "whsec-7b1e0c9a4f2d4e8b9c3a1f6e5d2c8b7a"
SMTP_USER = "alerts"
SMTP_PASSWORD = "smtp-pw-3c9e7a1b5d2f4e6a"


@dataclass
class Receiver:
    """A webhook receiver: answers with ``statuses`` in turn (then 200), keeps requests."""

    statuses: list[int] = field(default_factory=list)
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.requests]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.requests.append((dict(self.headers.items()), body))
            status = state.statuses.pop(0) if state.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/idsync"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.raw: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.raw.append(envelope.content)
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        SMTP_USER.encode(),
        SMTP_PASSWORD.encode(),
    )
    return AuthResult(success=ok)


@pytest.fixture
def mailbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mailbox]:
    """A real SMTP server (aiosmtpd) that wants a login; idsync's settings point at it."""
    box = Mailbox()
    port = _free_port()
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=port,
        authenticator=_authenticate,
        auth_require_tls=False,
        auth_required=True,
    )
    controller.start()
    password_file = tmp_path / "smtp-password"
    password_file.write_text(SMTP_PASSWORD + "\n")
    for name, value in {
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "FROM": "idsync@example.com",
        "STARTTLS": "false",
        "USER": SMTP_USER,
        "PASSWORD_FILE": str(password_file),
    }.items():
        monkeypatch.setenv(f"IDSYNC_SMTP_{name}", value)
    yield box
    controller.stop()


def cli(database_url: str, *args: str) -> tuple[int, str, str]:
    result = run_idsync(
        [*args, "--database", database_url],
        text=True,
        timeout=120,
        check=False,
    )
    return result.returncode, result.stdout, result.stderr


def sync(connected: Connected, outputs: list[str]) -> dict[str, Any]:
    """``idsync sync run --json``; its stdout and stderr are kept for the secrets check."""
    _, out, err = cli(connected.database_url, "sync", "run", connected.integration_id, "--json")
    outputs += [out, err]
    return dict(json.loads(out))


def set_alerts(
    database_url: str, org_id: str, tmp_path: Path, url: str, outputs: list[str]
) -> dict[str, Any]:
    secret_file = tmp_path / "webhook-secret"
    secret_file.write_text(WEBHOOK_SECRET + "\n")
    code, out, err = cli(
        database_url, "org", "alerts", org_id, "--webhook-url", url,
        "--webhook-secret-file", str(secret_file), "--email", "ops@example.com", "--json",
    )  # fmt: skip
    outputs += [out, err]
    assert code == 0, err
    return dict(json.loads(out))


def verify(headers: dict[str, str], body: bytes) -> bool:
    """What a receiver does (docs/health.md): HMAC-SHA256 over "<timestamp>.<body>"."""
    timestamp = headers["X-Idsync-Timestamp"]
    assert abs(time.time() - int(timestamp)) < 300
    expected = hmac.new(
        WEBHOOK_SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(headers["X-Idsync-Signature"], f"sha256={expected}")


def test_quarantine_and_recovery_alert_once_each(
    connected: Connected,
    emulator: Emulator,
    receiver: Receiver,
    mailbox: Mailbox,
    tmp_path: Path,
) -> None:
    outputs: list[str] = []
    shown = set_alerts(connected.database_url, connected.org.id, tmp_path, receiver.url, outputs)
    assert shown["webhook_enabled"] and shown["webhook_secret_set"] and shown["email_enabled"]
    assert shown["recipients"] == ["ops@example.com"]

    assert sync(connected, outputs)["status"] == "Active"
    assert receiver.requests == [] and mailbox.messages == []

    _delete_service_principal(emulator)
    report = sync(connected, outputs)
    assert report["status"] == "Quarantine", report
    assert len(receiver.requests) == 1 and len(mailbox.messages) == 1, outputs[-1]
    headers, body = receiver.requests[0]
    assert verify(headers, body)
    assert headers["X-Idsync-Event"] == "quarantined"
    alert = json.loads(body)
    assert alert["event"] == "quarantined"
    assert alert["cause"] == "service_principal_removed"
    assert alert["tracking_id"] == report["tracking_id"]
    assert (alert["org_id"], alert["integration_id"]) == (
        connected.org.id,
        connected.integration_id,
    )
    assert alert["job_status"] == "Quarantine"
    assert "adminconsent?client_id=" in alert["link"]
    assert alert["time"].endswith("Z")
    assert alert["summary"]
    mail = mailbox.messages[0]
    assert mail["To"] == "ops@example.com"
    subject = " ".join(str(mail["Subject"]).split())
    assert subject == f"[idsync] Quarantine: {alert['summary']}"
    assert mail["X-Idsync-Tracking-Id"] == report["tracking_id"]
    text = mail.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert "service_principal_removed" in text and "adminconsent?client_id=" in text

    # Still failing: nothing new.
    assert sync(connected, outputs)["status"] == "Quarantine"
    assert len(receiver.requests) == 1 and len(mailbox.messages) == 1

    _grant_admin_consent(emulator)
    code, out, err = cli(
        connected.database_url, "sync", "restart", connected.integration_id,
        "--reset", "quarantine",
    )  # fmt: skip
    assert code == 0, err
    repaired = sync(connected, outputs)
    assert repaired["status"] == "Active", repaired
    assert [b["event"] for b in receiver.bodies()] == ["quarantined", "recovered"]
    recovered = receiver.bodies()[1]
    assert recovered["cause"] == "service_principal_removed"
    assert recovered["tracking_id"] == repaired["tracking_id"]
    assert verify(*receiver.requests[1])
    assert len(mailbox.messages) == 2 and "Recovered" in mailbox.messages[1]["Subject"]

    code, out, err = cli(connected.database_url, "audit", "list", "--json")
    outputs += [out, err]
    assert "Update alert settings" in out
    _assert_no_secret(
        emulator,
        outputs + [body.decode() for _, body in receiver.requests],
        [raw.decode() for raw in mailbox.raw],
    )


def _assert_no_secret(emulator: Emulator, *texts: list[str]) -> None:
    secrets = (WEBHOOK_SECRET, SMTP_PASSWORD, emulator.info["client_secret"])
    for group in texts:
        for text in group:
            for secret in secrets:
                assert secret not in text


def test_a_failing_receiver_is_retried_with_backoff(
    database: Database,
    database_url: str,
    receiver: Receiver,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("IDSYNC_SMTP_HOST", raising=False)
    org = orgs.create_org(database, "Alerted", actor="tests")
    url = database_url
    outputs: list[str] = []
    secret_file = tmp_path / "secret"
    secret_file.write_text(WEBHOOK_SECRET)
    code, _, err = cli(
        url, "org", "alerts", org.id, "--webhook-url", receiver.url,
        "--webhook-secret-file", str(secret_file),
    )  # fmt: skip
    assert code == 0, err
    receiver.statuses = [500, 500]
    started = time.monotonic()
    code, out, err = cli(url, "org", "alerts-test", org.id, "--json")
    outputs += [out, err]
    assert code == 0, err
    assert json.loads(out) == [
        {"channel": "webhook", "delivered": True, "attempts": 3, "reason": None}
    ]
    assert len(receiver.requests) == 3
    assert all(verify(headers, body) for headers, body in receiver.requests)
    assert receiver.bodies()[-1]["event"] == "test"
    assert time.monotonic() - started >= 1.5  # 0.5 s, then 1 s: backoff

    # Three refusals in a row then more: not delivered, said with a code, no secret.
    receiver.statuses = [503] * 4
    code, out, err = cli(url, "org", "alerts-test", org.id)
    outputs += [out, err]
    assert code == 1 and "IDS-502-080" in err and "503" in err
    for text in outputs:
        assert WEBHOOK_SECRET not in text


def test_a_receiver_that_is_down_never_stops_the_cycle(
    connected: Connected, emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IDSYNC_SMTP_HOST", raising=False)
    outputs: list[str] = []
    down = f"http://127.0.0.1:{_free_port()}/hook"
    set_alerts(connected.database_url, connected.org.id, tmp_path, down, outputs)
    assert sync(connected, outputs)["status"] == "Active"
    _delete_service_principal(emulator)
    started = time.monotonic()
    report = sync(connected, outputs)
    assert report["status"] == "Quarantine"
    assert time.monotonic() - started < 60
    lines = [json.loads(line) for line in outputs[-1].splitlines() if line.startswith("{")]
    failed = [line for line in lines if line["event"] == "alert not delivered"]
    assert {line["channel"] for line in failed} == {"webhook", "email"}
    webhook = next(line for line in failed if line["channel"] == "webhook")
    assert webhook["tracking_id"] == report["tracking_id"]
    assert "after 4 attempts" in webhook["reason"]
    assert "Traceback" not in outputs[-1]
    _assert_no_secret(emulator, outputs)
