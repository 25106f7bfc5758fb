"""The on-disk cache directory: found safely, written atomically, read without following links.

The cache holds generated source that is compiled and run, so whoever can write into it can
run code as the user. As ssh does with its keys, the directory is created `0700` and refused
(a warning, then the disk cache is off for the process) when it is a symbolic link, owned by
another user, or writable by group or others. A directory that cannot be created or written
(read-only, full) also turns the disk cache off with one warning: a cache only ever costs
speed, never a crash.

Invariants:
- `cache_dir()` is `None` or a directory this user owns, mode without group/other write;
- files are written through `tempfile.mkstemp` in the same directory (a random name created
  with O_EXCL, so a planted file or link at a predictable name is never followed) and moved
  into place with `os.replace` (readers see the old file or the new one, never half of one);
- files are read with O_NOFOLLOW: a link planted in place of an entry is not followed.
"""
from __future__ import annotations

import os
import stat
import tempfile
import threading
from pathlib import Path

from kernels import locations

_LOCK = threading.Lock()
_CHECKED: dict[str, Path | None] = {}   # root -> the usable directory, or None (cache off)


def _root() -> str:
    return os.environ.get("COARSEN_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "coarsen")


def _warn(message: str) -> None:
    locations.warn(f"coarsen: {message}; the disk cache is off (compiled programs are not "
                   "saved or loaded)", RuntimeWarning)


def _usable(root: str) -> Path | None:
    path = Path(root)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        info = os.lstat(path)
    except OSError as err:
        _warn(f"cannot create the cache directory {path} ({err.strerror or err})")
        return None
    if stat.S_ISLNK(info.st_mode):
        _warn(f"the cache directory {path} is a symbolic link; refusing to follow it")
        return None
    if not stat.S_ISDIR(info.st_mode):
        _warn(f"the cache path {path} is not a directory")
        return None
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        _warn(f"the cache directory {path} is owned by another user (uid {info.st_uid})")
        return None
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        _warn(f"the cache directory {path} is writable by other users (mode "
              f"{stat.S_IMODE(info.st_mode):o}); make it private with chmod 700")
        return None
    if not os.access(path, os.W_OK | os.X_OK):
        _warn(f"the cache directory {path} is not writable")
        return None
    return path


def cache_dir() -> Path | None:
    """The cache directory (checked once per process and root), or None when the disk cache
    is off. `COARSEN_CACHE_DIR` overrides `$XDG_CACHE_HOME/coarsen`."""
    root = _root()
    try:
        return _CHECKED[root]
    except KeyError:
        pass
    with _LOCK:
        if root not in _CHECKED:
            _CHECKED[root] = _usable(root)
        return _CHECKED[root]


def disable(path: Path, err: BaseException) -> None:
    """Turn the disk cache off for this process after a failed write (full, read-only)."""
    with _LOCK:
        for root, usable in list(_CHECKED.items()):
            if usable == path:
                _CHECKED[root] = None
                _warn(f"cannot write to the cache directory {path} ({err})")


def write_atomic(directory: Path, name: str, data: bytes) -> bool:
    """Write `directory/name` atomically; False (and the disk cache off) if it cannot be."""
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, directory / name)
        return True
    except OSError as err:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        disable(directory, err)
        return False


def read_nofollow(path: Path) -> bytes | None:
    """The bytes of `path`, or None when it is missing, a symbolic link or unreadable."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as err:
        locations.warn(f"coarsen: cannot read the cache entry {path} ({err.strerror or err}); "
                       "compiling again", RuntimeWarning)
        return None
    try:
        with os.fdopen(fd, "rb") as fh:
            return fh.read()
    except OSError:
        return None
