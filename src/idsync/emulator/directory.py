"""The tenant's state: users, groups, apps, service principals, and the change log.

Every object keeps its versions as ``(seq, state)`` pairs, ``seq`` being the number of
the write that produced it (0 = seeded). That makes the directory readable *as of* any
earlier sequence number, which is what lets a delta round serve a consistent snapshot
while writes go on underneath (see ``delta.py``). Group memberships are kept the same
way, as edges with the sequence numbers at which they were added and removed.

Writes go through the methods of :class:`Directory` only: each one takes the next
sequence number, appends to the change log (what delta links read) and records a
directory audit event (what ``auditLogs/directoryAudits`` reads).
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from idsync.emulator.audit import Actor, AuditLog, Target, now_iso

NEVER: Final = 1 << 62
"""A sequence number later than any real one ("not removed yet")."""

Kind = Literal["users", "groups"]
State = dict[str, Any]


@dataclass(slots=True)
class Versioned:
    """One directory object: its versions, oldest first; ``None`` marks a deletion."""

    id: str
    created: int
    versions: list[tuple[int, State | None]]
    purged: int = NEVER  # permanently deleted at this seq (users: soft delete comes first)

    def at(self, seq: int) -> State | None:
        """The object's state as of ``seq`` (``None``: not there then)."""
        versions = self.versions
        if versions[-1][0] <= seq:
            return versions[-1][1]
        for version_seq, state in reversed(versions):
            if version_seq <= seq:
                return state
        return None

    @property
    def current(self) -> State | None:
        return self.versions[-1][1]


@dataclass(slots=True)
class Edge:
    """A membership added at ``added`` and removed at ``removed`` (``NEVER``: still there)."""

    member: str
    added: int
    removed: int = NEVER


class Membership:
    """A group's members through time.

    The seeded members (the bulk: a million for the benchmark directory) are a plain list
    added at seq 0, with a small dict of later removals; members added later are edges.
    Reading the seeded membership of an untouched group is then free.
    """

    __slots__ = ("_current", "base", "base_removed", "extra")

    def __init__(self, base: list[str] | None = None) -> None:
        self.base: list[str] = base if base is not None else []
        self.base_removed: dict[str, int] = {}
        self.extra: list[Edge] = []
        self._current: set[str] | None = None

    def at(self, seq: int) -> list[str]:
        """Members as of ``seq``, in the order they were added (stable across later writes)."""
        if not self.base_removed and not self.extra:
            return self.base
        removed = self.base_removed
        members = (
            [m for m in self.base if removed.get(m, NEVER) > seq] if removed else list(self.base)
        )
        members.extend(e.member for e in self.extra if e.added <= seq < e.removed)
        return members

    def current(self) -> set[str]:
        if self._current is None:
            self._current = set(self.at(NEVER))
        return self._current

    def has(self, member: str) -> bool:
        return member in self.current()

    def add(self, member: str, seq: int) -> None:
        self.current().add(member)
        self.extra.append(Edge(member, seq))

    def remove(self, member: str, seq: int) -> None:
        self.current().discard(member)
        for edge in self.extra:
            if edge.member == member and edge.removed == NEVER:
                edge.removed = seq
                return
        self.base_removed[member] = seq

    def present(self, member: str, seq: int) -> bool:
        if any(e.member == member and e.added <= seq < e.removed for e in self.extra):
            return True
        removed_at = self.base_removed.get(member)
        if removed_at is not None:
            return removed_at > seq
        # Only reached for members touched since seeding, so the scan is rare.
        return member in self.base

    def changes(self, since: int, until: int) -> tuple[list[str], list[str]]:
        """Net (added, removed) members between two sequence numbers."""
        touched: dict[str, None] = {}
        for member, seq in self.base_removed.items():
            if since < seq <= until:
                touched[member] = None
        for edge in self.extra:
            if since < edge.added <= until or since < edge.removed <= until:
                touched[edge.member] = None
        added: list[str] = []
        removed: list[str] = []
        for member in touched:
            before, after = self.present(member, since), self.present(member, until)
            if after and not before:
                added.append(member)
            elif before and not after:
                removed.append(member)
        return added, removed


@dataclass(slots=True)
class Group:
    obj: Versioned
    members: Membership


@dataclass(slots=True)
class KeyCredential:
    """A certificate uploaded to an app registration (Certificates & secrets)."""

    key_id: str
    thumbprint: str
    """SHA-1 of the certificate, upper-case hex, as the portal shows it."""
    public_key_pem: bytes
    start: datetime
    end: datetime
    display_name: str
    expired: bool = False
    """Its end date has passed (set by ``expire-certificate``: time, in a demo)."""

    def to_graph(self) -> State:
        return {
            "customKeyIdentifier": self.thumbprint,
            "displayName": self.display_name,
            "endDateTime": self.end.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "keyId": self.key_id,
            "startDateTime": self.start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "type": "AsymmetricX509Cert",
            "usage": "Verify",
            "key": None,
        }


@dataclass(slots=True)
class Application:
    """An app registration (home tenant = this tenant)."""

    app_id: str
    object_id: str
    display_name: str
    secret_hash: bytes
    redirect_uris: list[str]
    permissions: list[str]  # Graph application permissions it asks for (requiredResourceAccess)
    publisher_domain: str
    secret_expired: bool = False
    """Its client secret's end date has passed: the token endpoint answers AADSTS7000222."""
    certificates: list[KeyCredential] = field(default_factory=list)

    def secret_matches(self, secret: str) -> bool:
        return hmac.compare_digest(hash_secret(secret), self.secret_hash)


@dataclass(slots=True)
class ServicePrincipal:
    """An enterprise application: the app's instance in the tenant, holding its grants."""

    id: str
    app_id: str
    display_name: str
    app_owner_tenant_id: str
    granted: list[str]  # application permissions (app roles) granted by admin consent
    created: str
    app_roles: list[dict[str, Any]] = field(default_factory=list)
    publisher_name: str = ""
    enabled: bool = True
    """"Enabled for users to sign in?": off, the token endpoint answers AADSTS7000112."""

    def to_graph(self) -> State:
        """Graph's servicePrincipal shape (the properties a client usually reads)."""
        return {
            "id": self.id,
            "deletedDateTime": None,
            "accountEnabled": self.enabled,
            "appDisplayName": self.display_name,
            "appId": self.app_id,
            "appOwnerOrganizationId": self.app_owner_tenant_id,
            "appRoleAssignmentRequired": False,
            "displayName": self.display_name,
            "publisherName": self.publisher_name,
            "servicePrincipalNames": [self.app_id],
            "servicePrincipalType": "Application",
            "signInAudience": "AzureADMyOrg",
            "tags": ["WindowsAzureActiveDirectoryIntegratedApp"],
            "appRoles": self.app_roles,
        }


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


class DirectoryError(Exception):
    """A write Graph would refuse; ``code`` and ``status`` are Graph's."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def not_found(object_id: str) -> DirectoryError:
    # Graph's wording for a missing directory object.
    return DirectoryError(
        404,
        "Request_ResourceNotFound",
        f"Resource '{object_id}' does not exist or one of its queried reference-property "
        "objects are not present.",
    )


def bad_request(message: str) -> DirectoryError:
    return DirectoryError(400, "Request_BadRequest", message)


@dataclass(slots=True)
class Tenant:
    id: str
    display_name: str
    domain: str  # verified default domain, e.g. contoso.example

    @property
    def initial_domain(self) -> str:
        return f"{self.domain.split('.')[0]}.onmicrosoft.com"


class Directory:
    """One tenant's directory, in memory."""

    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant
        self.users: dict[str, Versioned] = {}
        self.groups: dict[str, Group] = {}
        self.order: dict[Kind, list[str]] = {"users": [], "groups": []}
        self._created: dict[Kind, list[int]] = {"users": [], "groups": []}
        self.upn_index: dict[str, str] = {}
        self.reports: dict[str, set[str]] = {}  # manager id -> direct reports (current)
        self.member_of: dict[str, list[str]] = {}  # member id -> groups (current)
        self.seq = 0
        self.log: list[tuple[int, Kind, str]] = []
        self.apps: dict[str, Application] = {}
        self.service_principals: dict[str, ServicePrincipal] = {}
        self.audit = AuditLog()
        self.admin_user_id = ""
        self.delta_epoch = 0  # bumped to expire every outstanding delta/skip token
        self.memberships = 0

    # ----- reading -------------------------------------------------------------------

    def created_count(self, kind: Kind, seq: int) -> int:
        """How many objects of ``kind`` had been created by ``seq`` (a prefix of ``order``)."""
        return bisect.bisect_right(self._created[kind], seq)

    def changed_ids(self, kind: Kind, since: int, until: int) -> list[str]:
        """Objects of ``kind`` written in ``(since, until]``, in order of first change."""
        start = bisect.bisect_right(self.log, since, key=lambda entry: entry[0])
        seen: dict[str, None] = {}
        for seq, entry_kind, object_id in self.log[start:]:
            if seq > until:
                break
            if entry_kind == kind:
                seen[object_id] = None
        return list(seen)

    def user(self, key: str) -> Versioned:
        """A live user by id or userPrincipalName."""
        obj = self.users.get(key)
        if obj is None:
            user_id = self.upn_index.get(key.lower())
            obj = self.users.get(user_id) if user_id else None
        if obj is None or obj.current is None:
            raise not_found(key)
        return obj

    def group(self, group_id: str) -> Group:
        group = self.groups.get(group_id)
        if group is None or group.obj.current is None:
            raise not_found(group_id)
        return group

    def is_group(self, object_id: str) -> bool:
        return object_id in self.groups

    def live(self, object_id: str) -> bool:
        obj = self.users.get(object_id)
        if obj is None:
            group = self.groups.get(object_id)
            obj = group.obj if group else None
        return obj is not None and obj.current is not None

    def sp_for_app(self, app_id: str) -> ServicePrincipal | None:
        for sp in self.service_principals.values():
            if sp.app_id == app_id:
                return sp
        return None

    def counts(self) -> dict[str, int]:
        live_users = sum(1 for u in self.users.values() if u.current is not None)
        live_groups = sum(1 for g in self.groups.values() if g.obj.current is not None)
        return {
            "users": live_users,
            "deletedUsers": len(self.users) - live_users,
            "groups": live_groups,
            "memberships": self.memberships,
            "servicePrincipals": len(self.service_principals),
            "applications": len(self.apps),
            "auditEvents": len(self.audit),
            "seq": self.seq,
            "deltaEpoch": self.delta_epoch,
        }

    # ----- seeding (no change log, no audit: this is the tenant's history) ------------

    def seed_user(self, state: State) -> None:
        user_id = state["id"]
        self.users[user_id] = Versioned(user_id, 0, [(0, state)])
        self.order["users"].append(user_id)
        self._created["users"].append(0)
        self.upn_index[state["userPrincipalName"].lower()] = user_id
        manager = state.get("manager")
        if manager:
            self.reports.setdefault(manager, set()).add(user_id)

    def seed_group(self, state: State, members: list[str]) -> None:
        group_id = state["id"]
        self.groups[group_id] = Group(Versioned(group_id, 0, [(0, state)]), Membership(members))
        self.order["groups"].append(group_id)
        self._created["groups"].append(0)
        member_of = self.member_of
        for member in members:
            groups = member_of.get(member)
            if groups is None:
                member_of[member] = [group_id]
            else:
                groups.append(group_id)
        self.memberships += len(members)

    # ----- writes --------------------------------------------------------------------

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    def _log(self, seq: int, kind: Kind, object_id: str) -> None:
        self.log.append((seq, kind, object_id))

    def _set(self, obj: Versioned, seq: int, state: State | None) -> None:
        if obj.versions[-1][0] == seq:
            obj.versions[-1] = (seq, state)
        else:
            obj.versions.append((seq, state))

    def create_user(self, props: State, actor: Actor) -> State:
        upn = props["userPrincipalName"]
        if upn.lower() in self.upn_index:
            raise bad_request(
                "Another object with the same value for property userPrincipalName already exists."
            )
        manager = props.pop("manager", None)
        seq = self._next()
        user_id = str(uuid.uuid4())
        state: State = {
            "id": user_id,
            "createdDateTime": now_iso(seconds=True),
            "userType": "Member",
            "businessPhones": [],
            **props,
            "manager": manager,
        }
        self.users[user_id] = Versioned(user_id, seq, [(seq, state)])
        self.order["users"].append(user_id)
        self._created["users"].append(seq)
        self.upn_index[upn.lower()] = user_id
        self._log(seq, "users", user_id)
        self.audit.record(
            "UserManagement",
            "Add user",
            "Add",
            actor,
            [Target.user(state)],
            correlation=actor.correlation,
        )
        return state

    def update_user(self, user_id: str, changes: State, actor: Actor) -> State:
        obj = self.user(user_id)
        old = obj.current
        assert old is not None
        if "userPrincipalName" in changes:
            upn = changes["userPrincipalName"]
            owner = self.upn_index.get(upn.lower())
            if owner is not None and owner != obj.id:
                raise bad_request(
                    "Another object with the same value for property userPrincipalName "
                    "already exists."
                )
        seq = self._next()
        state = {**old, **changes}
        if "userPrincipalName" in changes:
            del self.upn_index[old["userPrincipalName"].lower()]
            self.upn_index[state["userPrincipalName"].lower()] = obj.id
        self._set(obj, seq, state)
        self._log(seq, "users", obj.id)
        modified = [(name, old.get(name), value) for name, value in changes.items()]
        self.audit.record(
            "UserManagement",
            "Update user",
            "Update",
            actor,
            [Target.user(state, modified)],
            correlation=actor.correlation,
        )
        return state

    def set_manager(self, user_id: str, manager_id: str | None, actor: Actor) -> None:
        obj = self.user(user_id)
        old = obj.current
        assert old is not None
        if manager_id is not None:
            self.user(manager_id)
            if manager_id == obj.id or self._manages(obj.id, manager_id):
                raise bad_request("Circular manager reference is not allowed.")
        previous = old.get("manager")
        if previous == manager_id:
            if manager_id is None:
                raise not_found("manager")
            return
        seq = self._next()
        self._set(obj, seq, {**old, "manager": manager_id})
        if previous:
            self.reports.get(previous, set()).discard(obj.id)
        if manager_id:
            self.reports.setdefault(manager_id, set()).add(obj.id)
        self._log(seq, "users", obj.id)
        self.audit.record(
            "UserManagement",
            "Set manager" if manager_id else "Remove manager",
            "Assign" if manager_id else "Unassign",
            actor,
            [Target.user(old, [("Manager", previous, manager_id)])],
            correlation=actor.correlation,
        )

    def _manages(self, user_id: str, candidate: str) -> bool:
        """Whether ``user_id`` is somewhere above ``candidate`` in the manager chain."""
        seen: set[str] = set()
        current: str | None = candidate
        while current and current not in seen:
            seen.add(current)
            state = self.users[current].current
            current = state.get("manager") if state else None
            if current == user_id:
                return True
        return False

    def delete_user(self, user_id: str, actor: Actor) -> None:
        """Soft delete, as Entra does: delta reports it with ``@removed: changed``."""
        obj = self.user(user_id)
        old = obj.current
        assert old is not None
        seq = self._next()
        self._set(obj, seq, None)
        del self.upn_index[old["userPrincipalName"].lower()]
        self._log(seq, "users", obj.id)
        self._detach(obj.id, seq)
        for report in sorted(self.reports.pop(obj.id, set())):
            report_obj = self.users[report]
            state = report_obj.current
            if state is not None:
                self._set(report_obj, seq, {**state, "manager": None})
                self._log(seq, "users", report)
        manager = old.get("manager")
        if manager:
            self.reports.get(manager, set()).discard(obj.id)
        self.audit.record(
            "UserManagement",
            "Delete user",
            "Delete",
            actor,
            [Target.user(old)],
            correlation=actor.correlation,
        )

    def purge_user(self, user_id: str, actor: Actor) -> None:
        """Permanent deletion from deleted items: delta reports ``@removed: deleted``."""
        obj = self.users.get(user_id)
        if obj is None or obj.current is not None or obj.purged != NEVER:
            raise not_found(user_id)
        seq = self._next()
        obj.purged = seq
        self._set(obj, seq, None)
        self._log(seq, "users", obj.id)
        last = next(state for _, state in reversed(obj.versions) if state is not None)
        self.audit.record(
            "UserManagement",
            "Hard delete user",
            "Delete",
            actor,
            [Target.user(last)],
            correlation=actor.correlation,
        )

    def _detach(self, member_id: str, seq: int) -> None:
        """Remove a deleted object from every group it was in (logged as membership changes)."""
        for group_id in self.member_of.pop(member_id, []):
            group = self.groups[group_id]
            if group.members.has(member_id):
                group.members.remove(member_id, seq)
                self.memberships -= 1
                self._log(seq, "groups", group_id)

    def create_group(self, props: State, members: Iterable[str], actor: Actor) -> State:
        member_ids = list(dict.fromkeys(members))
        for member in member_ids:
            if not self.live(member):
                raise not_found(member)
        seq = self._next()
        group_id = str(uuid.uuid4())
        state: State = {
            "id": group_id,
            "createdDateTime": now_iso(seconds=True),
            "description": None,
            "groupTypes": [],
            "mail": None,
            "visibility": None,
            **props,
        }
        group = Group(Versioned(group_id, seq, [(seq, state)]), Membership())
        self.groups[group_id] = group
        self.order["groups"].append(group_id)
        self._created["groups"].append(seq)
        for member in member_ids:
            group.members.add(member, seq)
            self.member_of.setdefault(member, []).append(group_id)
        self.memberships += len(member_ids)
        self._log(seq, "groups", group_id)
        self.audit.record(
            "GroupManagement",
            "Add group",
            "Add",
            actor,
            [Target.group(state)],
            correlation=actor.correlation,
        )
        return state

    def update_group(self, group_id: str, changes: State, actor: Actor) -> State:
        group = self.group(group_id)
        old = group.obj.current
        assert old is not None
        seq = self._next()
        state = {**old, **changes}
        self._set(group.obj, seq, state)
        self._log(seq, "groups", group_id)
        modified = [(name, old.get(name), value) for name, value in changes.items()]
        self.audit.record(
            "GroupManagement",
            "Update group",
            "Update",
            actor,
            [Target.group(state, modified)],
            correlation=actor.correlation,
        )
        return state

    def delete_group(self, group_id: str, actor: Actor) -> None:
        group = self.group(group_id)
        old = group.obj.current
        assert old is not None
        seq = self._next()
        self._set(group.obj, seq, None)
        if "Unified" not in old.get("groupTypes", []):
            # Only Microsoft 365 groups go to deleted items; others are gone for good.
            group.obj.purged = seq
        for member in list(group.members.current()):
            groups = self.member_of.get(member)
            if groups and group_id in groups:
                groups.remove(group_id)
            self.memberships -= 1
        self._log(seq, "groups", group_id)
        self._detach(group_id, seq)
        self.audit.record(
            "GroupManagement",
            "Delete group",
            "Delete",
            actor,
            [Target.group(old)],
            correlation=actor.correlation,
        )

    def add_member(self, group_id: str, member_id: str, actor: Actor) -> None:
        group = self.group(group_id)
        if not self.live(member_id):
            raise not_found(member_id)
        if group.members.has(member_id):
            raise bad_request(
                "One or more added object references already exist for the following "
                "modified properties: 'members'."
            )
        if member_id == group_id or (
            self.is_group(member_id) and self._contains(member_id, group_id)
        ):
            raise bad_request("A group cannot be a member of itself, directly or through nesting.")
        seq = self._next()
        group.members.add(member_id, seq)
        self.member_of.setdefault(member_id, []).append(group_id)
        self.memberships += 1
        self._log(seq, "groups", group_id)
        self.audit.record(
            "GroupManagement",
            "Add member to group",
            "Assign",
            actor,
            [self._target(member_id), Target.group(group.obj.current or {})],
            correlation=actor.correlation,
        )

    def _contains(self, outer: str, inner: str) -> bool:
        """Whether group ``outer`` contains group ``inner``, directly or nested."""
        stack, seen = [outer], set()
        while stack:
            current = stack.pop()
            if current == inner:
                return True
            if current in seen:
                continue
            seen.add(current)
            stack.extend(m for m in self.groups[current].members.current() if m in self.groups)
        return False

    def remove_member(self, group_id: str, member_id: str, actor: Actor) -> None:
        group = self.group(group_id)
        if not group.members.has(member_id):
            raise not_found(member_id)
        seq = self._next()
        group.members.remove(member_id, seq)
        groups = self.member_of.get(member_id)
        if groups and group_id in groups:
            groups.remove(group_id)
        self.memberships -= 1
        self._log(seq, "groups", group_id)
        self.audit.record(
            "GroupManagement",
            "Remove member from group",
            "Unassign",
            actor,
            [self._target(member_id), Target.group(group.obj.current or {})],
            correlation=actor.correlation,
        )

    def _target(self, object_id: str) -> dict[str, Any]:
        group = self.groups.get(object_id)
        if group is not None:
            return Target.group(group.obj.current or {"id": object_id})
        user = self.users.get(object_id)
        return Target.user((user.current if user else None) or {"id": object_id})

    # ----- apps and service principals ------------------------------------------------

    def add_service_principal(self, app: Application, sp_id: str, actor: Actor) -> ServicePrincipal:
        from idsync.emulator.permissions import graph_app_roles

        sp = ServicePrincipal(
            id=sp_id,
            app_id=app.app_id,
            display_name=app.display_name,
            app_owner_tenant_id=self.tenant.id,
            granted=[],
            created=now_iso(),
            publisher_name=self.tenant.display_name,
        )
        if app.app_id == GRAPH_APP_ID:
            sp.app_roles = graph_app_roles()
        self.service_principals[sp.id] = sp
        self.audit.record(
            "ApplicationManagement",
            "Add service principal",
            "Add",
            actor,
            [Target.service_principal(sp)],
            correlation=actor.correlation,
            details=[("AppId", app.app_id), ("ServicePrincipalProvisioningType", "Consent")],
        )
        return sp

    def consent(
        self, app: Application, actor: Actor, sp_id: str | None = None
    ) -> tuple[ServicePrincipal, bool]:
        """Admin consent: (re)create the app's service principal and grant its permissions.

        Returns the service principal and whether it was created by this consent.
        """
        from idsync.emulator.permissions import role_id

        sp = self.sp_for_app(app.app_id)
        created = sp is None
        if sp is None:
            sp = self.add_service_principal(app, sp_id or str(uuid.uuid4()), actor)
        self.audit.record(
            "ApplicationManagement",
            "Consent to application",
            "Assign",
            actor,
            [
                Target.service_principal(
                    sp,
                    [
                        ("ConsentContext.IsAdminConsent", None, "True"),
                        ("ConsentContext.OnBehalfOfAll", None, "True"),
                        ("ConsentAction.Permissions", None, " ".join(app.permissions)),
                    ],
                )
            ],
            correlation=actor.correlation,
            details=[("AppId", app.app_id)],
        )
        for permission in app.permissions:
            if permission in sp.granted:
                continue
            sp.granted.append(permission)
            self.audit.record(
                "ApplicationManagement",
                "Add app role assignment to service principal",
                "Assign",
                actor,
                [
                    Target.service_principal(
                        sp,
                        [
                            ("AppRole.Id", None, role_id(permission)),
                            ("AppRole.Value", None, permission),
                        ],
                    ),
                ],
                correlation=actor.correlation,
                details=[("AppId", app.app_id)],
            )
        return sp, created

    def delete_service_principal(self, sp_id: str, actor: Actor) -> ServicePrincipal:
        sp = self.service_principals.get(sp_id)
        if sp is None:
            raise not_found(sp_id)
        del self.service_principals[sp_id]
        self.audit.record(
            "ApplicationManagement",
            "Remove service principal",
            "Delete",
            actor,
            [Target.service_principal(sp)],
            correlation=actor.correlation,
            details=[("AppId", sp.app_id)],
        )
        return sp

    # --- what an administrator can break (the demo's and the tests' incidents) ------------

    def expire_client_secret(self, app: Application, actor: Actor) -> None:
        """The secret's end date passes (Entra logs no event for that: time does it)."""
        app.secret_expired = True

    def add_client_secret(self, app: Application, actor: Actor, name: str) -> dict[str, Any]:
        """A new client secret (App registrations, Certificates & secrets, New client
        secret; Graph's addPassword). The emulator keeps one secret per application:
        the new one replaces the old."""
        secret = secrets.token_urlsafe(30)
        app.secret_hash, app.secret_expired = hash_secret(secret), False
        start = datetime.now(UTC)
        graph_time = "%Y-%m-%dT%H:%M:%SZ"
        self._credentials_changed(app, actor)
        return {
            "customKeyIdentifier": None,
            "displayName": name,
            "endDateTime": (start + timedelta(days=180)).strftime(graph_time),
            "hint": secret[:3],
            "keyId": str(uuid.uuid4()),
            "secretText": secret,
            "startDateTime": start.strftime(graph_time),
        }

    def set_certificates(
        self, app: Application, certificates: list[KeyCredential], actor: Actor
    ) -> None:
        """Graph's PATCH of ``keyCredentials``: the list replaces the app's certificates."""
        app.certificates = certificates
        self._credentials_changed(app, actor)

    def _credentials_changed(self, app: Application, actor: Actor) -> None:
        # Entra's activity name ends with a space.
        self.audit.record(
            "ApplicationManagement",
            "Update application – Certificates and secrets management ",
            "Update",
            actor,
            [Target.application(app)],
            correlation=actor.correlation,
            details=[("AppId", app.app_id)],
        )

    def expire_certificates(self, app: Application) -> None:
        """Every certificate's end date passes (no event: time does it)."""
        for certificate in app.certificates:
            certificate.expired = True

    def set_service_principal_enabled(
        self, sp: ServicePrincipal, enabled: bool, actor: Actor
    ) -> None:
        sp.enabled = enabled
        self.audit.record(
            "ApplicationManagement",
            "Update service principal",
            "Update",
            actor,
            [Target.service_principal(sp, [("AccountEnabled", None, str(enabled))])],
            correlation=actor.correlation,
            details=[("AppId", sp.app_id)],
        )

    def revoke_consent(self, sp: ServicePrincipal, actor: Actor) -> list[str]:
        """Remove every app role assignment admin consent made: the app's tokens carry no
        roles, and Graph answers 403 to everything it reads."""
        from idsync.emulator.permissions import role_id

        revoked, sp.granted = list(sp.granted), []
        for permission in revoked:
            self.audit.record(
                "ApplicationManagement",
                "Remove app role assignment from service principal",
                "Unassign",
                actor,
                [
                    Target.service_principal(
                        sp,
                        [
                            ("AppRole.Id", role_id(permission), None),
                            ("AppRole.Value", permission, None),
                        ],
                    )
                ],
                correlation=actor.correlation,
                details=[("AppId", sp.app_id)],
            )
        return revoked


GRAPH_APP_ID: Final = "00000003-0000-0000-c000-000000000000"
