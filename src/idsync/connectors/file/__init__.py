"""The file connector: users and groups from CSV, JSON or JSON Lines files.

``FileSource`` implements :class:`idsync.contract.protocols.Source`; ``settings`` says
which files and how to read them, ``formats`` splits a file into rows with their
line numbers, ``validate`` turns rows into objects (or rejects them whole), and
``failures`` holds the errors for files that cannot be used at all.
The formats are documented in docs/file-import.md.
"""

from collections.abc import Mapping
from typing import Any

from idsync.connectors.description import Connector
from idsync.connectors.file.settings import FileSettings, file_settings
from idsync.connectors.file.source import FileSource
from idsync.contract.mappings import DIRECTORY


def _build(name: str, settings: Mapping[str, Any], secrets: Mapping[str, Any]) -> FileSettings:
    return file_settings(name, settings)  # a file needs no credentials


CONNECTOR = Connector(
    kind="file",
    title="CSV, JSON or JSON Lines files",
    summary="Import users and groups from a file (one-off loads, HR exports); bad rows are "
    "skipped and logged.",
    directions=("source",),
    settings_class=FileSettings,
    build=_build,
    default_name="File import",
    default_mappings={"source": DIRECTORY},
    open_source=FileSource,
    job_defaults={"source": {"auto_sync": False}},  # re-read only when asked
)

__all__ = ["CONNECTOR", "FileSettings", "FileSource", "file_settings"]
