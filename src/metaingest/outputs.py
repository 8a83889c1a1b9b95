"""Output files: checked before anything connects, written whole, with the umask's mode.

``check_output`` runs before a run connects to anything, for every file the run will write
(the sink's target, ``--report``, ``--log-file``): it creates missing parent folders and
proves the folder takes a new file, so that a run never extracts a whole catalog only to
fail at the end on a path that cannot be written. A path that cannot be written is a
``ConfigError`` naming the option.

``write_atomic`` writes a file beside its target and renames it into place, so a failed
write keeps the previous file; ``umask_mode`` gives new files the mode ``open()`` would
(0666 less the process's umask) rather than ``mkstemp``'s 0600.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from metaingest.errors import ConfigError

__all__ = ["check_output", "umask_mode", "write_atomic"]


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def check_output(key: str, path: str | os.PathLike[str]) -> Path:
    """Create ``path``'s missing parent folders and prove a file can be written there.

    Raises ``ConfigError`` (``key: path: why``) when the path is a folder, sits under a
    file, or its folder refuses a new file. Writes nothing at ``path`` itself.
    """
    target = Path(path)
    if target.is_dir():
        raise ConfigError(f"{key}: {target}: is a directory, not a file")
    parent = target.parent
    blocker = next((p for p in (parent, *parent.parents) if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise ConfigError(f"{key}: {target}: {blocker} is a file, not a folder")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{key}: {target}: cannot create its folder: {_reason(exc)}") from None
    if target.exists() and not os.access(target, os.W_OK):
        raise ConfigError(f"{key}: {target}: not writable")
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".check", dir=parent)
    except OSError as exc:
        raise ConfigError(f"{key}: {target}: cannot write in {parent}: {_reason(exc)}") from None
    os.close(fd)
    os.unlink(probe)
    return target


def _read_umask() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    # Not Linux: the only portable way to read the umask sets it (briefly) too.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def umask_mode() -> int:
    """The mode a new file gets from ``open()``: 0666 less the process's umask."""
    return 0o666 & ~_read_umask()


def write_atomic(path: str | os.PathLike[str], write: Callable[[IO[str]], None]) -> None:
    """Write a text file beside ``path`` with ``write`` and rename it into place."""
    target = Path(path)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            write(out)
            out.flush()
            os.fchmod(out.fileno(), umask_mode())
            os.fsync(out.fileno())
        os.replace(name, target)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
