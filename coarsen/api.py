"""The public entry points of coarsen: trace, explain, grad, value_and_grad, vjp, jit, vmap.

Each transformed function compiles once per *signature* (argument structure, types and ranks,
the differentiated arguments, the target) and caches the compiled program in memory and on
disk (see `coarsen.programs`). Calls with a signature seen before take a short path: one
dictionary lookup, then the compiled program.

Non-differentiable points: at a kink or jump (abs at 0, max of ties, a branch boundary) the
derivative of the branch the forward run took is returned, as JAX and PyTorch do.
"""
from __future__ import annotations

import functools
import inspect
import os
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from coarsen import deps, tree
from coarsen.errors import UnsupportedError
from coarsen.frontend import trace as _trace
from coarsen.programs import Program, build, check_differentiable, signature

if TYPE_CHECKING:   # a program from the disk cache runs without importing the compiler
    from coarsen.ir import Function

DEFAULT_TARGET = "cpu"


def trace(fn: Any, *example_args: Any) -> Function:
    """The verified IR of `fn` (a function, or a transformed one: grad(f)) specialised to the
    types and ranks of `example_args`."""
    if hasattr(fn, "__coarsen_trace__"):
        from coarsen.transforms import trace_any
        return trace_any(fn, *example_args)
    return _trace(fn, *example_args)


def _is_int(a: Any) -> bool:
    return isinstance(a, (int, np.integer)) and not isinstance(a, (bool, np.bool_))


def _argnums_tuple(argnums: Any) -> tuple[int, ...]:
    """`argnums` as a tuple of ints, or TypeError: an int, or a non-empty tuple/list of ints
    (not a string such as '0', not bools)."""
    if _is_int(argnums):
        return (int(argnums),)
    if isinstance(argnums, (tuple, list)) and argnums and all(_is_int(a) for a in argnums):
        return tuple(int(a) for a in argnums)
    raise TypeError(f"argnums must be an int or a non-empty tuple of ints, got {argnums!r}")


def _normalise_argnums(argnums: int | Sequence[int], nargs: int) -> tuple[int, ...]:
    nums = _argnums_tuple(argnums)
    for a in nums:
        if not -nargs <= a < nargs:
            raise ValueError(f"argnums {a} is out of range for {nargs} arguments")
    return tuple(a % nargs for a in nums)


_SCALARS = (float, int, bool, np.float64, np.float32, np.int64, np.int32, np.bool_)


def _fast_key(args: tuple) -> tuple:
    """A cheap signature for flat argument lists (scalars and arrays); TypeError otherwise."""
    key = []
    for a in args:
        t = type(a)
        if t is np.ndarray:
            if not a.dtype.isnative or not a.ndim:   # byte-swapped, 0-d: the general path converts
                raise TypeError
            key.append((a.ndim, a.dtype.char))
        elif t in _SCALARS or t is np.random.RandomState or t is np.random.Generator:
            key.append(t)   # a generator argument: its draws are made at each call (frontend.random)
        else:
            raise TypeError
    return tuple(key)


_ENTRIES: dict[tuple, Callable] = {}


def _guarded_entry(key: tuple, runner: Callable, dispatch: Callable,
                   guard: Callable[[], bool] = deps.always, stale: Callable | None = None) -> Callable:
    """`entry(args)`: `runner(args)` when `args` have the signature `key`, else `dispatch(args)`;
    `stale(args)` first if `guard()` says an outside value the program read was rebound.
    Generated per signature shape as straight-line checks (no loop, no key tuple): this is
    what a call costs on top of the compiled program (~0.1 us for three arguments, against
    ~0.35 us for the `_fast_key` lookup)."""
    guarded = guard is not deps.always
    inline = getattr(guard, "inline", None)   # the guard's checks, written into the entry
    shape = (key, inline[0] if inline else guarded)
    make = _ENTRIES.get(shape)
    if make is None:
        names = [f"a{k}" for k in range(len(key))]
        checks = []
        for name, k in zip(names, key):
            if isinstance(k, tuple):
                ndim, char = k
                checks.append(f"type({name}) is ndarray and {name}.ndim == {ndim} and "
                              f"{name}.dtype is DTYPE_{ord(char)}")
            else:
                checks.append(f"type({name}) is {k.__module__}.{k.__qualname__}".replace("builtins.", ""))
        unpack = f"        {', '.join(names)}{',' if len(names) == 1 else ''} = args\n" if names else ""
        if inline:   # as in deps.make_guard, without the cost of calling it
            fresh = (f"        try:\n"
                     f"            fresh = {inline[0]}\n"
                     f"        except (KeyError, AttributeError, ValueError):\n"
                     f"            fresh = False\n"
                     f"        if not fresh:\n"
                     f"            return stale(args)\n")
        else:
            fresh = "        if not guard():\n            return stale(args)\n" if guarded else ""
        params = "".join(f", {n}" for n, _ in inline[1]) if inline else ""
        source = (f"def make(runner, dispatch, guard, stale{params}):\n"
                  f"    def entry(args):\n"
                  + fresh +
                  f"        if len(args) != {len(key)}:\n"
                  f"            return dispatch(args)\n"
                  f"{unpack}"
                  f"        if {' and '.join(checks) or 'True'}:\n"
                  f"            return runner(args)\n"
                  f"        return dispatch(args)\n"
                  f"    return entry\n")
        namespace = {"ndarray": np.ndarray, "numpy": np,
                     **{f"DTYPE_{ord(k[1])}": np.dtype(k[1]) for k in key if isinstance(k, tuple)}}
        exec(compile(source, "<coarsen entry>", "exec"), namespace)   # our own checks only
        make = _ENTRIES[shape] = namespace["make"]
    return make(runner, dispatch, guard, stale, *(o for _, o in inline[1]) if inline else ())


def _flat_leaves(args: tuple) -> list:
    leaves, _ = tree.flatten(args)
    return [_canonical(v) for v in leaves]


def _canonical(v: Any) -> Any:
    """An array argument as compiled code takes it: integer arrays (of rank >= 1: index arrays)
    as int64, bool arrays as they are, every other array as float64."""
    if type(v) is np.ndarray and v.ndim == 0 and v.dtype.kind in "fiub":
        v = v[()]   # a 0-d array is its element, as it is traced (Numba would compile array code)
    if type(v) in _NARROW_FLOATS:   # float32/float16 scalars: float64, as arrays of them are
        return float(v)
    if not isinstance(v, np.ndarray) or v.dtype == np.float64 or v.dtype == np.int64 or v.dtype == np.bool_:
        return v
    if v.dtype.kind in "iu" and v.ndim:
        if v.dtype == np.uint64 and v.size and v.max() > np.iinfo(np.int64).max:   # would wrap
            raise OverflowError(f"a uint64 array argument holds {v.max()}, beyond int64: coarsen "
                                "computes integers as int64; pass a float64 array (or int64 values)")
        return np.asarray(v, dtype=np.int64)
    return np.asarray(v, dtype=np.float64)


def _converts(args: tuple) -> bool:
    """Whether some array argument needs `_canonical` (then the general path runs)."""
    return any(isinstance(a, np.ndarray) and (not a.ndim or a.dtype not in _KEPT)
               or type(a) in _NARROW_FLOATS for a in tree.flatten(args)[0])


# array dtypes compiled code takes as they are (a bool array: the IR's bool[...], whose sums
# and counts are int64; passed as 0.0/1.0 they came back float64)
_KEPT = (np.dtype(np.float64), np.dtype(np.int64), np.dtype(np.bool_))

# computed in float64 like every float (the numpy target ran them in float32, "cpu" mixed them)
_NARROW_FLOATS = (np.float32, np.float16)


def _grad_value(g: Any, like: Any) -> Any:
    """An argument's gradient as a fresh array of its shape (a scalar: a gradient the program
    computed as one, e.g. zero); an array of another shape is a bug, never broadcast."""
    if isinstance(like, np.ndarray):
        if isinstance(g, np.ndarray) and g.shape == like.shape and g.flags.writeable:
            return g
        if np.ndim(g) and np.shape(g) != like.shape:
            from coarsen.errors import InternalError
            raise InternalError(f"a gradient of shape {np.shape(g)} for an argument of shape {like.shape}")
        return np.array(np.broadcast_to(g, like.shape), dtype=np.float64)
    return float(g)


_SCALARS = {"f64": (float, np.float64), "i64": (int, np.int64), "bool": (bool, np.bool_)}


def _output(o: Any, t: Any, numpy: bool = False) -> Any:
    """A result as its IR type says: a float for f64 scalars (generated code may produce an
    int where a branch folds to a constant), a float64 array for f64 arrays; an int or a bool
    for i64 / bool scalars, whichever target and tier computed it (the NumPy tier's np.int64
    and np.bool_ came back before machine code's int and bool: the type changed between calls);
    np.float64 / np.int64 / np.bool_ for a NumPy scalar (`numpy`: `Program.numpy_results`)."""
    if t.rank == 0 and t.dtype in _SCALARS:
        return _SCALARS[t.dtype][numpy](o)
    if t.dtype == "f64":
        return _fresh(np.asarray(o, dtype=np.float64))
    if isinstance(o, np.floating):
        return float(o)
    if t.dtype == "bool" and t.rank and isinstance(o, np.ndarray) and o.dtype != np.bool_:
        # bool data that came back as 0.0/1.0 (a generated path computing it in float64): the
        # IR's type is NumPy's
        return o != 0
    return _fresh(o)


def _results(prog: Program, outs, args: tuple) -> list:
    """The own results as Python returns them: an argument array the function returns
    (`Program.returns`) is the caller's object, every other array a new one, even where passes
    simplified it to an argument (`x * 1.0` is `x`: the caller's edit of it must not reach x)."""
    results = [_output(o, t, i in prog.numpy_results) for i, (o, t) in enumerate(zip(outs, prog.result_types))]
    for i, dtype in prog.result_dtypes:   # narrow integer data NumPy keeps narrow (exact: `frontend.narrow`)
        if isinstance(results[i], np.ndarray):
            results[i] = results[i].astype(dtype)
    flat = None
    for i, o in enumerate(results):
        if isinstance(o, np.ndarray) and i not in prog.views:
            flat = tree.flatten(args)[0] if flat is None else flat
            if _shares_an_argument(o, flat):
                results[i] = o.copy()
    for i, k in prog.returns:
        results[i] = (flat if flat is not None else tree.flatten(args)[0])[k]
    return results


def _shares_an_argument(o: np.ndarray, leaves) -> bool:
    return any(isinstance(a, np.ndarray) and np.may_share_memory(o, a) for a in leaves)


def plain_function(fn: Any) -> Any:
    """The user's function under transformations (grad(grad(f)) -> f; jvp's program -> f)."""
    for _ in range(32):
        inner = getattr(fn, "fn", None) or getattr(fn, "origin", None)
        if inner is None:
            break
        fn = inner
    return fn


class ArgumentTypeError(UnsupportedError, TypeError):
    """An argument coarsen does not compile for, refused at the call: an `UnsupportedError`
    located at the user's definition (#13), and a TypeError, as Python's for a bad argument."""


class ArgumentValueError(UnsupportedError, ValueError):
    """Arguments that do not fit the transformation's call (a tangent or cotangent of another
    shape, mapped arguments of different batch sizes): located at the user's definition (#13),
    and a ValueError, as before."""


def call_error(fn: Any, message: str, cls: type = None, hint: str | None = None) -> UnsupportedError:
    """An error about how a transformed function was called, at the user's `def` (#13)."""
    from coarsen.frontend.source import definition_loc
    return (cls or ArgumentValueError)(message, definition_loc(plain_function(fn)), hint)


def check_arguments(fn: Any, args: tuple, what: str | None = None) -> None:
    """Raise `ArgumentTypeError` at the definition of the user's function when an argument is not
    one coarsen compiles for (a string, None, a complex or datetime array, np.matrix, ...): at
    the call, not from inside the library, so the message names the argument and the user's
    file:line. Returns when every argument is accepted."""
    from coarsen.frontend import type_of_arg
    from coarsen.frontend.source import definition_loc
    user = plain_function(fn)
    try:
        names = list(inspect.signature(user).parameters)
    except (TypeError, ValueError):
        names = []
    fn_name = getattr(user, "__name__", "the function")
    label = f"{what}({fn_name})" if what else fn_name
    for k, a in enumerate(args):
        try:
            for leaf in tree.flatten((a,))[0]:
                type_of_arg(leaf)
        except TypeError as err:
            name = f" `{names[k]}`" if k < len(names) else ""
            raise ArgumentTypeError(f"{label}: argument {k}{name}: {err}",
                                   definition_loc(user),
                                   "pass floats, ints, bools or NumPy arrays of float64/int64 (x.astype(float)), "
                                   "or tuples, lists, dicts and dataclasses of them") from None


def _fresh(o: Any) -> Any:
    """A result array the caller owns: a read-only one is an array constant of the program or
    the view of an outside array passed by reference (`W * 1.0` simplified to `W`), which
    must neither be written through nor change when the user edits that array later."""
    return o.copy() if isinstance(o, np.ndarray) and not o.flags.writeable else o


def _with_guard(runner: Callable, guard: Callable[[], bool]) -> Callable:
    try:
        runner.guard = guard
    except AttributeError:   # not a plain function: wrap it
        inner = runner
        runner = lambda args, *rest: inner(args, *rest)   # noqa: E731
        runner.guard = guard
    return runner


def _positional(fn: Any, args: tuple, kwargs: dict) -> tuple:
    """`args` and `kwargs` as the positional arguments of the function under the transforms
    (defaults filled in up to the last parameter given)."""
    while isinstance(fn, _Transformed):
        fn = fn.fn
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        raise TypeError(f"{getattr(fn, '__name__', fn)} takes positional arguments only") from None
    bound = sig.bind(*args, **kwargs)   # TypeError as Python's for a bad call
    given = [name for name in kwargs
             if getattr(sig.parameters.get(name), "kind", None) is inspect.Parameter.KEYWORD_ONLY]
    if given:   # keyword-only parameters are compiled at their defaults (`frontend.trace`)
        raise call_error(fn, f"{fn.__name__}: keyword-only parameters are compiled at their defaults and "
                             f"cannot be passed ({', '.join(given)})", ArgumentTypeError,
                         "make them positional parameters")
    given_names = set(bound.arguments)
    bound.apply_defaults()
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in sig.parameters.values()):
        return tuple(bound.args)
    # parameters after the last one given keep their defaults in the function (compiled as
    # constants), so `f(x, scale=3.0)` works for `def f(x, scale=1.0, z=None)`
    names = [n for n, p in sig.parameters.items()
             if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    last = max((k for k, n in enumerate(names) if n in given_names), default=-1)
    return tuple(bound.arguments[n] for n in names[:last + 1])


def unpartial(make: Callable[..., "_Transformed"], fn: Callable, argnums, *rest) -> "_Transformed":
    """`make(fn, argnums, *rest)`; for `functools.partial(f, *a, **kw)`, the transform of f whose
    calls pass the partial's arguments first: they are f's arguments (data, passed at every call,
    not compile-time constants), and argnums count the arguments the partial is called with
    (negative ones count from the end, which the bound arguments do not move)."""
    if not isinstance(fn, functools.partial):
        return make(fn, argnums, *rest)
    by = len(fn.args)
    if argnums is not None and by:
        argnums = (int(argnums) + by if int(argnums) >= 0 else int(argnums)) if _is_int(argnums) else \
            tuple(int(a) + by if int(a) >= 0 else int(a) for a in argnums)
    transformed = make(fn.func, argnums, *rest)
    transformed.bound = (fn.args, fn.keywords)   # the partial's own dict: an edit is seen, as in Python
    return transformed


class _Transformed:
    """A function transformed by coarsen: compiled per signature, called through runners."""

    kind = ""

    def __init__(self, fn: Callable, argnums, target: str) -> None:
        self.bound: tuple[tuple, dict] = ((), {})   # a partial's arguments (`unpartial`)
        self.fn = fn
        self.argnums = argnums
        self.target = target
        self.programs: dict[tuple, Program] = {}
        self.runners: dict[tuple, Callable] = {}
        self.shaped: set[tuple] = set()   # signatures whose programs are specialised to shapes
        # name and docstring only: copying fn's __dict__ (update_wrapper's default) made
        # grad(grad(f)) take over the inner transform's `fn` and programs, i.e. compute grad(f);
        # and no __wrapped__, or inspect reads f's source for grad(f) (see cache.entry_key)
        functools.update_wrapper(self, fn, updated=())
        self.__dict__.pop("__wrapped__", None)

    def __coarsen_fingerprint__(self, depth: int) -> str | None:
        """For `deps.fingerprint`: the transformation, its options and what it transforms."""
        from coarsen.deps import fingerprint
        inner, bound = fingerprint(self.fn, depth), fingerprint(self.bound, depth)
        if inner is None or bound is None:
            return None
        return (f"coarsen:{type(self).__name__}:{self.kind}:{self.argnums!r}:{self.target}:"
                f"{getattr(self, 'has_aux', None)!r}:{bound}:{inner}")

    def program(self, args: tuple) -> Program:
        try:
            key = (signature(args), self.target)
        except TypeError:
            check_arguments(self.fn, args)   # raises at the user's definition, naming the argument
            raise
        if key in self.shaped:   # specialised to the arguments' shapes (`frontend.trace`)
            from coarsen.frontend import leaf_shapes
            key = key + (leaf_shapes(args),)
        prog = self.programs.get(key)
        if prog is not None and not prog.guard():
            self.forget()   # a global, attribute or default the program read was rebound
            prog = None
        if prog is None:
            nums = _normalise_argnums(self.argnums, len(args)) if self.argnums is not None else ()
            kind = {"jit": "primal", "grad": "grad"}.get(self.kind, "vjp")
            name = getattr(self.fn, "__name__", "the function")
            check = check_differentiable(self.kind, name) if kind != "primal" else None
            if hasattr(self.fn, "__coarsen_trace__"):   # a transformed function: built from its IR
                from coarsen.transforms import build_from_ir
                prog = build_from_ir(self.fn, args, kind, nums, self.target, check)
            else:
                prog = build(self.fn, args, kind, nums, self.target, check)
            if prog.shaped and len(key) == 2:
                from coarsen.frontend import leaf_shapes
                self.shaped.add(key)
                key = key + (leaf_shapes(args),)
            self.programs[key] = prog
        return prog

    def with_bound(self, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        """The arguments of `fn` for a call with `args`: a partial's first (`__init__`)."""
        bound_args, bound_kwargs = self.bound
        if bound_args or bound_kwargs:
            args, kwargs = bound_args + args, {**bound_kwargs, **kwargs}
        return args, kwargs

    def __call__(self, *args, **kwargs):
        args, kwargs = self.with_bound(args, kwargs)
        if kwargs:   # grad(f)(x, scale=3.0): bound as f binds them, then positional
            args = _positional(self.fn, args, kwargs)
        try:
            return self.entry(args)
        except UnsupportedError as err:
            if os.environ.get("COARSEN_TRACEBACK") == "full":
                raise
            # the error already names the user's file:line; the compiler's frames are noise
            raise err.with_traceback(None) from None

    def __coarsen_trace__(self, *args):
        """The IR of this transformed function at these argument types (so that it can be
        transformed again, or called from traced code): see `coarsen.transforms`."""
        from coarsen.transforms import trace_transformed
        return trace_transformed(self, args)

    def __coarsen_trace__(self, *args, reads=None):
        """The IR of this transformed function at these argument types (so that it can be
        transformed again, or called from traced code): see `coarsen.transforms`."""
        from coarsen.transforms import trace_transformed
        return trace_transformed(self, args, reads)

    def entry(self, args: tuple):
        """The first call, and any call whose signature differs from the last one: the
        signature lookup, then (for flat arguments) a guarded entry for that signature takes
        over `entry` (an instance attribute shadowing this method)."""
        try:
            key = _fast_key(args)
        except TypeError:
            return self.make_runner(args)(args)   # nested arguments: looked up on every call
        runner = self.runners.get(key)
        if runner is not None and not runner.guard():
            self.forget()
            runner = None
        if runner is None:
            runner = self.make_runner(args)
        self.entry = _guarded_entry(key, runner, self._dispatch, runner.guard, self._stale)
        return runner(args)

    def forget(self) -> None:
        """Drop every compiled program and runner (the next call compiles again)."""
        self.programs.clear()
        self.runners.clear()
        self.shaped.clear()
        self.__dict__.pop("entry", None)

    def _dispatch(self, args: tuple):
        return _Transformed.entry(self, args)

    def _stale(self, args: tuple):
        self.forget()
        return _Transformed.entry(self, args)

    def make_runner(self, args: tuple) -> Callable:
        prog = self.program(args)
        runner = self.runner(prog, args)
        ready = getattr(prog.fn, "ready", None)
        if ready is not None and not ready.is_set():
            runner = self._warming(runner, ready, args)
        if prog.shaped:
            runner = self._by_shapes(runner, args)
        runner = _with_guard(runner, prog.guard)
        try:
            self.runners[_fast_key(args)] = runner
        except TypeError:
            pass   # nested arguments: the signature lookup runs on every call
        return runner

    def _by_shapes(self, runner: Callable, args: tuple) -> Callable:
        """The runner of a program specialised to the argument shapes (`frontend.trace`): a call
        with other shapes (same types and ranks, so the same guarded entry) runs the program
        made for its shapes, built at its first call."""
        from coarsen.frontend import leaf_shapes
        runners = {leaf_shapes(args): runner}

        def by_shapes(args, *rest):
            shapes = leaf_shapes(args)
            r = runners.get(shapes)
            if r is None:
                prog = self.program(args)
                r = runners[shapes] = self.runner(prog, args)
            return r(args, *rest)
        return by_shapes

    def _warming(self, runner: Callable, ready, args: tuple) -> Callable:
        """The runner of a tiered "cpu" program while its NumPy tier serves calls (see
        `kernels.targets`): once machine code serves them, it steps aside, so that the next call
        makes the runner that calls the machine code directly."""
        try:
            key = _fast_key(args)
        except TypeError:
            key = None   # nested arguments: a runner is made at every call anyway

        def warming(args, *rest):
            out = runner(args, *rest)
            if ready.is_set() and key is not None and self.runners.get(key) is warming:
                del self.runners[key]
                self.__dict__.pop("entry", None)
            return out
        return warming

    def source(self, *args, **kwargs) -> str:
        """The generated source for these argument types."""
        args, kwargs = self.with_bound(args, kwargs)
        return self.program(_positional(self.fn, args, kwargs) if kwargs else args).source


class _Derivative(_Transformed):
    def __init__(self, fn: Callable, argnums, target: str, kind: str) -> None:
        super().__init__(fn, argnums, target)
        self.kind = kind

    def runner(self, prog: Program, args: tuple) -> Callable:
        compiled = prog.fn
        flat = all(d == ("leaf",) for d in prog.arg_tree[1])
        single = isinstance(self.argnums, int)
        wrt = prog.wrt
        arg_tree, result_tree = prog.arg_tree, prog.result_tree
        nums = _normalise_argnums(self.argnums, len(args))
        value_too = self.kind == "value_and_grad"
        converts = _converts(args)

        plain = all(d == ("leaf",) or d[0] == "rng" for d in prog.arg_tree[1])
        if prog.draws and plain and single and not converts and not prog.writes \
                and self.kind in ("grad", "value_and_grad") and isinstance(self.argnums, int) \
                and prog.arg_tree[1][nums[0]] == ("leaf",):
            # flat arguments and generators: no tree walks per call, only the draws
            from coarsen.frontend.random import draw as make_draws
            at = [a for a, d in enumerate(prog.arg_tree[1]) if d == ("leaf",)]
            gens = [a for a, d in enumerate(prog.arg_tree[1]) if d[0] == "rng"]
            k = nums[0]
            array = isinstance(args[k], np.ndarray)
            draws = prog.draws

            def drawing(args):
                leaves = [args[a] for a in at]
                outs, grads = compiled(*leaves, *make_draws(draws, [args[a] for a in gens], leaves), 1.0)
                g = _grad_value(grads[0], args[k]) if array else float(grads[0])
                return (float(outs[0]), g) if value_too else g
            return drawing

        if flat and single and not converts and not prog.draws and not prog.writes \
                and self.kind in ("grad", "value_and_grad"):
            k = wrt[0]
            array = isinstance(args[k], np.ndarray)
            compiled(*args, 1.0)   # compiles now, so the fast path calls the machine code directly
            call = getattr(compiled, "fn", compiled)
            machine_code = call is getattr(compiled, "machine_code", None)

            if array and machine_code:   # Numba returns fresh arrays of the argument's shape
                def fast(args):
                    outs, grads = call(*args, 1.0)
                    return (float(outs[0]), grads[0]) if value_too else grads[0]
                return fast

            def fast(args):
                outs, grads = call(*args, 1.0)
                g = grads[0]
                g = (g if g.flags.writeable and g.shape == args[k].shape else _grad_value(g, args[k])) \
                    if array else float(g)
                return (float(outs[0]), g) if value_too else g
            return fast

        types = prog.result_types

        def general(args, cotangents=(1.0,), draws=None):
            leaves = _flat_leaves(args)
            drawn = prog.draw(args, leaves) if draws is None else draws   # fresh at every call
            outs, grads = compiled(*leaves, *drawn, *cotangents)
            it = iter(_grad_value(g, leaves[k]) for g, k in zip(grads, wrt))
            structured = tuple(tree.unflatten(arg_tree[1][a], it) for a in nums)
            grad = structured[0] if single else structured
            if self.kind == "vjp":
                return tree.unflatten(result_tree, _results(prog, outs, args)), grad
            return (_output(outs[0], types[0]), grad) if value_too else grad
        if prog.writes:   # writes into argument arrays: the primal writes the caller's back
            return _writing_derivative(self, prog, args, general)
        return general


class _Jit(_Transformed):
    kind = "jit"

    def runner(self, prog: Program, args: tuple) -> Callable:
        compiled = prog.fn
        result_tree = prog.result_tree
        converts = _converts(args)
        if prog.writes:   # writes into argument arrays: copied back into the caller's
            return _writing_primal(prog)
        if prog.draws:   # random draws: made on the host at each call, passed after the leaves
            def drawing(args):
                leaves = _flat_leaves(args)
                outs = compiled(*leaves, *prog.draw(args, leaves))
                return tree.unflatten(result_tree, _results(prog, outs, args))
            return drawing
        if result_tree == ("leaf",) and all(d == ("leaf",) for d in prog.arg_tree[1]) and not converts \
                and not prog.result_dtypes:
            compiled(*args)   # compiles now, so calls go straight to the machine code
            compiled = getattr(compiled, "fn", compiled)
            t = prog.result_types[0]
            if t.rank == 0:   # a float, an int or a bool on every tier; NumPy's where it is one
                make = _SCALARS[t.dtype][0 in prog.numpy_results]
                return lambda args: make(compiled(*args)[0])
            if prog.returns or prog.views:   # `return x`, `return x[1:]`: the caller's array, a view of it
                return lambda args: _fresh(compiled(*args)[0])

            def fresh(args):   # a new array, also where passes simplified it to an argument
                o = compiled(*args)[0]
                return o.copy() if _shares_an_argument(o, args) else _fresh(o)
            return fresh
        return lambda args: tree.unflatten(result_tree, _results(prog, compiled(*_flat_leaves(args)), args))


def _decorator(kind: str, doc: str):
    def transform(fn: Callable | None = None, argnums: int | Sequence[int] = 0, target: str | None = None):
        _argnums_tuple(argnums)   # a bad argnums is an error here, not at the first call
        if fn is None:
            return lambda f: transform(f, argnums=argnums, target=target)
        return unpartial(_Derivative, fn, int(argnums) if _is_int(argnums) else argnums,
                         target or DEFAULT_TARGET, kind)
    transform.__doc__ = doc
    transform.__name__ = kind
    return transform


grad = _decorator("grad", """The gradient of a scalar-valued function w.r.t. argument(s) `argnums`.

    coarsen.grad(f)(x, y)              # df/dx, shaped like x
    coarsen.grad(f, argnums=(0, 1))    # (df/dx, df/dy)
    @coarsen.grad                       # decorator form
    coarsen.grad(f, target="numpy")    # "cpu" (Numba, default) | "numpy" (reference)
""")
value_and_grad = _decorator("value_and_grad", "Like `grad`, returning `(f(*args), gradient)` from one run.")


def jit(fn: Callable | None = None, target: str | None = None):
    """`fn` compiled for a target (the primal program, no derivative)."""
    if fn is None:
        return lambda f: jit(f, target=target)
    if isinstance(fn, _Transformed):
        # jit(grad(f)) is grad(f), compiled already (in reverse mode: compiling its IR would give
        # the forward-mode gradient, a JVP per input element); jit(jit(f)) is jit(f)
        if target is None or target == fn.target:
            return fn
        import copy
        same = copy.copy(fn)
        same.programs, same.runners = {}, {}
        same.__dict__.pop("entry", None)
        same.target = target
        return same
    return unpartial(_Jit, fn, None, target or DEFAULT_TARGET)


def _check_writes(prog: Program, args: tuple) -> list:
    """The caller's arrays a program writes into (#13), checked before the call: float64 or
    int64 (compiled code computes in those; writing back into a float32 array would round
    where plain Python does not), writable, and sharing memory with no other argument (plain
    Python would see a write through one name in the other: compiled code copies)."""
    leaves = tree.flatten(args)[0]
    arrays = [(k, a) for k, a in enumerate(leaves) if isinstance(a, np.ndarray)]
    targets = []
    for k in prog.writes:
        a = leaves[k]
        if a.dtype not in (np.float64, np.int64):
            raise UnsupportedError(f"the function writes into an argument array of dtype {a.dtype}; "
                                   "compiled code computes in float64/int64 and would write back values "
                                   "plain Python rounds differently", prog.write_loc,
                                   "pass a float64 (or int64) array")
        if not a.flags.writeable:
            raise ValueError("assignment destination is read-only (the function writes into this argument)")
        for j, b in arrays:
            if j != k and np.may_share_memory(a, b):
                raise UnsupportedError("the function writes into an argument array that shares memory with "
                                       "another argument; plain Python would see the write through both",
                                       prog.write_loc, "pass independent arrays (b.copy())")
        if any(np.may_share_memory(a, b) for b in prog.outside):
            raise UnsupportedError("the function writes into an argument array that shares memory with a "
                                   "module-level array it reads (compiled code read that one when compiling)",
                                   prog.write_loc, "pass a copy of the array (x.copy())")
        targets.append(a)
    return targets


def _write_back(targets: list, finals) -> None:
    for a, out in zip(targets, finals):
        a[...] = out.get() if hasattr(out, "get") and not isinstance(out, np.ndarray) else out   # CuPy: to host


def _writing_primal(prog: Program) -> Callable:
    compiled, result_tree, types = prog.fn, prog.result_tree, prog.result_types
    n = len(types) - len(prog.writes)

    def writing(args):
        targets = _check_writes(prog, args)
        leaves = _flat_leaves(args)
        outs = compiled(*leaves, *prog.draw(args, leaves))
        _write_back(targets, outs[n:])
        return tree.unflatten(result_tree, _results(prog, outs[:n], args))
    return writing


def _writing_derivative(d: "_Derivative", prog: Program, args: tuple, general: Callable) -> Callable:
    """The derivative is taken with respect to the values passed in (the derivative program
    writes into copies); then the primal program computes the written arguments' final
    contents and they are copied into the caller's arrays, as plain Python leaves them."""
    if prog.draws:
        raise UnsupportedError("a function that both makes random draws and writes into an argument array "
                               "cannot be differentiated (the write-back would draw again)",
                               hint="write into a copy of the argument")
    primal = _Jit(d.fn, None, d.target).program(args)
    n = len(primal.result_types) - len(primal.writes)

    def writing(args, *rest):
        targets = _check_writes(prog, args)
        out = general(args, *rest)
        leaves = _flat_leaves(args)
        _write_back(targets, primal.fn(*leaves)[n:])
        return out
    return writing


def trimmed(fn: Callable) -> Callable:
    """`fn` raising its UnsupportedError without the compiler's frames (the error already names
    the user's file:line); COARSEN_TRACEBACK=full keeps them."""
    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except UnsupportedError as err:
            if os.environ.get("COARSEN_TRACEBACK") == "full":
                raise
            raise err.with_traceback(None) from None
    return call


@trimmed
def vjp(fn: Callable, *args: Any, argnums: int | Sequence[int] | None = None, target: str | None = None):
    """`(outputs, vjp_fn)`: `vjp_fn(cotangent)` pulls a cotangent of the outputs back to the
    arguments (a tuple, one entry per differentiated argument: all of them by default).
    Each call of `vjp_fn` runs the compiled forward-and-backward program."""
    nums = tuple(range(len(args))) if argnums is None else argnums
    _argnums_tuple(nums)
    d = _Derivative(fn, nums, target or DEFAULT_TARGET, "vjp")
    prog = d.program(args)
    from coarsen.byref import Bound
    if isinstance(prog.fn, Bound):   # the pullback at the point of `outputs`: large outside
        # arrays as they are now (small ones are baked), not as a later in-place edit leaves them
        import dataclasses
        prog = dataclasses.replace(prog, fn=Bound(prog.fn.inner, [np.array(a) for a in prog.fn.arrays],
                                                  prog.fn.dtypes))
    if prog.writes:   # vjp_fn may run again: it would see the arrays already written back
        raise UnsupportedError(f"vjp of {getattr(fn, '__name__', 'a function')}, which writes into an argument "
                               "array, is not supported", prog.write_loc, hint="use coarsen.grad / "
                               "value_and_grad, or write into a copy of the argument")
    runner = d.runner(prog, args)
    draws = prog.draw(args, _flat_leaves(args))   # one evaluation of fn: its draws, for every vjp_fn call
    outputs, _ = runner(args, tuple(0.0 for _ in prog.result_types), draws)
    out_leaves = tree.flatten(outputs)[0]

    def vjp_fn(cotangent: Any):
        cts, _ = tree.flatten(cotangent)
        if len(cts) != len(prog.result_types):
            raise call_error(fn, f"vjp: expected {len(prog.result_types)} cotangent(s), got {len(cts)}")
        return runner(args, tuple(_cotangent(c, o, k, fn) for k, (c, o) in enumerate(zip(cts, out_leaves))),
                      draws)[1]

    return outputs, vjp_fn


def _cotangent(c: Any, out: Any, k: int, fn: Any = None) -> Any:
    """Cotangent `k`, checked against its output (the same shape; a real number or array),
    as float64: compiled code would broadcast or index a wrong-shaped one silently."""
    kind = np.asarray(c).dtype.kind if isinstance(c, (np.ndarray, np.generic, int, float, bool)) else None
    if kind is None or kind not in "fiub":
        raise call_error(fn, f"cotangent {k} must be a real number or array, got {type(c).__name__}"
                         + (f" of dtype {np.asarray(c).dtype}" if kind else ""), ArgumentTypeError)
    shape, expected = np.shape(c), np.shape(out)
    if shape != expected:
        raise call_error(fn, f"cotangent {k} has shape {shape}, but output {k} has shape {expected}")
    return np.asarray(c, dtype=np.float64) if expected else float(c)


def explain(fn: Any, *example_args: Any, argnums: int | Sequence[int] = 0, file=None) -> str:
    """Print (and return) what coarsen makes of `fn` for these argument types: the IR, the
    passes (timings, closed forms), the segments of interest (size, inputs, why each was cut)
    and the generated derivative program."""
    ir = trace(fn, *example_args)
    from coarsen.autodiff import Reverse
    from coarsen.ir import format_function
    from coarsen.segments import describe as describe_segments
    parts = ["== IR ==", format_function(ir)]
    try:
        nums = _normalise_argnums(argnums, len(example_args))
        check = check_differentiable("vjp", getattr(fn, "__name__", "the function"))
        if hasattr(fn, "__coarsen_trace__"):   # grad(f), hessian(f), ...: built from its IR
            from coarsen.transforms import build_from_ir
            prog = build_from_ir(fn, example_args, "vjp", nums, "numpy", check)
        else:
            prog = build(fn, example_args, "vjp", nums, "numpy", check)
        if prog.ir is None:   # loaded from the disk cache: redo the analysis for display
            from coarsen.passes import run_pipeline
            passes: dict = {}
            opt = run_pipeline(ir, passes)
        else:
            opt, passes = prog.ir, prog.passes
        timings = ", ".join(f"{name} {1e3 * t:.1f} ms" for name, t in passes.get("timings", []))
        parts += ["== passes ==", f"  {timings}"]
        parts += [f"  closed form: {line}" for line in passes.get("closed_forms", [])]
        parts += ["== IR after passes ==", format_function(opt)]
        rev = Reverse(opt, prog.wrt)
        names = {k: rev.prog.name(v) for k, v in rev.plan.values.items()}
        parts += ["== segments ==", describe_segments(rev.plan, names), "== derivative ==", prog.source]
    except UnsupportedError as err:
        parts += ["== derivative ==", f"(not differentiable: {err.message})"]
    text = "\n".join(parts)
    print(text, file=file)
    return text
