"""What every endpoint shares: the directory, token machinery, delta pager and faults."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from idsync.emulator.delta import DEFAULT_MEMBER_BUDGET, DeltaPager, TokenCodec
from idsync.emulator.directory import Directory
from idsync.emulator.faults import FaultQueue
from idsync.emulator.seed import SeedConfig, Seeded, seed_directory
from idsync.emulator.tokens import TokenIssuer

# The client id Microsoft's own admin tools (Azure portal / Graph Explorer) use; the printed
# admin token is a delegated token issued to it, as if the admin had signed in there.
ADMIN_CLIENT_APP_ID = "de8bc8b5-d9f9-48b1-a8ad-b748da725064"


@dataclass(slots=True)
class EmulatorConfig:
    seed: SeedConfig = field(default_factory=SeedConfig)
    member_budget: int = DEFAULT_MEMBER_BUDGET


@dataclass(slots=True)
class Emulator:
    config: EmulatorConfig
    directory: Directory
    client_id: str
    client_secret: str
    admin_token: str
    tokens: TokenIssuer
    codec: TokenCodec
    pager: DeltaPager
    faults: FaultQueue
    admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    """The tenant administrator's password on the emulator's sign-in page."""
    pending_consents: dict[str, dict[str, str]] = field(default_factory=dict)
    pending_signins: dict[str, dict[str, str]] = field(default_factory=dict)
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Authorization codes not yet redeemed (signin.py)."""

    @property
    def tenant_id(self) -> str:
        return self.directory.tenant.id


def build_emulator(config: EmulatorConfig) -> Emulator:
    """Seed the tenant and set up signing keys (fresh per process: tokens don't outlive it)."""
    from idsync.emulator.permissions import ADMIN_SCOPES

    seeded: Seeded = seed_directory(config.seed)
    directory = seeded.directory
    tokens = TokenIssuer(secrets.token_bytes(32))
    admin = directory.users[seeded.admin_user_id].current
    assert admin is not None
    admin_token = tokens.user_token(directory.tenant.id, ADMIN_CLIENT_APP_ID, admin, ADMIN_SCOPES)
    return Emulator(
        config=config,
        directory=directory,
        client_id=seeded.client_id,
        client_secret=seeded.client_secret,
        admin_token=admin_token,
        tokens=tokens,
        codec=TokenCodec(secrets.token_bytes(32)),
        pager=DeltaPager(directory, config.member_budget),
        faults=FaultQueue(),
    )
