"""The garbage collector during cycles: what existed before a cycle is frozen while it
runs (full collections walk only what the cycle makes) and handed back after."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from idsync.contract.records import SourceObject
from idsync.store.database import Database
from idsync.sync.engine import Progress
from idsync.sync.garbage import older_objects_frozen
from tests.prepared_source import PreparedSource, hub_integration, paged, prepared_cycle


def test_a_cycle_runs_with_the_older_objects_frozen_and_hands_them_back(
    database: Database, tmp_path: Path
) -> None:
    integration_id = hub_integration(database, tmp_path)
    users = [SourceObject("user", f"u{n}", {"userName": f"u{n}@example.org"}) for n in range(20)]
    frozen_during: list[int] = []

    def progress(_: Progress) -> None:
        frozen_during.append(gc.get_freeze_count())

    assert gc.get_freeze_count() == 0
    source = PreparedSource({"user": paged(users, 5)})
    report = prepared_cycle(database, integration_id, source, progress).run()
    assert report.status == "Active", (report.reason_code, report.reason)
    assert len(frozen_during) == 4
    assert all(count > 0 for count in frozen_during), frozen_during
    assert gc.get_freeze_count() == 0


def _a_cycle_that_fails(seen: list[int]) -> None:
    with older_objects_frozen():
        seen.append(gc.get_freeze_count())
        raise RuntimeError("the second cycle failed")


def test_overlapping_cycles_unfreeze_when_the_last_one_ends() -> None:
    with older_objects_frozen():
        frozen = gc.get_freeze_count()
        assert frozen > 0
        # A second cycle (another thread's) neither freezes again nor, failing,
        # unfreezes what the first still runs with.
        seen: list[int] = []
        with pytest.raises(RuntimeError):
            _a_cycle_that_fails(seen)
        assert seen == [frozen]
        assert gc.get_freeze_count() == frozen
    assert gc.get_freeze_count() == 0
