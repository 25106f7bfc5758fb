"""Run files: written atomically, read back verified.

Input: a path and bytes, or a JSON object. Output: the file; on reading, its verified content.
Invariants: every write goes to a fresh temporary file in the target's directory, is flushed
and fsynced, then renamed over the target (`os.replace`), so a kill -9 at any moment leaves
the old file or the new one, never a torn one (a stray `.NAME.*.tmp` at worst); JSON run files
(config.json) carry "sha256", the digest of their canonical content, and `read_json` refuses a
file that is missing, truncated, not JSON or fails its checksum with a `RunFileError` naming
the file, instead of resuming from something that is not what was written.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

CHECKSUM_KEY = "sha256"


class RunFileError(ValueError):
    """A run file that cannot be trusted; the message names it and says what to do."""


def atomic_write(path: str | Path, data: bytes) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (POSIX); harmless to skip where unsupported."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def digest(obj: Any) -> str:
    """sha256 of the canonical JSON text of `obj` (sorted keys, no spaces): formatting and
    key order do not change it, any change of a value does."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def write_json(path: str | Path, obj: dict[str, Any]) -> None:
    body = {k: v for k, v in obj.items() if k != CHECKSUM_KEY}
    text = json.dumps({**body, CHECKSUM_KEY: digest(body)}, indent=2)
    atomic_write(path, (text + "\n").encode())


def read_json(path: str | Path) -> dict[str, Any]:
    """The object `write_json` wrote, verified; `RunFileError` naming the file otherwise."""
    path = Path(path)
    fix = ("it is written atomically, so something else changed or damaged it: restore it, "
           "or start a new run directory")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise RunFileError(f"{path} is missing") from None
    try:
        obj = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise RunFileError(f"{path} is corrupt: not valid JSON ({str(e)[:200]}; "
                           f"{len(raw)} bytes); {fix}") from None
    if not isinstance(obj, dict):
        raise RunFileError(f"{path} is corrupt: a JSON {type(obj).__name__}, not an object; "
                           f"{fix}")
    stored = obj.pop(CHECKSUM_KEY, None)
    if stored is None:
        raise RunFileError(f"{path} has no '{CHECKSUM_KEY}' checksum (hand-written, or from "
                           f"an older version): its content cannot be verified; {fix}")
    if stored != digest(obj):
        raise RunFileError(f"{path} is corrupt: its content does not match its "
                           f"'{CHECKSUM_KEY}' checksum; {fix}")
    return obj
