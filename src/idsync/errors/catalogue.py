"""The error catalogue: every error a user can see, with a stable code.

A code never changes meaning once released. ``IDS-<http status>-<nnn>``: the
middle part is the HTTP status the API answers with, so an administrator can
tell from the code alone whether the request, the credentials or the service
was at fault. The CLI prints the same codes.

Each entry says what happened (``message``) and what to do next (``action``);
both are templates filled from the keyword arguments of :class:`IdsyncError`. A
command printed as advice must run as printed: ``{integration!q}`` names the
integration for the shell (its id when the error knows it, else its name quoted:
``'Entra ID'``), and placeholders are UPPERCASE (``FILE``) or ``<in angle
brackets>`` (a test runs every such command against the real CLI).
"""

from __future__ import annotations

import shlex
import string
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ErrorCode:
    code: str
    status: int
    title: str
    message: str
    action: str
    scim_type: str | None = None
    """RFC 7644 §3.12 Table 9 ``scimType``, for 400/409/413 errors that have one."""


class IdsyncError(Exception):
    """An error from the catalogue, with the values its templates need."""

    def __init__(self, error: ErrorCode, /, **params: Any) -> None:
        self.error = error
        self.params = params
        super().__init__(self.detail)

    def for_integration(self, integration_id: str) -> IdsyncError:
        """This error, with the commands it advises naming the integration by id: a name
        is unique only within its organisation, an id everywhere."""
        self.params.setdefault("integration_id", integration_id)
        return self

    @property
    def message(self) -> str:
        return _fill(self.error.message, self.params)

    @property
    def action(self) -> str:
        return _fill(self.error.action, self.params)

    @property
    def detail(self) -> str:
        return f"{self.message} {self.action}".strip()


class _Formatter(string.Formatter):
    """``str.format`` plus ``!q``: the value quoted for a POSIX shell."""

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        if conversion == "q":
            return shlex.quote(str(value))
        return super().convert_field(value, conversion)


_FORMATTER = _Formatter()


def _fill(template: str, params: dict[str, Any]) -> str:
    if params.get("integration_id"):
        template = template.replace("{integration!q}", "{integration_id!q}")
    try:
        return _FORMATTER.format(template, **params)
    except (KeyError, IndexError, AttributeError, ValueError):
        # A missing parameter must never turn an error report into a crash.
        return template


CATALOGUE: dict[str, ErrorCode] = {}


def _entry(
    code: str, title: str, message: str, action: str, scim_type: str | None = None
) -> ErrorCode:
    status = int(code.split("-")[1])
    entry = ErrorCode(code, status, title, message, action, scim_type)
    if code in CATALOGUE:
        raise ValueError(f"duplicate error code {code}")
    CATALOGUE[code] = entry
    return entry


# --- 400: the request is wrong --------------------------------------------------------
INVALID_FILTER = _entry(
    "IDS-400-001",
    "invalid filter",
    "The filter could not be used: {reason}.",
    'Fix the filter expression (RFC 7644 §3.4.2.2), e.g. userName eq "bjensen@example.com".',
    "invalidFilter",
)
INVALID_PATH = _entry(
    "IDS-400-002",
    "invalid path",
    "The attribute path {path!r} is not valid here: {reason}.",
    "Use an attribute this resource type declares (GET /Schemas lists them).",
    "invalidPath",
)
INVALID_VALUE = _entry(
    "IDS-400-003",
    "invalid value",
    "A value in the request is not valid: {reason}.",
    "Correct the value so it matches the attribute's type in GET /Schemas.",
    "invalidValue",
)
INVALID_SYNTAX = _entry(
    "IDS-400-004",
    "invalid syntax",
    "The request body could not be read: {reason}.",
    "Send a JSON object with the right 'schemas' for this endpoint (RFC 7644 §3).",
    "invalidSyntax",
)
NO_TARGET = _entry(
    "IDS-400-005",
    "no target",
    "The PATCH path {path!r} matched nothing to change.",
    "Check the filter in the path, or use 'add' to create the value.",
    "noTarget",
)
MUTABILITY = _entry(
    "IDS-400-006",
    "attribute not writable",
    "The request tries to change {reason}.",
    "Leave read-only and immutable attributes out of the request.",
    "mutability",
)
TOO_MANY_RESULTS = _entry(
    "IDS-400-007",
    "too many",
    "{reason}.",
    "Narrow the request, or split it into smaller ones.",
    "tooMany",
)
INVALID_VERSION = _entry(
    "IDS-400-008",
    "invalid version",
    "The SCIM version or ETag in the request is not valid: {reason}.",
    'Use the ETag from meta.version exactly as returned, e.g. W/"3".',
    "invalidVers",
)
SENSITIVE = _entry(
    "IDS-400-009",
    "sensitive data in URL",
    "The request puts {reason} in the URL, where logs keep it.",
    "Send the query as POST .search with the filter in the body (RFC 7644 §7.5.2).",
    "sensitive",
)
INVALID_PARAMETER = _entry(
    "IDS-400-010",
    "invalid query parameter",
    "The query parameter {name!r} is not valid: {reason}.",
    "Correct the parameter (RFC 7644 §3.4.2).",
    "invalidValue",
)
UNMATCHED_FILTER = _entry(
    "IDS-400-011",
    "value filter matched nothing",
    "The PATCH path {path!r} selects no value of {attribute}, so there is nothing to {op} "
    "(RFC 7644 §3.5.2.3); nothing was changed.",
    "Correct the filter, or add the whole value to {attribute} with 'add'. If the client "
    "expects the value to be created (Microsoft Entra ID does), an administrator can allow "
    "it: idsync org set {org} --patch-upsert all",
    "noTarget",
)
EMPTY_VALUE = _entry(
    "IDS-400-012",
    "empty required value",
    "{attribute} is {shown}; a {resource_type} needs a {attribute} with at least one "
    "character other than white space.",
    "Send the {attribute} the client means to store.",
    "invalidValue",
)
INVALID_MEMBER = _entry(
    "IDS-400-013",
    "invalid member value",
    "Member {position} of the request is {got}, not an object whose 'value' is the id of a "
    "user or group (RFC 7643 §4.2); nothing was changed.",
    'Send each member as {{"value": "<user or group id>"}}.',
    "invalidValue",
)
PATCH_TOO_COSTLY = _entry(
    "IDS-400-014",
    "PATCH too costly",
    "The PATCH would read more than {limit} values of the resource: operations such as "
    "{path!r} cannot be answered from an index, so each one reads every value of the "
    "attribute.",
    'Select values with eq comparisons (e.g. emails[value eq "x"]), or split the '
    "operations over several requests.",
    "tooMany",
)
NUL_CHARACTER = _entry(
    "IDS-400-016",
    "NUL character",
    "The request holds the NUL character (U+0000) in {where}: no attribute can store it "
    "(PostgreSQL text cannot hold it, so idsync refuses it on every database).",
    "Remove the character from the value and send the request again.",
    "invalidValue",
)
NESTED_TOO_DEEP = _entry(
    "IDS-400-017",
    "JSON nested too deep",
    "The request body nests JSON objects and arrays more than {limit} levels deep.",
    "SCIM messages nest a few levels at most (RFC 7643 §2); send the body without the extra "
    "nesting (RFC 8259 §9 lets a server limit it).",
    "invalidSyntax",
)
BULK_CIRCULAR = _entry(
    "IDS-409-003",
    "circular bulk reference",
    "The bulk operation {bulk_id!r} refers to a bulkId that cannot be resolved: {reason}.",
    "Split the circular references into separate operations, or reference ids created earlier.",
)

# --- 401 / 403: credentials --------------------------------------------------------------
TOKEN_REVOKED = _entry(
    "IDS-401-001",
    "token revoked",
    "The bearer token {prefix}… was revoked on {revoked_at}.",
    "Create a new token (idsync token create --org <org id>) and update the secret token "
    "in the client's provisioning settings.",
)
TOKEN_MISSING = _entry(
    "IDS-401-002",
    "token missing",
    "The request has no bearer token.",
    "Send the header 'Authorization: Bearer <token>'; an administrator creates tokens with "
    "idsync token create --org <org id>.",
)
TOKEN_UNKNOWN = _entry(
    "IDS-401-003",
    "token unknown",
    "The bearer token is not one this hub issued.",
    "Check that the client's secret token was copied whole; if in doubt, create a new one "
    "with idsync token create --org <org id>.",
)
TOKEN_EXPIRED = _entry(
    "IDS-401-004",
    "token expired",
    "The bearer token {prefix}… expired on {expires_at}.",
    "Create a new token (idsync token create --org <org id>) and update the client.",
)
AUTH_SCHEME = _entry(
    "IDS-401-005",
    "wrong authentication scheme",
    "The Authorization header uses {scheme}; this endpoint takes only bearer tokens.",
    "Send 'Authorization: Bearer <token>'.",
)

# --- 404 / 405 / 406 / 415: addressing -------------------------------------------------
RESOURCE_NOT_FOUND = _entry(
    "IDS-404-001",
    "resource not found",
    "No {resource_type} with id {id!r} exists in this organisation.",
    'Search by filter (e.g. externalId eq "…") to find the current id; it may have been deleted.',
)
ORG_NOT_FOUND = _entry(
    "IDS-404-002",
    "organisation not found",
    "No organisation {org!r} is reachable with these credentials.",
    "Check the tenant URL: it must be /scim/<org id>/v2 with the org id the token was created for "
    "(see idsync org list).",
)
ENDPOINT_NOT_FOUND = _entry(
    "IDS-404-003",
    "endpoint not found",
    "There is no endpoint at {path!r}.",
    "SCIM endpoints live under /scim/<org id>/v2/ (Users, Groups, Bulk, .search, Schemas, "
    "ResourceTypes, ServiceProviderConfig).",
)
TOKEN_NOT_FOUND = _entry(
    "IDS-404-004",
    "token not found",
    "No token {token!r} exists{scope}.",
    "List tokens with idsync token list --org <org id>.",
)
SCHEMA_NOT_FOUND = _entry(
    "IDS-404-005",
    "schema not found",
    "No schema {schema!r} is declared for this organisation.",
    "GET /Schemas lists the schemas this organisation uses.",
)
METHOD_NOT_ALLOWED = _entry(
    "IDS-405-001",
    "method not allowed",
    "{method} is not supported on {path!r}.",
    "Use one of: {allowed}.",
)
NOT_ACCEPTABLE = _entry(
    "IDS-406-001",
    "not acceptable",
    "The Accept header asks for {accept!r}; this hub answers "
    "application/scim+json or application/json.",
    "Accept application/scim+json (RFC 7644 §3.8).",
)
UNSUPPORTED_MEDIA_TYPE = _entry(
    "IDS-415-001",
    "unsupported media type",
    "The request body is {content_type!r}.",
    "Send the body as application/scim+json (or application/json).",
)

# --- 409 / 412 / 413: state and size -----------------------------------------------------
UNIQUENESS = _entry(
    "IDS-409-001",
    "value already in use",
    "{attribute} {value!r} is already used by another "
    "{resource_type} in this organisation (id {other_id}).",
    "Update that {resource_type} instead of creating a new one, or choose another value.",
    "uniqueness",
)
ORG_NAME_TAKEN = _entry(
    "IDS-409-002",
    "organisation exists",
    "An organisation named {name!r} already exists (id {id}).",
    "Use that organisation, or pick another name.",
)
MEMBERSHIP_CYCLE = _entry(
    "IDS-409-004",
    "group nesting cycle",
    "Adding group {member!r} to group {group!r} would make the group contain itself.",
    "Remove the nesting that closes the cycle.",
    "invalidValue",
)
PRECONDITION_FAILED = _entry(
    "IDS-412-001",
    "version mismatch",
    "The {resource_type} changed since you read it: you sent "
    "If-Match {expected}, it is now at {actual}.",
    "GET the resource again, reapply your change, and send it with the new ETag.",
)
PAYLOAD_TOO_LARGE = _entry(
    "IDS-413-001",
    "request too large",
    "The request body is larger than {limit} bytes.",
    "Split the request; /Bulk takes up to {bulk_limit} bytes in up to {bulk_ops} operations.",
    "tooMany",
)
BULK_TOO_MANY_OPERATIONS = _entry(
    "IDS-413-002",
    "too many bulk operations",
    "The bulk request has {count} operations; this hub takes at most {limit}.",
    "Send the operations in several bulk requests (ServiceProviderConfig bulk.maxOperations).",
    "tooMany",
)

CONCURRENT_CHANGE = _entry(
    "IDS-409-008",
    "concurrent change",
    "Another request changed the same resources at the same moment ({reason}); this "
    "request changed nothing.",
    "Send the request again.",
)
TOO_MANY_REJECTED = _entry(
    "IDS-429-001",
    "too many rejected credentials",
    "More than {limit} requests from {source} had their credentials refused within {window} "
    "seconds.",
    "Fix the client's secret token (make a new one with: idsync token create --org <org id>); "
    "requests are refused without being checked for the next {retry_after} seconds.",
)

# --- 5xx: our side ----------------------------------------------------------------------
INTERNAL = _entry(
    "IDS-500-001",
    "internal error",
    "The hub failed to process the request.",
    "Retry later; if it keeps failing, give the tracking ID to your idsync operator, who will "
    "find the cause in the server log.",
)
NOT_IMPLEMENTED = _entry(
    "IDS-501-001",
    "not implemented",
    "{feature} is not supported by this hub.",
    "{alternative}",
)
DATABASE_UNAVAILABLE = _entry(
    "IDS-503-001",
    "database unavailable",
    "The hub cannot reach its database ({reason}).",
    "Retry in a minute; operators: check that the database at the configured URL is up.",
)

# --- sync: the directories and applications a cycle talks to ------------------------------
# 502: the other side refused or failed; 503: it asked us to wait or could not be reached.
SOURCE_UNAUTHORIZED = _entry(
    "IDS-502-010",
    "directory refused the credentials",
    "{system} refused idsync's credentials for integration {integration!r} (HTTP {status}{upstream}).",
    "Nothing was changed and the job is in Quarantine. Check the integration's credentials "
    "(idsync integration show {integration!q}), fix them, then run: "
    "idsync sync restart {integration!q} --reset quarantine",
)
SOURCE_FORBIDDEN = _entry(
    "IDS-502-011",
    "directory denied access",
    "{system} denied integration {integration!r} access to {resource} (HTTP {status}{upstream}).",
    "Grant the application the permissions it needs ({permissions}), then run: "
    "idsync sync restart {integration!q} --reset quarantine",
)
ENTRA_SERVICE_PRINCIPAL_MISSING = _entry(
    "IDS-502-012",
    "enterprise application removed",
    "Entra ID tenant {tenant} has no service principal for application {client_id} any more "
    "({upstream}): someone deleted the enterprise application idsync uses to read the directory.",
    "Grant admin consent again at {consent_url} (this re-creates the enterprise application), "
    "then run: idsync sync restart {integration!q} --reset quarantine",
)
ENTRA_INVALID_SECRET = _entry(
    "IDS-502-013",
    "client secret rejected",
    "Entra ID rejected the client secret of application {client_id} ({upstream}).",
    "Create a new client secret for the app registration, store it with "
    "idsync integration update {integration!q} --client-secret-file FILE, then run: "
    "idsync sync restart {integration!q} --reset quarantine",
)
ENTRA_CERTIFICATE_REJECTED = _entry(
    "IDS-502-015",
    "client certificate rejected",
    "Entra ID rejected the certificate application {client_id} signs in with ({upstream}).",
    "Upload a new certificate to the app registration (Certificates & secrets), store its "
    "private key and thumbprint with idsync integration update {integration!q} "
    "--certificate-key FILE --certificate-thumbprint THUMBPRINT, then run: "
    "idsync sync restart {integration!q} --reset quarantine",
)
ENTRA_UNKNOWN_APPLICATION = _entry(
    "IDS-502-014",
    "application or tenant not found",
    "Entra ID does not know {what} ({upstream}).",
    "Check the tenant id and client id of integration {integration!r} against the app "
    "registration in the Entra admin center.",
)
SOURCE_THROTTLED = _entry(
    "IDS-503-010",
    "directory throttled",
    "{system} kept throttling integration {integration!r} (HTTP 429, retry after {retry_after} s).",
    "Nothing is lost: the cycle resumes from its last checkpoint at the next run. If it keeps "
    "happening, lengthen the job's interval (idsync integration update {integration!q} "
    "--interval MINUTES).",
)
SOURCE_UNAVAILABLE = _entry(
    "IDS-503-011",
    "directory unavailable",
    "{system} could not be reached or failed for integration {integration!r}: {reason}.",
    "Nothing is lost: the cycle resumes from its last checkpoint at the next run. Check the "
    "directory's URL and network path if it keeps failing.",
)
WATERMARK_EXPIRED = _entry(
    "IDS-410-010",
    "change tracking expired",
    "{system} no longer answers changes since the last cycle of {integration!r} ({reason}).",
    "Nothing to do: idsync reads the whole directory again in this cycle.",
)
# LDAP / Active Directory sources (RFC 4511 result codes in the messages).
LDAP_BIND_REFUSED = _entry(
    "IDS-502-020",
    "LDAP bind refused",
    "{system} refused the bind of {bind_dn!r} for integration {integration!r} "
    "(LDAP result {result}{reason}).",
    "Nothing was changed and the job is in Quarantine. Check the bind DN and its password "
    "(idsync integration update {integration!q} --password-file FILE) and that the account is "
    "enabled and not locked, then run: idsync sync restart {integration!q} --reset quarantine",
)
LDAP_ACCESS_DENIED = _entry(
    "IDS-502-021",
    "LDAP access denied",
    "{system} denied {bind_dn!r} (integration {integration!r}) access to {what} "
    "(LDAP result 50 insufficientAccessRights).",
    "Nothing was changed and the job is in Quarantine. Give the bind account read access to "
    "the user and group bases (and their anchor attribute), then run: "
    "idsync sync restart {integration!q} --reset quarantine",
)
LDAP_BASE_MISSING = _entry(
    "IDS-502-022",
    "LDAP base DN not found",
    "The base DN {base!r} of integration {integration!r} does not exist on {system} "
    "(LDAP result 32 noSuchObject{matched}); idsync does not read that as 'nobody is left'.",
    "Nothing was changed and the job is in Quarantine. Fix the base DN "
    "(idsync integration update {integration!q} --user-base DN, or --group-base DN) or "
    "restore the container, then run: idsync sync restart {integration!q} --reset quarantine",
)
LDAP_TLS_FAILED = _entry(
    "IDS-502-023",
    "LDAP server certificate not trusted",
    "The TLS connection of integration {integration!r} to {system} failed: {reason}.",
    "Give the PEM file of the CA that issued the server's certificate (idsync integration "
    "update {integration!q} --ca-file ca.pem) and connect with the host name the certificate "
    "names; --insecure-skip-tls-verify is only for a diagnosis.",
)
LDAP_LIMIT_EXCEEDED = _entry(
    "IDS-503-020",
    "LDAP server limit reached",
    "{system} stopped a search of integration {integration!r} at its {limit} limit "
    "(LDAP result {result}).",
    "Nothing is lost: the cycle resumes from its last checkpoint. Lower the integration's "
    "page size (idsync integration update {integration!q} --page-size N), or raise the limit "
    "for the bind account (OpenLDAP: olcLimits size.pr / "
    "time; Active Directory: MaxPageSize / MaxQueryDuration in the LDAP policy).",
)
# 502-07x: what the LDAP connector found in a real domain controller's answers.
LDAP_TLS_HOST_MISMATCH = _entry(
    "IDS-502-070",
    "LDAP server certificate names another host",
    "The TLS certificate of {system} (integration {integration!r}) does not name {host!r}, "
    "the host idsync connects to: it names {names}.",
    "Nothing was changed and the job is in Quarantine. Connect by a name the certificate "
    "carries (idsync integration update {integration!q} --url {suggestion}), or have the "
    "certificate reissued with {host} among its subject alternative names, then run: "
    "idsync sync restart {integration!q} --reset quarantine",
)
LDAP_DELETED_OBJECTS_UNREADABLE = _entry(
    "IDS-502-071",
    "Deleted Objects not readable",
    "Integration {integration!r} is set to read deletions from tombstones (deletions: "
    "tombstones), but {bind_dn!r} cannot read the Deleted Objects container of {system}: "
    "{reason}.",
    "Nothing was changed and the job is in Quarantine. Grant the account List Contents and "
    'Read Property on CN=Deleted Objects (dsacls "CN=Deleted Objects,<domain DN>" '
    '/takeownership, then /G "<DOMAIN>\\<account>:LCRP"), or let idsync sweep for '
    "deletions instead (idsync integration update {integration!q} --deletions sweep), then run: "
    "idsync sync restart {integration!q} --reset quarantine",
)
LDAP_INVALID_ENTRY = _entry(
    "IDS-400-040",
    "LDAP entry cannot be synced",
    "The {object_type} entry {dn!r} of {system} cannot be synced: {reason}.",
    "Fix the entry in the directory (or the integration's attribute settings); it is read "
    "again in the next cycle and nothing idsync provisioned from it was changed.",
)
# --- sync: file sources (CSV, JSON, JSON Lines) ------------------------------------------------
# 400-06x: one row is wrong; it is skipped whole and the rest of the file is applied.
FILE_ROW_NO_ID = _entry(
    "IDS-400-060",
    "file row without id",
    "{file} {reference}: the {object_type} has no value in the {column!r} column.",
    "Give every row a unique id; the row was skipped and is read again in the next cycle.",
)
FILE_ROW_DUPLICATE_ID = _entry(
    "IDS-400-061",
    "duplicate id in file",
    "{file} {reference}: {object_type} id {id!r} is already used on line {first_line}.",
    "Ids must be unique among users and among groups: remove or renumber one of the rows. "
    "The first row is used; this one was skipped.",
)
FILE_ROW_MISSING_VALUE = _entry(
    "IDS-400-062",
    "required value missing in file row",
    "{file} {reference}: {object_type} {id!r} has no {attribute} (column {column!r}).",
    "Fill in the {attribute}; the row was skipped and is read again in the next cycle.",
)
FILE_ROW_INVALID_VALUE = _entry(
    "IDS-400-063",
    "invalid value in file row",
    "{file} {reference}: {object_type} {id!r} has an invalid {column!r}: {reason}.",
    "{hint} The row was skipped and is read again in the next cycle.",
)
FILE_ROW_UNKNOWN_MEMBERS = _entry(
    "IDS-400-064",
    "group lists unknown members",
    "{file} {reference}: group {id!r} lists members that are in neither file: {unknown}.",
    "Add those users or groups to the files, or take them out of the group's members. Until "
    "then the group is left exactly as it was (never applied without some of its members).",
)
FILE_ROW_MALFORMED = _entry(
    "IDS-400-065",
    "malformed file row",
    "{file} {reference}: {reason}.",
    "Fix the row (a stray delimiter or quote is the usual cause); it was skipped and is read "
    "again in the next cycle.",
)
FILE_ROW_UNDECODABLE = _entry(
    "IDS-400-066",
    "undecodable bytes in file row",
    "{file} {reference}: the row holds bytes that are not valid {encoding}.",
    "Save the file as {encoding} (or give the integration the file's encoding with --encoding); "
    "the row was skipped.",
)
FILE_UNKNOWN_MANAGER = _entry(
    "IDS-400-067",
    "manager not in file",
    "{file} {reference}: user {id!r} names manager {manager!r}, who is not in the users file; "
    "the user is applied without a manager.",
    "Add the manager's row, or correct the manager column.",
)
# 503-04x: the file as a whole cannot be used; the cycle stops, nothing is changed.
FILE_MISSING = _entry(
    "IDS-503-040",
    "file missing",
    "The {what} file {path} of integration {integration!r} does not exist.",
    "Nothing was changed: a missing file is never read as 'no users'. Put the file back, or "
    "point the integration at the right path, and the next cycle reads it.",
)
FILE_UNREADABLE = _entry(
    "IDS-503-041",
    "file cannot be read",
    "The {what} file {path} of integration {integration!r} cannot be read: {reason}.",
    "Nothing was changed. Fix the file (or its permissions) and the next cycle reads it.",
)
FILE_BAD_HEADER = _entry(
    "IDS-503-042",
    "file header unusable",
    "The {what} file {path} of integration {integration!r} {reason} (its header: {header}).",
    "Nothing was changed. Add the columns to the first line of the file, or map your own "
    "column names: idsync integration update {integration!q} --column CANONICAL=HEADER",
)
# SCIM applications (push targets and SCIM sources): codes …-030…039 / …-050…059.
SCIM_APP_UNAUTHORIZED = _entry(
    "IDS-502-030",
    "application refused the token",
    "{app} refused idsync's token for integration {integration!r} (HTTP 401{upstream}).",
    "Nothing more was sent and the job is in Quarantine. Create a new API token in {app}'s "
    "provisioning settings, store it with idsync integration update {integration!q} --token-file "
    "FILE, then run: idsync sync restart {integration!q} --reset quarantine",
)
SCIM_APP_FORBIDDEN = _entry(
    "IDS-502-031",
    "application denied access",
    "{app} denied integration {integration!r} {operation} (HTTP 403{upstream}).",
    "The token is valid but lacks a permission: give the account or token that idsync uses "
    "the right to manage users and groups in {app}, then run: idsync sync restart "
    "{integration!q} --reset quarantine",
)
SCIM_APP_NOT_SCIM = _entry(
    "IDS-502-032",
    "not a SCIM service",
    "{app} does not answer as a SCIM 2.0 service at this URL for integration "
    "{integration!r} ({reason}).",
    "Correct the integration's URL (idsync integration update {integration!q} --url URL): it "
    "must be the SCIM base URL, the one /Users, /Groups and "
    "/ServiceProviderConfig live under (e.g. https://app.example.com/scim/v2).",
)
SCIM_APP_THROTTLED = _entry(
    "IDS-503-030",
    "application throttled",
    "{app} kept throttling integration {integration!r} (HTTP 429, retry after {retry_after} s).",
    "Nothing is lost: the cycle resumes from its last checkpoint at the next run. If it keeps "
    "happening, lower the integration's concurrency (idsync integration update "
    "{integration!q} --concurrency N) or lengthen the job's interval (--interval MINUTES).",
)
SCIM_APP_UNAVAILABLE = _entry(
    "IDS-503-031",
    "application unavailable",
    "{app} could not be reached or failed for integration {integration!r}: {reason}.",
    "Nothing is lost: the cycle resumes from its last checkpoint at the next run. Check the "
    "application's URL, status page and network path if it keeps failing.",
)
SCIM_APP_REJECTED = _entry(
    "IDS-400-050",
    "application rejected the object",
    "{app} rejected {operation} of {object_type} {key!r} (HTTP {status}{scim_type}): {detail}.",
    "Correct the value in the source or in the integration's attribute mappings (compare with "
    "the application's GET /Schemas); the object is retried in the next cycles.",
)
SCIM_APP_CONFLICT = _entry(
    "IDS-409-050",
    "application already has the object",
    "{app} already holds a {object_type} with {attribute} {value!r} (id {other_id}) that "
    "idsync did not create ({detail}).",
    "If it is the same person or group, let the integration take it over: idsync integration "
    "update {integration!q} --adopt-existing; otherwise rename or remove it in {app}.",
)
SCIM_APP_DELETED = _entry(
    "IDS-409-051",
    "object deleted in the application",
    "{object_type} {target_id} that integration {integration!r} provisioned was deleted in "
    "{app} (HTTP 404 on {operation}).",
    "If that was intended, take the object out of the integration's scope; to create it "
    "again, run: idsync sync restart {integration!q} --reset full",
)

# --- sync: what a cycle refuses to do on its own ---------------------------------------------
DELETION_THRESHOLD = _entry(
    "IDS-409-010",
    "deletion threshold exceeded",
    "The cycle would delete or disable {count} objects, more than the job's threshold of "
    "{threshold}; they were staged, not applied.",
    "Review them (idsync sync logs {integration!q} --action stagedDelete) and approve with "
    "idsync sync approve-deletes {integration!q}, or fix the source and restart the job.",
)
SOURCE_SHRANK = _entry(
    "IDS-409-011",
    "source returned far fewer objects",
    "A full read of {system} returned {seen} {object_type}s where the hub holds {known} from "
    "this integration; idsync does not read that as everyone leaving.",
    "Check the integration's scope and the directory; if the drop is real, approve it with "
    "idsync sync approve-deletes {integration!q}.",
)
FAILURE_RATE = _entry(
    "IDS-409-012",
    "too many objects failed",
    "{failed} of {total} objects failed in the last cycle (more than {limit}%).",
    "See why in idsync sync logs {integration!q} --result failure, fix the cause, then run "
    "idsync sync restart {integration!q} --reset quarantine.",
)
OWNED_ELSEWHERE = _entry(
    "IDS-409-013",
    "object owned elsewhere",
    "{object_type} {key!r} already exists {where} and is managed by {owner}; it was left alone.",
    "Leave it, or let this integration take it over: idsync integration update {integration!q} "
    "--adopt-existing, then read everything again: idsync sync run {integration!q} --full",
)
ATTRIBUTES_DROPPED = _entry(
    "IDS-400-100",
    "attributes the application cannot store",
    "{app} does not declare {attributes} for {object_type}s in its /Schemas: {object_type} "
    "{key!r} was written without them.",
    "Nothing to do if the application does not need them. Otherwise remove them from the "
    "integration's attribute mappings (docs/sync.md), or have the application declare them.",
)
MAPPING_FAILED = _entry(
    "IDS-400-030",
    "attribute mapping failed",
    "{object_type} {source_id} could not be mapped: {reason}.",
    "Fix the object in the directory or the integration's attribute mappings; it is retried "
    "in the next cycle.",
)
INTEGRATION_NOT_FOUND = _entry(
    "IDS-404-010",
    "integration not found",
    "There is no integration {integration!r}.",
    "List integrations with: idsync integration list",
)
TRACKING_ID_NOT_FOUND = _entry(
    "IDS-404-011",
    "tracking ID not found",
    "idsync has no cycle, job change, provisioning log entry or finding with tracking ID "
    "{tracking_id}.",
    "Check the ID (IDS_ and a UUID). An API request's tracking ID is on the server's log "
    "lines only: search the log for it. Provisioning log entries older than the retention "
    "are gone.",
)
INVALID_INTEGRATION = _entry(
    "IDS-400-031",
    "invalid integration settings",
    "The integration settings are not valid: {reason}.",
    "{hint}",
)
CA_FILE_UNUSABLE = _entry(
    "IDS-400-033",
    "CA file unusable",
    "The CA file {path!r} of integration {integration!r} cannot be used: {reason}.",
    "Nothing was read or changed. Put the PEM file of the CA that issued the server's "
    "certificate there, or name another: idsync integration update {integration!q} "
    "--ca-file FILE",
)
WORKER_NEEDS_POSTGRES = _entry(
    "IDS-400-032",
    "worker needs PostgreSQL",
    "The worker (idsync worker) runs cycles on a task engine that keeps its queue in "
    "PostgreSQL, and the "
    "database is {dialect}.",
    "Point --database (or IDSYNC_DATABASE_URL) at the hub's PostgreSQL; with SQLite, let "
    "the server (idsync serve) run cycles in process (its embedded scheduler).",
)
SECRET_KEY_UNUSABLE = _entry(
    "IDS-500-010",
    "credentials cannot be decrypted",
    "The stored credentials of integration {integration!r} cannot be decrypted with the "
    "configured key ({reason}).",
    "Start idsync with the key the credentials were stored with (IDSYNC_SECRET_KEY or the key "
    "file), or store the credentials again: idsync integration update {integration!q} "
    "--password-file FILE (LDAP; SCIM: --token-file FILE; Entra ID: --client-secret-file FILE).",
)
SECRET_KEY_MALFORMED = _entry(
    "IDS-500-080",
    "credentials key malformed",
    "The key that encrypts connector credentials is not usable: {reason}.",
    "Set IDSYNC_SECRET_KEY to the Fernet key (32 url-safe base64-encoded bytes) the "
    "credentials were stored with, or point IDSYNC_SECRET_KEY_FILE at its key file.",
)
JOB_BUSY = _entry(
    "IDS-409-014",
    "cycle already running",
    "A cycle of integration {integration!r} is already running (since {since}).",
    "Wait for it to finish (idsync sync status {integration!q}).",
)
JOB_PAUSED = _entry(
    "IDS-409-015",
    "sync job paused",
    "The sync job of integration {integration!r} is paused: no cycle runs until it is resumed.",
    "Resume it with idsync sync resume {integration!q}; to run one cycle and leave it paused, "
    "add --even-if-paused to the command.",
)

# --- CLI and configuration ----------------------------------------------------------------
INVALID_DATABASE_URL = _entry(
    "IDS-400-020",
    "invalid database URL",
    "The database URL {url!r} is not usable: {reason}.",
    "Use sqlite:///path/to/idsync.db or postgresql://user@host:5432/dbname.",
)
INVALID_SCHEMA = _entry(
    "IDS-400-021",
    "invalid schema",
    "The schema definition is not valid: {reason}.",
    "Write it as an RFC 7643 §7 schema with an 'id' URN and 'attributes'.",
)
INVALID_ARGUMENT = _entry(
    "IDS-400-022",
    "invalid argument",
    "{what} is not valid: {reason}.",
    "{hint}",
)
SCHEMA_IN_USE = _entry(
    "IDS-409-005",
    "schema already declared",
    "The schema {schema!r} is already declared for this organisation.",
    "Remove it first (idsync schema remove --org <org id> {schema!q}) if you mean to replace it.",
)

# --- alerts ------------------------------------------------------------------------------
ALERTS_NOT_SET = _entry(
    "IDS-409-060",
    "no alerts set",
    "Organisation {org!r} sends no alerts: neither a webhook nor e-mail is set.",
    "Set a webhook or e-mail recipients first (see: idsync org alerts --help).",
)
ALERT_NOT_DELIVERED = _entry(
    "IDS-502-080",
    "alert not delivered",
    "The alert {tracking_id} was not delivered: {reasons}.",
    "Check that the webhook receiver is up and answers 2xx, and the IDSYNC_SMTP_* settings "
    "of this host; the organisation's alert settings: idsync org alerts {org!q}.",
)

# --- serving and the credentials key -------------------------------------------------------
PORT_IN_USE = _entry(
    "IDS-409-110",
    "port in use",
    "Another program is already listening on {host}:{port}.",
    "Stop it, or serve on a free port with --port (e.g. --port {free_port}).",
)
CANNOT_LISTEN = _entry(
    "IDS-400-111",
    "cannot listen",
    "The server cannot listen on {host}:{port}: {reason}.",
    "{hint}",
)
SECRET_KEY_MISSING = _entry(
    "IDS-500-110",
    "credentials key not found",
    "The stored credentials of {count} integration(s) were encrypted with a key that is not at "
    "{path}; idsync does not make a new key, which could not decrypt them.",
    "Put that key file there (idsync 0.1 kept it as idsync.key in the folder it was started "
    "from), or point IDSYNC_SECRET_KEY_FILE at it. If it is lost, set IDSYNC_SECRET_KEY to a new "
    "key and store each integration's credentials again (see: idsync integration update --help).",
)

# --- repair: the admin-consent callback (docs/health.md, "Repair") ------------------------
CONSENT_STATE_INVALID = _entry(
    "IDS-400-120",
    "consent link not recognised",
    "The admin-consent callback came without a state idsync signed ({reason}): "
    "nothing was changed.",
    "Start again from a new consent link (the repair command of the integration prints one).",
)
CONSENT_STATE_EXPIRED = _entry(
    "IDS-400-121",
    "consent link expired",
    "The admin-consent link was made more than {hours} hour(s) ago: nothing was changed.",
    "Open a new consent link within the hour (the repair command of the integration prints one).",
)
CONSENT_NOT_NEEDED = _entry(
    "IDS-400-122",
    "nothing to repair",
    "The integration {integration} has no open finding that admin consent repairs "
    "({reason}): nothing was changed.",
    "See what is wrong with: idsync doctor --integration {integration!q}",
)
CONSENT_DECLINED = _entry(
    "IDS-403-120",
    "consent was not granted",
    "The tenant administrator did not grant admin consent ({reason}): the enterprise "
    "application is still missing, and the job stays in quarantine.",
    "Open the consent link again and press Accept; only a tenant administrator can.",
)
SIGN_IN_FAILED = _entry(
    "IDS-401-120",
    "sign-in failed",
    "Signing in to tenant {tenant} to read its directory audit log did not succeed "
    "({reason}): the finding is unchanged.",
    "Sign in again as a user allowed to read audit logs (Reports Reader, Security Reader "
    "or Global Administrator): idsync doctor --integration {integration!q} --sign-in",
)
NOTHING_TO_ASK = _entry(
    "IDS-400-123",
    "no one to ask about",
    "The integration {integration} has no open finding that an administrator's action in "
    "the tenant explains ({reason}): there is nobody to look up in the audit log.",
    "See what is wrong with: idsync doctor --integration {integration!q}",
)

# --- the console and the management API: operators, sessions, roles ------------------------
OPERATOR_SIGN_IN_FAILED = _entry(
    "IDS-401-130",
    "sign-in failed",
    "The e-mail address or the password is not right.",
    "Check both and sign in again; after {limit} failed attempts the account is locked for "
    "{minutes} minutes. A full administrator can set a new password with: "
    "idsync admin reset-password EMAIL",
)
SESSION_REQUIRED = _entry(
    "IDS-401-131",
    "not signed in",
    "This request has no valid console session or API key ({reason}).",
    "Sign in at /admin/login, or send 'Authorization: Bearer <API key>' (make one with: "
    "idsync admin key create EMAIL --name NAME).",
)
OPERATOR_FORBIDDEN = _entry(
    "IDS-403-130",
    "not allowed for your role",
    "{email} is a {role} operator and may not {action}.",
    "Ask a full administrator of the organisation to do it, or to change your role.",
)
CSRF_REJECTED = _entry(
    "IDS-403-131",
    "request not from the console",
    "The request changes something but does not carry this session's CSRF token ({reason}).",
    "Reload the console page and try again; scripts use an API key instead of a session.",
)
OPERATOR_NOT_FOUND = _entry(
    "IDS-404-130",
    "operator not found",
    "No operator {email!r} exists.",
    "List operators with: idsync admin list",
)
OPERATOR_EXISTS = _entry(
    "IDS-409-130",
    "operator exists",
    "An operator {email!r} exists already.",
    "Pick another address, or set a new password with: idsync admin reset-password EMAIL",
)
DIRECTORY_SYNC_OFF = _entry(
    "IDS-409-131",
    "directory sync is switched off",
    "Directory sync is switched off for organisation {name!r} ({org}): no integration of it "
    "runs a cycle.",
    "Switch it on in the console (Directory synchronization, Allow directory sync) or with: "
    "idsync org set {org} --directory-sync on",
)
OPERATOR_INVALID = _entry(
    "IDS-400-130",
    "operator not valid",
    "The operator cannot be saved: {reason}.",
    "Give an e-mail address, a role (full, users or readonly) and a password of at least "
    "{min_length} characters.",
)
ACCOUNT_LOCKED = _entry(
    "IDS-429-130",
    "account locked",
    "Sign-in is locked after {limit} failed attempts, until {until}.",
    "Wait until then, or ask a full administrator to run: idsync admin reset-password EMAIL",
)
SIGN_INS_THROTTLED = _entry(
    "IDS-429-131",
    "too many sign-in attempts",
    "{limit} or more sign-ins failed from {address} within {minutes} minutes.",
    "Wait {minutes} minutes before trying again.",
)
KEY_NOT_FOUND = _entry(
    "IDS-404-131",
    "API key not found",
    "{email} has no active API key {key!r}.",
    "List the operator's keys with: idsync admin key list EMAIL",
)
OIDC_SIGN_IN_FAILED = _entry(
    "IDS-401-132",
    "sign-in with the provider failed",
    "Signing in with {provider} did not succeed: {reason}.",
    "Start again from the sign-in page; if it keeps failing, check idsync's OpenID Connect "
    "settings (IDSYNC_OIDC_ISSUER, IDSYNC_OIDC_CLIENT_ID, the redirect URI "
    "/admin/login/oidc/callback registered with the provider).",
)
NOT_AN_OPERATOR = _entry(
    "IDS-403-132",
    "not an operator",
    "{email} signed in with {provider}, but is not an operator of idsync.",
    "Ask a full administrator to make you one: idsync admin create EMAIL --role readonly "
    "--no-password",
)
