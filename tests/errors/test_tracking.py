"""Tracking IDs are RFC 9562 version-4 UUIDs behind ``IDS_``, different every time."""

from __future__ import annotations

import uuid

from idsync.errors.tracking import PREFIX, new_tracking_id


def test_a_tracking_id_is_a_version_4_uuid() -> None:
    seen = {new_tracking_id() for _ in range(10_000)}
    assert len(seen) == 10_000
    for tracking_id in seen:
        assert tracking_id.startswith(PREFIX)
        parsed = uuid.UUID(tracking_id.removeprefix(PREFIX))
        assert str(parsed) == tracking_id.removeprefix(PREFIX)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
