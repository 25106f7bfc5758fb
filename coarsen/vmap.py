"""vmap: run a program once per element of a batch, as one compiled loop.

`coarsen.vmap(f, in_axes=0, target=...)` maps `f` (a plain function, `coarsen.jit(f)` or
`coarsen.grad(f)` / `value_and_grad(f)`) over the leading axis of its mapped arguments:
- "numpy": a Python loop over the compiled element program (the reference);
- "cpu": one Numba `prange` loop around the element program, compiled together;
- "cuda": one GPU thread per element, the element program compiled as a device function
  (scalar programs; a derivative whose loops need a tape cannot run on a GPU thread yet).
Loops, branches and `while` stay plain Python in `f`: no `lax.cond`/`while_loop` rewrites.
Outputs (and gradients) are stacked along a new leading axis.
"""
from __future__ import annotations

import copy
import re
from typing import Any, Callable, Sequence

import numpy as np

from coarsen import tree
from coarsen.api import DEFAULT_TARGET, _Derivative, _Jit, _Transformed, call_error
from coarsen.byref import Bound
from coarsen.errors import CoarsenError
from coarsen.codegen.forward import device_source
from coarsen.programs import Program



class VMapped:
    def __init__(self, fn: Callable | _Transformed, in_axes: int | None | Sequence[int | None],
                 target: str) -> None:
        if isinstance(fn, _Transformed):
            inner = copy.copy(fn)   # same transform, compiled for this target
            inner.programs, inner.runners, inner.shaped = {}, {}, set()
            inner.__dict__.pop("entry", None)   # the original's entry calls its own runners
        else:
            inner = _Jit(fn, None, target)
        inner.target = "numpy" if target == "cuda" else target   # cuda reads the source only
        self.inner = inner
        self.in_axes = in_axes
        self.target = target
        self.compiled: dict[tuple, Callable] = {}

    def __coarsen_fingerprint__(self, depth: int) -> str | None:
        from coarsen.deps import fingerprint
        inner = fingerprint(self.inner, depth)
        return None if inner is None else f"coarsen:vmap:{self.in_axes!r}:{self.target}:{inner}"

    def _axes(self, nargs: int) -> list[int | None]:
        axes = [self.in_axes] * nargs if not isinstance(self.in_axes, (tuple, list)) else list(self.in_axes)
        if len(axes) != nargs:
            raise call_error(self.inner.fn, f"vmap: in_axes has {len(axes)} entries for {nargs} arguments")
        for a in axes:
            if a not in (0, None):
                raise call_error(self.inner.fn, "vmap maps leading axes only (in_axes of 0 or None)", None,
                                 "move the mapped axis first: np.moveaxis(x, k, 0)")
        return axes

    def __call__(self, *args):
        from coarsen.api import trimmed   # refusals without the compiler's frames
        return trimmed(self._call)(*args)

    def _call(self, *args):
        axes = self._axes(len(args))
        from coarsen.api import check_arguments
        check_arguments(self.inner.fn, args, "vmap")   # None, strings, complex, datetime, np.matrix: here
        for a in args:   # np.matrix, masked arrays: their semantics would be lost (as in jit/grad)
            if isinstance(a, np.ndarray) and type(a) is not np.ndarray and not isinstance(a, np.memmap):
                from coarsen.frontend import _subclass_message
                raise TypeError(_subclass_message(a))
        for a, ax in zip(args, axes):   # the batch is computed in float64: NumPy computes integers exactly
            if ax == 0 and np.asarray(a).dtype.kind in "iub":
                from coarsen.errors import UnsupportedError
                raise UnsupportedError(f"vmap maps float64 batches; a mapped {np.asarray(a).dtype} array would be "
                                       "computed in float64 (rounding beyond 2**53, no wrap-around) where NumPy "
                                       "computes integers", None,
                                       "pass x.astype(float), or pass the integers unmapped (in_axes None)")
        mapped = [np.ascontiguousarray(a, dtype=np.float64) if ax == 0 else a for a, ax in zip(args, axes)]
        sizes = {np.shape(a)[0] for a, ax in zip(mapped, axes) if ax == 0}
        if len(sizes) != 1:
            raise call_error(self.inner.fn, f"vmap: mapped arguments disagree on the batch size: {sorted(sizes)}")
        (n,) = sizes
        # an empty batch (n == 0) has no element to trace with: a zero element of the mapped
        # arguments' element shape stands in, to find the results' shapes (JAX: an empty batch of
        # the element result's shape); the loop then runs no element
        element = tuple((_element(a[0]) if n else _element(np.zeros(np.shape(a)[1:])))
                        if ax == 0 else a for a, ax in zip(mapped, axes))
        prog = self.inner.program(element)
        if prog.draws:
            from coarsen.errors import UnsupportedError
            raise UnsupportedError(f"vmap of a function that makes random draws ({prog.draws[0].method} at "
                                   f"{prog.draws[0].where}) is not supported", None,
                                   "draw the batch's numbers outside and pass them in as a mapped argument")
        if prog.writes:   # plain Python would write into each row of the batch
            from coarsen.errors import UnsupportedError
            raise UnsupportedError("vmap of a function that writes into an argument array is not supported",
                                   None, "write into a copy of the argument (y = x.copy())")
        if any(d != ("leaf",) for d in prog.arg_tree[1]):
            raise call_error(self.inner.fn, "vmap takes flat arguments (numbers and arrays), not tuples or dicts")
        kind = "grad" if isinstance(self.inner, _Derivative) else "jit"
        value_too = kind == "grad" and self.inner.kind == "value_and_grad"
        try:
            first = self.inner(*element)
        except CoarsenError:   # unsupported, or coarsen's own bug: as for any batch
            raise
        except Exception as err:   # the user's function on the zero element (raised, never kept)
            if n:
                raise
            raise call_error(self.inner.fn, "vmap over an empty batch (size 0): the results' shapes are "
                             "found by calling the function on one element of zeros, which raised "
                             f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}", None,
                             "skip the call when the batch is empty") from err
        leaves = _result_leaves(first, value_too)
        shapes = [np.shape(v) for v in leaves]
        # each result in the element's dtype: an int64 argmax or count stays int64, bools bools
        dtypes = [np.result_type(v) for v in leaves]
        outs = [np.empty((n,) + s, dtype=d) for s, d in zip(shapes, dtypes)]
        key = (tuple(axes), tuple(np.ndim(a) for a in mapped), tuple(shapes), tuple(dtypes), id(prog))
        loop = self.compiled.get(key)
        if loop is None:
            loop = _build_loop(prog, axes, mapped, shapes, kind, self.target)
            self.compiled[key] = loop
        loop(n, *mapped, *outs)
        return _assemble(outs, kind, value_too, self.inner, len(shapes))


def _element(x):
    """One element of a mapped argument (`x` is already `a[0]`): a float, or a row of a 2-D
    batch (the element check tested the batch's rank: rows raised a TypeError)."""
    return float(x) if np.ndim(x) == 0 else x


def _result_leaves(first: Any, value_too: bool) -> list:
    """The leaves of one element's result: a value_and_grad's value, then its gradients."""
    if value_too:
        return [first[0]] + tree.flatten(first[1])[0]
    return tree.flatten(first)[0]


def _assemble(outs, kind, value_too, inner, count):
    if kind == "jit":
        return outs[0] if count == 1 else tuple(outs)
    if value_too:
        grads = outs[1:]
        return outs[0], (grads[0] if isinstance(inner.argnums, int) else tuple(grads))
    return outs[0] if isinstance(inner.argnums, int) else tuple(outs)


def _build_loop(prog: Program, axes, mapped, shapes, kind, target) -> Callable:
    nargs = len(axes)
    # large outside arrays the element program takes by reference (coarsen.byref): passed
    # through the loop, after the outputs, and on to the element program after its own args
    bound = prog.fn if isinstance(prog.fn, Bound) else None
    hidden = [f"h{i}" for i in range(len(bound.arrays))] if bound else []
    params = [f"a{i}" for i in range(nargs)]
    outs = [f"o{j}" for j in range(len(shapes))]
    call_args = [f"a{i}[b]" if ax == 0 else f"a{i}" for i, ax in enumerate(axes)]
    if kind == "grad":
        call = f"r = inner({', '.join(call_args + ['1.0'] + hidden)})"
        picks = ([f"r[0][0]"] if len(shapes) > len(prog.wrt) else []) + [f"r[1][{k}]" for k in range(len(prog.wrt))]
    else:
        call = f"r = inner({', '.join(call_args + hidden)})"
        picks = [f"r[{j}]" for j in range(len(shapes))]
    body = [call] + [f"{o}[b] = {p}" for o, p in zip(outs, picks)]
    if target == "cuda":
        return _with_hidden(_cuda_loop(prog, params, outs + hidden, body, len(outs), kind, shapes), bound)
    header = f"def vmapped(n, {', '.join(params + outs + hidden)}):"
    # an exception raised inside a prange loop is lost (the element goes on past an index
    # check and reads out of bounds): an element program that checks indices runs serially
    parallel = target == "cpu" and "raise " not in prog.source
    loop = "for b in prange(n):" if parallel else "for b in range(n):"
    source = "\n".join([header, "    " + loop] + ["        " + line for line in body]) + "\n"
    fn = bound.inner if bound else prog.fn
    inner = fn.jitted if target == "cpu" and hasattr(fn, "jitted") else fn
    namespace: dict[str, Any] = {"inner": inner, "np": np, "prange": range}
    if target == "cpu":
        import numba
        namespace["prange"] = numba.prange
        exec(compile(source, "<coarsen vmap>", "exec"), namespace)   # generated source only
        return _with_hidden(numba.njit(parallel=parallel, error_model="numpy")(namespace["vmapped"]), bound)
    exec(compile(source, "<coarsen vmap>", "exec"), namespace)   # generated source only
    return _with_hidden(namespace["vmapped"], bound)


def _with_hidden(loop: Callable, bound: Bound | None) -> Callable:
    """`loop(n, *arrays)` with the live arrays of `bound` appended at every call."""
    if bound is None:
        return loop
    return lambda n, *arrays: loop(n, *arrays, *bound.current())


def _cuda_loop(prog: Program, params, outs, body, nouts: int | None = None, kind: str = "jit",
               shapes: list | None = None) -> Callable:
    try:
        from numba import cuda
    except ImportError as err:
        raise RuntimeError("target 'cuda' needs numba-cuda: pip install 'coarsen[gpu]'") from err
    # a list tape, or records of arrays copied into a tape's arena (`codegen.forward.TapeLayout`)
    if ".append(" in prog.source or "rt.tape_put(" in prog.source:
        from coarsen.errors import UnsupportedError
        raise UnsupportedError(
            "this derivative records loop iterations on a tape, which GPU threads cannot hold yet",
            prog.ir.loc if prog.ir else None, "use target='cpu' (or a loop with a closed form)")
    import math
    source, messages = _device_checks(device_source(_checked_ints(prog.source, prog)), prog, kind, shapes or [])
    if messages:   # the element program reports failed index checks through `err_`
        params = params + ["err_"]
        body = [body[0][:-1] + ", err_)"] + body[1:]
    from kernels import cuda_special, runtime
    namespace: dict[str, Any] = {"np": np, "math": math, "cuda_special": cuda_special}
    namespace["rt"] = runtime
    exec(compile(source, "<coarsen cuda element>", "exec"), namespace)   # generated source only
    name = re.search(r"^def (\w+)\(", source, re.M).group(1)
    device = cuda.jit(device=True)(namespace[name])
    kernel_src = "\n".join(
        [f"def kernel(n, {', '.join(params + outs)}):", "    b = cuda.grid(1)", "    if b < n:"]
        + ["        " + line for line in body]) + "\n"
    kns: dict[str, Any] = {"inner": device, "cuda": cuda}
    exec(compile(kernel_src, "<coarsen cuda kernel>", "exec"), kns)   # generated source only
    kernel = cuda.jit(kns["kernel"])

    def launch(n, *arrays):
        threads = 128
        blocks = (n + threads - 1) // threads
        count = len(outs) if nouts is None else nouts
        if messages:
            nmapped = len(params) - 1
            arrays = arrays[:nmapped] + (np.zeros(1, dtype=np.int64),) + arrays[nmapped:]
        device_arrays = [cuda.to_device(a) if isinstance(a, np.ndarray) else a for a in arrays]
        kernel[blocks, threads](n, *device_arrays)
        if messages:
            code = int(device_arrays[len(params) - 1].copy_to_host()[0])
            if code:   # an element's check failed (an index out of range, a user's raise)
                error, message = messages[code - 1]
                raise error(message)
        last = len(params) + count   # the outputs (after them: arrays passed by reference)
        for host, dev in zip(arrays[len(params):last], device_arrays[len(params):last]):
            dev.copy_to_host(host)
    return launch


def _checked_ints(source: str, prog: Program) -> str:
    """`int(x)` of a float checked in a GPU thread as on the host (CUDA's conversion gives
    garbage for NaN, infinity and floats beyond int64): each `rt.checked_int(e)` of a statement
    becomes `_ciK = e`, two `raise`s (which `_device_checks` turns into the error flag) and
    `int(_ciK)`. Under a conditional expression the check would run where Python's does not:
    refused."""
    import ast
    if "rt.checked_int(" not in source:
        return source
    out = []
    count = 0
    for line in source.splitlines():
        if "rt.checked_int(" not in line:
            out.append(line)
            continue
        indent = line[:len(line) - len(line.lstrip())]
        try:
            stmt = ast.parse(line.strip()).body[0]
        except SyntaxError:   # not a whole statement (a line of a longer one): not checkable here
            stmt = None
        calls = [n for n in ast.walk(stmt) if isinstance(n, ast.Call) and ast.unparse(n.func) == "rt.checked_int"] \
            if stmt is not None else []
        if stmt is None or isinstance(stmt, (ast.If, ast.While, ast.For)) or \
                any(isinstance(n, (ast.IfExp, ast.BoolOp)) for n in ast.walk(stmt)) or \
                any("rt.checked_int(" in ast.unparse(c.args[0]) for c in calls):
            from coarsen.errors import UnsupportedError
            ir = getattr(prog, "ir", None)
            raise UnsupportedError("int() of a traced float under a condition cannot be checked in a GPU thread",
                                   ir.loc if ir else None, "use target='cpu'")
        for call in calls:
            name = f"_ci{count}"
            count += 1
            out.append(f"{indent}{name} = {ast.unparse(call.args[0])}")
            out.append(f"{indent}if {name} != {name}:")
            out.append(f"{indent}    raise ValueError('cannot convert float NaN to integer')")
            out.append(f"{indent}if not -9.223372036854775808e18 <= {name} < 9.223372036854775808e18:")
            out.append(f"{indent}    raise OverflowError('cannot convert float infinity or a float beyond int64 to an integer')")
            call.func, call.args = ast.Name("int", ast.Load()), [ast.Name(name, ast.Load())]
        out.append(indent + ast.unparse(stmt))
    return "\n".join(out) + "\n"


def _device_checks(source: str, prog: Program, kind: str, shapes: list) -> tuple[str, list[str]]:
    """The element program's run-time checks made reportable from a GPU thread. A `raise` in
    CUDA device code is not seen by the host unless compiled with debug=True (which also
    turns on Python's error model: 1/0 would raise instead of giving inf), so each
    `raise IndexError('file:line: ...')` (an index check, or a user's `raise` under a run-time
    condition: a builtin class and a constant message) becomes `err_[0] = k` and an early
    return of zeros of the program's result types; the launch reads `err_` back and raises
    the k-th exception. Returns (source, [(exception class, message)])."""
    import ast
    import builtins
    lines = source.splitlines()
    raises = [k for k, line in enumerate(lines) if re.match(r"\s*raise \w+\(", line)]
    if not raises:
        return source, []
    head = next(k for k, line in enumerate(lines) if line.startswith("def "))
    ret = max(k for k, line in enumerate(lines) if line.startswith("    return "))
    shape = ast.parse(lines[ret].strip()).body[0].value   # (outs,) or ((outs...), (grads...))
    result_types = list(prog.result_types)

    def zero(dtype: str, rank: int, leaf_shape: tuple = ()) -> str:
        if rank:
            return f"np.zeros({tuple(leaf_shape)!r})"
        return {"f64": "0.0", "i64": "0", "bool": "False"}[dtype]
    if kind == "jit":
        dummy = "(" + "".join(zero(t.dtype, t.rank, s) + ", " for t, s in zip(result_types, shapes)) + ")"
    else:
        values, grads = shape.elts
        nvals, ngrads = len(values.elts), len(grads.elts)
        vals = "".join(zero(t.dtype, t.rank) + ", " for t in result_types[:nvals])
        grad_shapes = shapes[len(shapes) - ngrads:] if ngrads else []
        grads_text = "".join(zero("f64", len(s), s) + ", " for s in grad_shapes)
        dummy = f"({vals}), ({grads_text})"
    messages = []
    for k in raises:
        line = lines[k]
        indent = line[:len(line) - len(line.lstrip())]
        call = ast.parse(line.strip()).body[0].exc   # a builtin class, a constant message
        error = getattr(builtins, call.func.id, None)
        if not (isinstance(error, type) and issubclass(error, Exception)) or len(call.args) > 1:
            from coarsen.errors import UnsupportedError
            raise UnsupportedError(f"a GPU thread cannot report `{line.strip()}` (only a builtin exception "
                                   "class with a constant message)", prog.ir.loc if prog.ir else None,
                                   "use target='cpu', or raise a builtin exception with a constant message")
        messages.append((error, ast.literal_eval(call.args[0]) if call.args else ""))
        lines[k] = f"{indent}err_[0] = {len(messages)}\n{indent}return {dummy}"
    lines[head] = re.sub(r"\):$", ", err_):", lines[head]) if not lines[head].endswith("():") \
        else lines[head][:-2] + "err_):"
    return "\n".join(lines) + "\n", messages


def vmap(fn: Callable, in_axes: int | None | Sequence[int | None] = 0, target: str | None = None) -> VMapped:
    """`fn` mapped over the leading axis of its arguments (see the module docstring)."""
    return VMapped(fn, in_axes, target or DEFAULT_TARGET)
