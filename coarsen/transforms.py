"""Transformations that compose: jvp, jacfwd, jacrev, jacobian, hessian, hvp, and the IR of
transformed functions (grad(grad(f)), jacfwd(grad(f)), grad of a function calling grad).

How they compose. Every transformed function has an IR (`trace_any`): `jit(f)` is f's trace;
`grad(f)` / `value_and_grad(f)` is a *forward-mode* program (`coarsen.autodiff.forward`): one
JVP per scalar argument, a counted loop of JVPs over the elements of an array argument; a JVP
is f's trace extended with tangents. Anything with an IR can be transformed again -- reverse
mode differentiates it (`grad(grad(f))` is reverse-over-forward), forward mode extends it
(`jacfwd(grad(f))`), `vmap` maps it, and a traced function that calls a transformed one inlines
its IR. Reverse mode emits source, not IR, so it is always the outermost reverse
transformation; reverse-over-forward gives the same derivatives as forward-over-reverse at the
same cost (a Hessian-vector product is one reverse pass over one forward pass).

Runtime transformations compile once per signature (cached here per function, argnums and
target) and run compiled programs: `jacfwd` runs the compiled JVP program once per input
element (a basis tangent), `jacrev` the compiled VJP program once per output element,
`hessian` the compiled Hessian-vector product once per input element.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import numpy as np

from coarsen import tree
from coarsen.autodiff.forward import Forward, jvp_function
from coarsen.errors import UnsupportedError
from coarsen.ir.builder import Builder
from coarsen.ir.nodes import Function, Op, Region, Value
from coarsen.ir.types import I64
from coarsen.ir.verifier import verify


# ---------------------------------------------------------------------- IR of transformed functions
class Traced:
    """A function known by its IR only (what a transformation produces); `trace_any` and
    `api._Transformed` accept it wherever a plain function goes."""

    def __init__(self, name: str, make: Callable[[tuple], Function], origin: Any = None) -> None:
        self.__name__ = self.__qualname__ = name
        self.__module__ = "coarsen.transforms"
        self.origin = origin   # the user's function it transforms (for errors at its definition)
        self.make = make

    def __coarsen_trace__(self, *args: Any, reads: Any = None) -> Function:
        return self.make(args, reads)

    def __call__(self, *args):
        raise TypeError(f"{self.__name__} runs only through coarsen (coarsen.jit({self.__name__}))")


def trace_any(fn: Any, *args: Any, reads: Any = None) -> Function:
    """The IR of a plain function or of a transformed one (grad(f), jit(f), Traced). `reads`
    (a `coarsen.deps.Reads`) collects every outside value the traces resolve: the guard of a
    program built from this IR, so that rebinding a global the inner function reads is seen."""
    hook = getattr(fn, "__coarsen_trace__", None)
    if hook is not None:
        return hook(*args, reads=reads)
    from coarsen.frontend import trace
    ir = trace(fn, *args, reads=reads)
    if ir.draws:   # their numbers come from the caller's generator at each call: see api runners
        from coarsen.errors import UnsupportedError
        raise UnsupportedError(f"{fn.__name__} makes random draws ({ir.draws[0].method} at {ir.draws[0].where}): "
                               "supported under grad, value_and_grad, vjp and jit, not inside another "
                               "transformation (nested derivatives, jvp, jacobians, vmap)", ir.loc,
                               "draw outside and pass the numbers in as an argument")
    return ir


def _normalise(argnums, nargs: int) -> tuple[int, ...]:
    from coarsen.api import _normalise_argnums
    return _normalise_argnums(argnums, nargs)


def _wrt(ir: Function, nums: tuple[int, ...]) -> list[int]:
    from coarsen.programs import wrt_positions
    return wrt_positions(ir.arg_tree, nums)


def _new_params(b: Builder, ir: Function) -> list[Value]:
    return [b.new_value(p.type, p.hint) for p in ir.params]


def _function(name: str, ir: Function, params, b: Builder, results, result_tree, arg_tree=None) -> Function:
    fn = Function(name, tuple(params), Region((), tuple(b.current), tuple(results)),
                  arg_tree if arg_tree is not None else ir.arg_tree, result_tree, ir.loc, ir.sources, {},
                  ir.inlined)
    return verify(fn, "transform")


def _one(fw: Forward, v: Value) -> Value:
    return fw.b.const(1.0, fw.loc)


def emit_jacobian(b: Builder, ir: Function, params: list[Value], k: int, y: Value | None = None) -> Value:
    """The derivative of `ir`'s one result w.r.t. its parameter k, in forward mode: one JVP for
    a scalar parameter, a counted loop of JVPs over the elements of an array (the result has
    the output's shape followed by the parameter's; `y` is the output, for its shape)."""
    x = params[k]
    out_rank = ir.results[0].type.rank

    def jvp(tangent: Value) -> Value:
        fw = Forward(b)
        fw.loc = ir.loc
        tangents = [None] * len(params)
        tangents[k] = tangent
        outs, (t,) = fw.run(ir, params, tangents)
        return t if t is not None else fw.zeros_like(outs[0])

    if x.type.rank == 0:
        return jvp(b.const(1.0, ir.loc))
    rank = x.type.rank
    fw = Forward(b)
    fw.loc = ir.loc
    pattern = ("s000",) * out_rank + ("i",) * rank

    def nest(index: list[Value], g: Value) -> Value:
        if len(index) == rank:
            basis = b.emit(Op.SETITEM, (fw.zeros_like(x), *index, b.const(1.0, ir.loc)), {"index": ("i",) * rank})
            return b.emit(Op.SETITEM, (g, *index, jvp(basis)), {"index": pattern})
        n = b.emit(Op.SHAPE, (x,), {"dim": len(index)})
        i, carried = b.new_value(I64, f"i{len(index)}"), b.new_value(g.type, "jac")
        with b.region() as block:
            out = nest(index + [i], carried)
        (res,) = b.emit_control(Op.FOR, (b.const(0), n, b.const(1), g), [g.type],
                                (Region((i, carried), tuple(block), (out,)),), ir.loc, ["jac"])
        return res

    if out_rank == 0:
        init = fw.zeros_like(x)
    else:
        dims = [b.emit(Op.SHAPE, (y,), {"dim": d}) for d in range(out_rank)] + \
               [b.emit(Op.SHAPE, (x,), {"dim": d}) for d in range(rank)]
        init = b.emit(Op.ZEROS, dims)
    return nest([], init)


def emit_gradient(b: Builder, ir: Function, params: list[Value], k: int) -> Value:
    """The gradient of `ir`'s scalar result w.r.t. its parameter k (forward mode)."""
    return emit_jacobian(b, ir, params, k)


def jacobian_ir(fn: Any, args: tuple, argnums, reads: Any = None) -> Function:
    """IR of jacfwd(fn) (also what jacrev(fn) and hessian(fn) are inside other transformations):
    forward mode, one Jacobian block per differentiated argument."""
    from coarsen.programs import check_differentiable
    ir = trace_any(fn, *args, reads=reads)
    nums = _normalise(argnums, len(args))
    check_differentiable("vjp", getattr(fn, "__name__", "f"))(ir, _wrt(ir, nums))
    if ir.result_tree != tree.LEAF:
        raise UnsupportedError(f"a Jacobian inside another transformation needs {ir.name} to return one "
                               "number or array", ir.loc, "call jacfwd/jacrev/hessian directly")
    b = Builder()
    params = _new_params(b, ir)
    fw = Forward(b)
    fw.loc = ir.loc
    (y,), _ = fw.run(ir, params, [None] * len(params))
    blocks = []
    offsets = np.cumsum([0] + [tree.num_leaves(d) for d in ir.arg_tree[1]])
    for a in nums:
        if ir.arg_tree[1][a] != tree.LEAF:
            raise UnsupportedError("a Jacobian inside another transformation differentiates numbers and arrays, "
                                   "not tuples or dicts", ir.loc)
        blocks.append(emit_jacobian(b, ir, params, int(offsets[a]), y))
    result_tree = tree.LEAF if isinstance(argnums, int) else ("tuple", tuple(tree.LEAF for _ in nums))
    return _function(f"{ir.name}_jacobian", ir, params, b, blocks, result_tree)


def gradient_ir(fn: Any, args: tuple, argnums, value_too: bool, kind: str, reads: Any = None) -> Function:
    """IR of grad(fn) / value_and_grad(fn) at these argument types (forward mode)."""
    from coarsen.programs import check_differentiable
    ir = trace_any(fn, *args, reads=reads)
    nums = _normalise(argnums, len(args))
    wrt = _wrt(ir, nums)
    ir = check_differentiable(kind, getattr(fn, "__name__", "f"))(ir, wrt) or ir
    b = Builder()
    params = _new_params(b, ir)
    grads = [emit_gradient(b, ir, params, k) for k in wrt]
    subtrees = [ir.arg_tree[1][a] for a in nums]
    grad_tree = subtrees[0] if isinstance(argnums, int) else ("tuple", tuple(subtrees))
    if value_too:
        fw = Forward(b)
        (value,), _ = fw.run(ir, params, [None] * len(params))
        return _function(f"{ir.name}_value_and_grad", ir, params, b, [value, *grads],
                         ("tuple", (tree.LEAF, grad_tree)))
    return _function(f"{ir.name}_grad", ir, params, b, grads, grad_tree)


def jvp_ir(fn: Any, args: tuple, nums: tuple[int, ...], tangent_only: bool = False,
           reads: Any = None) -> Function:
    """IR of (primals..., tangents of the `nums` arguments...) -> (out, tangent_out)."""
    nprimal = len(args) - len(nums)
    ir = trace_any(fn, *args[:nprimal], reads=reads)
    wrt = _wrt(ir, nums)
    from coarsen.programs import check_differentiable
    check_differentiable("vjp", getattr(fn, "__name__", "f"))(ir, wrt)
    out = jvp_function(ir, wrt)
    arg_tree = ("tuple", tuple(ir.arg_tree[1]) + tuple(ir.arg_tree[1][a] for a in nums))
    if tangent_only:
        n = len(ir.results)
        body = dataclasses.replace(out.body, yields=out.body.yields[n:])
        return verify(dataclasses.replace(out, body=body, arg_tree=arg_tree, result_tree=ir.result_tree,
                                          name=f"{ir.name}_tangent"), "transform")
    return dataclasses.replace(out, arg_tree=arg_tree)


def trace_transformed(t: Any, args: tuple, reads: Any = None) -> Function:
    """The IR of an `api._Transformed` (jit, grad, value_and_grad) at these argument types."""
    if t.kind == "jit":
        return trace_any(t.fn, *args, reads=reads)
    if t.kind in ("grad", "value_and_grad"):
        return gradient_ir(t.fn, args, t.argnums, t.kind == "value_and_grad", t.kind, reads)
    raise UnsupportedError(f"coarsen cannot transform a {t.kind} function again", None,
                           "compose grad, value_and_grad, jit, jvp, jacfwd, hessian")


# ---------------------------------------------------------------------- compiled programs
def build_from_ir(fn: Any, args: tuple, kind: str, nums: tuple[int, ...], target: str, check=None):
    """A `programs.Program` for a transformed function `fn`, built from its IR (not cached on
    disk); its guard checks every outside value the traces read, the inner functions' too."""
    from coarsen import deps
    from coarsen.passes import run_pipeline
    reads = deps.Reads(fn)
    ir = trace_any(fn, *args, reads=reads)
    from coarsen.programs import Program, _derivative_source, _primal_source, wrt_positions
    from kernels import compile_source
    passes: dict = {}
    opt = run_pipeline(ir, passes)
    wrt = wrt_positions(opt.arg_tree, nums)
    if check is not None:
        opt = check(opt, wrt) or opt   # grad: a size-1 array result becomes the scalar
    if kind in ("vjp", "grad"):
        source, constants = _derivative_source(opt, wrt, with_value=kind == "vjp", fuse=target == "cuda")
        name, label = f"{opt.name}_vjp", f"d{opt.name}"
    else:
        source, constants = _primal_source(opt, fuse=target == "cuda")
        name, label = f"{opt.name}_primal", opt.name
    # constants name the module: Numba bakes them into machine code (see kernels.targets);
    # large outside arrays are passed by reference at each call instead (coarsen.byref)
    from coarsen import byref
    source, constants, hidden = byref.split(source, name, constants, reads)
    compiled = byref.bind(compile_source(source, name, target, label=label, constants=constants), hidden)
    return Program(kind, source, compiled, opt.arg_tree, opt.result_tree, [r.type for r in opt.results],
                   wrt, opt, passes, guard=reads.guard(), shaped=getattr(reads, "shaped", False))


_CACHE: dict[tuple, Any] = {}


def _cached(key: tuple, make: Callable[[], Any]) -> Any:
    t = _CACHE.get(key)
    if t is None:
        t = _CACHE[key] = make()
    return t


def _target(target: str | None) -> str:
    from coarsen.api import DEFAULT_TARGET
    return target or DEFAULT_TARGET


def _as_float(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return np.asarray(v, dtype=np.float64)
    return float(v)


def _jvp_program(fn, nums: tuple[int, ...], nprimal: int, target: str, tangent_only: bool = False):
    from coarsen.api import _Jit
    name = getattr(fn, "__name__", "f")

    def make():
        return _Jit(Traced(f"{name}_jvp", lambda args, reads: jvp_ir(fn, args, nums, tangent_only, reads), fn),
                    None, target)
    return _cached(("jvp", fn, nums, nprimal, target, tangent_only), make)


def jvp(fn: Callable, primals: Sequence, tangents: Sequence, argnums: int | Sequence[int] | None = None,
        target: str | None = None):
    """`(fn(*primals), J @ tangents)`: the Jacobian-vector product, in forward mode (one run
    of a compiled program carrying tangents beside values). `tangents` has one entry per
    differentiated argument (all of them by default, as in JAX), shaped like it."""
    primals, tangents = tuple(primals), tuple(tangents)
    from coarsen.api import call_error, check_arguments
    check_arguments(fn, primals, "jvp")   # before the tangents are converted to float
    nums = tuple(range(len(primals))) if argnums is None else _normalise(argnums, len(primals))
    if len(tangents) != len(nums):
        raise call_error(fn, f"jvp: {len(tangents)} tangent(s) for {len(nums)} differentiated argument(s)")
    _tangents_like(fn, "jvp", primals, nums, tangents)
    tangents = tuple(tree.unflatten(tree.flatten(t)[1], [_as_float(u) for u in tree.flatten(t)[0]]) for t in tangents)
    program = _jvp_program(fn, nums, len(primals), _target(target))
    out, tout = program(*primals, *tangents)
    return out, tout


class Runtime:
    """A Jacobian or Hessian transformation of a function: called, it runs compiled programs (per
    basis vector); inside another transformation (vmap, grad, a traced function calling it) it
    is its forward-mode IR (`jacobian_ir`)."""

    def __init__(self, name: str, call: Callable, make_ir: Callable) -> None:
        self.__name__ = self.__qualname__ = name
        self.__module__ = "coarsen.transforms"
        self._call, self._make_ir = call, make_ir

    def __call__(self, *args):
        return self._call(*args)

    def __coarsen_trace__(self, *args: Any, reads: Any = None) -> Function:
        return self._make_ir(args, reads)


def _tangents_like(fn: Any, what: str, primals: tuple, nums: tuple[int, ...], tangents: tuple) -> None:
    """Each tangent has its primal's structure and shapes (a broadcast one is not a direction)."""
    from coarsen.api import call_error
    for a, t in zip(nums, tangents):
        if tree.flatten(t)[1] != tree.flatten(primals[a])[1] or \
                any(np.shape(u) != np.shape(p) for u, p in zip(tree.flatten(t)[0], tree.flatten(primals[a])[0])):
            raise call_error(fn, f"{what}: the tangent of argument {a} must have its structure and shapes")


def _leaf_args(args: tuple, nums: tuple[int, ...], what: str, fn: Any = None) -> None:
    from coarsen.api import ArgumentTypeError, check_arguments, plain_function
    from coarsen.frontend.source import definition_loc
    check_arguments(fn, args, what)
    for a in nums:
        if not isinstance(args[a], (float, int, np.floating, np.ndarray)) or isinstance(args[a], bool):
            raise ArgumentTypeError(f"{what} differentiates numbers and arrays, not {type(args[a]).__name__} "
                                   f"(argument {a})", definition_loc(plain_function(fn)),
                                   "pass the argument as a NumPy array (np.asarray(x)) or a float")


def _basis(shape: tuple, j: int) -> Any:
    if not shape:
        return 1.0
    e = np.zeros(int(np.prod(shape)))
    e[j] = 1.0
    return e.reshape(shape)


def _zeros(x: Any) -> Any:
    return np.zeros(np.shape(x)) if isinstance(x, np.ndarray) else 0.0


def jacfwd(fn: Callable, argnums: int | Sequence[int] = 0, target: str | None = None) -> Callable:
    """The Jacobian by forward mode: the compiled JVP program run once per element of the
    differentiated argument(s). Shape: output shape + argument shape (per output leaf)."""
    def jacobian_fwd(*args):
        nums = _normalise(argnums, len(args))
        _leaf_args(args, nums, "jacfwd", fn)
        program = _jvp_program(fn, nums, len(args), _target(target))
        per_arg = []
        out_tree = None
        for a in nums:
            shape = np.shape(args[a])
            columns = []
            for j in range(max(1, int(np.prod(shape)))):
                tangents = [(_basis(shape, j) if b == a else _zeros(args[b])) for b in nums]
                _, tout = program(*args, *tangents)
                leaves, out_tree = tree.flatten(tout)
                columns.append(leaves)
            per_arg.append([np.stack([np.asarray(c[m]) for c in columns], axis=-1).reshape(np.shape(columns[0][m]) + shape)
                            if shape else np.asarray(columns[0][m]) for m in range(len(columns[0]))])
        return _arrange(per_arg, out_tree, argnums)
    name = f"jacfwd_{getattr(fn, '__name__', 'f')}"
    return Runtime(name, jacobian_fwd, lambda args, reads: jacobian_ir(fn, args, argnums, reads))


def _arrange(per_arg: list[list[np.ndarray]], out_tree, argnums) -> Any:
    """Jacobian blocks (per argument, per output leaf) as JAX arranges them: the output's
    structure outside, the arguments' (a tuple when argnums is) inside."""
    def scalar(m):
        return float(m) if np.ndim(m) == 0 else m
    leaves = []
    for m in range(len(per_arg[0])):
        blocks = [scalar(blocks_of_arg[m]) for blocks_of_arg in per_arg]
        leaves.append(blocks[0] if isinstance(argnums, int) else tuple(blocks))
    return tree.unflatten(out_tree, leaves)


def jacrev(fn: Callable, argnums: int | Sequence[int] = 0, target: str | None = None) -> Callable:
    """The Jacobian by reverse mode: the compiled VJP program run once per output element."""
    from coarsen.api import _Derivative

    def jacobian_rev(*args):
        nums = _normalise(argnums, len(args))
        _leaf_args(args, nums, "jacrev", fn)
        d = _cached(("jacrev", fn, nums, _target(target)), lambda: _Derivative(fn, nums, _target(target), "vjp"))
        prog = d.program(args)
        runner = d.runner(prog, args)
        outputs, _ = runner(args, tuple(0.0 for _ in prog.result_types))
        out_leaves, out_tree = tree.flatten(outputs)
        per_arg = [[None] * len(out_leaves) for _ in nums]
        for m, y in enumerate(out_leaves):
            yshape = np.shape(y)
            rows = []
            for j in range(max(1, int(np.prod(yshape)))):
                cts = tuple(_basis(yshape, j) if q == m else _zeros(out_leaves[q]) for q in range(len(out_leaves)))
                rows.append(runner(args, cts)[1])
            for n_a, a in enumerate(nums):
                shape = np.shape(args[a])
                block = np.stack([np.asarray(r[n_a]) for r in rows]).reshape(yshape + shape)
                per_arg[n_a][m] = block
        return _arrange(per_arg, out_tree, argnums)
    name = f"jacrev_{getattr(fn, '__name__', 'f')}"
    # inside another transformation the Jacobian is built in forward mode (reverse mode emits
    # source, not IR): the same values
    return Runtime(name, jacobian_rev, lambda args, reads: jacobian_ir(fn, args, argnums, reads))


jacobian = jacrev


def _hvp_program(fn, nums: tuple[int, ...], nprimal: int, target: str):
    """grad over (the tangent output of a JVP): (primals..., v...) -> H v, reverse-over-forward."""
    from coarsen.api import _Derivative
    name = getattr(fn, "__name__", "f")

    def make():
        tangent = Traced(f"{name}_tangent", lambda args, reads: jvp_ir(fn, args, nums, True, reads), fn)
        return _Derivative(tangent, nums, target, "grad")
    return _cached(("hvp", fn, nums, nprimal, target), make)


def hvp(fn: Callable, primals: Sequence, tangents: Sequence, argnums: int | Sequence[int] | None = None,
        target: str | None = None):
    """The Hessian-vector product H @ tangents of a scalar function (w.r.t. `argnums`, all
    arguments by default): the reverse-mode gradient of the forward-mode directional derivative."""
    primals, tangents = tuple(primals), tuple(tangents)
    from coarsen.api import call_error, check_arguments
    check_arguments(fn, primals, "hvp")
    nums = tuple(range(len(primals))) if argnums is None else _normalise(argnums, len(primals))
    if len(tangents) != len(nums):
        raise call_error(fn, f"hvp: {len(tangents)} tangent(s) for {len(nums)} differentiated argument(s)")
    _tangents_like(fn, "hvp", primals, nums, tangents)   # a (3, 1) tangent of a (3,) primal broadcast
    program = _hvp_program(fn, nums, len(primals), _target(target))
    out = program(*primals, *(_as_float(t) for t in tangents))
    return out[0] if isinstance(argnums, int) else out


def hessian(fn: Callable, argnums: int | Sequence[int] = 0, target: str | None = None) -> Callable:
    """The Hessian of a scalar function: the compiled Hessian-vector product run once per
    element of the differentiated argument(s). Shape: argument shape + argument shape."""
    def hess(*args):
        nums = _normalise(argnums, len(args))
        _leaf_args(args, nums, "hessian", fn)
        program = _hvp_program(fn, nums, len(args), _target(target))
        blocks = [[None] * len(nums) for _ in nums]
        for nb, b in enumerate(nums):
            shape_b = np.shape(args[b])
            cols = []
            for j in range(max(1, int(np.prod(shape_b)))):
                vs = [(_basis(shape_b, j) if c == b else _zeros(args[c])) for c in nums]
                cols.append(program(*args, *vs))
            for na, a in enumerate(nums):
                shape_a = np.shape(args[a])
                col = [np.asarray(c[na]) for c in cols]
                block = np.stack(col, axis=-1).reshape(shape_a + shape_b) if shape_b else col[0]
                blocks[na][nb] = float(block) if np.ndim(block) == 0 else block
        if isinstance(argnums, int):
            return blocks[0][0]
        return tuple(tuple(row) for row in blocks)
    def hessian_ir(args, reads):
        if not isinstance(argnums, int):
            raise UnsupportedError("a Hessian inside another transformation takes one argnum", None,
                                   "call hessian(f, argnums=(...)) directly")
        from coarsen.api import grad
        return jacobian_ir(grad(fn, argnums=argnums), args, argnums, reads)
    return Runtime(f"hessian_{getattr(fn, '__name__', 'f')}", hess, hessian_ir)


__all__ = ["jvp", "jacfwd", "jacrev", "jacobian", "hessian", "hvp", "trace_any", "Traced", "Runtime"]


# ---------------------------------------------------------------------- calls from traced code
def _stand_ins(lw, args) -> Any:
    """The context for tracing a transformed function called from traced code on `_example`s:
    never shape-specialised, unless the calling trace is and knows every array's shape (then
    the examples have those shapes, and the caller's program is specialised to them anyway)."""
    import contextlib
    from coarsen.frontend import shapes_unknown
    from coarsen.frontend.bindings import leaves as binding_leaves
    arrays = [v for a in args if not isinstance(a, str) for v in binding_leaves(a)
              if isinstance(v, Value) and v.type.rank]
    if lw.b.shaped and all(v.id in lw.b.shapes for v in arrays):
        return contextlib.nullcontext()
    return shapes_unknown()


def _example(binding: Any, lw, node) -> Any:
    """An argument of the binding's type (shapes are not part of a trace's specialisation,
    except in a shape-specialised trace that knows them: see `_stand_ins`)."""
    from coarsen.frontend.bindings import Static
    if isinstance(binding, Value):
        t = binding.type
        if t.rank:
            shape = lw.b.shapes.get(binding.id, (1,) * t.rank) if lw.b.shaped else (1,) * t.rank
            return np.zeros(shape, dtype=bool if t.dtype == "bool" else np.float64)
        return {"f64": 0.0, "i64": 0, "bool": False}[t.dtype]
    if isinstance(binding, tuple):
        return tuple(_example(b, lw, node) for b in binding)
    if isinstance(binding, dict):
        return {k: _example(b, lw, node) for k, b in binding.items()}
    what = type(binding.obj).__name__ if isinstance(binding, Static) else type(binding).__name__
    lw.unsupported(f"a transformed function takes numbers and arrays, not {what}", node)


def _static(binding: Any, lw, node) -> Any:
    """A compile-time Python value from a binding (a function, a constant number, a tuple)."""
    from coarsen.frontend.bindings import Static
    if isinstance(binding, Static):
        return binding.obj
    if isinstance(binding, Value):
        c = lw.b.constant_of(binding)
        if c is None:
            lw.unsupported("this argument of a coarsen transformation must be known when tracing", node,
                           "pass argnums and target as literals")
        return c
    if isinstance(binding, tuple):
        return tuple(_static(b, lw, node) for b in binding)
    lw.unsupported("this argument of a coarsen transformation must be known when tracing", node)


def _as_binding(value: Any) -> Any:
    from coarsen.frontend.bindings import ListItems
    if isinstance(value, list):   # a list result is a new list, as the call returns in Python
        return ListItems(_as_binding(v) for v in value)
    if isinstance(value, tuple):
        return tuple(_as_binding(v) for v in value)
    if isinstance(value, dict):
        return {k: _as_binding(v) for k, v in value.items()}
    return value


def _inline(lw, ir: Function, leaves: list[Value], tangents: list | None = None):
    fw = Forward(lw.b)
    fw.loc = ir.loc
    outs, touts = fw.run(ir, leaves, tangents or [None] * len(leaves))
    lw.ctx.sources.extend(s for s in ir.sources if s not in lw.ctx.sources)
    return fw, outs, touts


def lower_call(lw, obj: Any, args: list, kwargs: dict, node) -> Any:
    """A call of coarsen's API inside a function being traced (a `Lowerer` mixin hook):
    `coarsen.grad(h)` (and jit, value_and_grad, jacfwd, ...) with static arguments makes the
    transformed function at trace time; calling a transformed function inlines its IR;
    `coarsen.jvp(h, primals, tangents)` inlines h with tangents. Anything else is refused."""
    from coarsen import api
    from coarsen.frontend.bindings import Static, leaves as binding_leaves
    if hasattr(obj, "__coarsen_trace__"):
        if kwargs:
            lw.unsupported("keyword arguments to a transformed function are not supported in traced code", node)
        examples = tuple(_example(a, lw, node) for a in args)
        with _stand_ins(lw, args):   # stand-ins of the right ranks: their shapes mean nothing
            ir = trace_any(obj, *examples, reads=lw.ctx.reads)   # (unless the outer trace knows them)
        _, outs, _ = _inline(lw, ir, [v for a in args for v in binding_leaves(a)])
        return _as_binding(tree.unflatten(ir.result_tree, outs))
    if obj in (api.grad, api.value_and_grad, api.jit, jacfwd, jacrev, jacobian, hessian):
        return Static(obj(*(_static(a, lw, node) for a in args),
                          **{k: _static(v, lw, node) for k, v in kwargs.items()}))
    if obj is jvp:
        if len(args) != 3:
            lw.unsupported("coarsen.jvp(f, primals, tangents) takes three arguments here", node)
        fn = _static(args[0], lw, node)
        primals, tangents = args[1], args[2]
        if not isinstance(primals, tuple) or not isinstance(tangents, tuple):
            lw.unsupported("coarsen.jvp needs tuples of primals and tangents", node)
        nums = kwargs.get("argnums")
        nums = tuple(range(len(primals))) if nums is None else _normalise(_static(nums, lw, node), len(primals))
        if len(tangents) != len(nums):
            lw.unsupported(f"coarsen.jvp: {len(tangents)} tangent(s) for {len(nums)} argument(s)", node)
        with _stand_ins(lw, primals):
            ir = trace_any(fn, *(_example(p, lw, node) for p in primals), reads=lw.ctx.reads)
        leaves = [v for p in primals for v in binding_leaves(p)]
        tans: list = [None] * len(leaves)
        for k, t in zip(_wrt(ir, nums), [v for t in tangents for v in binding_leaves(t)]):
            tans[k] = t
        fw, outs, touts = _inline(lw, ir, leaves, tans)
        touts = [t if t is not None else fw.zeros_like(o) for o, t in zip(outs, touts)]
        return (_as_binding(tree.unflatten(ir.result_tree, outs)), _as_binding(tree.unflatten(ir.result_tree, touts)))
    lw.unsupported(f"calling {getattr(obj, '__name__', obj)!s} inside a function that coarsen compiles "
                   "is not supported", node,
                   "call grad, value_and_grad, jit or jvp, or compose transformations outside")
