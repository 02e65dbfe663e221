"""How string values compare (RFC 7643 §2.1 caseExact, §2.3.1).

The same form is used by ``scim2_models.default_comparison_key`` (NFC, then
lowercase unless caseExact): filters evaluated in SQL and PATCH value filters
evaluated by ``idsync.scim.patch`` must agree on what "equal" means.
"""

from __future__ import annotations

from unicodedata import normalize


def fold(value: str) -> str:
    """The comparison form of a case-insensitive string."""
    return normalize("NFC", normalize("NFC", value).lower())


def exact(value: str) -> str:
    """The comparison form of a caseExact string."""
    return normalize("NFC", value)
