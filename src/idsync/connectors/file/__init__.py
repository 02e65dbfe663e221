"""The file connector: users and groups from CSV, JSON or JSON Lines files.

``FileSource`` implements :class:`idsync.connectors.base.Source`; ``settings`` says
which files and how to read them, ``formats`` splits a file into rows with their
line numbers, ``validate`` turns rows into objects (or rejects them whole), and
``failures`` holds the errors for files that cannot be used at all.
The formats are documented in docs/file-import.md.
"""

from idsync.connectors.file.settings import FileSettings, file_settings
from idsync.connectors.file.source import FileSource

__all__ = ["FileSettings", "FileSource", "file_settings"]
