"""docs/errors.md, written from the catalogue: every code with what happened and what to do.

``python -m idsync.errors.reference > docs/errors.md`` regenerates it; a test fails when
the file and the catalogue differ, so the reference cannot drift from what idsync says.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from idsync.errors.catalogue import CATALOGUE, ErrorCode

_PLACEHOLDER = re.compile(r"\{(\w+)(?:![qr])?\}")

_GROUPS = (
    ("400", "The request is wrong (400)"),
    ("401", "Credentials (401)"),
    ("404", "Not found (404)"),
    ("405", "Method not allowed (405)"),
    ("406", "Not acceptable (406)"),
    ("409", "Conflicts and refusals (409)"),
    ("410", "Gone (410)"),
    ("412", "Precondition failed (412)"),
    ("413", "Too large (413)"),
    ("415", "Unsupported media type (415)"),
    ("429", "Too many requests (429)"),
    ("500", "idsync failed (500)"),
    ("501", "Not implemented (501)"),
    ("502", "A directory or application failed (502)"),
    ("503", "Unavailable (503)"),
)

_INTRO = """\
# Error reference

<!-- Written by `python -m idsync.errors.reference > docs/errors.md`; do not edit. -->

Every error idsync reports — in a SCIM response, the CLI, a sync job's status or the
provisioning log — carries a code from one catalogue, `IDS-<HTTP status>-<number>`,
and a tracking ID that finds the matching server log lines. The middle part tells at
a glance whose side failed: 4xx the request or the credentials, 502/504 a directory or
application idsync talks to, 500/503 idsync or its database. A code never changes
meaning once released.

Each entry gives what idsync says happened and what to do. Parts in `<angle
brackets>` are filled in from the case at hand; the commands an action names run as
printed once they are.
"""


def _text(template: str) -> str:
    return _PLACEHOLDER.sub(lambda m: f"`<{m.group(1)}>`", template)


def _entry(error: ErrorCode) -> str:
    lines = [f"### {error.code} — {error.title}", "", f"**What happened:** {_text(error.message)}"]
    if error.action:
        lines += ["", f"**What to do:** {_text(error.action)}"]
    if error.scim_type:
        lines += ["", f"SCIM `scimType`: `{error.scim_type}` (RFC 7644 §3.12)."]
    return "\n".join(lines)


def _grouped(errors: Iterable[ErrorCode]) -> dict[str, list[ErrorCode]]:
    groups: dict[str, list[ErrorCode]] = {}
    for error in sorted(errors, key=lambda e: e.code):
        groups.setdefault(str(error.status), []).append(error)
    return groups


def markdown() -> str:
    """The whole of docs/errors.md."""
    titles = dict(_GROUPS)
    parts = [_INTRO]
    for status, errors in sorted(_grouped(CATALOGUE.values()).items()):
        parts.append(f"## {titles.get(status, f'HTTP {status}')}")
        parts.extend(_entry(error) for error in errors)
    return "\n\n".join(part.rstrip("\n") for part in parts) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
