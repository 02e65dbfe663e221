"""The shell commands of a Markdown document, in document order, with their line numbers.

A command is a line of a fenced block labelled ``sh``, ``bash``, ``shell`` or
``console``, or of an unlabelled block that holds ``idsync …`` or ``$ …`` lines (in
such a block, and wherever ``$ `` prompts are used, the other lines are output). A
line ending in a backslash continues on the next. Comment lines are not commands.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

SHELLS = {"sh", "bash", "shell", "console"}
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[\w+-]*)[ \t]*$")
PROMPT = "$ "
EXIT_CODE = re.compile(r"#.*\bexits (\d+)\b")
"""How a document says a command fails on purpose: ``idsync … # exits 3``."""


@dataclass(frozen=True)
class Step:
    doc: str
    line: int
    text: str
    """As written (prompt removed, backslash-newlines kept): what bash runs."""

    @property
    def where(self) -> str:
        return f"{self.doc}:{self.line}"

    @property
    def flat(self) -> str:
        """On one line, continuations joined: what the tables match."""
        return " ".join(self.text.replace("\\\n", " ").split())

    @property
    def exit_code(self) -> int:
        found = EXIT_CODE.search(self.flat)
        return int(found.group(1)) if found else 0


@dataclass(frozen=True)
class Block:
    lang: str
    lines: list[tuple[int, str]]
    """(line number, text without the fence's indentation)."""

    @property
    def text(self) -> str:
        return "".join(f"{text}\n" for _, text in self.lines)


def blocks(path: Path) -> list[Block]:
    found: list[Block] = []
    current: Block | None = None
    fence = indent = ""
    for number, line in enumerate(path.read_text().splitlines(), 1):
        match = FENCE.match(line)
        if current is None:
            if match:
                current = Block(match["lang"], [])
                fence, indent = match["fence"], match["indent"]
            continue
        if match and not match["lang"] and match["fence"].startswith(fence):
            found.append(current)
            current = None
            continue
        current.lines.append((number, line.removeprefix(indent)))
    return found


def steps(path: Path, doc: str) -> list[Step]:
    return [step for block in blocks(path) for step in _commands(doc, block)]


def _commands(doc: str, block: Block) -> list[Step]:
    prompted = any(text.startswith(PROMPT) for _, text in block.lines)
    marked = prompted or block.lang not in SHELLS
    if marked and not (prompted or any(t.startswith("idsync ") for _, t in block.lines)):
        return []
    found: list[Step] = []
    start, held = 0, ""
    for number, text in block.lines:
        if held:
            text = f"{held}\n{text}"
        elif marked:
            if prompted and not text.startswith(PROMPT):
                continue
            if not prompted and not text.startswith("idsync "):
                continue
            text = text.removeprefix(PROMPT)
            start = number
        else:
            start = number
        if text.endswith("\\"):
            held = text
            continue
        held = ""
        if text.strip() and not text.lstrip().startswith("#"):
            found.append(Step(doc, start, text))
    return found
