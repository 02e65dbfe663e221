"""A realistic tenant, built deterministically from a seed.

Same seed and sizes → the same tenant id, app id, secret, user and group ids and
attributes. Built for size: 100,000 users, 10,000 groups and a million memberships seed
in a few seconds (one pass per collection, no per-object allocations beyond the state
dict itself; attribute strings come from small shared tables).
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from idsync.emulator.audit import Actor
from idsync.emulator.directory import (
    GRAPH_APP_ID,
    Application,
    Directory,
    ServicePrincipal,
    State,
    Tenant,
    hash_secret,
)
from idsync.emulator.permissions import SYNC_APP_PERMISSIONS, graph_app_roles

MICROSOFT_SERVICES_TENANT = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"
DEFAULT_REDIRECT_URI = "http://localhost/idsync/adminconsent"
SYNC_APP_NAME = "idsync Directory Sync"

FIRST_NAMES = [
    "Adele",
    "Alex",
    "Allan",
    "Amara",
    "Ana",
    "Ben",
    "Bianca",
    "Carlos",
    "Chen",
    "Christie",
    "Dana",
    "Debra",
    "Diego",
    "Elena",
    "Emily",
    "Enrico",
    "Farah",
    "Felix",
    "Grady",
    "Hana",
    "Henrietta",
    "Ian",
    "Isaiah",
    "Ivan",
    "Jamal",
    "Johanna",
    "Joni",
    "Kenji",
    "Lara",
    "Lee",
    "Lidia",
    "Lynne",
    "Malik",
    "Mallory",
    "Megan",
    "Miriam",
    "Nestor",
    "Nina",
    "Omar",
    "Patti",
    "Pradeep",
    "Priya",
    "Raul",
    "Rosa",
    "Sanjay",
    "Sara",
    "Sofia",
    "Tariq",
    "Tomas",
    "Una",
    "Valentina",
    "Wei",
    "Xavier",
    "Yara",
    "Yusuf",
    "Zara",
    "Zoe",
]
LAST_NAMES = [
    "Adams",
    "Bauer",
    "Becker",
    "Brown",
    "Cortez",
    "Dennis",
    "Diaz",
    "Dubois",
    "Eriksen",
    "Fernandez",
    "Garcia",
    "Gupta",
    "Hansen",
    "Holloway",
    "Ito",
    "Jensen",
    "Johnson",
    "Kim",
    "Kowalski",
    "Larsen",
    "Lee",
    "Lopez",
    "Martin",
    "Meyer",
    "Moreau",
    "Muller",
    "Nakamura",
    "Nguyen",
    "Novak",
    "Okafor",
    "Olsen",
    "Patel",
    "Perez",
    "Quinn",
    "Rossi",
    "Santos",
    "Schmidt",
    "Sicilian",
    "Silva",
    "Singh",
    "Smith",
    "Sorensen",
    "Tanaka",
    "Taylor",
    "Tran",
    "Vance",
    "Vargas",
    "Wagner",
    "Wang",
    "Weber",
    "White",
    "Wilson",
    "Wright",
    "Yamamoto",
    "Young",
    "Zhang",
]
DEPARTMENTS: dict[str, tuple[str, ...]] = {
    "Engineering": ("Software Engineer", "Senior Software Engineer", "Engineering Manager", "SRE"),
    "Sales": ("Account Executive", "Sales Manager", "Sales Development Rep"),
    "Marketing": ("Marketing Specialist", "Product Marketing Manager", "Content Strategist"),
    "Finance": ("Accountant", "Financial Analyst", "Controller"),
    "Human Resources": ("HR Generalist", "Recruiter", "HR Business Partner"),
    "Legal": ("Counsel", "Paralegal", "Compliance Officer"),
    "Operations": ("Operations Analyst", "Program Manager", "Facilities Coordinator"),
    "Support": ("Support Engineer", "Support Team Lead", "Customer Success Manager"),
    "Research": ("Research Scientist", "Data Scientist", "Research Manager"),
    "IT": ("IT Administrator", "Systems Engineer", "Security Analyst"),
}
DEPARTMENT_NAMES = tuple(DEPARTMENTS)
# (city, country, usageLocation, officeLocation prefix, preferredLanguage, phone prefix)
OFFICES = (
    ("Seattle", "United States", "US", "SEA", "en-US", "+1 425 555"),
    ("New York", "United States", "US", "NYC", "en-US", "+1 212 555"),
    ("London", "United Kingdom", "GB", "LON", "en-GB", "+44 20 7946"),
    ("Dublin", "Ireland", "IE", "DUB", "en-IE", "+353 1 555"),
    ("Paris", "France", "FR", "PAR", "fr-FR", "+33 1 5555"),
    ("Berlin", "Germany", "DE", "BER", "de-DE", "+49 30 5555"),
    ("Madrid", "Spain", "ES", "MAD", "es-ES", "+34 91 555"),
    ("Tokyo", "Japan", "JP", "TYO", "ja-JP", "+81 3 5555"),
    ("Bangalore", "India", "IN", "BLR", "en-IN", "+91 80 5555"),
    ("Sydney", "Australia", "AU", "SYD", "en-AU", "+61 2 5555"),
)
TOPICS = [
    "Readers",
    "Admins",
    "Contributors",
    "Project",
    "Team",
    "Leads",
    "Builders",
    "Reviewers",
    "Champions",
    "Alumni",
    "Volunteers",
    "Guild",
    "Council",
    "Squad",
    "Chapter",
    "Taskforce",
    "Committee",
    "Network",
    "Partners",
    "Pilot",
]
VALUE_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~"
EPOCH = datetime(2019, 1, 1, tzinfo=UTC)


@dataclass(slots=True)
class SeedConfig:
    users: int = 50
    groups: int = 10
    seed: int = 1
    memberships_per_user: int = 10
    redirect_uris: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Seeded:
    directory: Directory
    client_id: str
    client_secret: str
    admin_user_id: str


def _guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _when(rng: random.Random) -> str:
    moment = EPOCH + timedelta(seconds=rng.randrange(5 * 365 * 86400))
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def seed_directory(config: SeedConfig) -> Seeded:
    if config.users < 1:
        raise ValueError("--users must be at least 1: the first user is the tenant's admin")
    rng = random.Random(config.seed)
    tenant = Tenant(_guid(rng), "Contoso", "contoso.example")
    directory = Directory(tenant)
    admin_id = _seed_users(directory, rng, config.users)
    directory.admin_user_id = admin_id
    _seed_groups(directory, rng, config)
    client_id, secret = _seed_apps(directory, rng, config)
    return Seeded(directory, client_id, secret, admin_id)


def _seed_users(directory: Directory, rng: random.Random, count: int) -> str:
    domain = directory.tenant.domain
    random_ = rng.random
    randrange = rng.randrange
    ids = [_guid(rng) for _ in range(count)]
    for index in range(count):
        first = FIRST_NAMES[randrange(len(FIRST_NAMES))]
        last = LAST_NAMES[randrange(len(LAST_NAMES))]
        department = DEPARTMENT_NAMES[randrange(len(DEPARTMENT_NAMES))]
        titles = DEPARTMENTS[department]
        city, country, usage, office, language, phone = OFFICES[randrange(len(OFFICES))]
        if index == 0:
            # The tenant's Global Administrator, as in Microsoft's demo tenants; the
            # printed admin token is theirs and audit events name them.
            first, last, nickname = "MOD", "Administrator", "admin"
            department, title, manager = "IT", "Global Administrator", None
        else:
            nickname = f"{first.lower()}.{last.lower()}.{index}"
            title = titles[randrange(len(titles))]
            # A tree: every manager comes earlier in the list, so there are no cycles;
            # about 2% (service accounts, contractors) have no manager.
            manager = None if random_() < 0.02 else ids[(index - 1) // 8]
        upn = f"{nickname}@{domain}"
        state: State = {
            "id": ids[index],
            "userPrincipalName": upn,
            "displayName": f"{first} {last}",
            "givenName": first,
            "surname": last,
            "mail": upn,
            "mailNickname": nickname,
            "jobTitle": title,
            "department": department,
            "companyName": "Contoso",
            "employeeId": f"E{index:07d}",
            "mobilePhone": f"{phone} {randrange(10000):04d}",
            "businessPhones": [f"{phone} {randrange(10000):04d}"] if random_() < 0.9 else [],
            "officeLocation": f"{office}-{randrange(1, 12)}/{randrange(100, 999)}",
            "city": city,
            "country": country,
            "usageLocation": usage,
            "preferredLanguage": language,
            "accountEnabled": index == 0 or random_() >= 0.03,
            "createdDateTime": _when(rng),
            "userType": "Member",
            "manager": manager,
        }
        directory.seed_user(state)
    return ids[0]


def _seed_groups(directory: Directory, rng: random.Random, config: SeedConfig) -> None:
    count = config.groups
    if count == 0:
        return
    ids = [_guid(rng) for _ in range(count)]
    members: list[list[str]] = [[] for _ in range(count)]
    per_user = min(config.memberships_per_user, count)
    random_ = rng.random
    # Group 0 is "All Company" (as in Graph's delta examples): every user is in it, which
    # counts as one of their memberships and makes one group as large as the tenant (a
    # delta round must split it over many pages). The other memberships are distinct
    # groups drawn half uniformly, half skewed towards the first groups: a few groups of
    # a thousand members or more and a long tail of small ones.
    for user_id in directory.order["users"]:
        if per_user == 0:
            break
        members[0].append(user_id)
        chosen = {0}
        while len(chosen) < per_user:
            draw = random_()
            index = int(count * (draw if random_() < 0.5 else draw * random_()))
            if index not in chosen:
                chosen.add(index)
                members[index].append(user_id)
    # Nested groups: about 2% of groups contain 1-3 later groups (later → no cycles).
    for index in range(count - 1):
        if random_() < 0.02:
            for _ in range(rng.randrange(1, 4)):
                child = rng.randrange(index + 1, count)
                if ids[child] not in members[index]:
                    members[index].append(ids[child])
    domain = directory.tenant.domain
    for index in range(count):
        department = DEPARTMENT_NAMES[index % len(DEPARTMENT_NAMES)]
        topic = TOPICS[rng.randrange(len(TOPICS))]
        roll = random_()
        if roll < 0.6:
            kind, types, mail_enabled, security_enabled = "SG", [], False, True
        elif roll < 0.9:
            kind, types, mail_enabled, security_enabled = "M365", ["Unified"], True, False
        else:
            kind, types, mail_enabled, security_enabled = "MESG", [], True, True
        if index == 0:
            kind, types, mail_enabled, security_enabled = "M365", ["Unified"], True, False
        name = f"{department} {topic} {index + 1:05d}"
        nickname = (
            f"{kind.lower()}-{department.lower().replace(' ', '')}-{topic.lower()}-{index + 1}"
        )
        if index == 0:
            name, topic, department, nickname = "All Company", "Everyone", "Contoso", "allcompany"
        state: State = {
            "id": ids[index],
            "displayName": name if kind != "SG" else f"SG {name}",
            "description": "This is the default group for everyone in the network"
            if index == 0
            else f"{topic} of {department} ({'Microsoft 365 group' if types else 'security group'})",
            "mailNickname": nickname,
            "mail": f"{nickname}@{domain}" if mail_enabled else None,
            "mailEnabled": mail_enabled,
            "securityEnabled": security_enabled,
            "groupTypes": types,
            "visibility": ("Private" if random_() < 0.3 else "Public") if types else None,
            "createdDateTime": _when(rng),
        }
        directory.seed_group(state, members[index])


def _secret(rng: random.Random) -> str:
    # Shaped like an Entra client secret value: three characters, "8Q~", then 34 more.
    head = "".join(rng.choice(VALUE_CHARS[:62]) for _ in range(3))
    tail = "".join(rng.choice(VALUE_CHARS) for _ in range(34))
    return f"{head}8Q~{tail}"


def _seed_apps(directory: Directory, rng: random.Random, config: SeedConfig) -> tuple[str, str]:
    tenant = directory.tenant
    graph = ServicePrincipal(
        id=_guid(rng),
        app_id=GRAPH_APP_ID,
        display_name="Microsoft Graph",
        app_owner_tenant_id=MICROSOFT_SERVICES_TENANT,
        granted=[],
        created="2019-01-01T00:00:00Z",
        app_roles=graph_app_roles(),
        publisher_name="Microsoft Services",
    )
    directory.service_principals[graph.id] = graph
    secret = _secret(rng)
    app = Application(
        app_id=_guid(rng),
        object_id=_guid(rng),
        display_name=SYNC_APP_NAME,
        secret_hash=hash_secret(secret),
        redirect_uris=[DEFAULT_REDIRECT_URI, *config.redirect_uris],
        permissions=list(SYNC_APP_PERMISSIONS),
        publisher_domain=tenant.domain,
    )
    directory.apps[app.app_id] = app
    admin = directory.users[directory.admin_user_id].current
    assert admin is not None
    actor = Actor(
        "user",
        admin["id"],
        admin["displayName"],
        user_principal_name=admin["userPrincipalName"],
    )
    # The tenant's history: the app was registered and an admin consented to it.
    directory.consent(app, actor, sp_id=_guid(rng))
    return app.app_id, secret
