"""``RESULTS.md`` holds one section per benchmark; each script rewrites only its own."""

from __future__ import annotations

from pathlib import Path


def _proc_field(path: str, name: str) -> str | None:
    for line in Path(path).read_text().splitlines():
        if line.startswith(name):
            return line.split(":", 1)[1].strip()
    return None


def cpu_model() -> str:
    """The processor's name (``/proc/cpuinfo``): figures taken on different machines of
    the same size differ by the CPU, so every section names it."""
    return _proc_field("/proc/cpuinfo", "model name") or "unknown"


def memory_total() -> str:
    """The machine's RAM in GiB (``/proc/meminfo``)."""
    kib = _proc_field("/proc/meminfo", "MemTotal:")
    return "unknown" if kib is None else f"{int(kib.split()[0]) / 1024 / 1024:.1f} GiB"


def write_section(path: Path, name: str, markdown: str) -> None:
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    block = f"{begin}\n{markdown.rstrip()}\n{end}\n"
    text = path.read_text() if path.exists() else ""
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1].lstrip("\n")
    else:
        text = (text.rstrip() + "\n\n" if text.strip() else "") + block
    path.write_text(text)
