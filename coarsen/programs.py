"""Compiled programs: the derivative and primal programs of a traced function, and their cache.

A `Program` is generated source plus what is needed to call it: the function compiled for a
target, the argument/result trees, the positions of the differentiated leaves, and a guard
that tells whether the outside values the trace read (globals, module and class attributes,
closure cells, defaults: `coarsen.deps`) are still the ones it read. Programs are cached in
memory per signature and on disk (`coarsen.cache`: keyed by the function's source, the
signature, the differentiated arguments, the target and the compiler's and libraries'
versions, and valid only while every value the trace read has the same fingerprint): a second
process skips tracing, symbolic differentiation and code generation, and, on the "cpu"
target, Numba compilation too. One thread at a time compiles a given function and signature.
"""
from __future__ import annotations

import dataclasses
import hashlib
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from coarsen import byref, cache, deps, tree
from coarsen.errors import Loc, UnsupportedError
from coarsen.frontend import narrow_origin, type_of_arg
from coarsen.frontend.source import definition_loc
from kernels import compile_source

if TYPE_CHECKING:   # the compiler is imported where it runs: a cache hit needs none of it
    from coarsen.ir import Function


def _compiler_fingerprint() -> str:
    """A hash of the compiler's own sources (coarsen, phicalc, kernels): a fix anywhere in
    them must not be hidden by programs an older compiler generated and cached on disk."""
    from pathlib import Path
    digest = hashlib.sha256()
    for package in ("coarsen", "phicalc", "kernels"):
        root = Path(__file__).resolve().parent.parent / package
        for path in sorted(root.rglob("*.py")):
            digest.update(path.relative_to(root.parent).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


COMPILER_VERSION = f"0.1.0-3+{_compiler_fingerprint()}"


@dataclass
class Program:
    kind: str                      # "vjp" (value and pullback), "grad" (pullback only), "primal"
    source: str
    fn: Callable
    arg_tree: Any
    result_tree: Any
    result_types: list
    wrt: list[int] = field(default_factory=list)
    ir: Function | None = None     # None when loaded from disk
    passes: dict = field(default_factory=dict)
    # True while every outside value the trace read is still bound where it was read
    guard: Callable[[], bool] = deps.always
    # random draws made on the host before each call, passed after the leaves (`frontend.random`)
    draws: tuple = ()
    # argument leaves the function writes into (#13): a "primal" program returns their final
    # contents after its results, for the caller to copy back (`coarsen.api`); a derivative
    # program does not (the caller runs the primal for them)
    writes: tuple = ()
    # with writes: the outside arrays the program read (globals, closure cells, attributes: baked
    # in as constants), which a written argument must not share memory with
    outside: tuple = ()
    # with writes: where the function first writes into an argument array (its definition when
    # unknown), kept in the disk cache too so that a refusal names the user's line (`coarsen.api`)
    write_loc: Loc | None = None
    # (result index, argument leaf index) of the results that are an argument array itself
    # (`Function.returns`): the caller's array is returned, any other result is a new array
    # (`coarsen.api`)
    returns: tuple = ()
    views: tuple = ()   # indices of the results that may be views of an argument array (`Function.views`)
    numpy_results: tuple = ()   # the results that are NumPy scalars (`Function.numpy_results`)
    # (result index, dtype name): integer result arrays returned in NumPy's narrow dtype (`Function.result_dtypes`)
    result_dtypes: tuple = ()
    # traced with the arguments' shapes known (`frontend.trace`): right for those shapes only,
    # so `coarsen.api` keys it by them too (never in the disk cache: the trace set `unpinned`)
    shaped: bool = False

    def draw(self, args: tuple, leaves: list) -> list:
        """This call's draws (none when the function makes none)."""
        if not self.draws:
            return []
        from coarsen.frontend.random import draw
        return draw(self.draws, tree.generators(args), leaves)


def signature(args: tuple) -> tuple:
    leaves, treedef = tree.flatten(args)
    sig = treedef, tuple(type_of_arg(v) for v in leaves)
    narrow = tuple(str(narrow_origin(v) or "") for v in leaves)   # int32 data is checked, not int64's
    return sig + (narrow,) if any(narrow) else sig


def _trace(fn: Callable, *args: Any, **kwargs: Any) -> Function:
    """`coarsen.frontend.trace`, imported on a cache miss only (the tracer's op table imports
    phicalc and SymPy); a module-level name, so tests can count the traces a call makes."""
    from coarsen.frontend import trace
    return trace(fn, *args, **kwargs)


def wrt_positions(arg_tree, argnums) -> list[int]:
    offsets = np.cumsum([0] + [tree.num_leaves(d) for d in arg_tree[1]])
    return [int(k) for a in argnums for k in range(offsets[a], offsets[a + 1])]


def _derivative_source(ir: Function, wrt: list[int], with_value: bool, fuse: bool = False) -> tuple[str, dict]:
    from coarsen.autodiff import Reverse
    rev = Reverse(ir, wrt, fuse)
    source = rev.emit(f"{ir.name}_vjp", with_value=with_value)
    return source, rev.prog.array_constants


def _primal_source(ir: Function, fuse: bool = False) -> tuple[str, dict]:
    from coarsen.codegen.forward import ForwardEmitter, Program as Emission, needed_values
    from coarsen.codegen.inplace import primal_inplace_ok, written_params
    from coarsen.codegen.source import Code
    from coarsen.segments import plan_segments
    prog = Emission(ir, plan_segments(ir))
    prog.fuse = fuse
    from coarsen.ir.nodes import raises, walk
    checks = {i.result.id for i in walk(ir.body) if raises(i)}   # a user's raise, int(nan): always run
    needed = needed_values(prog, {o.id for o in ir.results} | checks)
    body = Code()
    for p in written_params(ir):   # #13: the program writes into its own copy (in place after)
        body.line(f"{prog.name(p)} = {prog.name(p)}.copy()")
    ForwardEmitter(prog, needed, {}, {}, {}, primal_inplace_ok(ir, prog.plan)).region(ir.body, body)
    code = Code()
    code.line(f"# generated by coarsen: {ir.name} ({ir.loc})")
    with code.block(f"def {ir.name}_primal({', '.join(prog.name(p) for p in ir.params)}):"):
        code.extend(body)
        outs = ", ".join(prog.src(o) for o in ir.results)
        code.line(f"return ({outs},)" if outs else "return ()")
    return "".join(k + "\n" for k in prog.kernels.values()) + code.text(), prog.array_constants


_KEY_LOCKS: dict[tuple, threading.Lock] = {}
_KEY_LOCKS_LOCK = threading.Lock()


def _lock_for(key: tuple) -> threading.Lock:
    with _KEY_LOCKS_LOCK:
        return _KEY_LOCKS.setdefault(key, threading.Lock())


def build(fn: Callable, args: tuple, kind: str, argnums: tuple[int, ...], target: str,
          check: Callable[[Function, list[int]], None] | None = None) -> Program:
    """Trace, optimise, differentiate (kind "vjp") or not ("primal"), generate and compile.
    One thread at a time per function and signature (the others then find the disk entry)."""
    sig = signature(args)
    with _lock_for((id(fn), sig, kind, argnums, target)):
        return _build(fn, args, sig, kind, argnums, target, check)


def _build(fn, args, sig, kind, argnums, target, check) -> Program:
    key = cache.entry_key(fn, sig, kind, argnums, target, COMPILER_VERSION)
    cached = cache.load(key, fn) if key else None
    hidden = byref.resolve_hidden(fn, cached[0]["hidden"]) if cached is not None else None
    if hidden is not None:   # (None: an array passed by reference is no longer there)
        meta, constants = cached
        compiled = byref.bind(compile_source(meta["source"], meta["name"], target, label=meta["label"],
                                             constants=constants), hidden)
        replayed = deps.Reads.replay(fn, meta["manifest"])
        for _, array, _, _ in hidden:
            replayed.layout(array)
        return Program(kind, meta["source"], compiled, meta["arg_tree"], meta["result_tree"],
                       meta["result_types"], meta["wrt"], guard=replayed.guard(),
                       writes=tuple(meta.get("writes", ())),
                       outside=_outside_arrays(replayed) if meta.get("writes") else (),
                       write_loc=_cached_write_loc(meta, fn),
                       returns=tuple(tuple(r) for r in meta.get("returns", ())),
                       views=tuple(meta.get("views", ())), numpy_results=tuple(meta.get("numpy_results", ())),
                       result_dtypes=tuple(tuple(r) for r in meta.get("result_dtypes", ())))
    passes: dict = {}
    reads = deps.Reads(fn)
    from coarsen.passes import run_pipeline
    traced = _trace(fn, *args, reads=reads, writes=True)
    ir = run_pipeline(traced, passes)
    if ir.writes and kind in ("vjp", "grad"):   # differentiate the function's own results only
        own = ir.body.yields[:len(ir.body.yields) - len(ir.writes)]
        ir = dataclasses.replace(ir, body=dataclasses.replace(ir.body, yields=own))
    wrt = wrt_positions(ir.arg_tree, argnums)
    for a in argnums:
        if ir.arg_tree[1][a][0] == "rng":
            raise UnsupportedError(f"argument {a} of {ir.name} is a random generator: it has no derivative",
                                   ir.loc, "differentiate with respect to float arguments")
    if check is not None:
        ir = check(ir, wrt) or ir   # grad: a size-1 array result becomes the scalar
    if kind in ("vjp", "grad"):   # "grad": the value is not returned, so its work can go
        source, constants = _derivative_source(ir, wrt, with_value=kind == "vjp", fuse=target == "cuda")
        name, label = f"{ir.name}_vjp", f"d{ir.name}"
    else:
        source, constants = _primal_source(ir, fuse=target == "cuda")
        name, label = f"{ir.name}_primal", ir.name
    # large outside arrays: parameters passed by reference at each call, never baked in
    source, constants, hidden = byref.split(source, name, constants, reads)
    compiled = byref.bind(compile_source(source, name, target, label=label, constants=constants), hidden)
    result_types = [r.type for r in ir.results]
    write_loc = _first_write_loc(ir) if ir.writes else None
    manifest = reads.manifest()
    if key and manifest is not None and all(h[2] is not None for h in hidden):
        cache.store(key, {"source": source, "name": name, "label": label, "arg_tree": ir.arg_tree,
                          "result_tree": ir.result_tree,
                          "result_types": [[t.dtype, t.rank] for t in result_types],
                          "wrt": wrt, "manifest": manifest, "writes": list(ir.writes),
                          "returns": [list(r) for r in ir.returns], "views": list(ir.views),
                          "numpy_results": list(ir.numpy_results),
                          "result_dtypes": [list(r) for r in ir.result_dtypes],
                          "write_loc": list(dataclasses.astuple(write_loc)) if write_loc else None,
                          "hidden": [[p, path, a.ndim] for p, a, path, _ in hidden]}, constants)
    return Program(kind, source, compiled, ir.arg_tree, ir.result_tree, result_types, wrt, ir, passes,
                   guard=reads.guard(), draws=traced.draws, writes=tuple(ir.writes),
                   shaped=getattr(reads, "shaped", False),
                   outside=_outside_arrays(reads) if ir.writes else (), write_loc=write_loc,
                   returns=tuple(ir.returns), views=tuple(ir.views), numpy_results=tuple(ir.numpy_results),
                   result_dtypes=tuple(ir.result_dtypes))


def _cached_write_loc(meta: dict, fn: Callable) -> Loc | None:
    """A cache entry's first-write location (entries older than it: where `fn` is defined)."""
    if not meta.get("writes"):
        return None
    return Loc(*meta["write_loc"]) if meta.get("write_loc") else definition_loc(fn)


def _first_write_loc(ir: Function) -> Loc:
    """Where `ir` first writes into one of its argument arrays (else where it is defined)."""
    from coarsen.ir.nodes import Op, walk
    names = {ir.params[k].hint for k in ir.writes if k < len(ir.params)}
    first = next((i for i in walk(ir.body) if i.op is Op.SETITEM and i.result.hint in names), None)
    return first.loc if first is not None else ir.loc


def _outside_arrays(reads: deps.Reads) -> tuple:
    """The module-level (closure, attribute) arrays a trace read, by the checks that guard them."""
    return tuple(c[1] for c in reads.checks.values() if c[0] in ("bytes", "layout") and isinstance(c[1], np.ndarray))


def clear_memory_caches() -> None:
    """Forget compiled programs held by transformed functions (tests use it)."""
    import gc
    from coarsen.api import _Transformed
    for obj in gc.get_objects():
        if isinstance(obj, _Transformed):
            obj.forget()


def check_differentiable(kind: str, fn_name: str):
    def check(ir: Function, wrt: list[int]) -> None:
        for k in wrt:
            if ir.params[k].type.dtype != "f64":
                raise UnsupportedError(
                    f"cannot differentiate {fn_name} with respect to its {ir.params[k].type} "
                    f"argument `{ir.params[k].hint}`", ir.loc,
                    "differentiate with respect to float arguments (pass 2.0, not 2)")
        if kind in ("grad", "value_and_grad"):
            if len(ir.results) == 1 and ir.results[0].type.rank and ir.results[0].type.dtype == "f64":
                return scalar_result(ir)
            if len(ir.results) != 1 or ir.results[0].type.rank or ir.results[0].type.dtype != "f64":
                raise UnsupportedError(
                    f"{kind} needs {fn_name} to return one float scalar, it returns "
                    f"{', '.join(str(r.type) for r in ir.results)}", ir.loc,
                    "use coarsen.vjp for functions with several or array outputs")
        else:
            for r in ir.results:
                if r.type.dtype != "f64":
                    raise UnsupportedError(f"vjp needs float outputs; {fn_name} returns {r.type}", ir.loc)
    return check


def scalar_result(ir: Function) -> Function:
    """`ir` whose one array result is reshaped to a scalar, as autograd and NumPy's float()
    accept a size-1 array where a scalar is expected. The reshape to () is the run-time check:
    it raises ValueError ("cannot reshape array of size n into shape ()") unless the size is 1,
    so a larger array is never silently summed or indexed."""
    from coarsen.ir.nodes import Instr, Op, Value, walk
    from coarsen.ir.types import F64
    from coarsen.ir.verifier import verify
    top = max([v.id for v in ir.params] + [r.id for i in walk(ir.body) for r in i.results]
              + [p.id for i in walk(ir.body) for reg in i.regions for p in reg.params])
    from coarsen.ir.types import BOOL, I64
    (x,) = ir.results
    ids = iter(range(top + 1, top + 100))
    instrs = []

    def emit(op, args, type, attrs=None, hint=""):
        v = Value(next(ids), type, hint)
        instrs.append(Instr(op, tuple(args), (v,), attrs or {}, loc=ir.loc))
        return v
    size = emit(Op.CONST, (), I64, {"value": 1})
    for d in range(x.type.rank):
        size = emit(Op.MUL, (size, emit(Op.SHAPE, (x,), I64, {"dim": d})), I64)
    other = emit(Op.NE, (size, emit(Op.CONST, (), I64, {"value": 1})), BOOL)
    # the user's error, not NumPy's "cannot reshape array of size 3 into shape ()"
    emit(Op.CHECK, (other,), BOOL, {"exc": ValueError, "args": (
        f"grad needs {ir.name} to return a scalar (or an array of one element); it returned a "
        f"rank-{x.type.rank} array of another size: use coarsen.vjp or coarsen.jacobian for array "
        f"outputs, or reduce it (np.sum) inside the function",)})
    out = emit(Op.RESHAPE, (x,), F64, {}, "result")
    body = dataclasses.replace(ir.body, instrs=ir.body.instrs + tuple(instrs), yields=(out,))
    return verify(dataclasses.replace(ir, body=body), "scalar result")
