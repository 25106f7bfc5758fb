"""Random draws inside a compiled function (#22): drawn on the host, passed in as hidden arguments.

`rs.randn(n, d)`, `rng.normal(0.0, 1.0, size=(n, d))`, `np.random.uniform(...)`, ... inside a
traced function (the generator passed as an argument, closed over, a module global or an
object's attribute; `np.random.*` is the global RandomState) do not become IR ops and never
constants. Each call becomes a `Draw`: which generator, which method, its arguments as Python
values, the result's type. The traced function gets one hidden parameter per draw, after the
user's leaves (`Function.draws`), and every call of the compiled program first makes the draws
on the host, in program order, from the caller's generator (`draw`), then passes them in.

Why on the host, not inside the compiled code (Numba has a generator of its own): only the
host's generator object *is* the user's generator. Drawing from it is what running the plain
function does, so the numbers are the same and its state advances exactly as NumPy's would,
on every target alike (numpy, cpu, cuda), with nothing of NumPy's bit generators to
reimplement; Numba's `np.random` keeps a separate per-thread state that the user's
`RandomState`/`Generator` would never see. The draws are arguments, so they are constants for
the derivative, the cache key never holds them, and each call draws afresh.

The order of draws must be fixed when tracing: a draw under a run-time condition (an `if` on
data, a loop whose body is not unrolled, the code after a return that may have run) is
refused. Shapes are constants or dimensions of an argument; distribution parameters (loc,
scale, low, high) must be known when tracing (write `mu + sigma * rs.standard_normal(n)` for
traced ones).
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

import numpy as np

# method name -> (positional parameter names in NumPy's order, the one that is the size,
# result dtype); "*dims" for randn/rand, whose positional arguments are the dimensions
_METHODS: dict[str, tuple[tuple[str, ...], str | None, str]] = {
    "randn": (("*dims",), "*dims", "f64"),
    "rand": (("*dims",), "*dims", "f64"),
    "standard_normal": (("size",), "size", "f64"),
    "normal": (("loc", "scale", "size"), "size", "f64"),
    "uniform": (("low", "high", "size"), "size", "f64"),
    "random": (("size",), "size", "f64"),
    "random_sample": (("size",), "size", "f64"),
    "randint": (("low", "high", "size"), "size", "i64"),
    "integers": (("low", "high", "size", "dtype", "endpoint"), "size", "i64"),
    "exponential": (("scale", "size"), "size", "f64"),
    "standard_exponential": (("size",), "size", "f64"),
    "laplace": (("loc", "scale", "size"), "size", "f64"),
    "logistic": (("loc", "scale", "size"), "size", "f64"),
    "gumbel": (("loc", "scale", "size"), "size", "f64"),
}
# methods of one generator class only
_ONLY = {"randn": np.random.RandomState, "rand": np.random.RandomState, "random_sample": np.random.RandomState,
         "randint": np.random.RandomState, "integers": np.random.Generator}


@dataclass(frozen=True, eq=False)
class GeneratorArg:
    """A generator passed as an argument: the `index`-th generator of the arguments."""

    index: int


@dataclass(frozen=True, eq=False)
class RandomMethod:
    """`gen.method` looked up, not yet called: `gen` is a GeneratorArg or the generator object."""

    gen: Any
    name: str


@dataclass(frozen=True, eq=False)
class Draw:
    """One draw, made on the host at every call before the compiled program runs.

    `gen`: the index of a generator argument (int) or the generator object itself;
    `args`/`kwargs`: the call's arguments, with `("dim", leaf, axis)` standing for a dimension
    of an argument leaf (a tuple of such for a size); `type`: the hidden parameter's IR type."""

    gen: Any
    method: str
    args: tuple
    kwargs: tuple
    type: Any
    where: str


def is_generator(obj: Any) -> bool:
    return isinstance(obj, (np.random.RandomState, np.random.Generator))


def is_random_callable(obj: Any) -> bool:
    owner = getattr(obj, "__self__", None)
    return isinstance(owner, (np.random.RandomState, np.random.Generator))


def attribute(lw, gen: Any, attr: str, node: ast.AST) -> RandomMethod:
    """`gen.attr` for a generator (argument or object)."""
    cls = type(gen) if not isinstance(gen, GeneratorArg) else lw.ctx.generator_classes[gen.index]
    if attr not in _METHODS or (attr in _ONLY and not issubclass(cls, _ONLY[attr])):
        if not hasattr(cls, attr):
            lw.type_error(f"a {cls.__name__} has no attribute `{attr}`", node)
        written = ast.unparse(node.func if isinstance(node, ast.Call) else node)
        lw.unsupported(f"{written} ({cls.__name__}.{attr}) is not supported inside a compiled function", node,
                       "the supported draws: " + ", ".join(sorted(m for m in _METHODS
                                                               if m not in _ONLY or issubclass(cls, _ONLY[m])))
                       + "; or draw outside and pass the numbers in as an argument")
    return RandomMethod(gen, attr)


def _dims(lw, binding: Any, node: ast.AST) -> Any:
    """A size as the host will compute it: an int, ("dim", leaf, axis) for a dimension of an
    argument (`x.shape[0]`), ("dim", leaf, None) for an int argument; tuples of those."""
    from coarsen.ir.nodes import Op, Value
    if isinstance(binding, tuple):
        return tuple(_dims(lw, b, node) for b in binding)
    if isinstance(binding, Value) and not binding.type.rank and binding.type.dtype in ("i64", "bool"):
        constant = lw.constant_of(binding)
        if constant is not None:
            return int(constant)
        if binding.id in lw.ctx.param_index and binding.type.dtype == "i64":   # an int argument
            return ("dim", lw.ctx.param_index[binding.id], None)
        for instr in lw.b._blocks[0]:
            if instr.op is Op.SHAPE and instr.results[0] is binding and instr.args[0].id in lw.ctx.param_index:
                return ("dim", lw.ctx.param_index[instr.args[0].id], instr.attrs["dim"])
    lw.unsupported(f"the size of a random draw must be known when tracing or be a dimension of an argument "
                   f"(x.shape[k]) or an int argument; `{ast.unparse(node)}` gives {_describe(binding)}", node,
                   "pass the size as a Python int (a closure or global), or draw outside and pass the numbers in")


def _describe(binding: Any) -> str:
    from coarsen.frontend.bindings import describe
    return describe(binding)


def _static(lw, name: str, binding: Any, node: ast.AST) -> Any:
    """A distribution parameter as a Python value (known when tracing), or refused."""
    from coarsen.frontend.bindings import Static
    from coarsen.ir.nodes import Value
    if isinstance(binding, Static) and (binding.obj is None or isinstance(binding.obj, (bool, int, float, str))
                                        or binding.obj in (np.int64, np.int32, int)):
        return binding.obj
    if isinstance(binding, Value) and not binding.type.rank:
        constant = lw.constant_of(binding)
        if constant is not None:
            return constant
    if isinstance(binding, Value):
        lw.unsupported(f"the {name} of a random draw must be known when tracing, not a traced "
                       f"value ({_describe(binding)})", node,
                       "draw a standard variate and transform it: mu + sigma * rs.standard_normal(n), "
                       "low + (high - low) * rs.random_sample(n)")
    lw.unsupported(f"the {name} of a random draw is {_describe(binding)}: numbers or sizes known when "
                   "tracing are supported", node)


def lower_draw(lw, method: RandomMethod, args: list, kwargs: dict, node: ast.AST) -> Any:
    from coarsen.frontend import type_of_arg
    from coarsen.frontend.exceptions import _in_nested_region
    params, size_name, dtype = _METHODS[method.name]
    if _in_nested_region(lw):
        lw.unsupported(f"a random draw ({ast.unparse(node.func)}) under a condition or in a loop known only "
                       "when running is not supported: the number and order of draws must be fixed when "
                       "tracing", node,
                       "draw before the branch or loop (all the numbers the loop needs at once: "
                       "rs.randn(n_steps, d)) and index them, or draw outside and pass them in")
    if params == ("*dims",):
        if kwargs:
            lw.type_error(f"{method.name}() takes no keyword arguments", node)
        call_args = tuple(_dims(lw, a, node) for a in args)
        call_kwargs: tuple = ()
        size = call_args
    else:
        if len(args) > len(params):
            lw.type_error(f"{method.name}() takes at most {len(params)} arguments, got {len(args)}", node)
        named = dict(zip(params, args))
        for k, v in kwargs.items():
            if k not in params or k in named:
                lw.type_error(f"{method.name}() got an unexpected or repeated keyword argument {k!r}", node)
            named[k] = v
        values = {}
        for k, v in named.items():
            values[k] = _dims(lw, v, node) if k == size_name else _static(lw, k, v, node)
        for k in ("loc", "scale", "low", "high"):
            if isinstance(values.get(k), str):
                lw.type_error(f"{method.name}(): {k} must be a number", node)
        if "dtype" in values and values["dtype"] not in (None, int, np.int64, "int64"):
            lw.unsupported(f"{method.name}(dtype={values['dtype']!r}) is not supported", node, "leave out dtype")
        size = values.get(size_name)
        call_args, call_kwargs = (), tuple(sorted(values.items()))
    rank = 0 if size is None else (len(size) if isinstance(size, tuple) else 1)
    prototype = np.zeros((1,) * rank, dtype=np.int64 if dtype == "i64" else np.float64)
    typ = type_of_arg(prototype if rank else prototype.reshape(()).item())
    gen = method.gen.index if isinstance(method.gen, GeneratorArg) else method.gen
    draw = Draw(gen, method.name, call_args, call_kwargs, typ, str(lw.src.loc(node)))
    if not isinstance(method.gen, GeneratorArg):
        _check_callable(lw, draw, node)
    value = lw.b.new_value(typ, f"draw{len(lw.ctx.draws)}")
    lw.ctx.draws.append((draw, value))
    if typ.rank:
        lw.ctx.aliases.fresh(value)
    return value


def _check_callable(lw, draw: Draw, node: ast.AST) -> None:
    """Arguments NumPy would reject are the user's error now, as in plain Python (the draw is
    made on a copy of the generator, whose state is left alone)."""
    import copy
    if any(isinstance(a, tuple) and a[:1] == ("dim",) for a in _flat(draw.args + tuple(v for _, v in draw.kwargs))):
        return   # sized by an argument: checked at the first call
    try:
        call(copy.deepcopy(draw.gen), draw, [])
    except (ValueError, TypeError) as err:
        lw.type_error(f"{ast.unparse(node)}: {type(err).__name__}: {err}", node)


def _flat(items) -> list:
    out = []
    for item in items:
        if isinstance(item, tuple) and item[:1] != ("dim",):
            out.extend(_flat(item))
        else:
            out.append(item)
    return out


# ----------------------------------------------------------------------------- at each call
def _resolve(item: Any, leaves: list) -> Any:
    if isinstance(item, tuple):
        if item[:1] == ("dim",):
            leaf = leaves[item[1]]
            return int(leaf) if item[2] is None else int(np.shape(leaf)[item[2]])
        return tuple(_resolve(i, leaves) for i in item)
    return item


def call(gen: Any, draw: Draw, leaves: list) -> Any:
    """One draw from `gen` (the generator object), as the plain function would make it."""
    args = [_resolve(a, leaves) for a in draw.args]
    kwargs = {k: _resolve(v, leaves) for k, v in draw.kwargs}
    return getattr(gen, draw.method)(*args, **kwargs)


def draw(draws: tuple, generators: list, leaves: list) -> list:
    """The hidden arguments of one call: every draw, in program order, as the IR types them."""
    out = []
    for d in draws:
        gen = generators[d.gen] if isinstance(d.gen, int) else d.gen
        v = call(gen, d, leaves)
        if d.type.dtype == "f64":
            v = np.asarray(v, dtype=np.float64) if d.type.rank else float(v)
        elif d.type.dtype == "i64" and not d.type.rank:
            v = int(v)
        out.append(v)
    return out
