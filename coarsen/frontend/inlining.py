"""Calls (a mixin of the `Lowerer`): known functions, array methods, and inlined Python functions.

A call to a function in `calls.CALLS` (NumPy, math, builtins) or an array method in
`calls.METHODS` lowers to IR ops; a call to a plain Python function is inlined: its body is
lowered by a new `Lowerer` sharing this trace's context, with the arguments bound to the
parameters (defaults and keyword arguments as Python binds them). Anything else is an
UnsupportedError naming the callee as the user wrote it.
"""
from __future__ import annotations

import ast
import inspect
import sysconfig
import types
from typing import Any

import numpy as np

from coarsen.frontend.bindings import Method, Static, describe, leaves, list_ids
from coarsen.frontend.source import read_source
from coarsen.ir.nodes import Value


class CallLowering:
    def expr_Call(self, node: ast.Call) -> Any:
        callee = self.expr(node.func)
        args, arg_nodes, kwargs = self.call_arguments(node, self.operand)
        return self.call_binding(callee, args, kwargs, node, arg_nodes)

    def call_binding(self, callee: Any, args: list, kwargs: dict, node: ast.AST, arg_nodes=()) -> Any:
        """Call what `callee` stands for with these argument bindings (a call in the source,
        or one a lowering makes: functools.reduce's function, map's)."""
        from coarsen.frontend.calls import CALLS, METHODS
        from coarsen.frontend import masks
        if isinstance(callee, Method) and isinstance(callee.value, masks.Masked):   # x[m].sum()
            return masks.reduce(self, callee.name, callee.value, args, kwargs, node)
        if args and isinstance(args[0], masks.Masked) and isinstance(callee, Static) \
                and callee.obj in masks.REDUCTIONS:   # np.sum(x[m]), len(x[m])
            return masks.reduce(self, masks.REDUCTIONS[callee.obj], args[0], args[1:], kwargs, node)
        for a, binding in zip(arg_nodes, args):
            if isinstance(binding, masks.Masked):
                masks.escaping(self, a)
        if isinstance(callee, Method):
            return METHODS[callee.name](self, callee.value, args, kwargs, node)
        from coarsen.frontend import random
        if isinstance(callee, Static) and random.is_random_callable(callee.obj):   # np.random.randn, ...
            callee = random.attribute(self, callee.obj.__self__, callee.obj.__name__, node)
        if isinstance(callee, random.RandomMethod):   # rs.randn(n, d): drawn on the host at each call
            return random.lower_draw(self, callee, args, kwargs, node)
        from coarsen.frontend import objects, vectorize
        if isinstance(callee, Static) and vectorize.is_vectorized(callee.obj):   # np.vectorize(f)(x)
            return vectorize.lower_call(self, callee.obj, args, kwargs, node)
        if isinstance(callee, objects.Obj):   # model(x): its class's __call__
            callee = objects.class_attribute(self, callee.cls, callee, "__call__", node)
        elif (isinstance(callee, Static) and isinstance(getattr(type(callee.obj), "__call__", None), types.FunctionType)
              and not inspect.isclass(callee.obj) and not _is_coarsen(callee.obj)):   # a module-level callable object
            call = type(callee.obj).__call__
            if _in_library(call) and callable(getattr(callee.obj, "freeze", None)):   # scipy.stats.norm(1.0, 3.0)
                name = ast.unparse(node.func) if isinstance(node, ast.Call) else "a distribution"
                self.unsupported(f"making a frozen distribution ({name}(...)) inside a compiled function is not "
                                 "supported", node, f"freeze it outside (rv = {name}(loc, scale) at module level, "
                                 f"then rv.logpdf(x)), or pass loc and scale: {name}.logpdf(x, loc, scale)")
            if _in_library(call):   # refused at the user's call, if at all
                return self.inline_library(call, [callee.obj, *args], kwargs, node)
            callee = objects.class_attribute(self, type(callee.obj), callee, "__call__", node)
        if isinstance(callee, objects.BoundMethod):   # obj.method(...): inlined with self bound
            return objects.call_method(self, callee, args, kwargs, node)
        if (isinstance(callee, Static) and isinstance(callee.obj, types.MethodType)
                and isinstance(callee.obj.__func__, types.FunctionType)):   # a module-level object's method
            from coarsen.ops import distributions
            fn, owner = callee.obj.__func__, callee.obj.__self__
            lower = distributions.method(owner, fn.__name__)   # scipy.stats.norm.cdf, ...
            if lower is not None:
                return lower(self, args, kwargs, node)
            if _in_library(fn):
                return self.inline_library(fn, [owner, *args], kwargs, node)
            return self.inline(fn, [self.from_python(owner, node), *args], kwargs, node)
        if not isinstance(callee, Static):
            self.unsupported(f"cannot call {describe(callee)}", node)
        obj = callee.obj
        try:
            handler = CALLS.get(obj)
        except TypeError:   # unhashable callee
            handler = None
        if handler is not None:
            return handler(self, args, kwargs, node)
        from coarsen.ops import scipy_linalg
        lower = scipy_linalg.lookup(obj)   # scipy.linalg.solve_triangular, cho_solve
        if lower is not None:
            return lower(self, args, kwargs, node)
        if _is_coarsen(obj):   # coarsen's own API is not user code: never inline it
            from coarsen.transforms import lower_call
            return lower_call(self, obj, args, kwargs, node)
        if isinstance(obj, types.FunctionType) and not _in_library(obj):
            return self.inline(obj, args, kwargs, node)
        # as the user wrote it (np.linalg.inv, rng.normal); a call made by a lowering (the
        # function functools.reduce or map applies) by the function's own name
        name = ast.unparse(node.func) if isinstance(node, ast.Call) and (arg_nodes or not node.args) \
            else getattr(obj, "__qualname__", None) or repr(obj)
        if isinstance(obj, types.FunctionType):
            return self.inline_library(obj, args, kwargs, node)
        module = getattr(obj, "__module__", None) or ""
        if obj is range:
            self.unsupported("range() is only supported as the iterable of a for loop", node)
        if _is_random(obj):   # seeding, new generators, choice, shuffle, ...: never a constant
            self.unsupported(f"{name} is not supported inside a compiled function", node,
                             "draws from a generator (rs.randn, rng.normal, np.random.uniform, ...) are; "
                             "create or seed generators outside, or draw outside and pass the numbers in")
        if module.startswith(("numpy", "scipy")) or isinstance(obj, np.ufunc) or _is_numpy(obj):
            from coarsen.frontend.calls import nearest

            close = nearest(name, obj)
            self.unsupported(f"{name} is not supported", node,
                             (f"the nearest supported: {', '.join(close)}; " if close else "")
                             + "the supported calls are the entries of the op registry (coarsen.ops); "
                             "write it with supported operations or a loop")
        if inspect.isclass(obj):
            self.unsupported(f"creating objects ({name}) is not supported", node,
                             "coarsen compiles numeric code over floats and arrays")
        self.unsupported(f"calling {name} is not supported", node,
                         "call plain Python functions, or the NumPy/math functions coarsen knows")

    def call_arguments(self, node: ast.Call, read) -> tuple[list, list, dict]:
        """A call's positional arguments (with the node each came from) and keyword arguments,
        `*xs` and `**options` unpacked: a tuple or list, a dict, all known when tracing."""
        args, arg_nodes = [], []
        for a in node.args:
            if isinstance(a, ast.Starred):   # f(y, *rest): a tuple or list known when tracing
                items = self.expr(a.value)
                if not isinstance(items, (tuple, list)):
                    self.unsupported(f"*{ast.unparse(a.value)} in a call unpacks {describe(items)}", a,
                                     "unpack a tuple or a list (its length is known when tracing), "
                                     "or pass arguments one by one")
                args.extend(items)
                arg_nodes.extend([a] * len(items))
                continue
            args.append(read(a))
            arg_nodes.append(a)
        kwargs = {}
        for kw in node.keywords:
            if kw.arg is not None:
                if kw.arg in kwargs:
                    self.unsupported(f"keyword argument {kw.arg!r} is given twice", kw.value)
                kwargs[kw.arg] = self.expr(kw.value)
                continue
            named = self.expr(kw.value)   # f(**options): a dict with string keys
            if not isinstance(named, dict):
                self.unsupported(f"**{ast.unparse(kw.value)} in a call unpacks {describe(named)}", kw.value,
                                 "unpack a dict with string keys, or pass keyword arguments by name")
            for key, binding in named.items():
                if key in kwargs:
                    self.unsupported(f"keyword argument {key!r} is given twice", kw.value)
                kwargs[key] = binding
        return args, arg_nodes, kwargs

    def inline_library(self, fn: types.FunctionType, args: list, kwargs: dict, node: ast.AST) -> Any:
        """A library's function written in Python that the op registry does not list (NumPy,
        SciPy, anything installed): inlined where that compiles, else refused here, at the
        user's call, never at a line inside the library's source."""
        from coarsen.errors import CoarsenError, InternalError
        from coarsen.frontend.calls import nearest
        try:
            return self.inline(fn, args, kwargs, node)
        except InternalError:
            raise
        except CoarsenError as err:
            name = ast.unparse(node.func)   # as the user wrote it: scipy.stats.norm.cdf, np.cov
            close = nearest(name, fn)
            self.unsupported(f"{name} is not supported", node,
                             (f"the nearest supported: {', '.join(close)}; " if close else "")
                             + "the supported calls are the entries of the op registry (coarsen.ops); "
                             f"write it with supported operations or a loop (inside {name}: "
                             f"{str(err).splitlines()[0]})")

    def inline(self, fn: types.FunctionType, args: list, kwargs: dict, node: ast.AST) -> Any:
        if fn in self.ctx.call_stack:   # recursion: unrolled while its depth is fixed when tracing
            from coarsen.frontend.closures import check_recursion
            check_recursion(self, fn, fn.__name__, node)
        from coarsen.frontend import objects, random
        src = read_source(fn)
        signature = inspect.signature(fn)   # *args binds a compile-time tuple, **kwargs a dict
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as err:
            self.type_error(f"bad call of {fn.__name__}: {err}", node)
        given = set(bound.arguments)
        bound.apply_defaults()
        if self.ctx.reads is not None:   # defaults used: reads, so an edit or rebinding is seen
            _read_defaults(self.ctx.reads, fn, signature, given)
        bindings = {k: (v if isinstance(v, (Value, tuple, list, dict, Static, Method, objects.Obj, objects.BoundMethod,
                                            random.GeneratorArg, random.RandomMethod))
                        else self.from_python(v, node))
                    for k, v in bound.arguments.items()}
        for p in signature.parameters.values():   # *args is surely a tuple (isinstance folds)
            if p.kind is p.VAR_POSITIONAL and bindings[p.name]:
                self.ctx.tuple_args[id(bindings[p.name])] = bindings[p.name]
        callee = type(self)(src, self.ctx)
        # the callee may not write into anything its arguments reach (the caller would see it)
        callee.foreign = frozenset().union(*(self.ctx.aliases.storages(v) for b in bindings.values()
                                             for v in leaves(b) if v.type.rank))
        callee.foreign_lists = self.foreign_lists | list_ids(bindings.values())   # nor the lists
        self.ctx.call_stack.append(fn)
        self.ctx.sources.append(src.text)
        self.ctx.inlined.append(fn)
        try:
            return callee.lower_function(bindings)
        finally:
            self.ctx.call_stack.pop()

    # ownership of arrays (and lists, by id) passed into an inlined function stays with the caller
    foreign: frozenset = frozenset()
    foreign_lists: frozenset = frozenset()

    def is_owned(self, value: Value) -> bool:
        """Whether the function may write into `value` (see `aliases`)."""
        return self.ctx.aliases.owns(value, self.foreign)


def _is_random(obj: Any) -> bool:
    """np.random.* functions and the methods of a RandomState or Generator."""
    owner = getattr(obj, "__self__", None)
    return (isinstance(owner, (np.random.RandomState, np.random.Generator, np.random.BitGenerator))
            or (getattr(obj, "__module__", None) or "").startswith("numpy.random"))


_LIBRARY_DIRS = tuple(sorted({sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}))


def _in_library(fn) -> bool:
    """A function of NumPy, SciPy or another installed library (not user code)."""
    module = getattr(fn, "__module__", None) or ""
    if module.startswith(("numpy", "scipy")):
        return True
    path = getattr(getattr(fn, "__code__", None), "co_filename", "")
    return path.startswith(_LIBRARY_DIRS) and not _is_coarsen(fn)


def _is_numpy(obj: Any) -> bool:
    """A NumPy function or method seen through an object (np.random.normal, a Generator's)."""
    owner = getattr(obj, "__self__", None)
    return type(owner).__module__.startswith("numpy") if owner is not None else False


def _is_coarsen(obj: Any) -> bool:
    """A function or transformed function of coarsen itself (grad, jit, grad(f), ...)."""
    module = getattr(obj, "__module__", None) or ""
    if isinstance(obj, types.FunctionType):
        return (module == "coarsen" or module.startswith("coarsen.")) and module != "coarsen.demo"
    return type(obj).__module__.startswith("coarsen.")


def _read_defaults(reads: Any, fn: types.FunctionType, signature: inspect.Signature, given: set) -> None:
    """Record the defaults an inlined call used (`fn.__defaults__[k]`, `fn.__kwdefaults__`):
    the guard then sees `helper.__defaults__` rebound or a default array edited in place."""
    positional = [p for p in signature.parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    defaults = fn.__defaults__ or ()
    first = len(positional) - len(defaults)
    for k, p in enumerate(positional):
        if k >= first and p.name not in given:
            reads.default(fn, k - first, defaults[k - first])
    kwdefaults = fn.__kwdefaults__ or {}
    if any(name in kwdefaults and name not in given for name in signature.parameters):
        reads.attr(fn, "__kwdefaults__", kwdefaults)
        for name in signature.parameters:
            if name in kwdefaults and name not in given:
                reads.key(kwdefaults, name, kwdefaults[name])
