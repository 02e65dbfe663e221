"""What the LDAP connector needs to know: the server, the bind account, where users and groups live.

Every value is checked when the settings are built, so a typo fails when the
integration is added (``INVALID_INTEGRATION``), not in the middle of a cycle. The
two dialects differ in their anchor (OpenLDAP's ``entryUUID``, RFC 4530; AD's
``objectGUID``), their attribute names, how an account is disabled and how
deletions can be seen.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from idsync.connectors.description import setting, settings_of
from idsync.connectors.retry import RetryPolicy
from idsync.errors.catalogue import INVALID_INTEGRATION, IdsyncError

Dialect = Literal["ad", "openldap"]
Nested = Literal["flatten", "direct"]
Deletions = Literal["auto", "tombstones", "sweep"]

# Attributes that hold passwords, password hashes or keys: never requested, whatever the
# settings say (AD: MS-ADTS §3.1.1.4.4 "Secret attributes", LAPS; OpenLDAP: RFC 2256
# userPassword, RFC 3112 authPassword, ppolicy's history, Samba's hashes).
SECRET_ATTRIBUTES = frozenset(
    name.lower()
    for name in (
        "userPassword", "authPassword", "unicodePwd", "supplementalCredentials", "dBCSPwd",
        "lmPwdHistory", "ntPwdHistory", "currentValue", "priorValue", "initialAuthIncoming",
        "initialAuthOutgoing", "trustAuthIncoming", "trustAuthOutgoing", "msDS-ManagedPassword",
        "ms-Mcs-AdmPwd", "msLAPS-Password", "msLAPS-EncryptedPassword",
        "msLAPS-EncryptedDSRMPassword", "msDS-KeyCredentialLink", "msFVE-RecoveryPassword",
        "pwdHistory", "sambaNTPassword", "sambaLMPassword", "sambaPasswordHistory",
        "userPKCS12", "krbPrincipalKey",
    )
)  # fmt: skip

# RFC 4512 §2.5 attribute descriptions: a name or an OID, with options (";binary").
_ATTRIBUTE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9-]*|\d+(?:\.\d+)+)(?:;[A-Za-z0-9-]+)*$")

CANONICAL_USER_ATTRIBUTES = (
    "userName", "displayName", "givenName", "surname", "mail", "title", "department",
    "employeeId", "mobile", "telephoneNumber", "city", "country", "preferredLanguage",
    "manager",
)  # fmt: skip
"""What the connector reports for each user (plus ``enabled``, ``dn`` and extras); the
default mappings (idsync.contract.mappings.DIRECTORY) read these names."""

_OPENLDAP_USER: dict[str, tuple[str, ...]] = {
    "userName": ("uid",),
    "displayName": ("displayName", "cn"),
    "givenName": ("givenName",),
    "surname": ("sn",),
    "mail": ("mail",),
    "title": ("title",),
    "department": ("departmentNumber",),
    "employeeId": ("employeeNumber",),
    "mobile": ("mobile",),
    "telephoneNumber": ("telephoneNumber",),
    "city": ("l",),
    "country": ("c",),
    "preferredLanguage": ("preferredLanguage",),
    "manager": ("manager",),
}
_AD_USER: dict[str, tuple[str, ...]] = {
    **_OPENLDAP_USER,
    "userName": ("userPrincipalName",),
    "department": ("department",),
    "employeeId": ("employeeID",),
    # c is the ISO 3166 code (what SCIM's addresses.country holds); co the country's name.
    "country": ("c", "co"),
}


@dataclass(frozen=True, slots=True)
class DisabledRule:
    """When an account counts as disabled: a flag bit set in an integer attribute, or the
    attribute being present at all (OpenLDAP ppolicy's lock)."""

    attribute: str
    bit: int | None = None

    @classmethod
    def of(cls, value: Any) -> DisabledRule:
        if isinstance(value, DisabledRule):
            return value
        _require(
            isinstance(value, Mapping) and isinstance(value.get("attribute"), str),
            "disabled must be {'attribute': name} or {'attribute': name, 'bit': mask}",
            "E.g. {'attribute': 'userAccountControl', 'bit': 2}.",
        )
        bit = value.get("bit")
        _require(
            bit is None or (isinstance(bit, int) and bit > 0),
            "disabled.bit must be a positive integer mask",
            "E.g. 2 (ADS_UF_ACCOUNTDISABLE).",
        )
        return cls(str(value["attribute"]), bit)


_DISABLED: dict[Dialect, DisabledRule] = {
    # draft-behera-ldap-password-policy: a locked account has pwdAccountLockedTime.
    "openldap": DisabledRule("pwdAccountLockedTime"),
    # userAccountControl flag ADS_UF_ACCOUNTDISABLE = 0x2 (Microsoft: "Use the
    # UserAccountControl flags to manipulate user account properties").
    "ad": DisabledRule("userAccountControl", 0x2),
}
_ANCHOR: dict[Dialect, str] = {"openldap": "entryUUID", "ad": "objectGUID"}
_USER_FILTER: dict[Dialect, str] = {
    "openldap": "(objectClass=inetOrgPerson)",
    "ad": "(&(objectCategory=person)(objectClass=user))",
}
_GROUP_FILTER: dict[Dialect, str] = {
    "openldap": "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))",
    "ad": "(objectClass=group)",
}
_MEMBER: dict[Dialect, tuple[str, ...]] = {
    "openldap": ("member", "uniqueMember"),
    "ad": ("member",),
}
_GROUP_NAME: dict[Dialect, tuple[str, ...]] = {"openldap": ("cn",), "ad": ("cn",)}


@dataclass(frozen=True, slots=True, repr=False)
class LdapSettings:
    """One LDAP / Active Directory integration's settings; dialect defaults filled in."""

    url: str = setting(
        help="ldap://host:389 or ldaps://host:636.",
        metavar="URL",
        example="ldaps://dc1.example.org:636",
    )
    bind_dn: str = setting(
        help="DN idsync binds as (read-only is enough).",
        metavar="DN",
        example="CN=svc-idsync,OU=Service Accounts,DC=example,DC=org",
    )
    password: str = setting(
        help="File holding the bind password (- : standard input); stored encrypted.",
        flag="--password-file",
        secret=True,
        example="pw-Secret-1",
    )
    user_base_dns: tuple[str, ...] = setting(
        help="Base DN to read users under; repeatable.",
        flag="--user-base",
        metavar="DN",
        example="OU=Staff,DC=example,DC=org",
    )
    group_base_dns: tuple[str, ...] = setting(
        (),
        help="Base DN to read groups under; repeatable (default: the user bases).",
        flag="--group-base",
        metavar="DN",
        example="OU=Groups,DC=example,DC=org",
    )
    dialect: Dialect = setting(
        "ad", help="ad (Active Directory) or openldap: which defaults apply.", example="openldap"
    )
    start_tls: bool = setting(
        False, help="Upgrade ldap:// with StartTLS (RFC 4511 §4.14).", rereads=False
    )
    ca_file: str | None = setting(
        None,
        kind="path",
        help="PEM file of the CA that issued the server's certificate (default: the system's).",
        example="/etc/ssl/corp-root-ca.pem",
        rereads=False,
    )
    """PEM bundle of the CA(s) to trust; None: the system trust store."""
    tls_verify: bool = setting(
        True,
        help="Check the server's certificate. --insecure-skip-tls-verify is for a diagnosis "
        "only: anyone on the path can read the credentials, and every connection logs a "
        "warning.",
        flag="--verify-tls",
        off_flag="--insecure-skip-tls-verify",
        rereads=False,
    )
    """False: accept any certificate (an explicit, loudly logged opt-out)."""
    user_filter: str = setting(
        "",
        help="RFC 4515 filter for users (default: the dialect's).",
        metavar="FILTER",
        example="(&(objectClass=user)(!(isCriticalSystemObject=TRUE)))",
    )
    group_filter: str = setting(
        "",
        help="RFC 4515 filter for groups (default: the dialect's).",
        metavar="FILTER",
        example="(objectClass=group)",
    )
    attributes: Mapping[str, str | tuple[str, ...]] = setting(
        default_factory=dict,
        help="canonical=ldapAttribute, e.g. userName=mail; repeatable (see docs/ldap.md).",
        flag="--attribute",
        example="userName=mail",
    )
    """Canonical user attribute -> LDAP attribute(s), over the dialect's defaults (the
    first of several that the entry has wins)."""
    extra_attributes: tuple[str, ...] = setting(
        (),
        help="An LDAP attribute passed through under its own name, for custom mappings; "
        "repeatable.",
        flag="--extra-attribute",
        metavar="ATTRIBUTE",
        example="employeeType",
    )
    page_size: int = setting(
        500, help="Entries per paged search (1-10000).", example="1000", rereads=False
    )
    range_size: int | None = setting(
        None,
        help="AD: member values to ask for per request (range retrieval); default: as many as "
        "the domain controller sends (its MaxValRange, 1500 by default).",
        example="1000",
        rereads=False,
    )
    """AD: how many ``member`` values to ask for per request (range retrieval, MS-ADTS
    §3.1.1.3.1.3.3); None: as many as the DC sends (its MaxValRange, 1500 by default)."""
    nested: Nested = setting(
        "flatten", help="flatten (members of nested groups) or direct.", example="direct"
    )
    disabled: DisabledRule | None = setting(
        None,
        kind="json",
        help='When an account counts as disabled: {"attribute": "nsAccountLock"} (when '
        'present) or {"attribute": "userAccountControl", "bit": 2} (when the bit is set). '
        "Default: the dialect's.",
        example='{"attribute": "nsAccountLock"}',
    )
    deletions: Deletions = setting(
        "auto",
        help="How deleted entries are found: auto (OpenLDAP: RFC 4533 content "
        "synchronisation where the server offers it; AD: its Deleted Objects container "
        "where the bind account can read it; else the sweep), tombstones (AD only, "
        "required), or sweep (every anchor in the bases is listed each cycle).",
        example="sweep",
    )
    anchor_attribute: str = setting(
        "",
        help="The attribute that identifies an entry for life (default: entryUUID, AD's "
        "objectGUID), e.g. nsUniqueId.",
        metavar="ATTRIBUTE",
        example="nsUniqueId",
    )
    timeout: float = setting(
        30.0, help="Seconds for connecting and for each answer.", example="60", rereads=False
    )
    integration: str = "ldap"
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def __post_init__(self) -> None:
        self._check_connection()
        self._check_scope()
        self._check_attributes()
        _require(self.nested in ("flatten", "direct"), "nested must be flatten or direct", "")
        _require(
            self.deletions in ("auto", "tombstones", "sweep"),
            "deletions must be auto, tombstones or sweep",
            "Use auto (the default): it picks what the server and the bind account allow.",
        )
        _require(
            self.deletions != "tombstones" or self.dialect == "ad",
            "deletions=tombstones needs the ad dialect",
            "OpenLDAP has no tombstones: use auto (the default) or sweep.",
        )
        _require(1 <= self.page_size <= 10_000, "page_size must be 1…10000", "E.g. 500.")
        _require(
            self.range_size is None or (self.dialect == "ad" and 1 <= self.range_size <= 100_000),
            "range_size must be 1…100000, with the ad dialect",
            "Leave it unset unless the DC's MaxValRange must be overridden; OpenLDAP has no ranges.",
        )
        _require(self.timeout > 0, "timeout must be positive", "Use seconds, e.g. 30.")
        self._fill_defaults()

    @classmethod
    def from_integration(
        cls, name: str, settings: Mapping[str, Any], secrets: Mapping[str, Any]
    ) -> LdapSettings:
        """From an integration's stored settings and secrets (the password is secrets["password"])."""
        # The CLI of earlier versions stored --user-base / --group-base under short names.
        known = {s.key for s in settings_of(cls) if not s.secret} | {"user_base", "group_base"}
        unknown = sorted(set(settings) - known)
        _require(
            not unknown,
            f"unknown LDAP settings {', '.join(unknown)}",
            "Known: " + ", ".join(sorted(known)) + ".",
        )
        for key in ("url", "bind_dn"):
            flag = "--" + key.replace("_", "-")
            _require(isinstance(settings.get(key), str), f"{key} is missing", f"Give {flag}.")
        options = {key: _option(key, value) for key, value in settings.items() if value is not None}
        for short in ("user_base", "group_base"):
            options.setdefault(f"{short}_dns", _dns(options.pop(short, None)))
        return cls(password=str(secrets.get("password") or ""), integration=name, **options)

    # --- derived ---------------------------------------------------------------------------

    @property
    def system(self) -> str:
        kind = "Active Directory" if self.dialect == "ad" else "LDAP server"
        return f"{kind} {self.url}"

    @property
    def ldaps(self) -> bool:
        return self.url.lower().startswith("ldaps://")

    @property
    def tls_mode(self) -> str:
        return "ldaps" if self.ldaps else "starttls" if self.start_tls else "none"

    @property
    def member_attributes(self) -> tuple[str, ...]:
        return _MEMBER[self.dialect]

    @property
    def member_requests(self) -> tuple[str, ...]:
        """The member attributes as a search asks for them: the first range of each when
        ``range_size`` is set (``member;range=0-999``), else plain."""
        if self.range_size is None:
            return self.member_attributes
        return tuple(f"{name};range=0-{self.range_size - 1}" for name in self.member_attributes)

    @property
    def group_name_attributes(self) -> tuple[str, ...]:
        return _GROUP_NAME[self.dialect]

    @property
    def user_attribute_map(self) -> dict[str, tuple[str, ...]]:
        defaults = _AD_USER if self.dialect == "ad" else _OPENLDAP_USER
        merged = dict(defaults)
        for canonical, names in self.attributes.items():
            merged[canonical] = (names,) if isinstance(names, str) else tuple(names)
        return merged

    @property
    def disabled_rule(self) -> DisabledRule:
        return self.disabled or _DISABLED[self.dialect]

    def __repr__(self) -> str:
        return (
            f"LdapSettings(integration={self.integration!r}, url={self.url!r}, "
            f"bind_dn={self.bind_dn!r}, password=<hidden>, dialect={self.dialect!r}, "
            f"tls={self.tls_mode!r}, tls_verify={self.tls_verify!r}, "
            f"user_base_dns={self.user_base_dns!r}, group_base_dns={self.group_base_dns!r})"
        )

    # --- checks ----------------------------------------------------------------------------

    def _check_connection(self) -> None:
        parts = urlsplit(self.url)
        _require(
            parts.scheme.lower() in ("ldap", "ldaps") and bool(parts.hostname),
            f"url {self.url!r} is not an ldap:// or ldaps:// URL",
            "E.g. ldaps://dc1.example.org:636 or ldap://ldap.example.org with --start-tls.",
        )
        _require(not (self.ldaps and self.start_tls), "StartTLS over ldaps://", "Use one.")
        _require(self.dialect in ("ad", "openldap"), "dialect must be ad or openldap", "")
        _require(bool(self.bind_dn.strip()), "the bind DN is empty", "Give --bind-dn.")
        # An empty password makes a simple bind "unauthenticated" (RFC 4513 §5.1.2): it
        # succeeds as anonymous on many servers and would read an empty directory.
        _require(bool(self.password), "the bind password is empty", "Give --password-file.")
        _require(
            self.ca_file is None or bool(self.ca_file.strip()), "ca_file is empty", "Give a path."
        )

    def _check_scope(self) -> None:
        _require(bool(self.user_base_dns), "no user base DN", "Give --user-base.")
        for base in (*self.user_base_dns, *self.group_base_dns):
            _require(
                _is_dn(base), f"base DN {base!r} is not a DN", "E.g. ou=people,dc=example,dc=org."
            )
        for name in ("user_filter", "group_filter"):
            value = getattr(self, name)
            _require(
                value == "" or _is_filter(value),
                f"{name} {value!r} is not an LDAP filter (RFC 4515)",
                "Write it in parentheses, e.g. (objectClass=inetOrgPerson).",
            )

    def _check_attributes(self) -> None:
        unknown = sorted(set(self.attributes) - set(CANONICAL_USER_ATTRIBUTES))
        _require(
            not unknown,
            f"attributes maps unknown names {', '.join(unknown)}",
            "Map any of: " + ", ".join(CANONICAL_USER_ATTRIBUTES) + "; or use extra_attributes.",
        )
        names = [n for v in self.attributes.values() for n in ((v,) if isinstance(v, str) else v)]
        for name in (*names, *self.extra_attributes, self.anchor_attribute or "cn"):
            _require(
                isinstance(name, str) and bool(_ATTRIBUTE.match(name)),
                f"{name!r} is not an LDAP attribute name",
                "Use attribute names such as employeeType; '*' and '+' are not allowed.",
            )
            _require(
                name.split(";")[0].lower() not in SECRET_ATTRIBUTES,
                f"{name} holds passwords or keys, which idsync never reads",
                "Remove it from the integration's attributes.",
            )

    def _fill_defaults(self) -> None:
        # Frozen: the dialect's defaults are filled in once, here.
        defaults = {
            "user_filter": self.user_filter or _USER_FILTER[self.dialect],
            "group_filter": self.group_filter or _GROUP_FILTER[self.dialect],
            "anchor_attribute": self.anchor_attribute or _ANCHOR[self.dialect],
            "group_base_dns": tuple(self.group_base_dns) or tuple(self.user_base_dns),
            "user_base_dns": tuple(self.user_base_dns),
            "extra_attributes": tuple(self.extra_attributes),
            "attributes": dict(self.attributes),
        }
        for name, value in defaults.items():
            object.__setattr__(self, name, value)


def _option(key: str, value: Any) -> Any:
    if key in ("user_base_dns", "group_base_dns", "extra_attributes"):
        return _dns(value)
    if key == "disabled":
        return DisabledRule.of(value)
    if key == "attributes":
        _require(isinstance(value, Mapping), "attributes must be a mapping", "")
        return {str(k): v if isinstance(v, str) else tuple(v) for k, v in value.items()}
    return value


def _dns(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(item) for item in value)


def _is_dn(value: str) -> bool:
    # RFC 4514: at least one attribute=value pair; ldap3 parses the rest when searching.
    return isinstance(value, str) and bool(re.match(r"^\s*[A-Za-z0-9.-]+\s*=", value))


def _is_filter(value: str) -> bool:
    if not (value.startswith("(") and value.endswith(")")):
        return False
    depth = 0
    escaped = False
    for char in value:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def _require(condition: bool, reason: str, hint: str) -> None:
    if not condition:
        raise IdsyncError(INVALID_INTEGRATION, reason=reason, hint=hint)
