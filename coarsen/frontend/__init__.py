"""Frontend: a plain Python function + example arguments -> verified structured-SSA IR."""
from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np

from coarsen import tree
from coarsen.errors import CoarsenError, InternalError, UnsupportedError
from coarsen.ir.types import BOOL, F64, I64, Type

if TYPE_CHECKING:
    from coarsen.ir.nodes import Function


def type_of_arg(value: Any) -> Type:
    """The IR type of a runtime argument (the specialisation key of a trace)."""
    if isinstance(value, (bool, np.bool_)):
        return BOOL
    if isinstance(value, (int, np.integer)):
        return I64
    if isinstance(value, (float, np.floating)):
        return F64
    if isinstance(value, np.ndarray):
        if type(value) is not np.ndarray and not isinstance(value, np.memmap):
            raise TypeError(_subclass_message(value))
        if value.ndim == 0 and value.dtype.kind in "fiub":   # as its element (`api._canonical`)
            return type_of_arg(value[()])
        if value.dtype.kind == "b":
            return Type("bool", value.ndim)
        if value.dtype.kind not in "fiu":
            raise TypeError(f"arrays of dtype {value.dtype} are not supported (float64 arrays are)")
        if value.dtype.kind in "iu" and value.ndim:   # index arrays stay integers (int64)
            return Type("i64", value.ndim)
        return Type("f64", value.ndim) if value.ndim else F64
    raise TypeError(f"arguments of type {type(value).__name__} are not supported "
                    "(floats, ints, bools, NumPy arrays, tuples/lists/dicts of them, and dataclasses "
                    "or classes naming their data attributes in __coarsen_fields__ are)")


def is_narrow(dtype: Any) -> bool:
    """An integer or boolean dtype whose arithmetic NumPy does not do in int64 (`narrow`)."""
    dtype = np.dtype(dtype)
    return (dtype.kind in "iu" and dtype != np.int64) or dtype.kind == "b"


def narrow_origin(value: Any) -> np.dtype | None:
    """The NumPy dtype of an argument or outside value holding narrow integer or boolean data
    (an int8/int32/uint* array or NumPy scalar, a boolean array), which compiled code holds as
    int64 (or bool) and `frontend.narrow` checks; else None. Part of the signature."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "b":
            return value.dtype if value.ndim else None
        return value.dtype if value.dtype.kind in "iu" and value.dtype != np.int64 else None
    if isinstance(value, np.integer) and not isinstance(value, np.int64):
        return np.dtype(type(value))
    if isinstance(value, np.bool_):   # np.True_ + np.True_ is True (a Python bool's is 2)
        return np.dtype(bool)
    return None


def _subclass_message(value: Any) -> str:
    """Why an ndarray subclass is refused: np.matrix multiplies with `*`, a masked array leaves
    out its masked elements; compiled code would treat both as plain arrays."""
    return (f"{type(value).__module__}.{type(value).__name__} arrays are not supported: their own "
            "semantics (np.matrix's `*` is a matrix product, a masked array skips masked elements) "
            "would be lost in compiled code; pass np.asarray(x) (a masked array: x.filled(...))")


_SHAPES_UNKNOWN = contextvars.ContextVar("coarsen_shapes_unknown", default=False)


@contextlib.contextmanager
def shapes_unknown():
    """Traces made inside (a transformed function called from traced code, whose example
    arguments are stand-ins of the right ranks only) are never specialised to shapes."""
    token = _SHAPES_UNKNOWN.set(True)
    try:
        yield
    finally:
        _SHAPES_UNKNOWN.reset(token)


def trace(fn: Any, *args: Any, reads: Any = None, writes: bool = False) -> Function:
    """Lower `fn` specialised to the types (and ranks) of `args` into verified IR. `reads`
    (a `coarsen.deps.Reads`), if given, collects every outside value the trace resolves.
    `writes`: element writes into argument arrays are allowed; the final contents of each
    written argument are extra results after the function's own (`Function.writes` names the
    arguments' leaves), for the caller to copy back (`coarsen.api`); else they are refused.

    Specialised tracing (#13): when a trace that read an array's shape, or of a function with
    int arguments, is refused (recursion on `a.shape[0]` or on an int `n` that does not stop,
    a comprehension over `range(len(x))` or `range(n)`), it is traced again with the shapes of
    `args` and the values of its int arguments known (`ir.builder`; as JAX's static
    arguments), so that such decisions are made when tracing. The program is then right for
    these shapes and ints only: `reads.shaped` is set (programs key it by them too,
    `leaf_shapes`, `coarsen.api`) and `reads.unpinned` (memory cache only). If that trace is
    refused as well, its error is raised."""
    try:
        return _trace(fn, args, reads, writes, None)
    except UnsupportedError as err:
        leaves = tree.flatten(args)[0]
        if getattr(err, "user_raise", False) or _SHAPES_UNKNOWN.get() \
                or not (getattr(err, "shape_queried", False) or any(_is_int(v) for v in leaves)):
            raise
        if not all(isinstance(v, (np.ndarray, float, int, np.generic)) for v in leaves):
            raise
        shapes = [np.shape(v) for v in leaves]
    function = _trace(fn, args, reads, writes, shapes)
    if reads is not None:
        reads.shaped = True
        reads.unpinned = True
    return function


def leaf_shapes(args: tuple) -> tuple:
    """What a specialised program is keyed by: the shapes of the array leaves of `args` and
    the values of its int leaves."""
    return tuple(np.shape(v) if isinstance(v, np.ndarray) else ("int", int(v))
                 for v in tree.flatten(args)[0] if isinstance(v, np.ndarray) or _is_int(v))


def _is_int(value: Any) -> bool:
    """A Python int or np.int64 argument (not a bool, not narrow data): a specialised trace
    knows its value."""
    return type(value) is int or type(value) is np.int64


def _trace(fn: Any, args: tuple, reads: Any, writes: bool, shapes: list | None) -> Function:
    # imported here: a program loaded from the disk cache needs `type_of_arg`, not the tracer
    # (whose op table imports phicalc and SymPy)
    from coarsen.frontend.source import read_source
    from coarsen.frontend.statements import Lowerer, TraceContext
    from coarsen.ir.builder import Builder
    from coarsen.ir.nodes import Function, Region
    from coarsen.ir.verifier import verify
    src = read_source(fn)
    leaves, treedef = tree.flatten(args)
    generators = tree.generators(args)
    try:
        types = [type_of_arg(v) for v in leaves]
    except TypeError as err:
        raise UnsupportedError(str(err), src.loc(src.node)) from None
    builder = Builder()
    if shapes is not None:
        builder.shaped = True
    positional = [a.arg for a in src.node.args.posonlyargs + src.node.args.args]
    params = tuple(builder.new_value(t, name) for t, name in zip(types, _leaf_names(treedef, positional)))
    if shapes is not None:
        builder.shapes.update((p.id, tuple(sh)) for p, sh in zip(params, shapes) if p.type.rank)
        builder.constants.update((p.id, int(v)) for p, v in zip(params, leaves) if _is_int(v))
    ctx = TraceContext(builder, sources=[src.text], reads=reads)
    ctx.generator_classes = [type(g) for g in generators]
    ctx.param_index = {p.id: k for k, p in enumerate(params)}
    ctx.call_stack.append(fn)
    lowerer = Lowerer(src, ctx)
    ctx.arg_writes_allowed, ctx.arg_writes, ctx.top = writes, {}, lowerer
    ctx.arg_params = {name: p for name, p, d in zip(positional, params, treedef[1])
                      if d == tree.LEAF and p.type.rank}   # array arguments a write may adopt
    ctx.aliases.whole.update(p.id for p in ctx.arg_params.values())
    if src.node.args.vararg or src.node.args.kwarg:
        raise UnsupportedError("functions with *args or **kwargs are not supported",
                               src.loc(src.node), "list the parameters explicitly")
    kwdefaults = fn.__kwdefaults__ or {}
    for a in src.node.args.kwonlyargs:
        if a.arg not in kwdefaults:
            raise UnsupportedError(f"keyword-only parameter `{a.arg}` has no default", src.loc(src.node),
                                   "give it a default (it is compiled at its default) or make it positional")
    defaults = fn.__defaults__ or ()
    required = len(positional) - len(defaults)
    if not required <= len(args) <= len(positional):
        takes = f"{required} to {len(positional)}" if defaults else f"{len(positional)}"
        raise UnsupportedError(f"{fn.__name__} takes {takes} arguments, got {len(args)}",
                               src.loc(src.node))
    from coarsen.frontend.objects import make_object
    from coarsen.frontend.random import GeneratorArg
    bindings = dict(zip(positional, tree.unflatten(treedef, params, make_object,
                                                   [GeneratorArg(k) for k in range(len(generators))])))
    if reads is not None and ("'object'" in repr(treedef) or "'namedtuple'" in repr(treedef)):
        # object arguments: their classes' methods are not reachable from fn, so the disk
        # cache could not check them (and a treedef holding classes is not JSON): memory only
        reads.unpinned = True
    ctx.tuple_args.update(_tuple_ids(list(bindings.values())))
    for k, (name, default) in enumerate(zip(positional[len(args):], defaults[len(args) - required:])):
        if reads is not None:
            reads.default(fn, len(args) - required + k, default)
        bindings[name] = lowerer.from_python(default, src.node)   # not passed: a compile-time constant
    if kwdefaults and reads is not None:   # keyword-only parameters: constants, at their defaults
        reads.attr(fn, "__kwdefaults__", kwdefaults)
        for a in src.node.args.kwonlyargs:   # each one: rebound or edited in place is seen
            reads.key(kwdefaults, a.arg, kwdefaults[a.arg])
    for a in src.node.args.kwonlyargs:
        bindings[a.arg] = lowerer.from_python(kwdefaults[a.arg], src.node)
    try:
        result = lowerer.lower_function(bindings)
    except CoarsenError as err:
        if getattr(err, "user_raise", False):   # the function's own `raise`, reached when tracing
            raise err.python from None
        if shapes is None and builder.shape_queried:
            err.shape_queried = True   # knowing the shapes may decide more: `trace` tries again
        if shapes is not None:
            err.shape_queried = False   # (an inner trace's error, seen by its caller's trace)
        raise
    except RecursionError:
        raise UnsupportedError("the program is nested too deeply to compile", src.loc(src.node)) from None
    except Exception as err:   # a compiler bug: still say where in the user's code
        raise InternalError(f"internal error while compiling {fn.__name__}: {type(err).__name__}: {err}",
                            src.loc(src.node)) from err
    out_leaves, out_tree = tree.flatten(_as_tree(result, src))
    if reads is not None and ("'object'" in repr(out_tree) or "'namedtuple'" in repr(out_tree)):
        reads.unpinned = True   # a result tree holding a class (np.linalg.eigh's EighResult): memory only
    for leaf in out_leaves:
        if not hasattr(leaf, "type"):
            raise UnsupportedError(f"{fn.__name__} returns {leaf!r}, not a number or an array",
                                   src.loc(src.node))
    written, own = [], len(out_leaves)
    # results that are an argument array itself (`return x`): the caller's object, as in Python
    returned = [(i, ctx.param_index[leaf.id]) for i, leaf in enumerate(out_leaves)
                if getattr(leaf, "id", None) in ctx.param_index and leaf.type.rank]
    # results that may view an argument array (`x[1:]`, `x.T`): they share its memory in Python
    views = tuple(i for i, leaf in enumerate(out_leaves) if leaf.type.rank
                  and any(s in ctx.param_index for s in ctx.aliases.storages(leaf)))
    for name, p in ctx.arg_writes.items():   # the final contents of written arguments
        final = lowerer.env.get(name)
        if not (hasattr(final, "type") and ctx.aliases.storages(final) == {p.id} and final.id in ctx.aliases.whole):
            raise UnsupportedError(f"`{name}`, an argument array the function writes into, is bound to "
                                   f"another value by the end of {fn.__name__}; the caller's array must "
                                   "end as plain Python leaves it, so the name must keep naming it",
                                   src.loc(src.node), f"write into a copy instead: {name}_new = {name}.copy()")
        for i, leaf in enumerate(out_leaves[:own]):
            if leaf is final:   # `return x`: Python returns the caller's array itself
                returned.append((i, ctx.param_index[p.id]))
            elif p.id in ctx.aliases.storages(leaf):
                raise UnsupportedError(f"{fn.__name__} returns a view of `{name}`, an argument array it "
                                       "writes into; compiled code writes into its own copy, so the view "
                                       "returned would not see the caller's array", src.loc(src.node),
                                       f"return {name} itself, or a copy of the view (`.copy()`)")
        out_leaves.append(final)
        written.append(ctx.param_index[p.id])
    body = Region((), tuple(builder.current), tuple(out_leaves))
    name = fn.__name__ if fn.__name__.isidentifier() else "lambda_"   # names generated functions
    if ctx.draws and reads is not None:   # draws read generator objects: memory cache only
        reads.unpinned = True
    function = Function(name, params + tuple(v for _, v in ctx.draws), body, treedef, out_tree,
                        src.loc(src.node), tuple(ctx.sources), dict(ctx.names),
                        tuple((f.__module__, f.__qualname__) for f in ctx.inlined),
                        tuple(d for d, _ in ctx.draws), writes=tuple(written), returns=tuple(returned),
                        views=views, numpy_results=tuple(i for i, leaf in enumerate(out_leaves[:own])
                                                         if not leaf.type.rank and leaf.id in ctx.numpy_scalars))
    from coarsen.frontend.narrow import check_narrow   # int8/int32/uint/bool data as NumPy computes it
    origins = {p.id: d for p, v in zip(params, leaves) if (d := narrow_origin(v)) is not None}
    result_dtypes = check_narrow(function, {**origins, **ctx.narrow})
    if result_dtypes:
        function = dataclasses.replace(function, result_dtypes=result_dtypes)
    return verify(function, "frontend")


def _tuple_ids(binding) -> dict[int, tuple]:
    """The non-empty tuples in an argument binding by id, held so that no other object gets
    their id while tracing (the empty tuple is a shared object: left out)."""
    ids: dict[int, tuple] = {}
    if isinstance(binding, (tuple, list)):
        for b in binding:
            ids.update(_tuple_ids(b))
        if isinstance(binding, tuple) and binding:
            ids[id(binding)] = binding
    elif isinstance(binding, dict):
        for b in binding.values():
            ids.update(_tuple_ids(b))
    return ids


def _leaf_names(treedef, positional) -> list[str]:
    """Names for the flat params after the user's parameter names (for printing)."""
    names: list[str] = []

    def walk(d, prefix):
        kind = d[0]
        if kind == "leaf":
            names.append(prefix)
        elif kind == "rng":
            pass
        elif kind == "dict":
            for k, sub in d[1]:
                walk(sub, f"{prefix}.{k}" if prefix else k)
        elif kind == "object":
            for k, sub in d[2]:
                walk(sub, f"{prefix}.{k}" if prefix else k)
        elif kind == "namedtuple":
            for k, sub in zip(d[1]._fields, d[2]):
                walk(sub, f"{prefix}.{k}" if prefix else k)
        else:
            for i, sub in enumerate(d[1]):
                walk(sub, f"{prefix}.{i}")
    for name, sub in zip(positional, treedef[1]):
        walk(sub, name)
    return names


def _as_tree(result: Any, src) -> Any:
    from coarsen.frontend.bindings import Static
    if isinstance(result, Static):
        raise UnsupportedError(f"the function returns {result.obj!r}, not a number or an array",
                               src.loc(src.node))
    from coarsen.frontend.bindings import ListItems, SharedList
    if isinstance(result, (ListItems, SharedList, list)):   # a list comes back a list, as in Python
        return [_as_tree(r, src) for r in result]
    if isinstance(result, tuple) and type(result) is tuple:
        return tuple(_as_tree(r, src) for r in result)
    if isinstance(result, dict):
        return {k: _as_tree(v, src) for k, v in result.items()}
    return result
