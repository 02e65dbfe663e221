"""A real OpenLDAP ``slapd`` per test: its own cn=config, mdb database, ports and (optionally) CA.

``start_slapd(tmp_path)`` writes a ``slapd.d`` with ``slapadd -n0`` (schemas core,
cosine, inetorgperson, nis; modules back_mdb, syncprov for ``contextCSN`` and RFC 4533
content synchronisation with a session log (:class:`Syncprov`), ppolicy for
``pwdAccountLockedTime``), loads the suffix ``dc=example,dc=org`` with
``ou=people`` and ``ou=groups`` with ``slapadd -n1``, starts ``slapd`` on free ports of
127.0.0.1 and waits until it answers. Tests then change the directory with ldap3 as
the rootdn (``SlapdProcess.admin()``), or seed it:

- :func:`seed` adds a few users and groups over LDAP (small tests);
- :func:`write_bulk_ldif` + ``start_slapd(..., ldif=...)`` (or :meth:`SlapdProcess.load`
  while stopped) load a large directory with ``slapadd -q`` straight into the
  database: 100k entries in seconds, for the benchmarks.

The fixtures ``slapd`` and ``slapd_tls`` live here so that tests/sync can import them.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ldap3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SLAPD = "/usr/sbin/slapd"
SLAPADD = "/usr/sbin/slapadd"
SLAPCAT = "/usr/sbin/slapcat"
MODULES = "/usr/lib/ldap"
SCHEMAS = ("core", "cosine", "inetorgperson", "nis")
SUFFIX = "dc=example,dc=org"
ADMIN_DN = f"cn=admin,{SUFFIX}"
ADMIN_PASSWORD = "Adm1n-s3cret!"
PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"
USER_PASSWORD = "Us3r-p4ssw0rd!"
"""The userPassword every seeded user has: the connector must never read it."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ssha(password: str) -> str:
    """An RFC 2307 ``{SSHA}`` hash, as slapd stores passwords."""
    salt = os.urandom(8)
    digest = hashlib.sha1(password.encode() + salt).digest()  # noqa: S324 (LDAP's own format)
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


# --- TLS ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TlsFiles:
    ca_file: Path
    cert_file: Path
    key_file: Path


def make_tls(directory: Path) -> TlsFiles:
    """A CA and a server certificate for 127.0.0.1 and localhost, as PEM files."""
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "idsync test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    files.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


# --- configuration --------------------------------------------------------------------------


def _config_ldif(root: Path, tls: TlsFiles | None, limits: str, overlays: str) -> str:
    tls_lines = (
        f"olcTLSCACertificateFile: {tls.ca_file}\n"
        f"olcTLSCertificateFile: {tls.cert_file}\n"
        f"olcTLSCertificateKeyFile: {tls.key_file}\n"
        if tls
        else ""
    )
    schemas = "\n".join(
        Path(f"/etc/ldap/schema/{name}.ldif").read_text().strip() + "\n" for name in SCHEMAS
    )
    return f"""dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {root}/slapd.pid
{tls_lines}
dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: {MODULES}
olcModuleLoad: back_mdb
olcModuleLoad: syncprov
olcModuleLoad: ppolicy

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

{schemas}
dn: olcDatabase={{-1}}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {{-1}}frontend

dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config
olcAccess: {{0}}to * by * none

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcDbDirectory: {root}/data
olcSuffix: {SUFFIX}
olcRootDN: {ADMIN_DN}
olcRootPW: {ssha(ADMIN_PASSWORD)}
olcDbMaxSize: 4294967296
olcDbIndex: objectClass eq
olcDbIndex: entryUUID eq
olcDbIndex: entryCSN eq
olcDbIndex: uid eq
olcDbIndex: member,uniqueMember eq
olcAccess: {{0}}to attrs=userPassword by self write by anonymous auth by * none
olcAccess: {{1}}to dn.subtree="{PEOPLE}" by users read by * none
olcAccess: {{2}}to * by users read by * none
{limits}
{overlays}"""


@dataclass(frozen=True)
class Syncprov:
    """How the test slapd runs the syncprov overlay (RFC 4533 provider, and contextCSN).

    ``sessionlog``: how many write operations it remembers (``olcSpSessionlog``), so a
    refresh from a cookie within them names its deletions; None: no session log, every
    refresh with a cookie answers with a present phase. ``reload_hint``: refuse a cookie
    it cannot serve with e-syncRefreshRequired (``olcSpReloadHint``) instead of sending
    the whole content. ``enabled=False``: no syncprov on the database at all (no
    contextCSN, no content synchronisation)."""

    enabled: bool = True
    sessionlog: int | None = 10_000
    reload_hint: bool = False


def _overlays(syncprov: Syncprov) -> str:
    blocks = []
    if syncprov.enabled:
        lines = [
            "objectClass: olcOverlayConfig",
            "objectClass: olcSyncProvConfig",
            f"olcOverlay: {{{len(blocks)}}}syncprov",
        ]
        if syncprov.sessionlog is not None:
            lines.append(f"olcSpSessionlog: {syncprov.sessionlog}")
        if syncprov.reload_hint:
            lines.append("olcSpReloadHint: TRUE")
        blocks.append((f"olcOverlay={{{len(blocks)}}}syncprov", lines))
    ppolicy = len(blocks)
    blocks.append(
        (
            f"olcOverlay={{{ppolicy}}}ppolicy",
            [
                "objectClass: olcOverlayConfig",
                "objectClass: olcPPolicyConfig",
                f"olcOverlay: {{{ppolicy}}}ppolicy",
            ],
        )
    )
    return "\n".join(
        f"dn: {rdn},olcDatabase={{1}}mdb,cn=config\n" + "\n".join(lines) + "\n"
        for rdn, lines in blocks
    )


BASE_LDIF = f"""dn: {SUFFIX}
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: {PEOPLE}
objectClass: organizationalUnit
ou: people

dn: {GROUPS}
objectClass: organizationalUnit
ou: groups

"""


def _run(*command: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip()}")


# --- the process ----------------------------------------------------------------------------


@dataclass
class SlapdProcess:
    """One configured slapd; ``start()``/``stop()`` may be called again (restart tests)."""

    root: Path
    tls: TlsFiles | None
    port: int = 0
    ldaps_port: int = 0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def config_dir(self) -> Path:
        return self.root / "slapd.d"

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ldaps_url(self) -> str:
        if self.tls is None:
            raise RuntimeError("this slapd was started without TLS")
        return f"ldaps://127.0.0.1:{self.ldaps_port}"

    @property
    def ca_file(self) -> str:
        if self.tls is None:
            raise RuntimeError("this slapd was started without TLS")
        return str(self.tls.ca_file)

    def load(self, ldif: Path) -> None:
        """Add entries straight into the (stopped) database: ``slapadd -q``, no LDAP round trips."""
        if self.process is not None:
            raise RuntimeError("slapadd needs the server stopped")
        _run(SLAPADD, "-q", "-n1", "-F", str(self.config_dir), "-l", str(ldif))

    def start(self, timeout: float = 20.0, *, same_port: bool = False) -> None:
        """Start on free ports (new ones on each start, unless ``same_port``) and wait
        until it answers."""
        for _ in range(3):  # a port may be taken between free_port() and slapd's bind
            if not (same_port and self.port):
                self.port = free_port()
                self.ldaps_port = free_port() if self.tls else 0
            urls = f"ldap://127.0.0.1:{self.port}/"
            if self.tls:
                urls += f" ldaps://127.0.0.1:{self.ldaps_port}/"
            log = (self.root / "slapd.log").open("ab")
            # -d 0: stay in the foreground (a child we can wait for), log nothing extra.
            self.process = subprocess.Popen(
                [SLAPD, "-d", "0", "-h", urls, "-F", str(self.config_dir)],
                stdout=log,
                stderr=log,
            )
            log.close()
            if self._wait(timeout):
                return
            self.stop()
        raise RuntimeError(f"slapd did not start: {self.log()[-2000:]}")

    def _wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    pass
                conn = self.admin()
                conn.unbind()
                return True
            except (OSError, ldap3.core.exceptions.LDAPException):
                time.sleep(0.05)
        return False

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def backup(self, ldif: Path, *, cold: bool = True) -> Path:
        """The database as LDIF, operational attributes (entryUUID, entryCSN) included, as
        ``slapcat`` dumps it for a backup. ``cold``: with slapd stopped meanwhile, so the
        dump holds the suffix's contextCSN (syncprov writes it when it stops); a live dump
        may not, and a restored slapd then starts a change state of its own."""
        running = self.process is not None
        if cold and running:
            self.stop()
        _run(SLAPCAT, "-n1", "-F", str(self.config_dir), "-l", str(ldif))
        if cold and running:
            self.start(same_port=True)
        return ldif

    def restore(self, ldif: Path) -> None:
        """Replace the database with a backup and start again at the same address, as an
        administrator restoring the directory would: its change state goes back in time."""
        self.stop()
        for item in (self.root / "data").iterdir():
            item.unlink()
        self.load(ldif)
        self.start(same_port=True)

    def log(self) -> str:
        path = self.root / "slapd.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def admin(self) -> ldap3.Connection:
        """A bound rootdn connection, to change the directory from a test."""
        server = ldap3.Server(self.url, get_info=ldap3.NONE, connect_timeout=5)
        return ldap3.Connection(
            server, ADMIN_DN, ADMIN_PASSWORD, auto_bind=True, raise_exceptions=True
        )


def configure_slapd(
    root: Path,
    *,
    tls: bool = False,
    paged_limit: int = 0,
    syncprov: Syncprov = Syncprov(),
    limits: str = "",
) -> SlapdProcess:
    """Write cn=config and the base entries under ``root``; the server is not started.

    ``paged_limit``: bound accounts other than the rootdn may get at most that many
    entries from one paged search (``olcLimits users size.prtotal``), to provoke
    sizeLimitExceeded. ``syncprov``: see :class:`Syncprov` (by default: a session log of
    10,000 operations, as docs/ldap.md recommends). ``limits``: an ``olcLimits`` value,
    e.g. ``users size=unlimited``.
    """
    root.mkdir(parents=True, exist_ok=True)
    files = make_tls(root / "tls") if tls else None
    config_dir = root / "slapd.d"
    config_dir.mkdir()
    (root / "data").mkdir()
    config = root / "config.ldif"
    lines = [f"users size.prtotal={paged_limit}"] if paged_limit else []
    lines += [limits] if limits else []
    olc_limits = "".join(f"olcLimits: {line}\n" for line in lines)
    config.write_text(_config_ldif(root, files, olc_limits, _overlays(syncprov)))
    _run(SLAPADD, "-n0", "-F", str(config_dir), "-l", str(config))
    base = root / "base.ldif"
    base.write_text(BASE_LDIF)
    slapd = SlapdProcess(root, files)
    slapd.load(base)
    return slapd


def start_slapd(
    tmp_path: Path,
    *,
    tls: bool = False,
    ldif: Path | None = None,
    paged_limit: int = 0,
    syncprov: Syncprov = Syncprov(),
    limits: str = "",
) -> SlapdProcess:
    """A configured, running slapd under ``tmp_path/slapd``; ``ldif`` is bulk-loaded first."""
    slapd = configure_slapd(
        tmp_path / "slapd", tls=tls, paged_limit=paged_limit, syncprov=syncprov, limits=limits
    )
    if ldif is not None:
        slapd.load(ldif)
    slapd.start()
    return slapd


# --- content ----------------------------------------------------------------------------------


def user_dn(number: int) -> str:
    return f"uid=user{number:05d},{PEOPLE}"


def group_dn(number: int) -> str:
    return f"cn=group{number:04d},{GROUPS}"


def user_attributes(number: int) -> dict[str, Any]:
    """What :func:`seed` gives user ``number``; tests compare the connector's output to it."""
    n = f"{number:05d}"
    return {
        "objectClass": ["inetOrgPerson", "extensibleObject"],
        "uid": f"user{n}",
        "cn": f"User {n}",
        "sn": f"Family{n}",
        "givenName": f"Given{n}",
        "displayName": f"Given{n} Family{n}",
        "mail": f"user{n}@example.org",
        "title": "Engineer",
        "departmentNumber": f"D{number % 7}",
        "employeeNumber": f"E{n}",
        "telephoneNumber": f"+1 555 01{number % 100:02d}",
        "mobile": f"+1 555 02{number % 100:02d}",
        "l": "Lyon",
        "c": "FR",
        "preferredLanguage": "fr-FR",
        "userPassword": USER_PASSWORD,
    }


def _ldif_value(name: str, value: str) -> str:
    return f"{name}: {value}"


def write_bulk_ldif(path: Path, *, users: int, groups: int = 0, members_per_group: int = 0) -> Path:
    """An LDIF of ``users`` people and ``groups`` groupOfNames, for :meth:`SlapdProcess.load`.

    Users are numbered 1..users and look like :func:`user_attributes` (each user's
    manager is user 1); group g holds ``members_per_group`` users starting at user
    ``(g - 1) * members_per_group % users + 1``. Written in one pass, so 100k users
    take about a second.
    """
    hashed = ssha(USER_PASSWORD)
    with path.open("w") as out:
        for number in range(1, users + 1):
            attributes = {**user_attributes(number), "userPassword": hashed}
            out.write(f"dn: {user_dn(number)}\n")
            for name, value in attributes.items():
                for item in value if isinstance(value, list) else [value]:
                    out.write(_ldif_value(name, item) + "\n")
            if number != 1:
                out.write(f"manager: {user_dn(1)}\n")
            out.write("\n")
        for number in range(1, groups + 1):
            out.write(f"dn: {group_dn(number)}\nobjectClass: groupOfNames\n")
            out.write(f"cn: group{number:04d}\n")
            members = _group_members(number, users, members_per_group) or [ADMIN_DN]
            for member in members:
                out.write(f"member: {member}\n")
            out.write("\n")
    return path


def _group_members(number: int, users: int, per_group: int) -> list[str]:
    if users == 0:
        return []
    first = (number - 1) * per_group % users
    return [user_dn((first + offset) % users + 1) for offset in range(min(per_group, users))]


@dataclass(frozen=True)
class Seeded:
    users: list[str]
    groups: list[str]


def seed(
    target: SlapdProcess | ldap3.Connection,
    *,
    users: int,
    groups: int = 0,
    members_per_group: int = 0,
) -> Seeded:
    """Add users (and groups of them) over LDAP, as :func:`write_bulk_ldif` lays them out."""
    conn = target.admin() if isinstance(target, SlapdProcess) else target
    for number in range(1, users + 1):
        attributes = dict(user_attributes(number))
        if number != 1:
            attributes["manager"] = user_dn(1)
        conn.add(user_dn(number), attributes=attributes)
    for number in range(1, groups + 1):
        members = _group_members(number, users, members_per_group) or [ADMIN_DN]
        conn.add(
            group_dn(number),
            attributes={
                "objectClass": ["groupOfNames"],
                "cn": f"group{number:04d}",
                "member": members,
            },
        )
    if isinstance(target, SlapdProcess):
        conn.unbind()
    return Seeded(
        [user_dn(n) for n in range(1, users + 1)], [group_dn(n) for n in range(1, groups + 1)]
    )


def entry_uuid(conn: ldap3.Connection, dn: str) -> str:
    """An entry's anchor (``entryUUID``), read as the rootdn."""
    conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=["entryUUID"])
    value = conn.response[0]["attributes"]["entryUUID"]
    return str(value[0] if isinstance(value, list) else value).lower()


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def slapd(tmp_path: Path) -> Iterator[SlapdProcess]:
    server = start_slapd(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def slapd_tls(tmp_path: Path) -> Iterator[SlapdProcess]:
    server = start_slapd(tmp_path, tls=True)
    yield server
    server.stop()


def running(
    tmp_path: Path, *, tls: bool = False, paged_limit: int = 0, syncprov: Syncprov = Syncprov()
) -> Iterator[SlapdProcess]:
    """For a module's own fixture: ``yield from running(tmp_path)``."""
    server = start_slapd(tmp_path, tls=tls, paged_limit=paged_limit, syncprov=syncprov)
    try:
        yield server
    finally:
        server.stop()


def ldap_settings(server: SlapdProcess, **overrides: Any) -> Any:
    """Connector settings for ``server`` (OpenLDAP dialect, rootdn bind, fast retries)."""
    from idsync.connectors.ldap import LdapSettings
    from idsync.connectors.retry import RetryPolicy

    values: dict[str, Any] = {
        "url": server.url,
        "bind_dn": ADMIN_DN,
        "password": ADMIN_PASSWORD,
        "dialect": "openldap",
        "user_base_dns": (PEOPLE,),
        "group_base_dns": (GROUPS,),
        "integration": "corp-ldap",
        "timeout": 5.0,
        "retry": RetryPolicy(attempts=3, backoff_initial=0.01, backoff_max=0.05),
    }
    values.update(overrides)
    return LdapSettings(**values)
