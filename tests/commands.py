"""``python -m idsync …`` as the tests run it: a process of its own, started warm.

A command's process costs about 0.8 s of CPU on the CI machine, of which Python's
imports (SQLAlchemy, Typer, Rich, httpx, pydantic, idsync's own layers) are 0.5–0.6 s;
the suite runs a thousand such commands on two cores. Here each command still runs in
a process of its own, with its own argument list, environment, working folder,
standard streams and exit status, as with ``subprocess.run([sys.executable, "-m",
"idsync", …])``; but the process is forked from a warm one that imported those
libraries once (``multiprocessing``'s forkserver, made for this). ``idsync.cli`` is not
imported ahead: it builds its consoles from the environment (``COLUMNS``) as it is
imported, so each command imports it afresh.

Servers and commands a test signals or watches (``serve``, ``worker``, ``emulator``,
the kill tests) keep ``subprocess``: they need a process the test owns.
"""

from __future__ import annotations

import multiprocessing
import os
import runpy
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

# Below ``idsync.cli`` (see the module's docstring): the libraries and layers every
# command imports. Not Typer's rich_utils, which reads the terminal's environment as
# it is imported.
_PRELOAD = [
    "tests.commands",
    "sqlalchemy",
    "sqlalchemy.dialects.postgresql",
    "sqlalchemy.dialects.sqlite",
    "psycopg",
    "alembic",
    "httpx",
    "pydantic",
    "cryptography.fernet",
    "rich.console",
    "rich.table",
    "typer",
    "idsync.manage.alerts",
    "idsync.manage.database",
    "idsync.manage.integrations",
    "idsync.manage.health",
    "idsync.connectors.registry",
    "idsync.sync.engine",
]

_WRITE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC


@cache
def _forkserver() -> Any:
    """The context whose forkserver (started at its first command) imports ``_PRELOAD``."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)
    return context


def run_idsync(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    input: str | bytes | None = None,
    text: bool = False,
    timeout: float = 120,
    check: bool = False,
    warm: bool = True,
) -> subprocess.CompletedProcess[Any]:
    """``subprocess.run([sys.executable, "-m", "idsync", *args], capture_output=True, …)``,
    its process forked warm (``warm=False``: that very call)."""
    command = [sys.executable, "-m", "idsync", *args]
    if not warm:
        return subprocess.run(
            command, env=env, cwd=cwd, input=input, text=text, timeout=timeout, check=check,
            capture_output=True,
        )  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="idsync-command-") as folder:
        streams = [Path(folder, name) for name in ("stdin", "stdout", "stderr")]
        data = input.encode() if isinstance(input, str) else (input or b"")
        streams[0].write_bytes(data)
        process = _forkserver().Process(
            target=_command,
            args=(list(args), dict(os.environ if env is None else env), str(cwd or os.getcwd()),
                  [str(s) for s in streams]),
        )  # fmt: skip
        process.start()
        process.join(timeout)
        if process.exitcode is None:
            process.kill()
            process.join()
            raise subprocess.TimeoutExpired(command, timeout)
        out, err = streams[1].read_bytes(), streams[2].read_bytes()
    result: subprocess.CompletedProcess[Any] = subprocess.CompletedProcess(
        command,
        process.exitcode,
        out.decode() if text else out,
        err.decode() if text else err,
    )
    if check:
        result.check_returncode()
    return result


def _command(args: list[str], env: dict[str, str], cwd: str, streams: list[str]) -> None:
    """In the forked process: become ``python -m idsync *args`` and run."""
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    for fd, path, flags in zip((0, 1, 2), streams, (os.O_RDONLY, _WRITE, _WRITE), strict=True):
        opened = os.open(path, flags, 0o600)
        os.dup2(opened, fd)
        os.close(opened)
    # New streams on the new descriptors, as a new interpreter opens them.
    sys.stdin = open(0, closefd=False)  # noqa: SIM115 - the process's own, never closed
    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", closefd=False, errors="backslashreplace")  # noqa: SIM115
    sys.argv = ["idsync", *args]
    runpy.run_module("idsync", run_name="__main__", alter_sys=True)
