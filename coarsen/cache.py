"""The disk cache of compiled programs: JSON entries, sealed by a hash, keyed soundly.

An entry is found by a key over what is known before tracing (the compiler's version and the
versions of NumPy/Numba/llvmlite/SymPy, the function's module, name and source, the argument
signature, the differentiated arguments, the target) and holds a *manifest*: every outside
value the trace read, as a path from the function and a fingerprint (`coarsen.deps`). An
entry is used only if every path resolves, in this process, to a value of the same
fingerprint; otherwise the program is compiled again and the entry replaced.

File format (no pickle: nothing in an entry is code until it is compiled as generated
source): a first line `FORMAT`, a second line the sha256 of the rest, then the payload as
JSON (source, names, argument/result trees, result types, differentiated leaves, manifest,
array constants as base64 with dtype and shape, and the paths of the large arrays passed by
reference, `coarsen.byref`). Any load error — missing seal, hash
mismatch, bad JSON, a field of the wrong type — is a warning and a recompile, never a crash.
"""
from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import numpy as np

from coarsen import deps
from coarsen.ir.types import DTYPES, Type
from kernels import diskcache, locations

FORMAT = b"coarsen-program-3"


def entry_key(fn: Any, sig: tuple, kind: str, argnums: tuple, target: str, compiler: str) -> str | None:
    """The key of `fn`'s entry, or None when its source cannot be read."""
    import types
    from coarsen.frontend.source import getsourcelines
    if not isinstance(fn, types.FunctionType):
        return None
    try:
        source = "".join(getsourcelines(fn.__code__)[0])   # its own, not a __wrapped__ function's
    except (OSError, TypeError):
        return None
    # the code too: inspect reads the file as it is now, which may not be what fn runs; and
    # where it is: messages baked into the program name the user's file:line (two scripts'
    # `__main__.f` of the same text are two entries)
    from coarsen.passes import options
    code = fn.__code__
    text = json.dumps([FORMAT.decode(), compiler, options(), deps.versions(), fn.__module__, fn.__qualname__,
                       code.co_filename, code.co_firstlineno, source, deps.code_digest(code), repr(sig), kind,
                       [int(a) for a in argnums], target])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _name(key: str) -> str:
    return f"program_{key}.json"


def store(key: str, payload: dict, constants: dict[str, np.ndarray]) -> None:
    directory = diskcache.cache_dir()
    if directory is None or not all(isinstance(a, np.ndarray) for a in constants.values()):
        return   # (a user's exception class a run-time check raises: this process's only)
    body = dict(payload, key=key, constants={
        name: {"dtype": a.dtype.str, "shape": list(a.shape),
               "data": base64.b64encode(np.ascontiguousarray(a).tobytes()).decode()}
        for name, a in constants.items()})
    data = json.dumps(body, sort_keys=True).encode()
    diskcache.write_atomic(directory, _name(key), FORMAT + b"\n" + hashlib.sha256(data).hexdigest().encode()
                           + b"\n" + data)


def load(key: str, fn: Any) -> tuple[dict, dict[str, np.ndarray]] | None:
    """(payload, constants) of a valid entry whose manifest holds, else None."""
    directory = diskcache.cache_dir()
    if directory is None:
        return None
    path = directory / _name(key)
    data = diskcache.read_nofollow(path)
    if data is None:
        return None
    try:
        payload, constants = _decode(data, key)
    except Exception as err:   # any corruption: compile again (and overwrite the entry)
        locations.warn(f"coarsen: ignoring the corrupt cache entry {path} ({type(err).__name__}: "
                       f"{err}); compiling again", RuntimeWarning)
        return None
    if not deps.manifest_holds(fn, payload["manifest"]):
        return None   # something the program read has changed since: a stale entry
    return payload, constants


class CorruptEntry(ValueError):
    pass


def _expect(ok: bool, what: str) -> None:
    if not ok:
        raise CorruptEntry(what)


def _step(s: Any) -> bool:
    """One step of a path from the function to what it read (`coarsen.deps`): a name, an
    attribute, a default, a sequence item, or a module-level dict's key (str or int)."""
    return (isinstance(s, list) and len(s) == 2 and s[0] in ("name", "attr", "default", "item", "key")
            and type(s[1]) in ({"name": (str,), "attr": (str,), "key": (str, int)}.get(s[0], (int,))))


def _decode(data: bytes, key: str) -> tuple[dict, dict[str, np.ndarray]]:
    head, _, rest = data.partition(b"\n")
    _expect(head == FORMAT, "not a coarsen program entry")
    digest, _, body = rest.partition(b"\n")
    _expect(hashlib.sha256(body).hexdigest().encode() == digest, "the payload does not match its hash")
    p = json.loads(body.decode())
    _expect(isinstance(p, dict) and p.get("key") == key, "the entry belongs to another key")
    for field in ("source", "name", "label"):
        _expect(isinstance(p.get(field), str), f"bad {field}")
    _expect(p["name"].isidentifier(), "bad function name")
    p["arg_tree"] = _treedef(p.get("arg_tree"))
    p["result_tree"] = _treedef(p.get("result_tree"))
    types = p.get("result_types")
    _expect(isinstance(types, list) and all(isinstance(t, list) and len(t) == 2 and t[0] in DTYPES
                                            and type(t[1]) is int and 0 <= t[1] <= 8 for t in types),
            "bad result types")
    p["result_types"] = [Type(t[0], t[1]) for t in types]
    _expect(isinstance(p.get("wrt"), list) and all(type(k) is int and k >= 0 for k in p["wrt"]), "bad wrt")
    _expect(all(isinstance(r, list) and len(r) == 2 and all(type(k) is int and k >= 0 for k in r)
                for r in p.get("returns", [])), "bad returned arguments")
    _expect(all(type(i) is int and i >= 0 for i in p.get("views", [])), "bad views")
    manifest = p.get("manifest")
    _expect(isinstance(manifest, list) and all(
        isinstance(m, list) and len(m) == 2 and isinstance(m[1], str) and isinstance(m[0], list)
        and all(_step(s) for s in m[0]) for m in manifest), "bad manifest")
    hidden = p.get("hidden")   # large outside arrays passed by reference (coarsen.byref)
    _expect(isinstance(hidden, list) and all(
        isinstance(h, list) and len(h) == 3 and isinstance(h[0], str) and h[0].isidentifier()
        and type(h[2]) is int and 0 < h[2] <= 8 and isinstance(h[1], list) and h[1]
        and all(_step(s) for s in h[1]) for h in hidden), "bad hidden arrays")
    constants = {}
    raw = p.get("constants")
    _expect(isinstance(raw, dict), "bad constants")
    for name, c in raw.items():
        _expect(isinstance(name, str) and name.isidentifier() and isinstance(c, dict), "bad constant")
        dtype = np.dtype(c["dtype"])
        _expect(dtype.kind in "fiub", "bad constant dtype")
        shape = tuple(c["shape"])
        _expect(all(type(n) is int and n >= 0 for n in shape), "bad constant shape")
        array = np.frombuffer(base64.b64decode(c["data"], validate=True), dtype=dtype).reshape(shape).copy()
        array.flags.writeable = False
        constants[name] = array
    return p, constants


def _treedef(d: Any) -> tuple:
    """A treedef read back from JSON (lists -> tuples), checked against `coarsen.tree`'s forms."""
    _expect(isinstance(d, list) and d and d[0] in ("leaf", "tuple", "list", "dict"), "bad tree")
    if d[0] == "leaf":
        _expect(len(d) == 1, "bad leaf")
        return ("leaf",)
    _expect(len(d) == 2 and isinstance(d[1], list), "bad tree")
    if d[0] == "dict":
        _expect(all(isinstance(kv, list) and len(kv) == 2 and isinstance(kv[0], str) for kv in d[1]), "bad dict tree")
        return ("dict", tuple((k, _treedef(v)) for k, v in d[1]))
    return (d[0], tuple(_treedef(s) for s in d[1]))
