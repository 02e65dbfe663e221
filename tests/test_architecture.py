"""docs/architecture.md tells the truth: its import table is what the code imports, and
the documents that README.md, docs/ and the code cite are in this repository."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "idsync"
ARCHITECTURE = ROOT / "docs" / "architecture.md"


def imported_packages() -> dict[str, set[str]]:
    """Per package of idsync, the other packages and root modules (config, logs) it
    imports, anywhere in a module."""
    packages: dict[str, set[str]] = {
        p.name: set() for p in PACKAGE.iterdir() if p.is_dir() and any(p.glob("*.py"))
    }
    for path in PACKAGE.rglob("*.py"):
        owner = path.relative_to(PACKAGE).parts[0]
        if owner not in packages:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                parts = name.split(".")
                if parts[0] == "idsync" and len(parts) > 1 and parts[1] != owner:
                    packages[owner].add(parts[1])
    return packages


def documented_imports() -> dict[str, set[str]]:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    table = text.split("<!-- imports -->")[1].split("<!-- /imports -->")[0]
    rows = re.findall(r"^\| `(\w+)` \|([^|]*)\|$", table, re.MULTILINE)
    return {name: {p.strip() for p in imports.split(",") if p.strip()} for name, imports in rows}


def test_the_architecture_document_shows_the_imports_the_code_has() -> None:
    assert documented_imports() == imported_packages()


def test_the_sections_the_code_cites_exist() -> None:
    headings = set(re.findall(r"^#+ (.+)$", ARCHITECTURE.read_text(encoding="utf-8"), re.M))
    bold = set(re.findall(r"\*\*([^*]+?)\.?\*\*", ARCHITECTURE.read_text(encoding="utf-8")))
    cited = {
        (str(path.relative_to(ROOT)), section)
        for path in PACKAGE.rglob("*.py")
        for section in re.findall(
            r'docs/architecture\.md, "([^"]+)"', path.read_text(encoding="utf-8")
        )
    }
    assert cited
    assert {c for c in cited if c[1] not in headings | bold} == set()


def test_cited_documents_are_in_the_repository() -> None:
    names = {p.name for p in ROOT.rglob("*.md") if ".venv" not in p.parts}
    # docs/research/ quotes other repositories' files by their paths there.
    citing = [ROOT / "README.md", *ROOT.joinpath("docs").glob("*.md"), *PACKAGE.rglob("*.py")]
    missing = set()
    for path in citing:
        for cited in re.findall(r"[\w./-]+\.md\b", path.read_text(encoding="utf-8")):
            found = (ROOT / cited).exists() or (path.parent / cited).exists()
            if not found and not ("/" not in cited and cited in names):
                missing.add((str(path.relative_to(ROOT)), cited))
    assert missing == set()


def drawn_floors() -> dict[str, int]:
    """Per package, its floor in the drawing of "Floors: which package may import which"
    (0 at the top)."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    section = text.split("## Floors: which package may import which")[1]
    drawing = section.split("```")[1]
    floors: dict[str, int] = {}
    for floor, line in enumerate(line for line in drawing.splitlines() if line.strip()):
        names = line.split("  " * 3)[0]  # the packages, before the wide gap and the comment
        for name in re.findall(r"(\w+)/", names):
            floors[name] = floor
    return floors


def test_no_package_imports_one_on_a_higher_floor() -> None:
    floors = drawn_floors()
    assert {"errors", "contract", "manage", "sync", "connectors", "emulator"} <= floors.keys()
    climbing = {
        (package, imported)
        for package, imports in imported_packages().items()
        for imported in imports - {"config", "logs"}
        if floors[imported] < floors[package]
    }
    assert climbing == set()
    assert imported_packages()["emulator"] == set()  # apart: imports nothing of idsync


def test_commands_load_a_connectors_protocol_library_only_when_it_is_opened() -> None:
    """msal (with requests and PyJWT) and ldap3 cost a third of every command's start-up;
    a command that only describes, lists or diagnoses integrations does not load them
    (connectors/entra/__init__.py and connectors/ldap/__init__.py open them on use)."""
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, idsync.cli; print(' '.join(sorted(m for m in ('msal', 'ldap3') "
            "if m in sys.modules)))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.strip() == ""
