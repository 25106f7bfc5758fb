"""What a traced program read from outside its arguments, to key caches on and guard calls with.

The frontend reports every value it resolves outside the function's own variables (`Reads`):
a name looked up in a function's closure, module globals or builtins, an attribute of a
module, class or object it reached that way, a default argument. Each read is kept as
- a *path* from the entry function (`("name", "cfg"), ("attr", "S")`), so that another
  process can resolve it again and compare,
- a *fingerprint* of the value read: numbers by exact repr, arrays by a hash of their dtype,
  shape and bytes, tuples/lists/dicts recursively, functions by their source (and defaults),
  modules and classes by name (their attributes are reads of their own),
- an in-process *check*: the holder (a globals dict, a closure cell, an object) and the exact
  object found there, so that rebinding it is noticed at the next call (`guard`). An array
  changed in place (`W[0] = 5.0`) keeps its identity; the trace copied its values, so the
  guard also compares the bytes of every array read of up to `CONTENT_CHECK_BYTES` (8192
  float64s: weights, tables, small data; also inside tuples and lists) with the trace's copy,
  which costs a memcmp per call. A larger array is never baked into compiled code: it is
  passed by reference at every call (`coarsen.byref`), so an in-place edit is seen for free;
  the guard checks its shape and dtype (what the code is specialised to).

Soundness rests on the frontend recording every resolution (it reads outside values only in
`lookup`, attribute access on static objects, and defaults); a read whose path or
fingerprint cannot be formed makes the program uncacheable on disk (`manifest()` is None).
"""
from __future__ import annotations

import builtins
import enum
import functools
import hashlib
import math
import sys
import types
from typing import Any, Callable

import numpy as np

MISSING = object()
# arrays read from outside up to this size are compared by content at every call (see above)
CONTENT_CHECK_BYTES = 1 << 16
# library modules whose attributes are not guarded per call (rebinding np.exp is not a use
# case worth a dictionary lookup on every call); they are still part of the disk key
_STABLE_MODULES = (np, math, builtins)


def _ufunc_home(ufunc: np.ufunc) -> str | None:
    """The module that exports this very ufunc under its name (NumPy, scipy.special), or None
    (a ufunc of the user's, np.frompyfunc, Numba's vectorize: no name says which one it is)."""
    import sys

    for module in ("numpy", "scipy.special"):
        if getattr(sys.modules.get(module), ufunc.__name__, None) is ufunc:
            return module
    return None


def fingerprint(obj: Any, depth: int = 0) -> str | None:
    """A text that changes whenever a compiled program reading `obj` could change, or None."""
    if depth > 20:
        return None
    if obj is None or isinstance(obj, (bool, int, float, complex, str, bytes)):
        return f"{type(obj).__name__}:{obj!r}"
    if isinstance(obj, np.generic):
        return f"np:{obj.dtype.str}:{obj.tobytes().hex()}"
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            return None
        data = np.ascontiguousarray(obj)
        return f"array:{data.dtype.str}:{data.shape}:{hashlib.sha256(data.tobytes()).hexdigest()}"
    if isinstance(obj, (tuple, list)):
        parts = [fingerprint(o, depth + 1) for o in obj]
        return None if None in parts else f"{type(obj).__name__}:[{','.join(parts)}]"
    if isinstance(obj, dict):
        items = []
        for k in sorted(obj, key=repr):
            kf, vf = fingerprint(k, depth + 1), fingerprint(obj[k], depth + 1)
            if kf is None or vf is None:
                return None
            items.append(f"{kf}={vf}")
        return "dict:{" + ",".join(items) + "}"
    if isinstance(obj, types.FunctionType):
        from coarsen.frontend.source import getsourcelines
        try:
            source = "".join(getsourcelines(obj.__code__)[0])   # its own, not a __wrapped__ function's
        except (OSError, TypeError):
            return None
        defaults = fingerprint(obj.__defaults__, depth + 1)
        kwdefaults = fingerprint(obj.__kwdefaults__, depth + 1)
        if defaults is None or kwdefaults is None:
            return None
        digest = hashlib.sha256(source.encode()).hexdigest()
        where = f"{obj.__code__.co_filename}:{obj.__code__.co_firstlineno}"   # in its messages
        return (f"function:{obj.__module__}.{obj.__qualname__}:{where}:{digest}:{code_digest(obj.__code__)}:"
                f"{defaults}:{kwdefaults}")
    if isinstance(obj, types.MethodType):
        # S.apply, A.act of a classmethod, an inherited method: its function's source (by its
        # name alone, an edited method body was served stale from the disk cache)
        func = fingerprint(obj.__func__, depth + 1)
        owner = obj.__self__ if isinstance(obj.__self__, type) else type(obj.__self__)
        return None if func is None else f"method:{func}:{fingerprint(owner, depth + 1)}"
    if isinstance(obj, types.ModuleType):
        return f"module:{obj.__name__}"
    if isinstance(obj, enum.Enum):   # a mode flag: which member it is (its type alone was stale)
        return f"enum:{type(obj).__module__}.{type(obj).__qualname__}.{obj.name}"
    if isinstance(obj, type):
        return f"class:{obj.__module__}.{obj.__qualname__}"
    if type(obj).__module__.startswith("coarsen."):
        # grad(h), jit(h), vmap(...): what they transform, and how (by their name alone, a
        # redefined helper or grad(h, argnums=1) in place of argnums=0 was served stale)
        own = getattr(type(obj), "__coarsen_fingerprint__", None)
        return None if own is None else own(obj, depth + 1)
    if isinstance(obj, np.ufunc):
        # scipy.special's ufuncs have no module or qualified name, so by their type alone every
        # one was the same (`act = sp.expit` rebound to `sp.erf` was served expit's program)
        home = _ufunc_home(obj)
        return None if home is None else f"ufunc:{home}.{obj.__name__}"
    if callable(obj) and hasattr(obj, "__qualname__"):   # builtins, NumPy functions
        name = f"callable:{getattr(obj, '__module__', None)}.{obj.__qualname__}"
        owner = getattr(obj, "__self__", None)   # np.add.accumulate: which ufunc's method
        if owner is None or isinstance(owner, types.ModuleType):
            return name
        owned = fingerprint(owner, depth + 1)
        return None if owned is None else f"{name}:of:{owned}"
    # any other object: only its type here; what the program reads of it is a read of its own
    return f"object:{type(obj).__module__}.{type(obj).__qualname__}"


def code_digest(code: types.CodeType) -> str:
    """A hash of what a code object computes: its instructions (operations with their names,
    constants and operands; a jump's condition and the instruction it goes to, counted among
    those kept), argument names and flags, nested code objects recursively; not where it sits
    in its file nor the compiler's choices between equivalent forms (LOAD_METHOD or LOAD_ATTR,
    a jump forward or backward). Equal for the same source in any process; `a and b` and
    `a or b`, `(a and b) or c` and `a and (b or c)` differ."""
    import dis
    digest = hashlib.sha256()

    def visit(c: types.CodeType) -> None:
        digest.update(repr((c.co_varnames[:c.co_argcount + c.co_kwonlyargcount], c.co_flags & 0x2C)).encode())
        instructions = list(dis.get_instructions(c))
        kept = [ins for ins in instructions if ins.opname not in _SKIPPED_OPS]
        position = {}   # byte offset -> index of the first kept instruction at or after it
        k = len(kept)
        for ins in reversed(instructions):
            if ins.opname not in _SKIPPED_OPS:
                k -= 1
            position[ins.offset] = k
        for ins in kept:
            op = ins.opname
            if "JUMP" in op:   # its condition and target, not its direction or encoding
                op = op.replace("_FORWARD", "").replace("_BACKWARD", "").replace("_NO_INTERRUPT", "")
                op = "JUMP" if op in ("JUMP", "JUMP_ABSOLUTE") else op
                digest.update(repr((op, position.get(ins.argval))).encode())
                continue
            op = _SAME_OPS.get(op, op)
            if ins.opcode in dis.hasjrel or ins.opcode in dis.hasjabs:   # FOR_ITER, SEND: where they go
                digest.update(repr((op, position.get(ins.argval))).encode())
                continue
            arg = ins.argval
            if isinstance(arg, types.CodeType):
                visit(arg)
                arg = None
            elif isinstance(arg, frozenset):   # set literals: an order independent of hashing
                arg = sorted(map(repr, arg))
            digest.update(repr((op, type(arg).__name__, arg)).encode())
    visit(code)
    return digest.hexdigest()[:24]


_SKIPPED_OPS = frozenset({"CACHE", "RESUME", "NOP", "PRECALL", "EXTENDED_ARG", "PUSH_NULL", "KW_NAMES",
                          "COPY_FREE_VARS", "MAKE_CELL", "RETURN_GENERATOR"})
_SAME_OPS = {"LOAD_METHOD": "LOAD_ATTR", "CALL_METHOD": "CALL", "CALL_FUNCTION": "CALL"}


def source_matches(fn: types.FunctionType, text: str) -> bool:
    """Whether `text` (the function's source as `inspect` reads it now, dedented) compiles to
    the code `fn` runs. It does not when the file was edited after the module was imported
    (inspect reads the file as it is now), or when an exec'd source's name was reused: tracing
    it would compile what Python does not run. True when `text` does not compile alone."""
    code = fn.__code__
    if code.co_freevars:   # a closure: compiled inside a function binding its free names
        body = "".join(f"    {v} = None\n" for v in code.co_freevars)
        text = "def __coarsen_outer__():\n" + body + "".join("    " + line if line.strip() else line
                                                           for line in text.splitlines(True))
    try:
        module = compile(text, "<coarsen source check>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return True
    want = code_digest(code)
    todo = [module]
    while todo:
        c = todo.pop()
        if c.co_name == code.co_name and code_digest(c) == want:
            return True
        todo.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
    return False


def resolve_name(fn: types.FunctionType, name: str) -> Any:
    """`name` as the frontend resolves it inside `fn`: closure, then globals, then builtins."""
    code = fn.__code__
    if name in code.co_freevars and fn.__closure__:
        cell = fn.__closure__[code.co_freevars.index(name)]
        try:
            return cell.cell_contents
        except ValueError:
            pass
    if name in fn.__globals__:
        return fn.__globals__[name]
    return getattr(builtins, name, MISSING)


def resolve(root: Any, path: tuple) -> Any:
    """The object at `path` from `root` (MISSING when it cannot be reached)."""
    obj = root
    for kind, arg in path:
        if kind == "name":
            if not isinstance(obj, types.FunctionType):
                return MISSING
            obj = resolve_name(obj, arg)
        elif kind == "attr":
            obj = getattr(obj, arg, MISSING)
        elif kind == "default":
            defaults = getattr(obj, "__defaults__", None) or ()
            obj = defaults[arg] if 0 <= arg < len(defaults) else MISSING
        elif kind == "item":   # an element of a tuple or list read whole
            obj = obj[arg] if isinstance(obj, (tuple, list)) and 0 <= arg < len(obj) else MISSING
        elif kind == "key":    # a value of a module-level dict
            obj = obj.get(arg, MISSING) if isinstance(obj, dict) else MISSING
        else:
            return MISSING
        if obj is MISSING:
            return MISSING
    return obj


class Reads:
    """The outside reads of one trace (filled by the frontend)."""

    def __init__(self, root: Any) -> None:
        self.root = root
        self.paths: dict[int, tuple] = {id(root): ()}
        self.keep: list[Any] = [root]      # objects whose ids key `paths` stay alive
        self.entries: dict[tuple, Any] = {}    # path -> object read
        self.checks: dict[tuple, tuple] = {}   # (id(holder), key) -> check
        self.unpinned = False              # a read with no path: no disk cache
        # id(trace's copy) -> (copy, live array): large arrays passed by reference (`byref`)
        self.by_reference: dict[int, tuple] = {}
        self._code(root)

    def _code(self, obj: Any) -> None:
        """A function the trace read (and inlined): its code object, which a reloader (IPython's
        `%autoreload`, jurigged) swaps in place, keeping the function's identity."""
        fn = getattr(obj, "__func__", obj)   # a bound method: its function
        if isinstance(fn, types.FunctionType):
            self.checks.setdefault((id(fn), "__code__"), ("attr", fn, "__code__", fn.__code__))

    def _record(self, base: Any, step: tuple, obj: Any) -> None:
        base_path = self.paths.get(id(base))
        if base_path is None:
            self.unpinned = True
            return
        path = base_path + (step,)
        self.entries.setdefault(path, obj)
        if id(obj) not in self.paths:
            self.paths[id(obj)] = path
            self.keep.append(obj)

    def _content(self, obj: Any, depth: int = 0) -> None:
        """An array the trace may copy: compared by bytes at each call when small enough
        (also the arrays of a tuple or list read whole: `T = (A, B)`; `T[0][1] = 5.0`)."""
        if isinstance(obj, (tuple, list)) and depth < 8:
            for o in obj:
                self._content(o, depth + 1)
        elif (isinstance(obj, np.ndarray) and not obj.dtype.hasobject
                and obj.nbytes <= CONTENT_CHECK_BYTES):
            self.checks.setdefault((id(obj), "__bytes__"), ("bytes", obj, None, obj.tobytes()))

    def constant(self, copy: np.ndarray, obj: np.ndarray) -> None:
        """The trace made the constant `copy` of the outside array `obj`: a large one is passed
        to compiled code by reference (`coarsen.byref`), never baked in."""
        if isinstance(obj, np.ndarray) and obj.nbytes > CONTENT_CHECK_BYTES:
            self.by_reference[id(copy)] = (copy, obj)
            self.keep.append(copy)
            self.layout(obj)

    def layout(self, obj: np.ndarray) -> None:
        """A check that `obj` keeps the shape and dtype the program was compiled for."""
        self.checks.setdefault((id(obj), "__layout__"), ("layout", obj, None, (obj.shape, obj.dtype)))

    def path_of(self, obj: Any) -> list | None:
        """The path (JSON form) from the function to `obj`, an object the trace read or an
        element of a tuple/list it read; None when it has none."""
        path = self.paths.get(id(obj))
        if path is None:
            for base_path, base in list(self.entries.items()):
                if isinstance(base, (tuple, list)):
                    for k, o in enumerate(base):
                        if o is obj:
                            path = base_path + (("item", k),)
                            break
                if path is not None:
                    break
        return None if path is None else [list(step) for step in path]

    def identity(self, obj: Any) -> None:
        """The trace decided `obj is ...` or `obj == ...`: which object it is matters. Objects
        fingerprinted by their value (numbers, strings, classes, functions, enum members) say
        so already; another object (`SEL = A` with `A = Tag()`) has no such fingerprint, so
        the program stays out of the disk cache (its in-memory guards compare identities)."""
        fp = fingerprint(obj)
        if fp is None or fp.startswith("object:"):
            self.unpinned = True

    def name(self, fn: types.FunctionType, name: str, obj: Any) -> None:
        self._record(fn, ("name", name), obj)
        self._content(obj)
        self._code(obj)
        code = fn.__code__
        if name in code.co_freevars and fn.__closure__:
            cell = fn.__closure__[code.co_freevars.index(name)]
            self.checks.setdefault((id(cell), name), ("cell", cell, None, obj))
        else:   # a global, or a builtin (then: as long as no global shadows it)
            found = fn.__globals__.get(name, MISSING)
            self.checks.setdefault((id(fn.__globals__), name), ("dict", fn.__globals__, name, found))

    def attr(self, base: Any, attr: str, obj: Any) -> None:
        self._record(base, ("attr", attr), obj)
        self._content(obj)
        if any(base is m for m in _STABLE_MODULES):
            return
        self._code(obj)
        if isinstance(base, types.ModuleType):
            self.checks.setdefault((id(base), attr), ("dict", base.__dict__, attr, obj))
        else:
            self.checks.setdefault((id(base), attr), ("attr", base, attr, obj))

    def item(self, seq: tuple | list, index: int, obj: Any) -> None:
        """Element `index` of a tuple or list the trace read (a module-level list of layer
        objects): a path for what is read through it, and for a list (mutable) a check that it
        still holds the same objects, as many (an element replaced or appended is noticed)."""
        self._record(seq, ("item", index), obj)
        if isinstance(seq, list):
            self.checks.setdefault((id(seq), "__items__"), ("items", seq, None, tuple(seq)))

    def key(self, mapping: dict, key: str | int, obj: Any) -> None:
        """The value under `key` of a dict the trace read (a module-level configuration): a
        path for what is read through it, and a check that the dict still holds that object
        there (a value replaced or the key deleted is noticed at the next call)."""
        self._record(mapping, ("key", key), obj)
        self._content(obj)   # a params dict's arrays, updated in place by an optimizer step
        self.checks.setdefault((id(mapping), key), ("dict", mapping, key, obj))

    def keys(self, mapping: dict) -> None:
        """The trace read every key of `mapping` (iterated it, or made it a compile-time dict):
        a key added is noticed too (each key read is checked already, so its size tells)."""
        self.checks.setdefault((id(mapping), "__len__"), ("len", mapping, None, len(mapping)))

    def default(self, fn: types.FunctionType, index: int, obj: Any) -> None:
        self._record(fn, ("default", index), obj)
        self._content(obj)
        self.checks.setdefault((id(fn), "__defaults__"), ("attr", fn, "__defaults__", fn.__defaults__))

    @classmethod
    def replay(cls, root: Any, manifest: list) -> "Reads":
        """The reads of `manifest` made again in this process (for a program loaded from
        disk: its guard watches the same holders a trace would have)."""
        reads = cls(root)
        for path, _ in manifest:
            obj = root
            for kind, arg in path:
                found = resolve(obj, ((kind, arg),))
                if kind == "name":
                    reads.name(obj, arg, found)
                elif kind == "attr":
                    reads.attr(obj, arg, found)
                elif kind == "item":
                    reads.item(obj, arg, found)
                elif kind == "key":
                    reads.key(obj, arg, found)
                    reads.keys(obj)
                else:
                    reads.default(obj, arg, found)
                obj = found
        return reads

    def manifest(self) -> list | None:
        """[(path, fingerprint)] of every read, or None when some read cannot be pinned."""
        if self.unpinned:
            return None
        out = []
        by_reference = {id(live) for _, live in self.by_reference.values()}
        for path, obj in sorted(self.entries.items(), key=lambda kv: repr(kv[0])):
            fp = layout_fingerprint(obj) if id(obj) in by_reference else fingerprint(obj)
            if fp is None:
                return None
            out.append([[list(step) for step in path], fp])
        return out

    def guard(self) -> Callable[[], bool]:
        """A function telling whether every holder still holds what the trace read."""
        return make_guard(list(self.checks.values()))


def manifest_holds(root: Any, manifest: list) -> bool:
    """Whether every read of `manifest` resolves, from `root`, to a value of the same
    fingerprint in this process."""
    for path, fp in manifest:
        obj = resolve(root, tuple((kind, arg) for kind, arg in path))
        if obj is MISSING or (layout_fingerprint(obj) if fp.startswith("byref:") else fingerprint(obj)) != fp:
            return False
    return True


def layout_fingerprint(obj: Any) -> str:
    """An array passed by reference (`coarsen.byref`): the program depends on its dtype,
    shape and size class only, never on its values (they are read at each call)."""
    if not isinstance(obj, np.ndarray) or obj.nbytes <= CONTENT_CHECK_BYTES:
        return "byref:none"   # no longer an array passed by reference: never matches
    return f"byref:{obj.dtype.str}:{obj.shape}"


def make_guard(checks: list[tuple]) -> Callable[[], bool]:
    """Straight-line identity checks, ~20 ns each: holders and objects are fast locals (default
    arguments), keys literal constants; no loop, no tuple built per call. A name deleted or a
    cell emptied since is a failed check (the exception is caught), never an error."""
    if not checks:
        return always
    terms, params, holders, objects = [], [], {}, {}

    def local(table: dict, prefix: str, obj: Any) -> str:
        if id(obj) not in table:
            table[id(obj)] = (f"{prefix}{len(table)}", obj)
            params.append(table[id(obj)])
        return table[id(obj)][0]

    for kind, holder, key, obj in checks:
        h = local(holders, "H", holder)
        if kind == "dict" and obj is MISSING:   # a builtin: as long as no global shadows it
            terms.append(f"{key!r} not in {h}")
        elif kind == "dict":
            terms.append(f"{h}[{key!r}] is {local(objects, 'O', obj)}")
        elif kind == "cell":
            terms.append(f"{h}.cell_contents is {local(objects, 'O', obj)}")
        elif kind == "bytes":   # an array's contents: the trace's copy of them
            terms.append(f"{h}.tobytes() == {local(objects, 'O', obj)}")
        elif kind == "layout":   # an array passed by reference: its shape and dtype
            terms.append(f"{h}.shape == {local(objects, 'O', obj[0])} and "
                         f"{h}.dtype is {local(objects, 'O', obj[1])}")
        elif kind == "len":   # a dict's size (its keys are checked one by one)
            terms.append(f"len({h}) == {obj}")
        elif kind == "items":   # a list's elements: the same objects, as many
            terms.append(" and ".join([f"len({h}) == {len(obj)}"]
                                      + [f"{h}[{k}] is {local(objects, 'O', o)}" for k, o in enumerate(obj)]))
        elif key.isidentifier():
            terms.append(f"{h}.{key} is {local(objects, 'O', obj)}")
        else:
            return _slow_guard(checks)
    source = (f"def guard({', '.join(f'{n}={n}' for n, _ in params)}):\n    try:\n        return "
              + " and ".join(terms) + "\n    except (KeyError, AttributeError, ValueError):\n"
              "        return False\n")
    namespace = {n: obj for n, obj in params}
    exec(compile(source, "<coarsen guard>", "exec"), namespace)   # our own checks only
    guard = namespace["guard"]
    guard.inline = (" and ".join(terms), params)   # for callers that inline the checks
    return guard


def _slow_guard(checks: list[tuple]) -> Callable[[], bool]:
    def guard() -> bool:
        for kind, holder, key, obj in checks:
            if kind == "bytes":
                if holder.tobytes() != obj:
                    return False
                continue
            if kind == "layout":
                if holder.shape != obj[0] or holder.dtype is not obj[1]:
                    return False
                continue
            if kind == "items":
                if len(holder) != len(obj) or any(a is not b for a, b in zip(holder, obj)):
                    return False
                continue
            if kind == "len":
                if len(holder) != obj:
                    return False
                continue
            try:
                found = (holder.get(key, MISSING) if kind == "dict" else holder.cell_contents
                         if kind == "cell" else getattr(holder, key, MISSING))
            except ValueError:
                return False
            if found is not obj:
                return False
        return True
    return guard


def always() -> bool:
    return True


@functools.lru_cache(maxsize=None)
def versions() -> str:
    """The versions of what generated code and machine code depend on (read from what is
    installed, so that computing a key imports no compiler)."""
    found = " ".join(f"{package} {_installed_version(package)}"
                     for package in ("numpy", "numba", "llvmlite", "sympy"))
    return f"python {sys.version_info[:3]} {found}"


@functools.lru_cache(maxsize=None)
def _installed_version(package: str) -> str:
    """`package`'s version from the one `<package>-<version>.dist-info` directory beside it,
    which finding needs no import (`importlib.metadata` costs ~50 ms, a tenth of a cached
    program's first call in a new process); `importlib.metadata` when that is ambiguous
    (several dist-info directories, an egg, an editable install)."""
    import importlib.util
    import os
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        site = os.path.dirname(next(iter(spec.submodule_search_locations)))
        prefix = package + "-"
        try:
            names = [n for n in os.listdir(site) if n.startswith(prefix) and n.endswith(".dist-info")]
        except OSError:
            names = []
        if len(names) == 1:
            return names[0][len(prefix):-len(".dist-info")]
    from importlib import metadata
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "-"
