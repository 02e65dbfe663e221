"""A sync cycle: import → scope → match → diff → export, page by page, resumable.

The engine talks to a :class:`~idsync.contract.protocols.Source` and a
:class:`~idsync.contract.protocols.Target` and to nothing else: it does not know
which directory it reads. After every page (on the hub, every batch of pages in
one transaction) it saves a checkpoint (the source's resume position) in the same
place as what the pages did, so a cycle that crashes resumes where it stopped, and
re-applying a page converges instead of duplicating (objects are matched before
they are created).

Safety rules (docs/architecture.md, "Removal safety"): removals are collected during
the cycle and applied only at its end, and only if they stay under the job's deletion
threshold; a source that refuses our credentials quarantines the job at once;
a full read that returns far fewer objects than the hub holds is not believed.
"""

from __future__ import annotations

import contextvars
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

import structlog

from idsync.contract.errors import (
    AccessDenied,
    ConnectorError,
    WatermarkExpired,
)
from idsync.contract.mappings import DefaultMappings
from idsync.contract.protocols import Source, Target
from idsync.contract.records import OBJECT_TYPES, ObjectType, Page, ReadStart, Rejected, Removals
from idsync.errors.catalogue import (
    DATABASE_UNAVAILABLE,
    DELETION_THRESHOLD,
    INTERNAL,
    JOB_PAUSED,
    IdsyncError,
)
from idsync.errors.tracking import current_tracking_id, new_tracking_id
from idsync.logs import get_logger
from idsync.store import integrations as jobs
from idsync.store import sync_state as state
from idsync.store.database import Database
from idsync.store.integrations import IntegrationRecord, JobRecord
from idsync.store.sync_state import Link, Pending
from idsync.store.types import utcnow
from idsync.sync.garbage import older_objects_frozen
from idsync.sync.jobs import (
    PAUSED_REASON,
    TRANSIENT_FAILURES_LIMIT,
    JobStatus,
    claimed,
    new_owner,
    quarantine_retry_at,
    quarantined,
    succeeded,
)
from idsync.sync.mapping import AttributeMapping
from idsync.sync.pages import (
    OUT_OF_SCOPE,
    PageContext,
    PagePlan,
    PageProcessor,
    Sent,
    out_of_scope,
)
from idsync.sync.prefetch import ReadAhead, read_ahead
from idsync.sync.report import CycleReport, LogBook, Tally
from idsync.sync.safety import (
    deletion_refusal,
    failure_rate_refusal,
    looks_shrunk,
    shrink_refusal,
)
from idsync.sync.scoping import Scope
from idsync.sync.upkeep import GROWING_TABLES, Upkeep, statistics_due

log = get_logger("idsync.sync")

RECORD_WAIT = 60.0
"""How long a cycle that lost its database waits for it, to record why it stopped."""


BATCH_SECONDS = 1.0
"""How long a cycle writing to the hub keeps one transaction open across pages: long
enough that a first cycle's commits stop dominating its writes, short enough that a
SCIM client writing to the same SQLite file waits at most about this long."""


@dataclass(slots=True)
class _ReadCount:
    """How far one read got: pages and objects, and the pages the planner has seen."""

    pages: int = 0
    read: int = 0
    analyzed: int = 0


@dataclass(frozen=True, slots=True)
class _InFlight:
    """A page whose exports are on their way (see ``Cycle._send_ahead``)."""

    page: Page
    plan: PagePlan
    sent: Future[Sent]

    def answers(self) -> Sent:
        """What the target answered, once it has (its error, if the export failed)."""
        return self.sent.result()


def _source_ids(page: Page) -> set[str]:
    return {o.source_id for o in page.objects}


class CycleInterrupted(Exception):
    """The process running the cycle is shutting down (see ``Cycle.should_stop``)."""


@dataclass(frozen=True)
class Progress:
    object_type: ObjectType
    read: int
    written: int
    phase: str


ProgressCallback = Callable[[Progress], None]


class Cycle:
    """One run of one integration's job."""

    def __init__(
        self,
        db: Database,
        integration: IntegrationRecord,
        source: Source,
        target: Target,
        *,
        defaults: DefaultMappings,
        full: bool = False,
        preview: bool = False,
        progress: ProgressCallback | None = None,
        log_days: float = 30,
        should_stop: Callable[[], bool] | None = None,
        even_if_paused: bool = False,
    ) -> None:
        self.db = db
        self.even_if_paused = even_if_paused
        self.paused = False
        self.should_stop = should_stop
        """Asked after every checkpoint: a worker shutting down stops the cycle there,
        and whichever process runs the job next resumes it from that checkpoint."""
        self.log_days = log_days
        self.integration = integration
        self.source = source
        self.target = target
        self.defaults = defaults
        """The connector's default mappings for the integration's direction."""
        self.full = full
        self.preview = preview
        self.progress = progress
        self.owner = new_owner()
        self.tally = Tally()
        self.started_at = utcnow()
        self._clock = time.perf_counter()
        self.cycle_id = ""
        self.mode = ""
        self.checkpoint: dict[str, Any] = {}
        self.shrank: IdsyncError | None = None
        self._upkeep = Upkeep(db)
        self._refreshed: set[ObjectType] = set()
        """The phases whose reads refreshed the statistics (they grew the tables)."""

    # --- the cycle ---------------------------------------------------------------------------

    def run(self) -> CycleReport:
        with self._claimed(), older_objects_frozen():
            job = self._job()
            self._check_paused(job)
            checkpoint = dict(job.checkpoint or {})
            if checkpoint and not self.preview:
                self.tally = Tally.from_dict(checkpoint.get("tally"))
            else:
                checkpoint = self._new_checkpoint(job)
            self.cycle_id = str(checkpoint["cycle_id"])
            # A checkpoint from before tracking IDs: the resumed cycle gets one now.
            self.tracking_id = str(checkpoint.get("tracking_id") or new_tracking_id())
            self.mode = str(checkpoint["mode"])
            self.shrank = self._shrank(checkpoint)
            self.processor = self._processor()
            self.processor.mark_members = not checkpoint["initial"]
            with self._traced():
                return self._run_traced(job, checkpoint)

    @contextmanager
    def _traced(self) -> Iterator[None]:
        """Every server log line of the cycle carries its tracking ID."""
        token = current_tracking_id.set(self.tracking_id)
        try:
            with structlog.contextvars.bound_contextvars(
                tracking_id=self.tracking_id, cycle=self.cycle_id
            ):
                yield
        finally:
            current_tracking_id.reset(token)

    def _run_traced(self, job: JobRecord, checkpoint: dict[str, Any]) -> CycleReport:
        try:
            self._run(job, checkpoint)
        except CycleInterrupted:
            return self._interrupted()
        except AccessDenied as exc:
            if self.preview:  # a preview changes nothing, the job's status included
                raise
            return self._quarantine(exc)
        except ConnectorError as exc:  # throttled, unavailable: resume later
            if self.preview:
                raise
            return self._transient_failure(exc)
        except IdsyncError as exc:  # a catalogued failure (the hub's database gone): itself
            if self.preview:
                raise
            log.warning("cycle failed", integration=self.integration.id, code=exc.error.code)
            return self._recorded(partial(self._transient_failure, exc))
        except Exception as exc:
            log.exception("cycle failed", integration=self.integration.id, cycle=self.cycle_id)
            if self.preview:
                raise IdsyncError(INTERNAL) from exc
            return self._transient_failure(IdsyncError(INTERNAL), cause=exc)
        return self._finish()

    def _check_paused(self, job: JobRecord) -> None:
        """A paused job runs only when asked explicitly, and stays paused: its status is
        the administrator's choice, which a cycle must not undo (the scheduler would then
        run it again)."""
        self.paused = job.status == JobStatus.PAUSED
        if self.paused and not (self.even_if_paused or self.preview):
            raise IdsyncError(JOB_PAUSED, integration=self.integration.name).for_integration(
                self.integration.id
            )
        if self.paused and not self.preview:
            log.info("running a paused job, as asked", integration=self.integration.id)

    def _kept_paused(self, values: dict[str, Any]) -> dict[str, Any]:
        """The job's new values, but a paused job keeps its status; what the cycle found
        wrong is still its reason (and the exit code of ``sync run``)."""
        if not self.paused:
            return values
        kept = {k: v for k, v in values.items() if k not in ("status", "quarantined_at")}
        if "reason_code" in kept and kept["reason_code"] is None:
            kept["reason"] = PAUSED_REASON
        return kept

    def run_one(self, object_type: ObjectType, source_id: str) -> str:
        """Provision one object now (Entra's "provision on demand"); returns the cycle id.

        It goes through the same scope, match, diff and export as a cycle, but
        leaves the job's watermark and checkpoint alone.
        """
        with self._claimed():
            self.cycle_id, self.mode = str(uuid.uuid4()), "onDemand"
            self.tracking_id = new_tracking_id()
            with self.db.write() as conn:
                state.insert_cycle(
                    conn,
                    self.cycle_id,
                    self.integration.id,
                    self.integration.org_id,
                    self.mode,
                    tracking_id=self.tracking_id,
                )
            self.processor = self._processor()
            self.processor.assignment = self._assignment()
            obj = self.source.read_one(object_type, source_id)
            if obj is None:
                self.processor.log.add(
                    object_type,
                    source_id,
                    "skip",
                    "skipped",
                    "import",
                    reason="the directory has no such object",
                )
                with self.db.write() as conn:
                    state.write_log(conn, self.processor.log.take())
            else:
                self.processor.process(object_type, [obj], False)
                if object_type == "user":
                    self._resolve_references()
                with self.db.read() as conn:
                    pending = [
                        p
                        for p in state.list_pending(conn, self.integration.id, staged=False)
                        if p.source_id == source_id and p.object_type == object_type
                    ]
                apply_removals(
                    self.db, self.integration, self.target, pending, self.cycle_id, self.tally
                )
            with self.db.write() as conn:
                state.update_cycle(
                    conn,
                    self.cycle_id,
                    status="succeeded",
                    finished_at=utcnow(),
                    counts=dict(self.tally.counts),
                    timings=self.tally.as_dict()["seconds"],
                )
        return self.cycle_id

    def _new_checkpoint(self, job: JobRecord) -> dict[str, Any]:
        first = job.last_cycle_id is None and not job.watermark
        if self.preview:
            mode = "preview"
        elif first:
            mode = "initial"
        elif self.full or not job.watermark:
            mode = "full"
        else:
            mode = "incremental"
        full_types = (
            list(OBJECT_TYPES)
            if (first or self.full or not job.watermark)
            else [t for t in OBJECT_TYPES if t not in job.watermark]
        )
        checkpoint: dict[str, Any] = {
            "cycle_id": str(uuid.uuid4()),
            "tracking_id": new_tracking_id(),
            "mode": mode,
            "initial": first,
            "phase": OBJECT_TYPES[0],
            "resume": None,
            "full_types": full_types,
            "watermarks": {},
        }
        if not self.preview:
            with self.db.write() as conn:
                state.insert_cycle(
                    conn,
                    checkpoint["cycle_id"],
                    self.integration.id,
                    self.integration.org_id,
                    mode,
                    tracking_id=checkpoint["tracking_id"],
                )
                jobs.update_job(conn, self.integration.id, checkpoint=checkpoint)
        return checkpoint

    def _run(self, job: JobRecord, checkpoint: dict[str, Any]) -> None:
        with self._upkeep:
            self._run_phases(job, checkpoint)

    def _run_phases(self, job: JobRecord, checkpoint: dict[str, Any]) -> None:
        self.processor.assignment = self._assignment()
        phases = [*OBJECT_TYPES, "finish"]
        for object_type in OBJECT_TYPES:
            if phases.index(checkpoint["phase"]) > phases.index(object_type):
                continue
            with self._target_phase(object_type, checkpoint["initial"]):
                self._read_phase(object_type, job, checkpoint)
                if object_type == "group":
                    self.processor.forget_members()
                if object_type == "user" and not self.preview:
                    self._resolve_references()
                    self._settle_users()
                if object_type == "group" and not self.preview:
                    self.processor.add_waiting_members(object_type in checkpoint["full_types"])
                    if "group" in checkpoint["full_types"] and not checkpoint["initial"]:
                        self._reconcile_members()
            checkpoint = {
                **checkpoint,
                "phase": phases[phases.index(object_type) + 1],
                "resume": None,
            }
            self._save(checkpoint)
        self.checkpoint = checkpoint
        for object_type in checkpoint["full_types"]:
            self._detect_missing(object_type, checkpoint)
        self._retry_escrow()
        self._reconcile_assignment()
        if self.preview:
            return
        # Managers and memberships of users that only now exist (out of escrow, into scope).
        self._resolve_references()
        self.processor.add_waiting_members(full=False)

    @contextmanager
    def _target_phase(self, object_type: ObjectType, initial: bool) -> Iterator[None]:
        """The target's ``phase`` around the phase's writes; what it costs to enter and to
        leave (a deferred index rebuilt, say) is counted as writing ("writePhase")."""
        if self.preview:
            yield
            return
        started = time.perf_counter()
        with self.target.phase(object_type, initial=initial):
            self.tally.add_seconds(time.perf_counter() - started, "write", "writePhase")
            yield
            started = time.perf_counter()
        self.tally.add_seconds(time.perf_counter() - started, "write", "writePhase")

    def _read_phase(
        self, object_type: ObjectType, job: JobRecord, checkpoint: dict[str, Any]
    ) -> None:
        full = object_type in checkpoint["full_types"]
        start = ReadStart(
            watermark=None if full else job.watermark.get(object_type),
            resume=checkpoint["resume"] if checkpoint["phase"] == object_type else None,
        )
        if object_type == "group" and full and start.resume is None:
            self._forget_waiting_members()
        with self.db.read() as conn:
            unlinked = not state.has_links(conn, self.integration.id, object_type)
        self.processor.begin_phase(unlinked=unlinked)
        try:
            self._read_or_reread(object_type, start, full, checkpoint)
        finally:
            self.processor.end_phase()

    def _read_or_reread(
        self, object_type: ObjectType, start: ReadStart, full: bool, checkpoint: dict[str, Any]
    ) -> None:
        """Read from ``start``; from the beginning, in full, if the source no longer knows
        the watermark."""
        try:
            self._read(object_type, start, full, checkpoint)
        except WatermarkExpired as exc:
            log.warning(
                "watermark expired: reading in full",
                integration=self.integration.id,
                object_type=object_type,
                code=exc.error.code,
            )
            self.tally.add("watermarkExpired")
            checkpoint["full_types"] = sorted({*checkpoint["full_types"], object_type})
            checkpoint["resume"] = None
            if object_type == "group":
                self._forget_waiting_members()
            self._read(object_type, ReadStart(), True, checkpoint)

    def _forget_waiting_members(self) -> None:
        """A full read of the groups reports every membership again: the waiting ones it
        does not report are stale."""
        if not self.preview:
            with self.db.write() as conn:
                state.clear_pending_members(conn, self.integration.id)

    def _read(
        self, object_type: ObjectType, start: ReadStart, full: bool, checkpoint: dict[str, Any]
    ) -> None:
        with read_ahead(iter(self.source.read(object_type, start))) as pages:
            self._read_pages(object_type, pages, full, checkpoint)

    def _read_pages(
        self,
        object_type: ObjectType,
        pages: ReadAhead[Page],
        full: bool,
        checkpoint: dict[str, Any],
    ) -> None:
        count = _ReadCount()
        if self._sends_ahead:
            self._send_ahead(object_type, pages, full, checkpoint, count)
            return
        page = self._next_page(pages)
        while page is not None:
            page = self._write_batch(object_type, page, pages, full, checkpoint, count)
            self._upkeep.checkpoint()
            self._refresh_statistics(object_type, count)
            if page is not None:
                self._stop_if_asked()

    def _write_batch(
        self,
        object_type: ObjectType,
        page: Page,
        pages: ReadAhead[Page],
        full: bool,
        checkpoint: dict[str, Any],
        count: _ReadCount,
    ) -> Page | None:
        """``page`` and the pages already read after it in one transaction (see
        ``Target.shares_database``) for up to BATCH_SECONDS, with the checkpoint after the
        last of them; then the next page, asked for once committed (a transaction never
        waits for the source). None once the read is done.

        The checkpoint is written once a batch, not once a page: no one sees it before the
        commit, which keeps only the last. A first load's group pages hold about ten
        groups, so a 100,000-user load wrote it (and the heartbeat) about 2,200 times,
        each a round trip the cycle waited for."""
        deadline = time.monotonic() + (BATCH_SECONDS if self._batched else 0.0)
        with self._batch():
            current: Page | None = page
            while current is not None:
                self._write_page(object_type, current, full, checkpoint, count)
                if time.monotonic() >= deadline or not pages.ready():
                    break
                current = self._next_page(pages)
            if self._batched:
                self._save(checkpoint, stop_here=False)
            committed = time.perf_counter()
        self.tally.add_seconds(time.perf_counter() - committed, "write", "writeCommit")
        return None if current is None else self._next_page(pages)

    @property
    def _sends_ahead(self) -> bool:
        """A target that is another system (a SCIM push) works while idsync waits, and
        idsync works while it waits: their turns overlap (``_send_ahead``)."""
        return not self.target.shares_database and not self.preview

    def _send_ahead(
        self,
        object_type: ObjectType,
        pages: ReadAhead[Page],
        full: bool,
        checkpoint: dict[str, Any],
        count: _ReadCount,
    ) -> None:
        """Pages exported one ahead: the next page is planned while the application works
        through this one's requests, and sent as soon as it has answered, before its
        answers are remembered. So the application does not wait for idsync between
        pages (7 % of a 100,000-user push to scim2-server, measured). One page ahead at
        most, and a page that shares an object with the page in flight waits for it to
        land. A manager in the page in flight is not known yet: the user waits for it as
        for a manager in a later page (a pending reference, set at the phase's end).
        Pages land (links, log, checkpoint) in order, each checkpoint after its page, so
        a cycle cut off re-reads the page in flight: sent, not remembered, as after a
        crash in the middle of a page."""
        with ThreadPoolExecutor(1, thread_name_prefix="idsync-send") as pool:
            flight: _InFlight | None = None
            page = self._next_page(pages)
            while page is not None:
                if flight is not None and flight.plan.source_ids & _source_ids(page):
                    self._land(flight, object_type, full, checkpoint, count, flight.answers())
                    flight = None
                planned = self.processor.plan(object_type, page.objects, full)
                self.processor.ready(planned)
                if flight is None:
                    flight = _InFlight(page, planned, self._send(pool, planned))
                else:
                    answers = flight.answers()
                    if self.should_stop is not None and self.should_stop():
                        self._land(flight, object_type, full, checkpoint, count, answers)
                        raise CycleInterrupted
                    landing, flight = flight, _InFlight(page, planned, self._send(pool, planned))
                    self._land(landing, object_type, full, checkpoint, count, answers)
                page = self._next_page(pages)
            if flight is not None:
                self._land(flight, object_type, full, checkpoint, count, flight.answers())

    def _send(self, pool: ThreadPoolExecutor, planned: PagePlan) -> Future[Sent]:
        context = contextvars.copy_context()  # the cycle's tracking ID and log fields
        return pool.submit(context.run, self.processor.send, planned)

    def _land(
        self,
        flight: _InFlight,
        object_type: ObjectType,
        full: bool,
        checkpoint: dict[str, Any],
        count: _ReadCount,
        answers: Sent,
    ) -> None:
        """A page sent, remembered: what the target answered, then its checkpoint."""
        self.processor.finish(flight.plan, answers)
        self._after_page(object_type, flight.page, full, checkpoint, count)
        self._refresh_statistics(object_type, count)

    @property
    def _batched(self) -> bool:
        return self.target.shares_database and not self.preview

    @contextmanager
    def _batch(self) -> Iterator[None]:
        if not self._batched:
            yield
            return
        with self.db.write(replayable=True):
            yield

    def _next_page(self, pages: Iterator[Page]) -> Page | None:
        started = time.perf_counter()
        page = next(pages, None)
        self.tally.seconds["read"] += time.perf_counter() - started
        return page

    def _write_page(
        self,
        object_type: ObjectType,
        page: Page,
        full: bool,
        checkpoint: dict[str, Any],
        count: _ReadCount,
    ) -> None:
        self.processor.process(object_type, page.objects, full)
        self._after_page(object_type, page, full, checkpoint, count, save=not self._batched)

    def _after_page(
        self,
        object_type: ObjectType,
        page: Page,
        full: bool,
        checkpoint: dict[str, Any],
        count: _ReadCount,
        *,
        save: bool = True,
    ) -> None:
        """What follows a page's objects: its rejects and removals, its checkpoint (saved
        unless ``save`` is false: a batch saves it once, after its last page)."""
        if page.rejected:
            self._reject(object_type, page.rejected, full)
        if page.present is not None and not full:
            self._absent(object_type, page.present, checkpoint)
        count.pages += 1
        count.read += len(page.objects)
        self.tally.add(f"{object_type}sRead", len(page.objects))
        watermarks = dict(checkpoint["watermarks"])
        if page.watermark is not None:
            watermarks[object_type] = page.watermark
            self._note_removals(object_type, page, full, checkpoint)
        checkpoint.update(phase=object_type, resume=page.resume, watermarks=watermarks)
        if save:
            self._save(checkpoint, stop_here=not self._sends_ahead)
        if self.progress is not None:
            written = sum(self.tally.counts[a] for a in ("create", "update", "disable", "delete"))
            self.progress(Progress(object_type, count.read, written, "read"))

    def _refresh_statistics(self, object_type: ObjectType, count: _ReadCount) -> None:
        """After the batches that crossed a ``statistics_due`` mark (committed, so the
        planner sees the rows)."""
        if statistics_due(count.analyzed, count.pages):
            self._upkeep.refresh(GROWING_TABLES[object_type])
            self._refreshed.add(object_type)
        count.analyzed = count.pages

    def _settle_users(self) -> None:
        """After a user phase that grew the users table (and set its managers), VACUUM it
        beside the group phase, whose membership checks then look users up without
        reading the table (``Database.refresh_statistics``)."""
        if "user" in self._refreshed:
            self._upkeep.refresh(["users"], vacuum=True)

    @staticmethod
    def _note_removals(
        object_type: ObjectType, page: Page, full: bool, checkpoint: dict[str, Any]
    ) -> None:
        """How the read saw removals, for ``sync status`` (kept with the job at the end)."""
        removals = page.removals or Removals.of_read(full, page.present is not None)
        checkpoint["removals"] = {**checkpoint.get("removals", {}), object_type: removals.to_json()}

    def _save(self, checkpoint: dict[str, Any], *, stop_here: bool = True) -> None:
        """Save the checkpoint; then, if asked to stop and ``stop_here``, stop (inside a
        batch, the batch's end is where the cycle stops: see ``_stop_if_asked``)."""
        if self.preview:
            return
        with self.tally.timed("write", "writeCheckpoint"), self.db.write() as conn:
            jobs.update_job(
                conn, self.integration.id, checkpoint={**checkpoint, "tally": self.tally.as_dict()}
            )
            jobs.heartbeat(conn, self.integration.id, self.owner)
        if stop_here:
            self._stop_if_asked()

    def _stop_if_asked(self) -> None:
        if self.should_stop is not None and self.should_stop():
            raise CycleInterrupted

    # --- after the reads ----------------------------------------------------------------------

    def _resolve_references(self) -> None:
        with self.db.read() as conn:
            pending = state.pending_references(conn, self.integration.id)
        resolved = [(user, manager) for user, manager, _ in pending if user and manager]
        self.tally.add("referencesUnresolved", len(pending) - len(resolved))
        if resolved:
            self.target.set_references(resolved)
            with self.db.write() as conn:
                state.clear_pending_references(
                    conn, self.integration.id, [user for user, _ in resolved]
                )

    def _reconcile_members(self) -> None:
        with self.db.read() as conn:
            groups = state.group_targets(conn, self.integration.id)
        self.tally.add("membersRemoved", self.target.remove_unlisted_members(groups, self.cycle_id))

    def _reject(self, object_type: ObjectType, rejected: Sequence[Rejected], full: bool) -> None:
        """Records the source could not read are logged and skipped whole; what idsync
        already provisioned from them stays as it is."""
        self.tally.add("rejected", len(rejected))
        kept = [item.source_id for item in rejected if item.source_id]
        if self.processor.book is not None:  # a preview
            self.processor.book.drop(object_type, kept)
            if full:
                self.processor.book.see(object_type, kept)
            return
        book = LogBook(
            self.integration.org_id, self.integration.id, self.cycle_id, self.tracking_id
        )
        for item in rejected:
            book.add(
                object_type,
                item.source_id or item.reference,
                "import",
                "failure",
                "import",
                display=item.reference,
                error=item.error,
            )
        with self.db.write() as conn:
            state.write_log(conn, book.take())
            if kept:
                state.drop_pending(conn, self.integration.id, object_type, kept)
                if full:
                    state.touch_links(conn, self.integration.id, object_type, kept, self.cycle_id)

    def _absent(
        self, object_type: ObjectType, present: frozenset[str], checkpoint: dict[str, Any]
    ) -> None:
        """An incremental read from a source without tombstones ends with every id the
        source holds: what idsync provisioned that is not among them is gone."""
        with self.db.read() as conn:
            links = state.live_links(conn, self.integration.id, object_type)
        missing = [link for link in links if link.source_id not in present and link.target_id]
        self._remove_missing(object_type, missing, len(links), checkpoint)

    def _detect_missing(self, object_type: ObjectType, checkpoint: dict[str, Any]) -> None:
        """After a full read: objects it did not report are gone from the source."""
        with self.db.read() as conn:
            if self.processor.book is None:
                missing = state.unseen_links(conn, self.integration.id, object_type, self.cycle_id)
            else:  # a preview: the objects its reads reported are kept in memory
                seen = self.processor.book.seen[object_type]
                links = state.live_links(conn, self.integration.id, object_type)
                missing = [link for link in links if link.source_id not in seen]
            known = state.count_links(conn, self.integration.id, object_type)
        missing = [link for link in missing if link.target_id]
        self._remove_missing(object_type, missing, known, checkpoint)

    def _remove_missing(
        self,
        object_type: ObjectType,
        missing: list[Link],
        known: int,
        checkpoint: dict[str, Any],
    ) -> None:
        if not missing:
            return
        action = "disable" if object_type == "user" else "delete"
        pending = [
            Pending(
                object_type,
                link.source_id,
                link.target_id or "",
                action,
                "no longer in the source",
                False,
            )
            for link in missing
            if not (action == "disable" and link.state == "disabled")
        ]
        # A removal the source itself reported (deleted, perhaps for good, before a
        # crash and resume) keeps its verdict over "not found"; leaving the scope does not.
        decided = {
            p.source_id
            for p in self._pending()
            if p.object_type == object_type and p.reason != OUT_OF_SCOPE
        }
        self._add_pending([p for p in pending if p.source_id not in decided])
        # Only what would change now counts: users disabled long ago (their source objects
        # deleted and the removals approved) are missing from every read after that.
        if looks_shrunk(known, len(pending)):
            # Kept in the checkpoint: a cycle resumed after a crash must still refuse.
            checkpoint["shrank"] = {
                "seen": known - len(pending),
                "object_type": object_type,
                "known": known,
            }
            self._save(checkpoint)
            self.shrank = self._shrank(checkpoint)

    def _shrank(self, checkpoint: dict[str, Any]) -> IdsyncError | None:
        return shrink_refusal(
            checkpoint.get("shrank"), self.integration.kind, self.integration.name
        )

    def _assignment(self) -> dict[ObjectType, set[str]] | None:
        """The assigned groups (``scoping.groups``) and their direct user members, read
        from the source at the start of every cycle (Entra's "assigned users and groups")."""
        wanted = self.integration.scoping.get("groups") or []
        if not wanted:
            return None
        users: set[str] = set()
        groups: set[str] = set()
        for group_id in wanted:
            group = self.source.read_one("group", str(group_id))
            if group is None:
                log.warning(
                    "assigned group not found", integration=self.integration.id, group=group_id
                )
                self.tally.add("assignedGroupsMissing")
                continue
            groups.add(group.source_id)
            users.update(m.source_id for m in group.members_added if m.object_type == "user")
        return {"user": users, "group": groups}

    def _reconcile_assignment(self) -> None:
        """Objects that left the assignment go (users disabled, groups deleted); those that
        joined it without changing in the source are read and provisioned now."""
        assignment = self.processor.assignment
        if assignment is None:
            return
        for object_type in OBJECT_TYPES:
            with self.db.read() as conn:
                active = state.active_links(conn, self.integration.id, object_type)
                waiting = state.escrowed(conn, self.integration.id, object_type)
            leaving = [
                out_of_scope(object_type, source_id, target_id)
                for source_id, target_id in active.items()
                if source_id not in assignment[object_type]
            ]
            self._add_pending(leaving)
            for source_id in sorted(assignment[object_type] - active.keys() - waiting):
                obj = self.source.read_one(object_type, source_id)
                if obj is not None:
                    self.tally.add("assignedRead")
                    self.processor.process(object_type, [obj], False)

    def _retry_escrow(self) -> None:
        with self.db.read() as conn:
            # Objects that failed in this cycle wait for a later one.
            due = state.due_escrow(conn, self.integration.id, self.started_at)
        for object_type, source_id in due:
            obj = self.source.read_one(object_type, source_id)  # type: ignore[arg-type]
            if obj is None and self.preview:
                continue
            if obj is None:
                with self.db.write() as conn:
                    state.release_escrow(conn, self.integration.id, object_type, [source_id])
                continue
            self.tally.add("escrowRetried")
            self.processor.process(object_type, [obj], False)  # type: ignore[arg-type]

    # --- the end --------------------------------------------------------------------------------

    def _pending(self, *, staged: bool | None = None) -> list[Pending]:
        """Removals waiting for the end of the cycle (a preview's are in memory)."""
        if self.processor.book is not None:
            return self.processor.book.listed(staged=staged)
        with self.db.read() as conn:
            return state.list_pending(conn, self.integration.id, staged=staged)

    def _add_pending(self, items: list[Pending]) -> None:
        if self.processor.book is not None:
            self.processor.book.add(items)
            return
        self.processor.removals_pending = True
        with self.db.write() as conn:
            state.add_pending(conn, self.integration.id, self.cycle_id, items)

    def _finish(self) -> CycleReport:
        if self.preview:
            self._preview_removals()
            return self._report(self._job(), "preview")
        checkpoint = self.checkpoint
        refusal = self._apply_or_stage_removals() or self._still_staged()
        refusal = refusal or failure_rate_refusal(
            self.tally.counts["failed"], self._attempted(), self.integration.name
        )
        now = utcnow()
        job = self._job()
        values: dict[str, Any] = {
            "watermark": {**job.watermark, **checkpoint["watermarks"]},
            "checkpoint": None,
            "last_cycle_id": self.cycle_id,
            "last_cycle_at": now,
            "counts": dict(self.tally.counts),
            "next_run_at": now + timedelta(seconds=self.integration.interval_seconds),
            "removals": {**(job.removals or {}), **checkpoint.get("removals", {})},
            "tracking_id": self.tracking_id,
            "evidence": None,
        }
        if refusal is None:
            values.update(succeeded())
            cycle_status = "succeeded"
        else:
            refusal.for_integration(self.integration.id)
            values.update(quarantined(refusal, now))
            cycle_status = "quarantined"
        with self.db.write() as conn:
            jobs.update_job(conn, self.integration.id, **self._kept_paused(values))
            pruned = state.prune_log(conn, self.integration.id, now - timedelta(days=self.log_days))
            self.tally.add("logEntriesPruned", pruned)
            state.update_cycle(
                conn,
                self.cycle_id,
                status=cycle_status,
                finished_at=now,
                counts=dict(self.tally.counts),
                timings=self.tally.as_dict()["seconds"],
                error_code=refusal.error.code if refusal else None,
                reason=refusal.detail if refusal else None,
            )
        log.info(
            "cycle finished",
            integration=self.integration.id,
            cycle=self.cycle_id,
            mode=self.mode,
            status=values["status"],
            counts=dict(self.tally.counts),
        )
        return self._report(self._job(), cycle_status)

    def _still_staged(self) -> IdsyncError | None:
        """Removals staged by an earlier cycle keep the job in quarantine until approved:
        a later clean cycle must not quietly make it Active again."""
        with self.db.read() as conn:
            staged = state.list_pending(conn, self.integration.id, staged=True)
        if not staged:
            return None
        return IdsyncError(
            DELETION_THRESHOLD,
            count=len(staged),
            threshold=self.integration.deletion_threshold,
            integration=self.integration.name,
        )

    def _attempted(self) -> int:
        return sum(
            self.tally.counts[a] for a in ("create", "update", "disable", "delete", "failed")
        )

    def _removals_refusal(self, pending: list[Pending]) -> IdsyncError | None:
        """Why the removals must be staged instead of applied, if they must."""
        if self.shrank is not None:
            return self.shrank
        return deletion_refusal(
            len(pending), self.integration.deletion_threshold, self.integration.name
        )

    def _preview_removals(self) -> None:
        """The removals a run would apply at its end, or stage, as the preview lists them."""
        pending = self._pending(staged=False)
        staged = pending and self._removals_refusal(pending) is not None
        for item in pending:
            action = "stagedDelete" if staged else item.action
            self.tally.add(action)
            self.processor.preview.append(
                {
                    "objectType": item.object_type,
                    "action": action,
                    "sourceId": item.source_id,
                    "display": None,
                    "targetId": item.target_id,
                    "result": "staged" if staged else "success",
                    "code": None,
                    "reason": item.reason,
                    "changes": [],
                }
            )

    def _apply_or_stage_removals(self) -> IdsyncError | None:
        pending = self._pending(staged=False)
        if not pending:
            return None
        refusal = self._removals_refusal(pending)
        if refusal is not None:
            self._stage(pending, refusal)
            return refusal
        apply_removals(self.db, self.integration, self.target, pending, self.cycle_id, self.tally)
        return None

    def _stage(self, pending: list[Pending], refusal: IdsyncError) -> None:
        book = LogBook(
            self.integration.org_id, self.integration.id, self.cycle_id, self.tracking_id
        )
        for item in pending:
            book.add(
                item.object_type,
                item.source_id,
                "stagedDelete",
                "staged",
                "export",
                target_id=item.target_id,
                error=refusal,
                changes={"wouldBe": item.action, "why": item.reason},
            )
        self.tally.add("stagedDelete", len(pending))
        with self.db.write() as conn:
            state.stage_pending(conn, self.integration.id)
            state.write_log(conn, book.take())

    def _quarantine(self, exc: AccessDenied) -> CycleReport:
        """Credentials refused: stop at once, change nothing more, keep the checkpoint."""
        exc.for_integration(self.integration.id)
        now = utcnow()
        job = self._job()
        failures = job.successive_failures + 1
        with self.db.write() as conn:
            values = {
                "status": JobStatus.QUARANTINE,
                "reason_code": exc.error.code,
                "reason": exc.detail,
                "quarantined_at": job.quarantined_at or now,
                "successive_failures": failures,
                "next_run_at": quarantine_retry_at(now, failures),
                "tracking_id": self.tracking_id,
                "evidence": _evidence(exc),
            }
            jobs.update_job(conn, self.integration.id, **self._kept_paused(values))
            state.update_cycle(
                conn,
                self.cycle_id,
                status="quarantined",
                finished_at=now,
                counts=dict(self.tally.counts),
                timings=self.tally.as_dict()["seconds"],
                error_code=exc.error.code,
                reason=exc.detail,
                evidence=_evidence(exc),
            )
        log.warning("job quarantined", integration=self.integration.id, code=exc.error.code)
        return self._report(self._job(), "quarantined")

    def _interrupted(self) -> CycleReport:
        """Stopped on request at a checkpoint: due again at once, resumed from there."""
        with self.db.write() as conn:
            jobs.update_job(conn, self.integration.id, next_run_at=utcnow())
            state.update_cycle(
                conn,
                self.cycle_id,
                status="interrupted",
                counts=dict(self.tally.counts),
                timings=self.tally.as_dict()["seconds"],
            )
        log.info("cycle interrupted", integration=self.integration.id, cycle=self.cycle_id)
        return self._report(self._job(), "interrupted")

    def _recorded(self, record: Callable[[], CycleReport]) -> CycleReport:
        """Record a failure once the database answers again: a cycle cut off from it
        (a failover, a restart) says why it stopped, and the failure counts toward
        quarantine. Past RECORD_WAIT the claim goes stale and the next cycle resumes."""
        deadline = time.monotonic() + RECORD_WAIT
        delay = 0.25
        while True:
            try:
                return record()
            except IdsyncError as exc:
                if exc.error.code != DATABASE_UNAVAILABLE.code or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _transient_failure(self, exc: IdsyncError, cause: Exception | None = None) -> CycleReport:
        """Throttled, unreachable, or our own fault: keep the checkpoint, retry later."""
        exc.for_integration(self.integration.id)
        now = utcnow()
        failures = self._job().successive_failures + 1
        quarantine = failures >= TRANSIENT_FAILURES_LIMIT
        retry_after = getattr(exc, "retry_after", None)
        next_run = (
            quarantine_retry_at(now, failures)
            if quarantine
            else now + timedelta(seconds=max(retry_after or 0, min(60 * 2**failures, 3600)))
        )
        detail = exc.detail if cause is None else f"{exc.detail} ({type(cause).__name__})"
        with self.db.write() as conn:
            values: dict[str, Any] = {
                "reason_code": exc.error.code,
                "reason": detail,
                "successive_failures": failures,
                "next_run_at": next_run,
                "tracking_id": self.tracking_id,
                "evidence": _evidence(exc),
            }
            if quarantine:
                values.update(status=JobStatus.QUARANTINE, quarantined_at=now)
            jobs.update_job(conn, self.integration.id, **self._kept_paused(values))
            if not self.preview:
                state.update_cycle(
                    conn,
                    self.cycle_id,
                    status="failed",
                    finished_at=now,
                    counts=dict(self.tally.counts),
                    timings=self.tally.as_dict()["seconds"],
                    error_code=exc.error.code,
                    reason=detail,
                    evidence=_evidence(exc),
                )
        return self._report(self._job(), "failed")

    def _report(self, job: JobRecord, outcome: str) -> CycleReport:
        return CycleReport(
            integration_id=self.integration.id,
            cycle_id=self.cycle_id,
            mode=self.mode,
            outcome=outcome,
            status=job.status,
            reason_code=job.reason_code,
            reason=job.reason,
            counts=dict(self.tally.counts),
            seconds={
                **self.tally.as_dict()["seconds"],
                "cycle": round(time.perf_counter() - self._clock, 3),
            },
            started_at=self.started_at,
            finished_at=utcnow(),
            preview=self.processor.preview if self.preview else None,
            tracking_id=self.tracking_id,
        )

    # --- plumbing ------------------------------------------------------------------------------

    def _job(self) -> JobRecord:
        with self.db.read() as conn:
            return jobs.get_job(conn, self.integration.id)

    def _processor(self) -> PageProcessor:
        integration = self.integration
        ctx = PageContext(
            db=self.db,
            target=self.target,
            org_id=integration.org_id,
            integration_id=integration.id,
            integration_name=integration.name,
            cycle_id=self.cycle_id,
            mappings={
                t: AttributeMapping.for_integration(
                    self.defaults, t, integration.mappings.get(t, ())
                )
                for t in OBJECT_TYPES
            },
            scopes={t: Scope.parse(integration.scoping.get(t, ())) for t in OBJECT_TYPES},
            adopt_existing=integration.adopt_existing,
            preview=self.preview,
            matching_attribute=integration.matching_attribute,
        )
        processor = PageProcessor(
            ctx,
            self.tally,
            LogBook(integration.org_id, integration.id, self.cycle_id, self.tracking_id),
        )
        with self.db.read() as conn:
            processor.escrow_pending = state.has_escrow(conn, integration.id)
            processor.removals_pending = state.has_pending(conn, integration.id)
            if processor.book is not None:  # a preview starts from the removals waiting
                processor.book.add(state.list_pending(conn, integration.id))
        return processor

    @contextmanager
    def _claimed(self) -> Iterator[None]:
        if self.preview:
            yield
            return
        with claimed(self.db, self.integration, self.owner):
            yield


def apply_removals(
    db: Database,
    integration: IntegrationRecord,
    target: Target,
    pending: list[Pending],
    cycle_id: str,
    tally: Tally,
) -> None:
    """Disable or delete what the cycle (or an approval) decided, and log each."""
    book = LogBook(integration.org_id, integration.id, cycle_id)
    for object_type in OBJECT_TYPES:
        for action in ("disable", "delete"):
            items = [p for p in pending if p.object_type == object_type and p.action == action]
            if not items:
                continue
            ids = [p.target_id for p in items]
            results = (
                target.deactivate(object_type, ids)
                if action == "disable"
                else target.delete(object_type, ids)
            )
            by_target = {p.target_id: p for p in items}
            done: list[Pending] = []
            for result in results:
                item = by_target[result.target_id or result.source_id]
                if result.error is not None:
                    tally.add("failed")
                    book.add(
                        object_type,
                        item.source_id,
                        action,
                        "failure",
                        "export",
                        target_id=item.target_id,
                        error=result.error,
                    )
                    continue
                done.append(item)
                tally.add(action)
                book.add(
                    object_type,
                    item.source_id,
                    action,
                    "success",
                    "export",
                    target_id=item.target_id,
                    reason=item.reason,
                )
            if action == "disable":
                _leave_groups(target, object_type, done, tally)
            with db.write() as conn:
                state.set_link_state(
                    conn,
                    integration.id,
                    object_type,
                    [p.source_id for p in done],
                    "disabled" if action == "disable" else "removed",
                )
                state.drop_pending(conn, integration.id, object_type, [p.source_id for p in items])
                state.write_log(conn, book.take())


def _leave_groups(
    target: Target, object_type: ObjectType, disabled: list[Pending], tally: Tally
) -> None:
    """Objects disabled because they left the source leave the groups this integration put
    them in, now: no group in the source lists them any more, but a source that reads
    whole member lists (LDAP) re-reads a group only when the group itself changes, and
    deleting a member does not change it (AD's uSNChanged stays). A user merely disabled
    in the source, or out of scope, is still listed by its groups and keeps them."""
    gone = [p.target_id for p in disabled if p.reason != OUT_OF_SCOPE]
    if gone:
        tally.add("membersRemoved", target.remove_memberships_of(object_type, gone))


def _evidence(exc: IdsyncError) -> dict[str, Any] | None:
    """What the other side said, as a connector recorded it (None: nothing upstream)."""
    return dict(getattr(exc, "evidence", None) or {}) or None
