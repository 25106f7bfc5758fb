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

The order of draws must be fixed when tracing. A draw in the body of `for i in range(a, b, c)`
loops (FOR: no break or return; bounds constants, int arguments or argument dimensions) is
made once per iteration on the host, in program order (`_run` replays the loops), stacked on
one leading axis per loop; the body indexes its iteration. A draw under a run-time condition
(an `if` on data, a while loop, the code after a return that may have run) is refused. Shapes
are constants or dimensions of an argument.

Distribution parameters known only when running (`rs.normal(mu, sigma, size=n)`,
`rng.uniform(a, b)`, `rng.exponential(scale)`, mu... traced values or arrays): NumPy's own
algorithm for these is one standard variate per number, transformed (`loc + scale * z`,
`low + (high - low) * u`, `scale * e`, in its C sources and by test), so the standard variate is
the host draw (same stream, same state) and the compiled program forms the transform: NumPy's
numbers bit for bit on numpy/cpu, and the derivative w.r.t. the parameters is the pathwise one.
NumPy's argument checks are run-time checks with its exception and message. Other methods
(laplace, gumbel, logistic: a branch or rejection on the draw) with traced parameters are
refused. `rng.choice(x, size, replace)` of a 1-d array argument draws the indices on the host
as `rng.choice(len(x), size, replace)` (NumPy's own first step) and gathers x at them.
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
    "choice": (("a", "size", "replace", "p"), "size", "i64"),   # of an int n, or see _choice
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


class LoopFrame:
    """A `for i in range(a, b, c)` loop being lowered (FOR): draws in its body are made once per
    iteration on the host, stacked on a leading axis, and indexed by the iteration."""

    def __init__(self, uid: int, bounds: tuple, mark: int) -> None:
        self.uid, self.bounds, self.mark = uid, bounds, mark
        self.index = None   # the body's loop variable
        self.depth = 0      # the builder's block depth in the body


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
    # enclosing FOR loops, outermost first: (loop id, (start, stop, step) as host specs); the
    # hidden parameter then has one leading axis per loop
    loops: tuple = ()


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


def _dims(lw, binding: Any, node: ast.AST, what: str = "size") -> Any:
    """A size as the host will compute it: an int, ("dim", leaf, axis) for a dimension of an
    argument (`x.shape[0]`), ("dim", leaf, None) for an int argument; tuples of those."""
    from coarsen.ir.nodes import Op, Value
    if isinstance(binding, tuple):
        return tuple(_dims(lw, b, node, what) for b in binding)
    if isinstance(binding, Value) and not binding.type.rank and binding.type.dtype in ("i64", "bool"):
        constant = lw.constant_of(binding)
        if constant is not None:
            return int(constant)
        if binding.id in lw.ctx.param_index and binding.type.dtype == "i64":   # an int argument
            return ("dim", lw.ctx.param_index[binding.id], None)
        instrs = [i for block in lw.b._blocks for i in block]
        for instr in instrs:
            if instr.op is Op.SHAPE and instr.results[0] is binding:
                x = instr.args[0]
                if x.id in lw.ctx.param_index:   # a dimension of an argument
                    return ("dim", lw.ctx.param_index[x.id], instr.attrs["dim"])
                for d in instrs:   # a dimension of a module-level array (a constant)
                    if d.op is Op.CONST and d.results[0] is x and isinstance(d.attrs["value"], np.ndarray):
                        return int(d.attrs["value"].shape[instr.attrs["dim"]])
    lw.unsupported(f"the {what} of a random draw must be known when tracing or be a dimension of an argument "
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
    from coarsen.ir.nodes import Value
    from coarsen.frontend.exceptions import _in_nested_region
    params, size_name, dtype = _METHODS[method.name]
    frames = _enclosing_loops(lw)
    if frames is None:
        lw.unsupported(f"a random draw ({ast.unparse(node.func)}) under a condition or in a loop known only "
                       "when running is not supported: the number and order of draws must be fixed when "
                       "tracing (a `for i in range(n)` body without break/return is, n a constant, an int "
                       "argument or an argument's dimension)", node,
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
        if method.name == "choice" and isinstance(named.get("a"), Value) and named["a"].type.rank:
            return _choice(lw, method, named, node)
        if dtype == "f64" and any(k in _PARAMETERS and _traced(lw, v) for k, v in named.items()):
            return _reparameterised(lw, method, named, node)
        values = {}
        for k, v in named.items():
            integer = isinstance(v, Value) and not v.type.rank and v.type.dtype == "i64"   # bounds of integers
            values[k] = _dims(lw, v, node, k) if k == size_name or (integer and lw.constant_of(v) is None) \
                else _static(lw, k, v, node)
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
    loops = tuple((f.uid, tuple(_dims(lw, b, node, "enclosing loop's range") for b in f.bounds)) for f in frames)
    stacked = type_of_arg(np.zeros((1,) * (rank + len(loops)), dtype=np.int64 if dtype == "i64" else np.float64)) \
        if loops else typ
    gen = method.gen.index if isinstance(method.gen, GeneratorArg) else method.gen
    draw = Draw(gen, method.name, call_args, call_kwargs, typ, str(lw.src.loc(node)), loops)
    if not isinstance(method.gen, GeneratorArg):
        _check_callable(lw, draw, node)
    value = lw.b.new_value(stacked, f"draw{len(lw.ctx.draws)}")
    lw.ctx.draws.append((draw, value))
    if stacked.rank:
        lw.ctx.aliases.fresh(value)
    if frames:   # this iteration's draw: the stacked draws at the loops' iteration numbers
        from coarsen.ir.nodes import Op
        index = []
        for f in frames:
            start, _, step = f.bounds
            k = f.index
            if lw.constant_of(start) != 0:
                k = lw.b.emit(Op.SUB, (k, start))
            if lw.constant_of(step) != 1:
                k = lw.b.emit(Op.FLOORDIV, (k, step))
            index.append(k)
        value = lw.emit(Op.GETITEM, (value, *index), node, {"index": ("i",) * len(index)})
        if value.type.rank:   # a view of a hidden parameter: as fresh as a draw
            value = lw.emit(Op.COPY, (value,), node)
    return value


# distribution parameters known only when running (#22): NumPy's own algorithm for these is one
# standard variate per number, transformed (numpy/random/src/distributions: random_normal is
# `loc + scale * random_standard_normal`, random_uniform `low + (high - low) * next_double`,
# random_exponential `scale * random_standard_exponential`; the legacy RandomState ones alike).
# Method -> (parameters with defaults, the standard draw for RandomState, for Generator).
_PARAMETERS = ("loc", "scale", "low", "high")
_TRANSFORMS = {
    "normal": ((("loc", 0.0), ("scale", 1.0)), "standard_normal", "standard_normal"),
    "uniform": ((("low", 0.0), ("high", 1.0)), "random_sample", "random"),
    "exponential": ((("scale", 1.0),), "standard_exponential", "standard_exponential"),
}


def _traced(lw, binding: Any) -> bool:
    """A distribution parameter whose value is known only when running (or an array)."""
    from coarsen.ir.nodes import Value
    return isinstance(binding, Value) and (bool(binding.type.rank) or lw.constant_of(binding) is None)


def _reparameterised(lw, method: RandomMethod, named: dict, node: ast.AST) -> Any:
    """`rng.normal(mu, sigma, size)` with traced mu/sigma (likewise uniform, exponential): the
    standard variate is drawn on the host from the same stream (`lower_draw`), and the traced
    program forms NumPy's own transform of it, so the numbers are NumPy's (bit for bit on the
    numpy and cpu targets; cuda may contract a*b+c into one rounding) and the derivative with
    respect to the parameters is the pathwise one (d/dmu = 1, d/dsigma = z). NumPy's argument
    checks become run-time checks raising NumPy's exception and message, after the draw
    (NumPy checks before drawing: on that error the generator's state has advanced here)."""
    from coarsen.ir.nodes import Op
    from coarsen.ir.types import Type
    from coarsen.ops.reductions import _any_all
    if method.name not in _TRANSFORMS:
        lw.unsupported(f"{method.name}() with a distribution parameter known only when running: NumPy's "
                       f"{method.name} is not one transformed standard draw per number, so compiled code "
                       "could not give NumPy's numbers", node,
                       "pass parameters known when tracing, write the transform yourself "
                       "(mu + sigma * rs.standard_normal(n)), or draw outside and pass the numbers in")
    defaults, legacy, modern = _TRANSFORMS[method.name]
    cls = type(method.gen) if not isinstance(method.gen, GeneratorArg) else lw.ctx.generator_classes[method.gen.index]
    generator = issubclass(cls, np.random.Generator)
    p = {}
    for k, default in defaults:
        v = lw.as_value(named[k], node) if k in named else lw.b.const(default)
        if v.type.dtype != "f64":
            v = lw.cast_to(v, Type("f64", v.type.rank))
        p[k] = v
    size = named.get("size")
    from coarsen.frontend.bindings import Static
    if isinstance(size, Static) and size.obj is None:
        size = None
    arrays = [v for v in p.values() if v.type.rank]
    if size is None and arrays:   # the result has the parameters' shape: an argument's
        sources = {id(x): _argument_shaped_like(lw, x) for x in arrays}
        x = next(iter(sources.values()))
        if x is None or any(v is not x for v in sources.values()):
            lw.unsupported(f"{method.name}() with array parameters known only when running and no size: the "
                           "draw's shape must be an argument's shape (parameters computed elementwise from one "
                           "argument array and scalars)", node, "pass size= (e.g. size=x.shape)")
        size = tuple(lw.emit(Op.SHAPE, (x,), node, {"dim": k}) for k in range(x.type.rank))
        arrays = []   # the size is the parameters' shape: nothing to check
    std = RandomMethod(method.gen, modern if generator else legacy)
    z = lower_draw(lw, std, [], {} if size is None else {"size": size}, node)
    loc = lw.src.loc(node)

    def check(bad, exc, message):
        if bad.type.rank:
            bad = _any_all("any")(lw, [bad], {}, node)
        if lw.constant_of(bad) is False:
            return
        lw.b.emit(Op.CHECK, (bad,), {"exc": exc, "args": (message,)}, loc)
        lw.ctx.runtime_raises.append(exc)

    def negative(v):   # NumPy's test: signbit and not NaN (so -0.0 is refused too)
        zero = lw.b.const(0.0)
        signed_zero = lw.emit(Op.AND, (lw.emit(Op.EQ, (v, zero), node),
                                       lw.emit(Op.LT, (lw.emit(Op.ARCTAN2, (v, lw.b.const(-1.0)), node), zero),
                                               node)), node)
        return lw.emit(Op.OR, (lw.emit(Op.LT, (v, zero), node), signed_zero), node)

    if arrays:   # the parameters must broadcast to the size, as NumPy requires
        dims = list(size) if isinstance(size, tuple) else [size]
        message = f"Output size is not compatible with broadcast dimensions of inputs ({ast.unparse(node)})"
        for v in arrays:
            if v.type.rank > len(dims):
                lw.type_error(f"{ast.unparse(node)}: ValueError: {message}", node)
            for j in range(v.type.rank):
                d = lw.emit(Op.SHAPE, (v,), node, {"dim": j})
                s = lw.as_value(dims[len(dims) - v.type.rank + j], node)
                one = lw.b.const(1)
                check(lw.emit(Op.AND, (lw.emit(Op.NE, (d, one), node), lw.emit(Op.NE, (d, s), node)), node),
                      ValueError, message)
    if method.name == "uniform":
        span = lw.emit(Op.SUB, (p["high"], p["low"]), node)
        big = float(np.finfo(np.float64).max)   # comparisons, not span - span == 0 (SymPy folds that)
        finite = lw.emit(Op.AND, (lw.emit(Op.LE, (span, lw.b.const(big)), node),
                                  lw.emit(Op.GE, (span, lw.b.const(-big)), node)), node)
        check(lw.emit(Op.NOT, (finite,), node), OverflowError,
              "high - low range exceeds valid bounds" if generator else "Range exceeds valid bounds")
        if generator:
            check(negative(span), ValueError, "high - low < 0")
        return lw.emit(Op.ADD, (p["low"], lw.emit(Op.MUL, (span, z), node)), node)
    check(negative(p["scale"]), ValueError, "scale < 0")
    if method.name == "normal":
        return lw.emit(Op.ADD, (p["loc"], lw.emit(Op.MUL, (p["scale"], z), node)), node)
    return lw.emit(Op.MUL, (p["scale"], z), node)


def _choice(lw, method: RandomMethod, named: dict, node: ast.AST) -> Any:
    """`rng.choice(x, size, replace)` of a 1-d array x: NumPy draws the indices exactly as
    `rng.choice(len(x), size, replace)` and returns x[indices] (RandomState and Generator alike,
    checked by test), so the indices are the host draw and the program gathers them."""
    from coarsen.ir.nodes import Op
    x = named["a"]
    if x.type.rank != 1:
        lw.unsupported(f"{method.name}() of an array of rank {x.type.rank}: only 1-d arrays are supported", node,
                       "choose indices (rng.choice(len(x), size)) and index the axis you want")
    source = _argument_shaped_like(lw, x)
    if source is None:
        lw.unsupported(f"{method.name}() of an array whose length is not an argument's dimension", node,
                       "choose indices of a length known when running: rng.choice(n, size) with n = x.shape[0] "
                       "of an argument, then index")
    idx = lower_draw(lw, method, [], dict(named, a=lw.emit(Op.SHAPE, (source,), node, {"dim": 0})), node)
    if not idx.type.rank:
        return lw.emit(Op.GETITEM, (x, idx), node, {"index": ("i",)})
    return lw.gather(x, ("a",), [idx], node)


def _argument_shaped_like(lw, x: Any) -> Any:
    """The argument leaf whose shape `x` has, when `x` is it or is computed elementwise from it
    and scalars (every array operand has x's rank and traces back to that leaf), else None."""
    from coarsen.ir.nodes import Op
    from coarsen.ops import elementwise
    if x.id in lw.ctx.param_index:
        return x
    ops = {Op[e.member] for e in elementwise()} | {Op.CAST, Op.COPY}
    for block in lw.b._blocks:
        for instr in block:
            if instr.results and instr.results[0] is x:
                if instr.op not in ops or any(0 < a.type.rank != x.type.rank for a in instr.args):
                    return None   # (a lower-rank array could stretch a size-1 axis)
                found = {id(s): s for s in (_argument_shaped_like(lw, a) for a in instr.args
                                             if a.type.rank == x.type.rank)}
                return next(iter(found.values())) if len(found) == 1 else None
    return None


def _enclosing_loops(lw) -> list | None:
    """The FOR loops whose bodies hold the code lowered now, when they are all it is nested in
    (then the draws of each iteration are fixed when tracing), else None."""
    depth = len(lw.b._blocks)
    if depth == 1:
        return []
    frames = lw.ctx.loop_frames
    if not frames or frames[-1].depth != depth:
        return None
    for k, f in enumerate(frames):
        if f.depth != k + 2:   # a branch or a while loop between them
            return None
    return list(frames)


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
    """The hidden arguments of one call: every draw, in program order, as the IR types them
    (a draw in FOR loops: one per iteration, stacked on a leading axis per loop)."""
    made: list[list] = [[] for _ in draws]
    counts: list[tuple] = [() for _ in draws]
    _run(list(enumerate(draws)), 0, generators, leaves, made, counts)
    out = []
    for d, values, shape in zip(draws, made, counts):
        dtype = np.float64 if d.type.dtype == "f64" else np.int64
        if not d.loops:
            v = values[0]
            out.append((np.asarray(v, dtype=dtype) if d.type.rank else dtype(v).item()))
            continue
        if values:
            v = np.asarray(values, dtype=dtype)
        else:   # a loop that ran no iteration: an empty stack of the draw's shape
            size = [_resolve(a, leaves) for a in d.args] if d.args else dict(
                (k, _resolve(v, leaves)) for k, v in d.kwargs).get("size")
            inner = () if size in (None, []) else tuple(np.atleast_1d(np.asarray(size, dtype=np.int64)).tolist())
            v = np.zeros((0,) + inner, dtype=dtype)
        out.append(v.reshape(shape + v.shape[1:]) if shape else v)
    return out


def _run(entries: list, level: int, generators: list, leaves: list, made: list, counts: list) -> None:
    """Make the draws of `entries` (index, Draw) in program order; those nested deeper than
    `level` run once per iteration of their loop, as the compiled code's loop would."""
    i = 0
    while i < len(entries):
        k, d = entries[i]
        if len(d.loops) == level:
            gen = generators[d.gen] if isinstance(d.gen, int) else d.gen
            made[k].append(call(gen, d, leaves))
            i += 1
            continue
        uid, bounds = d.loops[level]
        j = i
        while j < len(entries) and len(entries[j][1].loops) > level and entries[j][1].loops[level][0] == uid:
            j += 1
        n = len(range(*(_resolve(b, leaves) for b in bounds)))
        for kk, dd in entries[i:j]:
            if len(counts[kk]) == level:
                counts[kk] = counts[kk] + (n,)
        for _ in range(n):
            _run(entries[i:j], level + 1, generators, leaves, made, counts)
        i = j
