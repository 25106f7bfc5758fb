"""The public entry points of coarsen: trace, explain, grad, value_and_grad, vjp.

Each transformed function compiles once per *signature* (argument structure, types and ranks,
the differentiated arguments, the target) and caches the compiled program.

Non-differentiable points: at a kink or jump (abs at 0, max of ties, a branch boundary) the
derivative of the branch the forward run took is returned, as JAX and PyTorch do.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

import numpy as np

from coarsen import tree
from coarsen.autodiff import Reverse
from coarsen.errors import UnsupportedError
from coarsen.frontend import trace as _trace, type_of_arg
from coarsen.ir import Function, format_function
from coarsen.passes import run_pipeline
from coarsen.segments import describe as describe_segments
from kernels import compile_source
from kernels.targets import module_globals

DEFAULT_TARGET = "numpy"


def trace(fn: Any, *example_args: Any) -> Function:
    """The verified IR of `fn` specialised to the types and ranks of `example_args`."""
    return _trace(fn, *example_args)


def _signature(args: tuple) -> tuple:
    leaves, treedef = tree.flatten(args)
    return treedef, tuple(type_of_arg(v) for v in leaves)


def _normalise_argnums(argnums: int | Sequence[int], nargs: int) -> tuple[int, ...]:
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for a in nums:
        if not -nargs <= a < nargs:
            raise ValueError(f"argnums {a} is out of range for {nargs} arguments")
    return tuple(a % nargs for a in nums)


class _Derivative:
    """A compiled reverse-mode program per signature; `__call__` runs it."""

    def __init__(self, fn: Callable, argnums, target: str, kind: str) -> None:
        self.fn = fn
        self.argnums = argnums
        self.target = target
        self.kind = kind   # "grad" | "value_and_grad" | "vjp"
        self.cache: dict[tuple, tuple] = {}
        self.passes: dict = {}
        functools.update_wrapper(self, fn)

    def compile(self, args: tuple):
        key = (_signature(args), self.argnums, self.target)
        entry = self.cache.get(key)
        if entry is not None:
            return entry
        ir = run_pipeline(_trace(self.fn, *args), self.passes)
        argnums = _normalise_argnums(self.argnums, len(args))
        offsets = np.cumsum([0] + [tree.num_leaves(d) for d in ir.arg_tree[1]])
        wrt = [k for a in argnums for k in range(offsets[a], offsets[a + 1])]
        for k in wrt:
            if ir.params[k].type.dtype != "f64":
                raise UnsupportedError(
                    f"cannot differentiate {self.fn.__name__} with respect to its "
                    f"{ir.params[k].type} argument `{ir.params[k].hint}`", ir.loc,
                    "differentiate with respect to float arguments (pass 2.0, not 2)")
        if self.kind == "grad" or self.kind == "value_and_grad":
            if len(ir.results) != 1 or ir.results[0].type.rank or ir.results[0].type.dtype != "f64":
                raise UnsupportedError(
                    f"{self.kind} needs {self.fn.__name__} to return one float scalar, it returns "
                    f"{', '.join(str(r.type) for r in ir.results)}", ir.loc,
                    "use coarsen.vjp for functions with several or array outputs")
        rev = Reverse(ir, wrt)
        name = f"{ir.name}_vjp"
        source = rev.emit(name, with_value=True)
        compiled = compile_source(source, name, self.target, label=f"d{ir.name}")
        module_globals(compiled).update(rev.prog.array_constants)
        entry = (ir, compiled, argnums, source)
        self.cache[key] = entry
        return entry

    def run(self, args: tuple, cotangents: Sequence[Any]):
        ir, compiled, argnums, _ = self.compile(args)
        leaves, _ = tree.flatten(args)
        leaves = [np.asarray(v, dtype=np.float64) if isinstance(v, np.ndarray) and v.dtype != np.float64
                  else v for v in leaves]
        outs, grads = compiled(*leaves, *cotangents)
        grads = [_as_like(g, leaves[k]) for g, k in zip(grads, self._wrt_positions(ir, argnums))]
        it = iter(grads)
        structured = tuple(tree.unflatten(ir.arg_tree[1][a], it) for a in argnums)
        grad = structured[0] if isinstance(self.argnums, int) else structured
        return tree.unflatten(ir.result_tree, [_as_output(o) for o in outs]), grad

    @staticmethod
    def _wrt_positions(ir, argnums):
        offsets = np.cumsum([0] + [tree.num_leaves(d) for d in ir.arg_tree[1]])
        return [k for a in argnums for k in range(offsets[a], offsets[a + 1])]

    def __call__(self, *args):
        if self.kind == "vjp":
            raise TypeError("use coarsen.vjp(f, *args)")
        value, grad = self.run(args, [1.0])
        return grad if self.kind == "grad" else (value, grad)

    def source(self, *args) -> str:
        return self.compile(args)[3]


def _as_like(g: Any, like: Any) -> Any:
    if isinstance(like, np.ndarray):
        return np.array(np.broadcast_to(g, like.shape), dtype=np.float64)
    return float(g)


def _as_output(o: Any) -> Any:
    if isinstance(o, np.ndarray):
        return o
    if isinstance(o, (np.floating, float)):
        return float(o)
    return o


def _decorator(kind: str):
    def transform(fn: Callable | None = None, argnums: int | Sequence[int] = 0,
                  target: str | None = None):
        if fn is None:
            return lambda f: transform(f, argnums=argnums, target=target)
        return _Derivative(fn, argnums, target or DEFAULT_TARGET, kind)
    return transform


grad = _decorator("grad")
grad.__doc__ = """The gradient of a scalar-valued function w.r.t. argument(s) `argnums`.

    coarsen.grad(f)(x, y)              # df/dx, shaped like x
    coarsen.grad(f, argnums=(0, 1))    # (df/dx, df/dy)
    @coarsen.grad                       # decorator form
"""
value_and_grad = _decorator("value_and_grad")
value_and_grad.__doc__ = "Like `grad`, returning `(f(*args), gradient)` from one run."


def vjp(fn: Callable, *args: Any, argnums: int | Sequence[int] | None = None, target: str | None = None):
    """`(outputs, vjp_fn)`: `vjp_fn(cotangent)` returns the cotangent's pull-back to the args
    (a tuple, one entry per differentiated argument; all arguments by default)."""
    nums = tuple(range(len(args))) if argnums is None else argnums
    d = _Derivative(fn, nums, target or DEFAULT_TARGET, "vjp")
    ir = d.compile(args)[0]
    zeros = [np.zeros(1)[0] if not r.type.rank else None for r in ir.results]
    for r in ir.results:
        if r.type.dtype != "f64":
            raise UnsupportedError(f"vjp needs float outputs; {fn.__name__} returns {r.type}", ir.loc)

    def vjp_fn(cotangent: Any):
        cts, _ = tree.flatten(cotangent)
        if len(cts) != len(ir.results):
            raise ValueError(f"expected {len(ir.results)} cotangent(s), got {len(cts)}")
        return d.run(args, cts)[1]

    outputs = None
    del zeros
    from coarsen.ir import interpret
    outputs = interpret(ir, *args)
    return outputs, vjp_fn


def explain(fn: Any, *example_args: Any, argnums: int | Sequence[int] = 0, file=None) -> str:
    """Print (and return) what coarsen makes of `fn` for these argument types: the IR, the
    segments of interest (size, inputs, why each was cut) and the generated derivative."""
    ir = trace(fn, *example_args)
    parts = ["== IR ==", format_function(ir)]
    try:
        d = _Derivative(fn, argnums, DEFAULT_TARGET, "vjp")
        opt, _, _, source = d.compile(example_args)
        timings = ", ".join(f"{name} {1e3 * t:.1f} ms" for name, t in d.passes.get("timings", []))
        parts += ["== passes ==", f"  {timings}"]
        for line in d.passes.get("closed_forms", []):
            parts.append(f"  closed form: {line}")
        parts += ["== IR after passes ==", format_function(opt)]
        rev = Reverse(opt, d._wrt_positions(opt, _normalise_argnums(argnums, len(example_args))))
        parts += ["== segments ==", describe_segments(rev.plan, {k: rev.prog.name(v) for k, v in rev.plan.values.items()}),
                  "== derivative ==", source]
    except UnsupportedError as err:
        parts += ["== derivative ==", f"(not differentiable: {err.message})"]
    text = "\n".join(parts)
    print(text, file=file)
    return text
