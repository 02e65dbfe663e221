"""scim2-models and pydantic errors, translated into the error catalogue."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from scim2_models import SCIMException

from idsync.errors.catalogue import (
    INVALID_FILTER,
    INVALID_PATH,
    INVALID_SYNTAX,
    INVALID_VALUE,
    MUTABILITY,
    NO_TARGET,
    TOO_MANY_RESULTS,
    ErrorCode,
    IdsyncError,
)

_BY_SCIM_TYPE: dict[str, ErrorCode] = {
    "invalidFilter": INVALID_FILTER,
    "invalidPath": INVALID_PATH,
    "invalidValue": INVALID_VALUE,
    "invalidSyntax": INVALID_SYNTAX,
    "noTarget": NO_TARGET,
    "mutability": MUTABILITY,
    "tooMany": TOO_MANY_RESULTS,
}


def from_scim_exception(
    exc: SCIMException, *, path: str | None = None, resource_type: str = "resource"
) -> IdsyncError:
    error = _BY_SCIM_TYPE.get(exc.scim_type, INVALID_VALUE)
    cause = exc.__cause__
    if isinstance(cause, ValidationError):
        # scim2-models wraps pydantic's report; say it the way the rest of the API does.
        detail = "; ".join(_describe(e, resource_type) for e in cause.errors()[:5])
    else:
        detail = str(getattr(exc, "detail", None) or exc).rstrip(".")
    return IdsyncError(error, reason=detail, path=path or "")


def from_validation_error(exc: ValidationError, resource_type: str) -> IdsyncError:
    problems = [_describe(e, resource_type) for e in exc.errors()[:5]]
    kinds = {str(e.get("type", "")) for e in exc.errors()}
    error = MUTABILITY if any("mutability" in k for k in kinds) else INVALID_VALUE
    reason = "; ".join(problems)
    if len(exc.errors()) > 5:
        reason += f"; and {len(exc.errors()) - 5} more"
    return IdsyncError(error, reason=reason, path="")


def _attribute_name(part: str) -> str:
    """pydantic reports scim2-models' Python names (``profile_url``); clients know ``profileUrl``."""
    if part.startswith("urn:") or "_" not in part:
        return part
    head, *rest = part.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def _describe(error: Any, resource_type: str) -> str:
    location = ".".join(
        _attribute_name(str(part)) for part in error.get("loc", ()) if not isinstance(part, int)
    )
    kind = str(error.get("type", ""))
    if kind == "extra_forbidden":
        return f"{resource_type} has no attribute {location!r}"
    if kind in ("missing", "required_error"):
        return f"{location} is required"
    message = str(error.get("msg", "invalid")).rstrip(".")
    return f"{location}: {message}" if location else message
