"""A real Active Directory domain controller per test: Samba 4 (Debian's ``samba-ad-dc``).

``samba-tool domain provision`` takes about ten seconds, so a domain is provisioned
once per test session into a template folder (:func:`provision`, behind a file lock
that the pytest-xdist workers of one session share); each DC is a copy of it
(:func:`start_dc`) with its own ``smb.conf`` and runs only Samba's LDAP service
(``server services = ldap``), in the foreground, until the test stops it. A test
module wires them up as tests/slapd.py's users do: a session fixture returning
:func:`session_template`, and ``yield from running_dc(template, tmp_path)``.

Samba's LDAP ports are fixed (389, 636), so each DC listens on its own loopback
address: Linux answers on all of 127.0.0.0/8, and Samba "fakes up" an interface for
an ``interfaces = 127.a.b.c/8`` entry. A random free address per DC lets parallel
workers run DCs side by side. Samba makes a self-signed certificate for its host name
(``DC1.idsync.test``) at the first start; the DC is reached by IP address.

Tests change the directory with ldap3 as the domain Administrator over LDAPS
(:meth:`SambaDC.admin`: AD takes passwords only over an encrypted connection), and
idsync binds as an ordinary *Domain Users* account (:data:`BIND_DN`), as
docs/ldap.md recommends. What only the DC itself may do (SYSTEM rights) goes
through Samba's own tools on the DC's database: enabling the AD Recycle Bin
(:meth:`SambaDC.enable_recycle_bin`, before the start), granting an account read access
to the Deleted Objects container (:meth:`SambaDC.grant_deleted_objects`) and recycling
deleted objects (:meth:`SambaDC.recycle_deleted`, ``samba-tool domain tombstones expunge``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import shutil
import socket
import ssl
import stat
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ldap3
import pytest

SAMBA = "/usr/sbin/samba"
SAMBA_TOOL = "/usr/bin/samba-tool"
SYSTEM_PYTHON = "/usr/bin/python3"
"""The interpreter Debian's python3-samba belongs to (the venv's cannot import it)."""
REALM = "IDSYNC.TEST"
HOST_NAME = "dc1"
BASE = "DC=idsync,DC=test"
ADMIN_DN = f"CN=Administrator,CN=Users,{BASE}"
ADMIN_PASSWORD = "Passw0rd!Admin"
STAFF = f"OU=Staff,{BASE}"
GROUPS = f"OU=Groups,{BASE}"
BIND_DN = f"CN=svc-idsync,CN=Users,{BASE}"
BIND_PASSWORD = "Svc-p4ssw0rd!idsync"
"""An ordinary Domain Users account: what docs/ldap.md tells administrators to use."""
USER_PASSWORD = "Us3r-p4ssw0rd!"
RECYCLE_BIN = "766ddcd8-acd0-445e-f3b9-a7f9b6744f2a"
"""The Recycle Bin optional feature's GUID (MS-ADTS §3.1.1.9.1)."""
_LDAP_PORTS = (389, 636, 3268, 3269)
PROVISIONED_CONF = Path("etc") / "smb.conf.provisioned"
"""The smb.conf samba-tool wrote; each DC's own is made from it (:func:`_smb_conf`)."""

# userAccountControl flags (Microsoft: "UserAccountControl property flags").
NORMAL_ACCOUNT = 0x200
ACCOUNTDISABLE = 0x2


def samba_version() -> str:
    done = subprocess.run([SAMBA, "--version"], capture_output=True, text=True, check=True)
    return done.stdout.strip().removeprefix("Version ")


# --- the template ---------------------------------------------------------------------------


def provision(target: Path) -> None:
    """A fresh domain ``idsync.test`` in ``target``, with the OUs and the bind account.

    It is started once here, so that Samba makes its TLS key (RSA 4096: seconds of CPU)
    once for every DC copied from it, and the base entries are made once too.
    """
    if target.exists():
        shutil.rmtree(target)
    _run(
        SAMBA_TOOL, "domain", "provision", f"--realm={REALM}", "--domain=IDSYNC",
        "--server-role=dc", "--dns-backend=NONE", f"--host-name={HOST_NAME}",
        f"--adminpass={ADMIN_PASSWORD}", f"--targetdir={target}",
        "--option=interfaces=127.0.0.1/8", "--option=bind interfaces only=yes",
    )  # fmt: skip
    (target / "etc" / "smb.conf").rename(target / PROVISIONED_CONF)
    dc = SambaDC(target, target)
    dc.start()
    try:
        dc.seed_base()
    finally:
        dc.stop()
    (target / "ready").write_text(samba_version())


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def template(shared: Path) -> Path:
    """The session's provisioned template under ``shared`` (provisioned by whoever comes first)."""
    target = shared / "samba-template"
    with _locked(shared / "samba-template.lock"):
        if not (target / "ready").exists():
            provision(target)
    return target


# --- one DC -----------------------------------------------------------------------------------


def _smb_conf(text: str, template_root: Path, root: Path, address: str) -> str:
    """The template's smb.conf for a copy in ``root``: its paths, its address, LDAP only."""
    lines = []
    for line in text.replace(str(template_root), str(root)).splitlines():
        key = line.strip().split("=")[0].strip()
        if key in ("server services", "interfaces", "log file", "logging", "panic action"):
            continue
        lines.append(line)
        if line.strip() == "[global]":
            lines += [
                "\tserver services = ldap",
                f"\tinterfaces = {address}/8",
                f"\tlog file = {root}/log.%m",
                f"\tpid directory = {root}/run",
                f"\tncalrpc dir = {root}/ncalrpc",
                f"\twinbindd socket directory = {root}/winbindd",
                # Simple binds over plain ldap:// too, so tests can try both transports.
                "\tldap server require strong auth = no",
            ]
    return "\n".join(lines) + "\n"


def _address_free(address: str) -> bool:
    for port in _LDAP_PORTS:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((address, port))
            except OSError:
                return False
    return True


def free_address() -> str:
    """A loopback address (outside 127.0.0.0/24) on which no LDAP port is taken."""
    for _ in range(100):
        address = f"127.{random.randint(1, 254)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
        if _address_free(address):
            return address
    raise RuntimeError("no free loopback address for a Samba DC")


@dataclass
class SambaDC:
    """One domain controller copied from the template; ``start()``/``stop()``."""

    root: Path
    template_root: Path
    address: str = ""
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def smb_conf(self) -> Path:
        return self.root / "etc" / "smb.conf"

    @property
    def sam_ldb(self) -> Path:
        return self.root / "private" / "sam.ldb"

    @property
    def url(self) -> str:
        return f"ldap://{self.address}"

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://{self.address}"

    @property
    def ca_file(self) -> str:
        """Samba's own CA (it signed the DC's certificate, which names DC1.idsync.test)."""
        return str(self.root / "private" / "tls" / "ca.pem")

    def configure(self, address: str) -> None:
        self.address = address
        text = (self.template_root / PROVISIONED_CONF).read_text()
        self.smb_conf.write_text(_smb_conf(text, self.template_root, self.root, address))
        (self.root / "run").mkdir(exist_ok=True)

    def start(self, timeout: float = 60.0) -> None:
        for _ in range(3):  # an address may be taken between the check and Samba's bind
            self.configure(free_address())
            log = (self.root / "samba.log").open("ab")
            self.process = subprocess.Popen(
                [SAMBA, "-i", "-M", "single", "-s", str(self.smb_conf), "--debug-stdout", "-d1"],
                stdout=log,
                stderr=log,
            )
            log.close()
            if self._wait(timeout):
                return
            self.stop()
        raise RuntimeError(f"samba did not start: {self.log()[-3000:]}")

    def _wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                return False
            try:
                self.admin().unbind()  # LDAPS: up once the certificate is made
                return True
            except (OSError, ldap3.core.exceptions.LDAPException):
                time.sleep(0.1)
        return False

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def log(self) -> str:
        path = self.root / "samba.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # --- what only SYSTEM may do: Samba's own tools on the DC's database -----------------

    def enable_recycle_bin(self) -> None:
        """Turn on the AD Recycle Bin (rootDSE ``enableOptionalFeature``, MS-ADTS
        §3.1.1.3.3.19). Samba lets only SYSTEM do it, so it is done on the database
        itself, before the DC starts."""
        if self.process is not None:
            raise RuntimeError("enable the Recycle Bin before starting the DC")
        script = (
            "import sys, ldb\n"
            "from samba.samdb import SamDB\n"
            "from samba.auth import system_session\n"
            "from samba.param import LoadParm\n"
            "lp = LoadParm(); lp.load(sys.argv[1])\n"
            "db = SamDB(url=sys.argv[2], session_info=system_session(), lp=lp)\n"
            "m = ldb.Message(); m.dn = ldb.Dn(db, '')\n"
            "value = 'CN=Partitions,%s:%s' % (db.get_config_basedn(), sys.argv[3])\n"
            "m['enableOptionalFeature'] = ldb.MessageElement(\n"
            "    value, ldb.FLAG_MOD_ADD, 'enableOptionalFeature')\n"
            "db.modify(m)\n"
        )
        _run(SYSTEM_PYTHON, "-c", script, str(self.smb_conf), str(self.sam_ldb), RECYCLE_BIN)

    def grant_deleted_objects(self, account: str = BIND_DN) -> None:
        """Let ``account`` read the Deleted Objects container: *List Contents* and *Read
        Property* (``LCRP``), what docs/ldap.md tells an administrator to grant with
        dsacls. Samba's tools need SYSTEM to find the container's security descriptor."""
        script = (
            "import sys, ldb\n"
            "from samba.samdb import SamDB\n"
            "from samba.auth import system_session\n"
            "from samba.param import LoadParm\n"
            "from samba.sd_utils import SDUtils\n"
            "from samba.dcerpc import security\n"
            "from samba.ndr import ndr_unpack\n"
            "lp = LoadParm(); lp.load(sys.argv[1])\n"
            "db = SamDB(url=sys.argv[2], session_info=system_session(), lp=lp)\n"
            "found = db.search(base=sys.argv[3], scope=ldb.SCOPE_BASE, attrs=['objectSid'])\n"
            "sid = ndr_unpack(security.dom_sid, found[0]['objectSid'][0])\n"
            "container = 'CN=Deleted Objects,%s' % db.domain_dn()\n"
            "SDUtils(db).dacl_add_ace(container, '(A;;LCRP;;;%s)' % sid)\n"
        )
        _run(SYSTEM_PYTHON, "-c", script, str(self.smb_conf), str(self.sam_ldb), account)

    def recycle_deleted(self) -> None:
        """Move every deleted object on to the recycled state, as the DC's garbage
        collection does once msDS-deletedObjectLifetime has passed (here: at once)."""
        _run(
            SAMBA_TOOL, "domain", "tombstones", "expunge", BASE, "-H", str(self.sam_ldb),
            "-s", str(self.smb_conf), "--tombstone-lifetime=0",
        )  # fmt: skip

    # --- the directory, as the domain Administrator ----------------------------------------

    def admin(self) -> ldap3.Connection:
        """A bound Administrator connection over LDAPS (AD sets passwords only over TLS)."""
        server = ldap3.Server(
            self.ldaps_url,
            use_ssl=True,
            tls=ldap3.Tls(validate=ssl.CERT_NONE),
            get_info=ldap3.NONE,
            connect_timeout=5,
        )
        return ldap3.Connection(
            server,
            ADMIN_DN,
            ADMIN_PASSWORD,
            auto_bind=True,
            raise_exceptions=True,
            check_names=False,
            auto_range=False,
            return_empty_attributes=False,
        )

    def seed_base(self) -> None:
        """The OUs the tests use and the ordinary bind account."""
        with _admin(self) as conn:
            conn.add(STAFF, "organizationalUnit")
            conn.add(GROUPS, "organizationalUnit")
        self.add_user("svc-idsync", ou=f"CN=Users,{BASE}", password=BIND_PASSWORD)

    def add_user(
        self,
        name: str,
        *,
        ou: str = STAFF,
        password: str | None = USER_PASSWORD,
        enabled: bool = True,
        **attributes: Any,
    ) -> str:
        """A user ``name`` (sAMAccountName, cn, ``name@idsync.test`` as UPN); its DN."""
        dn = f"CN={name},{ou}"
        values: dict[str, Any] = {
            "sAMAccountName": name,
            "userPrincipalName": f"{name}@idsync.test",
            "givenName": name.capitalize(),
            "sn": "Tester",
            "displayName": f"{name.capitalize()} Tester",
            "mail": f"{name}@idsync.test",
            "userAccountControl": NORMAL_ACCOUNT | (0 if enabled else ACCOUNTDISABLE),
            **attributes,
        }
        if password is not None:
            values["unicodePwd"] = f'"{password}"'.encode("utf-16-le")
        with _admin(self) as conn:
            conn.add(dn, ["top", "person", "organizationalPerson", "user"], values)
        return dn

    def add_users(self, names: Sequence[str], *, ou: str = STAFF) -> list[str]:
        """Many users at once on one connection (disabled, without a password: fast)."""
        dns = []
        with _admin(self) as conn:
            for name in names:
                dn = f"CN={name},{ou}"
                conn.add(
                    dn,
                    ["top", "person", "organizationalPerson", "user"],
                    {
                        "sAMAccountName": name,
                        "userPrincipalName": f"{name}@idsync.test",
                        "userAccountControl": NORMAL_ACCOUNT | ACCOUNTDISABLE,
                    },
                )
                dns.append(dn)
        return dns

    def add_group(self, name: str, members: Sequence[str] = (), *, ou: str = GROUPS) -> str:
        dn = f"CN={name},{ou}"
        with _admin(self) as conn:
            conn.add(dn, ["top", "group"], {"sAMAccountName": name})
            for start in range(0, len(members), 500):
                chunk = list(members[start : start + 500])
                conn.modify(dn, {"member": [(ldap3.MODIFY_ADD, chunk)]})
        return dn

    def modify(self, dn: str, changes: dict[str, Any]) -> None:
        """Replace attribute values: ``{"givenName": "Ann"}``."""
        with _admin(self) as conn:
            conn.modify(dn, {k: [(ldap3.MODIFY_REPLACE, _values(v))] for k, v in changes.items()})

    def add_members(self, group: str, members: Sequence[str]) -> None:
        with _admin(self) as conn:
            conn.modify(group, {"member": [(ldap3.MODIFY_ADD, list(members))]})

    def set_enabled(self, dn: str, enabled: bool) -> None:
        self.modify(dn, {"userAccountControl": NORMAL_ACCOUNT | (0 if enabled else ACCOUNTDISABLE)})

    def delete(self, dn: str) -> None:
        with _admin(self) as conn:
            conn.delete(dn)

    def set_lockout(self, threshold: int) -> None:
        """Lock an account after ``threshold`` wrong passwords, for 30 minutes."""
        thirty_minutes = str(-30 * 60 * 10_000_000)  # 100-ns intervals, negative
        self.modify(
            BASE,
            {
                "lockoutThreshold": str(threshold),
                "lockoutDuration": thirty_minutes,
                "lockOutObservationWindow": thirty_minutes,
            },
        )

    def guid(self, dn: str) -> str:
        """An object's anchor as idsync shows it (``objectGUID``, AD's string form)."""
        with _admin(self) as conn:
            conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=["objectGUID"])
            raw = conn.response[0]["raw_attributes"]["objectGUID"][0]
        return str(uuid.UUID(bytes_le=bytes(raw)))

    def deleted(self, guid: str) -> dict[str, list[bytes]] | None:
        """A deleted (or recycled) object's isDeleted / isRecycled, read under Show Recycled."""
        show_recycled = ("1.2.840.113556.1.4.2064", True, None)
        escaped = "".join(f"\\{octet:02x}" for octet in uuid.UUID(guid).bytes_le)
        with _admin(self) as conn:
            conn.search(
                f"CN=Deleted Objects,{BASE}",
                f"(objectGUID={escaped})",
                ldap3.SUBTREE,
                attributes=["isDeleted", "isRecycled"],
                controls=[show_recycled],
            )
            found = [e for e in conn.response if e["type"] == "searchResEntry"]
        return dict(found[0]["raw_attributes"]) if found else None


@contextlib.contextmanager
def _admin(dc: SambaDC) -> Iterator[ldap3.Connection]:
    conn = dc.admin()
    try:
        yield conn
    finally:
        conn.unbind()


def _values(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _run(*command: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])}… failed: {done.stderr.strip()[-2000:]}")


def _runtime_files(folder: str, names: list[str]) -> set[str]:
    """What the template's one run left behind that a copy must not inherit: its sockets
    and logs (copytree cannot copy a socket)."""
    return {
        name
        for name in names
        if stat.S_ISSOCK(os.lstat(os.path.join(folder, name)).st_mode)
        or name == "samba.log"
        or name.startswith("log.")
    }


def start_dc(template_root: Path, root: Path, *, recycle_bin: bool = False) -> SambaDC:
    """A DC copied from the template into ``root`` and started (OUs and bind account included)."""
    shutil.copytree(template_root, root, symlinks=True, ignore=_runtime_files)
    dc = SambaDC(root, template_root)
    dc.configure("127.0.0.1")  # an smb.conf for the offline tools; start() picks the address
    if recycle_bin:
        dc.enable_recycle_bin()
    dc.start()
    return dc


# --- fixtures ---------------------------------------------------------------------------------


def session_template(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """For a module's session fixture: the xdist workers of one session share their
    parent folder, so the first one to ask provisions and the others copy."""
    base = tmp_path_factory.getbasetemp()
    return template(base if worker_id == "master" else base.parent)


def running_dc(
    samba_template: Path, tmp_path: Path, *, recycle_bin: bool = False
) -> Iterator[SambaDC]:
    """For a module's own fixture: ``yield from running_dc(samba_template, tmp_path)``."""
    dc = start_dc(samba_template, tmp_path / "dc", recycle_bin=recycle_bin)
    try:
        yield dc
    finally:
        dc.stop()


def ad_settings(dc: SambaDC, **overrides: Any) -> Any:
    """Connector settings for ``dc``: AD dialect, the ordinary bind account, fast retries."""
    from idsync.connectors.ldap import LdapSettings
    from idsync.connectors.retry import RetryPolicy

    values: dict[str, Any] = {
        "url": dc.url,
        "bind_dn": BIND_DN,
        "password": BIND_PASSWORD,
        "dialect": "ad",
        "user_base_dns": (STAFF,),
        "group_base_dns": (GROUPS,),
        "integration": "corp-ad",
        "timeout": 10.0,
        "retry": RetryPolicy(attempts=3, backoff_initial=0.01, backoff_max=0.05),
    }
    values.update(overrides)
    return LdapSettings(**values)
