"""``idsync integration add entra|ldap|scim|file``: connect a directory or an application.

Every kind takes the same job options (interval, deletion threshold, matching,
mappings, scoping) and prints the same thing: the integration, as ``show`` does.
Secrets are read from files (``-`` for standard input), never from the command
line, where other users of the machine could read them.
"""

from __future__ import annotations

import json as jsonlib
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from idsync.cli.common import DatabaseOption, JsonOption, console, emit_json, open_db
from idsync.config import Settings
from idsync.connectors.entra.settings import MICROSOFT_AUTHORITY, MICROSOFT_GRAPH
from idsync.health.catalogue import INVALID_INTEGRATION, IdsyncError
from idsync.sync import integrations
from idsync.sync.integrations import (
    DEFAULT_DELETION_THRESHOLD,
    DEFAULT_INTERVAL_SECONDS,
    IntegrationOptions,
)

add_app = typer.Typer(help="Add an integration.", no_args_is_help=True)

# --- the options every kind shares -----------------------------------------------------------

OrgOption = Annotated[str, typer.Option("--org", help="Organisation id.")]
IntervalOption = Annotated[int, typer.Option(help="Minutes between cycles.")]
AutoSyncOption = Annotated[bool, typer.Option(help="Run cycles on schedule.")]
ThresholdOption = Annotated[
    int, typer.Option(help="Stop a cycle that would delete or disable more (0: no limit).")
]
AdoptOption = Annotated[
    bool,
    typer.Option(
        help="Take over objects with the same userName/displayName that no integration owns."
    ),
]
MatchingOption = Annotated[
    str,
    typer.Option(
        help="How a new object finds an existing one in the target: userName (displayName "
        "for groups) or externalId."
    ),
]
MappingsOption = Annotated[
    Path | None, typer.Option(help="JSON file of attribute mapping overrides.")
]
ScopingOption = Annotated[Path | None, typer.Option(help="JSON file of scoping rules.")]
CaFileOption = Annotated[
    Path | None, typer.Option(help="PEM CA bundle to trust (default: the system's).")
]
InsecureOption = Annotated[
    bool,
    typer.Option(
        "--insecure-skip-tls-verify",
        help="Do not check the server's certificate (testing only: anyone on the path can "
        "read the credentials). Every connection logs a warning.",
    ),
]
TimeoutOption = Annotated[float, typer.Option(help="Seconds to wait for each response.")]


def _options(
    *,
    interval: int,
    auto_sync: bool,
    deletion_threshold: int,
    adopt_existing: bool,
    matching_attribute: str,
    mappings: Path | None,
    scoping: dict[str, Any] | None,
) -> IntegrationOptions:
    return IntegrationOptions(
        interval_seconds=interval * 60,
        auto_sync=auto_sync,
        deletion_threshold=deletion_threshold,
        adopt_existing=adopt_existing,
        matching_attribute=matching_attribute,
        mappings=json_file(mappings, "mappings"),
        scoping=scoping,
    )


def _add(
    database: str | None,
    json: bool,
    *,
    org: str,
    kind: str,
    name: str,
    settings: dict[str, Any],
    secrets: dict[str, Any],
    options: IntegrationOptions,
    direction: str = "source",
) -> None:
    from idsync.cli.integrations import describe

    record = integrations.add_integration(
        open_db(database),
        Settings.from_env(),
        org_id=org,
        kind=kind,
        name=name,
        settings=settings,
        secrets=secrets,
        options=options,
        actor="cli",
        direction=direction,
    )
    if json:
        emit_json(describe(record))
        return
    console.print(
        f"Integration [bold]{record.id}[/] ({record.name}) added to organisation {record.org_id}."
    )
    console.print(f"First sync: idsync sync run {record.id}")


def json_file(path: Path | None, what: str) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        value = jsonlib.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise IdsyncError(
            INVALID_INTEGRATION,
            reason=f"{what} file {str(path)!r}: {exc}",
            hint="Give a readable JSON file (see docs/sync.md).",
        ) from None
    if not isinstance(value, dict):
        raise IdsyncError(
            INVALID_INTEGRATION,
            reason=f"{what} must be a JSON object",
            hint='e.g. {"user": [...], "group": [...]}',
        )
    return value


def secret_file(path: Path | None, what: str) -> str | None:
    """A secret from a file, or from standard input for ``-`` (one trailing newline dropped)."""
    if path is None:
        return None
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text()
    except OSError as exc:
        raise IdsyncError(
            INVALID_INTEGRATION,
            reason=f"the {what} file cannot be read ({exc.strerror})",
            hint=f"Give a readable file holding only the {what}, or - to read standard input.",
        ) from None
    return text.removesuffix("\n")


def _path(path: Path | None) -> str | None:
    return str(path.resolve()) if path else None


def _scope(scoping: Path | None, **extra: list[Any]) -> dict[str, Any]:
    scope = json_file(scoping, "scoping") or {}
    for key, rules in extra.items():
        if rules:
            scope[key] = [*scope.get(key, []), *rules]
    return scope


# --- the kinds ------------------------------------------------------------------------------


@add_app.command("entra")
def add_entra(
    org: OrgOption,
    tenant_id: Annotated[str, typer.Option(help="Directory (tenant) id.")],
    client_id: Annotated[
        str, typer.Option(help="Application (client) id of the app registration.")
    ],
    client_secret: Annotated[
        str | None, typer.Option(help="Client secret (stored encrypted).")
    ] = None,
    certificate_key: Annotated[
        Path | None, typer.Option(help="PEM private key of a certificate credential.")
    ] = None,
    certificate_thumbprint: Annotated[
        str | None, typer.Option(help="SHA-1 thumbprint of that certificate.")
    ] = None,
    name: Annotated[
        str, typer.Option(help="Name of the integration in this organisation.")
    ] = "Entra ID",
    authority: Annotated[str, typer.Option(help="Login endpoint.")] = MICROSOFT_AUTHORITY,
    graph_url: Annotated[str, typer.Option(help="Microsoft Graph endpoint.")] = MICROSOFT_GRAPH,
    ca_file: CaFileOption = None,
    page_size: Annotated[int, typer.Option(help="Objects per Graph page (1-999).")] = 999,
    timeout: TimeoutOption = 30.0,
    interval: IntervalOption = DEFAULT_INTERVAL_SECONDS // 60,
    auto_sync: AutoSyncOption = True,
    deletion_threshold: ThresholdOption = DEFAULT_DELETION_THRESHOLD,
    adopt_existing: AdoptOption = False,
    matching_attribute: MatchingOption = "userName",
    scope_group: Annotated[
        list[str],
        typer.Option(
            help="Provision only this group and its direct user members (Entra's "
            '"assigned users and groups"); repeatable, by object id.'
        ),
    ] = [],  # noqa: B006 - typer needs a list default for a repeatable option
    enabled_only: Annotated[bool, typer.Option(help="Only provision enabled accounts.")] = False,
    mappings: MappingsOption = None,
    scoping: ScopingOption = None,
    database: DatabaseOption = None,
    json: JsonOption = False,
) -> None:
    """Connect an Entra ID tenant: users and groups sync into the organisation by Graph delta queries."""
    secrets: dict[str, Any] = {}
    if client_secret:
        secrets["client_secret"] = client_secret
    if certificate_key or certificate_thumbprint:
        if not (certificate_key and certificate_thumbprint):
            raise IdsyncError(
                INVALID_INTEGRATION,
                reason="a certificate needs both its key and its thumbprint",
                hint="Give --certificate-key and --certificate-thumbprint.",
            )
        secrets["certificate"] = {
            "private_key": certificate_key.read_text(),
            "thumbprint": certificate_thumbprint,
        }
    enabled = [{"attribute": "accountEnabled", "operator": "IS_TRUE"}] if enabled_only else []
    settings = {
        "tenant_id": tenant_id,
        "client_id": client_id,
        "authority": authority,
        "graph_url": graph_url,
        "ca_file": _path(ca_file),
        "page_size": page_size,
        "timeout": timeout,
    }
    _add(
        database,
        json,
        org=org,
        kind="entra",
        name=name,
        settings=settings,
        secrets=secrets,
        options=_options(
            interval=interval,
            auto_sync=auto_sync,
            deletion_threshold=deletion_threshold,
            adopt_existing=adopt_existing,
            matching_attribute=matching_attribute,
            mappings=mappings,
            scoping=_scope(scoping, user=enabled, groups=scope_group),
        ),
    )


@add_app.command("ldap")
def add_ldap(
    org: OrgOption,
    url: Annotated[str, typer.Option(help="ldap://host:389 or ldaps://host:636.")],
    bind_dn: Annotated[str, typer.Option(help="DN idsync binds as (read-only is enough).")],
    password_file: Annotated[
        Path, typer.Option(help="File holding the bind password (- : standard input).")
    ],
    user_base: Annotated[list[str], typer.Option(help="Base DN to read users under; repeatable.")],
    group_base: Annotated[
        list[str], typer.Option(help="Base DN to read groups under; repeatable.")
    ] = [],  # noqa: B006 - typer needs a list default for a repeatable option
    dialect: Annotated[str, typer.Option(help="ad (Active Directory) or openldap.")] = "ad",
    name: Annotated[str, typer.Option(help="Name of the integration.")] = "Directory",
    start_tls: Annotated[bool, typer.Option(help="Upgrade ldap:// with StartTLS.")] = False,
    ca_file: CaFileOption = None,
    insecure: InsecureOption = False,
    user_filter: Annotated[
        str | None, typer.Option(help="LDAP filter for users (default: the dialect's).")
    ] = None,
    group_filter: Annotated[
        str | None, typer.Option(help="LDAP filter for groups (default: the dialect's).")
    ] = None,
    attribute: Annotated[
        list[str],
        typer.Option(
            help="canonical=ldapAttribute, e.g. userName=mail; repeatable (see docs/ldap.md)."
        ),
    ] = [],  # noqa: B006
    nested: Annotated[
        str, typer.Option(help="flatten (members of nested groups) or direct.")
    ] = "flatten",
    page_size: Annotated[int, typer.Option(help="Entries per paged search.")] = 500,
    timeout: TimeoutOption = 30.0,
    interval: IntervalOption = DEFAULT_INTERVAL_SECONDS // 60,
    auto_sync: AutoSyncOption = True,
    deletion_threshold: ThresholdOption = DEFAULT_DELETION_THRESHOLD,
    adopt_existing: AdoptOption = False,
    matching_attribute: MatchingOption = "userName",
    mappings: MappingsOption = None,
    scoping: ScopingOption = None,
    database: DatabaseOption = None,
    json: JsonOption = False,
) -> None:
    """Connect Active Directory or OpenLDAP: users and groups sync into the organisation."""
    settings: dict[str, Any] = {
        "url": url,
        "bind_dn": bind_dn,
        "dialect": dialect,
        "user_base_dns": user_base,
        "group_base_dns": group_base or user_base,
        "start_tls": start_tls,
        "ca_file": _path(ca_file),
        "tls_verify": not insecure,
        "nested": nested,
        "page_size": page_size,
        "timeout": timeout,
        "attributes": _pairs(attribute, "--attribute"),
    }
    for key, value in (("user_filter", user_filter), ("group_filter", group_filter)):
        if value:
            settings[key] = value
    _add(
        database,
        json,
        org=org,
        kind="ldap",
        name=name,
        settings=settings,
        secrets={"password": secret_file(password_file, "bind password")},
        options=_options(
            interval=interval,
            auto_sync=auto_sync,
            deletion_threshold=deletion_threshold,
            adopt_existing=adopt_existing,
            matching_attribute=matching_attribute,
            mappings=mappings,
            scoping=_scope(scoping),
        ),
    )


@add_app.command("scim")
def add_scim(
    org: OrgOption,
    url: Annotated[str, typer.Option(help="The application's SCIM base URL (…/scim/v2).")],
    token_file: Annotated[
        Path, typer.Option(help="File holding the bearer token (- : standard input).")
    ],
    direction: Annotated[
        str,
        typer.Option(
            help="push: provision the organisation into the application; source: read the "
            "application's users and groups into the organisation."
        ),
    ] = "push",
    name: Annotated[str, typer.Option(help="Name of the integration.")] = "SCIM application",
    compat: Annotated[
        list[str],
        typer.Option(
            help="A preset or switch=value for an application's known deviations, e.g. "
            "bulk=off, update=put, member_remove=value-list; repeatable (docs/scim-push.md)."
        ),
    ] = [],  # noqa: B006
    ca_file: CaFileOption = None,
    insecure: InsecureOption = False,
    concurrency: Annotated[
        int, typer.Option(help="Requests in flight at once when the app has no Bulk.")
    ] = 4,
    timeout: TimeoutOption = 30.0,
    interval: IntervalOption = DEFAULT_INTERVAL_SECONDS // 60,
    auto_sync: AutoSyncOption = True,
    deletion_threshold: ThresholdOption = DEFAULT_DELETION_THRESHOLD,
    adopt_existing: Annotated[
        bool | None,
        typer.Option(
            help="Take over matching objects the integration did not create (default: yes "
            "when pushing, as Entra's provisioning does; no when reading)."
        ),
    ] = None,
    matching_attribute: MatchingOption = "userName",
    mappings: MappingsOption = None,
    scoping: ScopingOption = None,
    database: DatabaseOption = None,
    json: JsonOption = False,
) -> None:
    """Connect a SCIM 2.0 application: push the organisation to it, or read it as a source."""
    settings = {
        "url": url,
        "ca_file": _path(ca_file),
        "tls_verify": not insecure,
        "concurrency": concurrency,
        "timeout": timeout,
        "compat": _compat(compat),
    }
    _add(
        database,
        json,
        org=org,
        kind="scim",
        name=name,
        settings=settings,
        secrets={"token": secret_file(token_file, "bearer token")},
        direction=direction,
        options=_options(
            interval=interval,
            auto_sync=auto_sync,
            deletion_threshold=deletion_threshold,
            adopt_existing=direction == "push" if adopt_existing is None else adopt_existing,
            matching_attribute=matching_attribute,
            mappings=mappings,
            scoping=_scope(scoping),
        ),
    )


@add_app.command("file")
def add_file(
    org: OrgOption,
    users: Annotated[Path, typer.Option(help="CSV, JSON or JSON Lines file of users.")],
    groups: Annotated[Path | None, typer.Option(help="File of groups, if separate.")] = None,
    file_format: Annotated[
        str, typer.Option("--format", help="auto (by extension), csv, json or jsonl.")
    ] = "auto",
    column: Annotated[
        list[str],
        typer.Option(
            help="canonical=header, e.g. userName=login; repeatable (docs/file-import.md)."
        ),
    ] = [],  # noqa: B006
    name: Annotated[str, typer.Option(help="Name of the integration.")] = "File import",
    interval: IntervalOption = DEFAULT_INTERVAL_SECONDS // 60,
    auto_sync: Annotated[
        bool, typer.Option(help="Re-read the file on schedule (default: only when asked).")
    ] = False,
    deletion_threshold: ThresholdOption = DEFAULT_DELETION_THRESHOLD,
    adopt_existing: AdoptOption = False,
    matching_attribute: MatchingOption = "userName",
    mappings: MappingsOption = None,
    scoping: ScopingOption = None,
    database: DatabaseOption = None,
    json: JsonOption = False,
) -> None:
    """Import users and groups from a file (one-off loads, tests); bad rows are skipped and logged."""
    settings: dict[str, Any] = {
        "users": _path(users),
        "groups": _path(groups),
        "format": file_format,
        "columns": _pairs(column, "--column"),
    }
    _add(
        database,
        json,
        org=org,
        kind="file",
        name=name,
        settings={k: v for k, v in settings.items() if v is not None},
        secrets={},
        options=_options(
            interval=interval,
            auto_sync=auto_sync,
            deletion_threshold=deletion_threshold,
            adopt_existing=adopt_existing,
            matching_attribute=matching_attribute,
            mappings=mappings,
            scoping=_scope(scoping),
        ),
    )


def _pairs(values: list[str], option: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values:
        key, sep, mapped = value.partition("=")
        if not sep or not key or not mapped:
            raise IdsyncError(
                INVALID_INTEGRATION,
                reason=f"{option} {value!r} is not name=value",
                hint=f"e.g. {option} userName=mail",
            )
        pairs[key] = mapped
    return pairs


def _compat(values: list[str]) -> dict[str, str]:
    """``preset`` or ``switch=value`` items; the connector validates them."""
    switches: dict[str, str] = {}
    for value in values:
        key, sep, setting = value.partition("=")
        if sep:
            switches[key] = setting
        else:
            switches["preset"] = key
    return switches
