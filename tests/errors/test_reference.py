"""docs/errors.md is the catalogue, as the command it names writes it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from idsync.errors.catalogue import CATALOGUE

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "errors.md"


def test_the_error_reference_is_what_the_catalogue_writes() -> None:
    written = subprocess.run(
        [sys.executable, "-m", "idsync.errors.reference"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert REFERENCE.read_text(encoding="utf-8") == written, (
        "docs/errors.md is stale: python -m idsync.errors.reference > docs/errors.md"
    )


def test_every_code_has_its_entry_with_what_to_do() -> None:
    text = REFERENCE.read_text(encoding="utf-8")
    for code, error in CATALOGUE.items():
        heading = f"### {code} — {error.title}"
        assert heading in text
        entry = text.split(heading, 1)[1].split("\n### ", 1)[0]
        assert "**What happened:**" in entry
        assert ("**What to do:**" in entry) == bool(error.action)
