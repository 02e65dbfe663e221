"""Another SCIM server as a sync source: users and groups by paged GET (RFC 7644 §3.4.2.4).

A full read pages with ``startIndex``/``count``; the next index counts what came
back, not what was asked, so servers that answer with fewer (or ignore ``count``)
are read whole. ``resume`` is the next index; the last page's ``watermark`` is
the latest ``meta.lastModified`` seen.

An incremental read filters ``meta.lastModified ge "<watermark>"`` (``ge``: an
object changed in the same instant is read again, which is harmless). A server
that refuses that filter (400/501) gets ``WatermarkExpired`` once (the engine
then reads in full) and is not asked again by this instance. SCIM has no
tombstones, so the last page of an incremental read carries ``present``: every
id the server still holds, from an ids-only sweep (``attributes=id``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from types import TracebackType
from typing import Any
from urllib.parse import quote

from idsync.connectors.scim.client import JsonObject, Reply, ScimClient
from idsync.connectors.scim.discovery import Capabilities, discover
from idsync.connectors.scim.patches import filter_literal
from idsync.connectors.scim.settings import ScimSettings
from idsync.contract.checks import Health
from idsync.contract.errors import ConnectorError
from idsync.contract.records import MemberRef, ObjectType, Page, ReadStart, Rejected, SourceObject
from idsync.errors.catalogue import INVALID_VALUE, IdsyncError
from idsync.scim.flatten import flatten_group, flatten_user


class ScimSource:
    """A :class:`~idsync.contract.protocols.Source` reading one SCIM service provider."""

    def __init__(
        self, settings: ScimSettings, *, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.settings = settings
        self.client = ScimClient(settings, sleep=sleep)
        self._capabilities: Capabilities | None = None
        self._lock = threading.Lock()
        self._incremental = True
        """False once the server refused the lastModified filter."""
        self._group_ids: frozenset[str] | None = None

    def __repr__(self) -> str:
        return f"ScimSource(integration={self.settings.integration!r}, url={self.settings.url!r})"

    @property
    def capabilities(self) -> Capabilities:
        with self._lock:
            if self._capabilities is None:
                self._capabilities = discover(self.client)
            return self._capabilities

    # --- the Source protocol -------------------------------------------------------------

    def read(self, object_type: ObjectType, start: ReadStart) -> Iterator[Page]:
        since, index, latest = self._start(start)
        if since is not None and not self._can_filter_changes():
            raise self.client.failures.watermark_expired(
                "it cannot filter on meta.lastModified, so it cannot say what changed"
            )
        self._group_ids = None
        while True:
            reply = self._page(object_type, index, since)
            resources = [r for r in reply.body.get("Resources") or [] if isinstance(r, dict)]
            objects, rejected = self._objects(object_type, resources)
            latest = _latest(latest, resources)
            total = _integer(reply.body.get("totalResults"), index - 1 + len(resources))
            index += len(resources)
            if resources and index <= total:
                yield Page(
                    objects, {"start": index, "since": since, "latest": latest}, None, rejected
                )
                continue
            present = self._present(object_type) if since is not None else None
            watermark = {"lastModified": latest or since}
            yield Page(objects, None, watermark, rejected, present)
            return

    def read_one(self, object_type: ObjectType, source_id: str) -> SourceObject | None:
        path = f"{self.capabilities.endpoint(object_type)}/{quote(source_id, safe='')}"
        reply = self.client.get(path)
        if reply.status == 404:
            return None
        self._require_ok(reply, path)
        return self._object(object_type, reply.body)

    def check(self) -> Health:
        """Discovery plus one authenticated GET with count=1."""
        try:
            capabilities = self.capabilities
            endpoint = capabilities.endpoint("user")
            reply = self.client.get(endpoint, {"count": "1"})
            self._require_ok(reply, endpoint)
        except ConnectorError as exc:
            return Health.failed(exc)
        return Health(True, {"users": reply.body.get("totalResults"), **capabilities.describe()})

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> ScimSource:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- reading -------------------------------------------------------------------------

    def _start(self, start: ReadStart) -> tuple[str | None, int, str | None]:
        """(changed since, first index, latest lastModified so far) of a read."""
        if isinstance(start.resume, dict):
            resume = start.resume
            return resume.get("since"), _integer(resume.get("start"), 1), resume.get("latest")
        watermark = start.watermark
        since = watermark.get("lastModified") if isinstance(watermark, dict) else None
        if since is not None and not self._incremental:
            raise self.client.failures.watermark_expired(
                "it refused the meta.lastModified filter earlier"
            )
        return (str(since) if since else None), 1, None

    def _can_filter_changes(self) -> bool:
        return (
            self._incremental and self.capabilities.filter and self.settings.compat.filter == "auto"
        )

    def _page(self, object_type: ObjectType, index: int, since: str | None) -> Reply:
        endpoint = self.capabilities.endpoint(object_type)
        params = {"startIndex": str(index), "count": str(self.settings.page_size)}
        if since is not None:
            params["filter"] = f"meta.lastModified ge {filter_literal(since)}"
        reply = self.client.get(endpoint, params)
        if since is not None and reply.status in (400, 501):
            self._incremental = False
            raise self.client.failures.watermark_expired(
                f"it answered the meta.lastModified filter with HTTP {reply.status}"
                + (f" ({reply.scim_type})" if reply.scim_type else "")
            )
        self._require_ok(reply, endpoint)
        return reply

    def _require_ok(self, reply: Reply, path: str) -> None:
        if reply.ok:
            return
        if reply.status == 404 and path.count("/") <= 1:
            raise self.client.failures.not_scim(f"GET {path} answered HTTP 404")
        detail = f": {reply.detail}" if reply.detail else ""
        raise self.client.failures.unavailable(f"GET {path} answered HTTP {reply.status}{detail}")

    def _objects(
        self, object_type: ObjectType, resources: list[JsonObject]
    ) -> tuple[tuple[SourceObject, ...], tuple[Rejected, ...]]:
        objects: list[SourceObject] = []
        rejected: list[Rejected] = []
        for resource in resources:
            if not resource.get("id"):
                error = IdsyncError(INVALID_VALUE, reason="a resource in the list has no id")
                rejected.append(Rejected(object_type, str(resource)[:100], error))
                continue
            objects.append(self._object(object_type, resource))
        return tuple(objects), tuple(rejected)

    def _object(self, object_type: ObjectType, resource: JsonObject) -> SourceObject:
        source_id = str(resource["id"])
        if object_type == "user":
            return SourceObject("user", source_id, flatten_user(resource))
        members = tuple(self._member(m) for m in resource.get("members") or [] if _valued(m))
        return SourceObject(
            "group",
            source_id,
            flatten_group(resource),
            members_added=members,
            members_complete=True,  # a SCIM group carries its whole member list
        )

    def _member(self, member: JsonObject) -> MemberRef:
        kind = str(member.get("type") or "").lower()
        value = str(member["value"])
        if kind in ("user", "group"):
            return MemberRef("user" if kind == "user" else "group", value)
        # No "type" (it is optional, RFC 7643 §4.2): a group if it is one of the groups.
        return MemberRef("group" if value in self._groups() else "user", value)

    def _groups(self) -> frozenset[str]:
        if self._group_ids is None:
            self._group_ids = self._present("group")
        return self._group_ids

    def _present(self, object_type: ObjectType) -> frozenset[str]:
        """Every id of the type the server holds: an ids-only sweep."""
        endpoint = self.capabilities.endpoint(object_type)
        ids: set[str] = set()
        index = 1
        while True:
            params = {
                "startIndex": str(index),
                "count": str(self.settings.page_size),
                "attributes": "id",
            }
            reply = self.client.get(endpoint, params)
            self._require_ok(reply, endpoint)
            resources = [r for r in reply.body.get("Resources") or [] if isinstance(r, dict)]
            ids.update(str(r["id"]) for r in resources if r.get("id"))
            total = _integer(reply.body.get("totalResults"), index - 1 + len(resources))
            index += len(resources)
            if not resources or index > total:
                return frozenset(ids)


def _valued(member: Any) -> bool:
    return isinstance(member, dict) and bool(member.get("value"))


def _integer(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _latest(latest: str | None, resources: list[JsonObject]) -> str | None:
    """The latest meta.lastModified, compared as instants, kept as the server wrote it."""
    best, best_at = latest, _instant(latest)
    for resource in resources:
        meta = resource.get("meta")
        stamp = meta.get("lastModified") if isinstance(meta, dict) else None
        at = _instant(stamp)
        if at is not None and (best_at is None or at > best_at):
            best, best_at = str(stamp), at
    return best


def _instant(stamp: Any) -> datetime | None:
    if not isinstance(stamp, str):
        return None
    try:
        parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None
