"""Numba's on-disk cache, made safe for coarsen's files: checked on load, never a crash.

Numba keeps machine code in `.nbi` (index) and `.nbc` (data) pickles and loads them with no
integrity check: a truncated or flipped file raises `UnpicklingError` (or worse, loads
corrupt object code). For the files of coarsen's own modules (generated programs and the
`rt.*` runtime) `install()` makes Numba
- write each index and data file as MAGIC + sha256(payload) + payload, and refuse (as a
  cache miss, with a warning) any file whose hash does not match;
- treat any other error while loading or saving a cached overload as a miss: a warning,
  then Numba compiles the function again (and rewrites the entry);
- key each entry by the optimisation level too (`NUMBA_OPT`), which Numba's key omits.
Files of other Numba users in the same process keep Numba's own format and behaviour.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import threading

from kernels import locations

MAGIC = b"coarsen-numba-cache-1\n"
_OURS = ("coarsen_generated_", "numba_runtime.")
_installed = False
_lock = threading.Lock()


class CorruptCacheFile(Exception):
    pass


def _ours(cache_file) -> bool:
    return os.path.basename(getattr(cache_file, "_index_path", "")).startswith(_OURS)


def _warn(what: str, err: BaseException) -> None:
    locations.warn(f"coarsen: ignoring Numba's cache entry ({what}: {type(err).__name__}: {err}); "
                   "compiling again", RuntimeWarning)


def _seal(payload: bytes) -> bytes:
    return MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload


def _unseal(data: bytes, path: str) -> bytes:
    head = len(MAGIC) + 65
    if not data.startswith(MAGIC) or len(data) < head or data[head - 1:head] != b"\n":
        raise CorruptCacheFile(f"{path} has no coarsen seal")
    digest, payload = data[len(MAGIC):head - 1], data[head:]
    if hashlib.sha256(payload).hexdigest().encode() != digest:
        raise CorruptCacheFile(f"{path} does not match its hash")
    return payload


def install() -> None:
    """Patch Numba's cache classes once (idempotent, thread-safe)."""
    global _installed
    with _lock:
        if _installed:
            return
        from numba.core import caching

        files = caching.IndexDataCacheFile
        load_index, save_index = files._load_index, files._save_index
        load_data, save_data = files._load_data, files._save_data

        def _load_index(self):
            if not _ours(self):
                return load_index(self)
            try:
                with open(self._index_path, "rb") as fh:
                    data = fh.read()
            except FileNotFoundError:
                return {}
            try:
                version, stamp, overloads = pickle.loads(_unseal(data, self._index_path))
            except Exception as err:   # corrupt, truncated or an older format: start afresh
                if data.startswith(MAGIC):
                    _warn(self._index_path, err)
                return {}
            if version != self._version or stamp != self._source_stamp or not isinstance(overloads, dict):
                return {}
            return overloads

        def _save_index(self, overloads):
            if not _ours(self):
                return save_index(self, overloads)
            payload = self._dump((self._version, self._source_stamp, overloads))
            with self._open_for_write(self._index_path) as fh:
                fh.write(_seal(payload))

        def _load_data(self, name):
            if not _ours(self):
                return load_data(self, name)
            path = self._data_path(name)
            with open(path, "rb") as fh:
                data = fh.read()
            return pickle.loads(_unseal(data, path))

        def _save_data(self, name, data):
            if not _ours(self):
                return save_data(self, name, data)
            with self._open_for_write(self._data_path(name)) as fh:
                fh.write(_seal(self._dump(data)))

        files._load_index, files._save_index = _load_index, _save_index
        files._load_data, files._save_data = _load_data, _save_data

        cache = caching.Cache
        load_overload, save_overload = cache.load_overload, cache.save_overload

        def safe_load_overload(self, sig, target_context):
            try:
                return load_overload(self, sig, target_context)
            except Exception as err:   # a miss: Numba compiles and saves a fresh entry
                if _ours(getattr(self, "_cache_file", None)):
                    _warn(getattr(self, "_name", "?"), err)
                    return None
                raise

        def safe_save_overload(self, sig, data):
            try:
                return save_overload(self, sig, data)
            except Exception as err:   # a cache that cannot be written only costs speed
                if _ours(getattr(self, "_cache_file", None)):
                    # Numba's own refusal ("Cannot cache compiled function ...": its warning,
                    # raised where warnings are errors) is a miss, not a broken file
                    if "Cannot cache compiled function" not in str(err):
                        _warn(getattr(self, "_name", "?"), err)
                    return None
                raise

        cache.load_overload, cache.save_overload = safe_load_overload, safe_save_overload

        index_key = cache._index_key

        def _index_key(self, sig, codegen):
            # machine code of one optimisation level is not served to another (the test suite
            # compiles at NUMBA_OPT=0, tests/conftest.py; programs run by users afterwards must
            # not inherit that code from the shared cache)
            key = index_key(self, sig, codegen)
            if _ours(getattr(self, "_cache_file", None)):
                from numba.core import config
                return (*key, f"opt {config.OPT}")
            return key

        cache._index_key = _index_key
        _installed = True
