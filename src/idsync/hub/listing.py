"""List and search requests (RFC 7644 §3.4.2, §3.4.3): their parameters and their responses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from idsync.config import Settings
from idsync.errors.catalogue import INVALID_PARAMETER, INVALID_SYNTAX, IdsyncError
from idsync.scim.projection import split_list
from idsync.scim.schemas import LIST_RESPONSE, SEARCH_REQUEST

MAX_START_INDEX = 2**63 - 1


@dataclass(frozen=True)
class ListQuery:
    filter: str | None = None
    sort_by: str | None = None
    descending: bool = False
    start_index: int = 1
    count: int = 100
    attributes: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()
    in_url: bool = True
    """Whether the query came in the URL (GET), where sensitive filters are refused."""


def _integer(name: str, raw: Any) -> int:
    if isinstance(raw, bool):
        raise IdsyncError(INVALID_PARAMETER, name=name, reason="it must be an integer")
    if isinstance(raw, int):
        return raw
    try:
        return int(str(raw).strip())
    except ValueError:
        raise IdsyncError(
            INVALID_PARAMETER, name=name, reason=f"{raw!r} is not an integer"
        ) from None


def _order(raw: Any) -> bool:
    if raw is None or raw == "":
        return False
    text = str(raw).lower()
    if text not in ("ascending", "descending"):
        raise IdsyncError(
            INVALID_PARAMETER, name="sortOrder", reason="it must be ascending or descending"
        )
    return text == "descending"


def _build(
    settings: Settings,
    *,
    filter: Any,
    sort_by: Any,
    sort_order: Any,
    start_index: Any,
    count: Any,
    attributes: Any,
    excluded: Any,
    in_url: bool,
) -> ListQuery:
    # RFC 7644 §3.4.2.4: startIndex below 1 reads as 1, a negative count as 0.
    start = max(1, _integer("startIndex", start_index)) if start_index not in (None, "") else 1
    if start > MAX_START_INDEX:
        # Both databases take a signed 64-bit OFFSET; nothing lies beyond it anyway.
        raise IdsyncError(
            INVALID_PARAMETER, name="startIndex", reason=f"it must be at most {MAX_START_INDEX}"
        )
    size = _integer("count", count) if count not in (None, "") else settings.default_page_size
    size = min(max(0, size), settings.max_page_size)
    if filter is not None and not isinstance(filter, str):
        raise IdsyncError(INVALID_PARAMETER, name="filter", reason="it must be a string")
    if sort_by is not None and not isinstance(sort_by, str):
        raise IdsyncError(INVALID_PARAMETER, name="sortBy", reason="it must be a string")
    for name, names in (("attributes", attributes), ("excludedAttributes", excluded)):
        # RFC 7644 §3.4.3: a list of strings in a SearchRequest (a comma list in a URL).
        if names is not None and not isinstance(names, str | list):
            raise IdsyncError(INVALID_PARAMETER, name=name, reason="it must be a list of strings")
    return ListQuery(
        filter=filter or None,
        sort_by=sort_by or None,
        descending=_order(sort_order),
        start_index=start,
        count=size,
        attributes=tuple(split_list(attributes)),
        excluded=tuple(split_list(excluded)),
        in_url=in_url,
    )


def from_params(params: Mapping[str, str], settings: Settings) -> ListQuery:
    """The query of a GET on a collection; parameter names are case-insensitive."""
    lowered = {k.lower(): v for k, v in params.items()}
    return _build(
        settings,
        filter=lowered.get("filter"),
        sort_by=lowered.get("sortby"),
        sort_order=lowered.get("sortorder"),
        start_index=lowered.get("startindex"),
        count=lowered.get("count"),
        attributes=lowered.get("attributes"),
        excluded=lowered.get("excludedattributes"),
        in_url=True,
    )


def from_search_request(body: Any, settings: Settings) -> ListQuery:
    """The query of a POST …/.search (a SearchRequest message)."""
    if not isinstance(body, dict):
        raise IdsyncError(INVALID_SYNTAX, reason="a SearchRequest must be a JSON object")
    schemas = body.get("schemas")
    if not isinstance(schemas, list) or SEARCH_REQUEST.lower() not in {
        str(s).lower() for s in schemas
    }:
        raise IdsyncError(
            INVALID_SYNTAX, reason=f"a SearchRequest must list {SEARCH_REQUEST!r} in 'schemas'"
        )
    fields = {k.lower(): v for k, v in body.items()}
    return _build(
        settings,
        filter=fields.get("filter"),
        sort_by=fields.get("sortby"),
        sort_order=fields.get("sortorder"),
        start_index=fields.get("startindex"),
        count=fields.get("count"),
        attributes=fields.get("attributes"),
        excluded=fields.get("excludedattributes"),
        in_url=False,
    )


def list_response(total: int, start_index: int, resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "schemas": [LIST_RESPONSE],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": len(resources),
        "Resources": resources,
    }
