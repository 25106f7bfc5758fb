"""Numba implementations of `kernels.runtime` for the "cpu" target.

Each `rt.<name>` call in generated code resolves, inside `njit` code, to the implementation
registered here with `numba.extending.overload`, chosen by the argument types (array ranks),
so results have static types. Ranks 0-3 are covered (the paper's programs, small models,
batches of matrices) except matrix products, which take ranks 1-2; anything else raises a
TypingError, and the target falls back to NumPy for that function with a warning.
"""
from __future__ import annotations

import functools
import warnings

import numpy as np
import numba
from numba import types
from numba.core.errors import NumbaIRAssumptionWarning, TypingError
from numba.extending import overload, register_jitable

from kernels import runtime as rt

# Implementations are cached on disk like the generated programs (`jit_options`): a new
# program in a later process links them instead of compiling them again (~0.1-0.4 s each).
# None is a closure of a shared factory: Numba links callees by qualified name (see the
# reducers below).
cached_overload = functools.partial(overload, jit_options={"cache": True})

# Numba's SSA pass reports "variable ... is not in scope" for the loops of `rt.ipow` as it first
# compiles them (an internal pedantic check, 14 screens of text, harmless): not the user's to read
warnings.filterwarnings("ignore", category=NumbaIRAssumptionWarning)


def _rank(x) -> int:
    return x.ndim if isinstance(x, types.Array) else 0


def _unsupported(name: str, detail: str):
    raise TypingError(f"rt.{name}: {detail} is not supported on the cpu target")


@cached_overload(rt.apart)
def _apart(a, b):
    if _rank(a) != 1 or _rank(b) != 1:
        _unsupported("apart", "arrays of rank other than 1")

    return rt.apart   # the NumPy tier's own function, compiled


@cached_overload(rt.unbroadcast)
def _unbroadcast(x, shape):
    n, k = _rank(x), len(shape)
    if k == 0:
        if n == 0:
            return lambda x, shape: x
        return lambda x, shape: np.sum(x)
    if n == 0:
        return lambda x, shape: np.full(shape, x)
    if n == 1 and k == 1:
        def impl(x, shape):
            if x.shape[0] == shape[0]:
                return np.ascontiguousarray(x)
            return np.full(shape, np.sum(x))
        return impl
    # explicit loops, not np.sum(axis=...): Numba's generic axis reduction costs about a
    # second of compile time per program, and these shapes usually match already
    if n == 2 and k == 1:
        def impl(x, shape):
            rows, cols = x.shape
            out = np.zeros(cols)
            for i in range(rows):
                for j in range(cols):
                    out[j] += x[i, j]
            if cols == shape[0]:
                return out
            return np.full(shape, np.sum(out))
        return impl
    if n == 2 and k == 2:
        def impl(x, shape):
            rows, cols = x.shape
            if rows == shape[0] and cols == shape[1]:
                return np.ascontiguousarray(x)
            out = np.zeros(shape)
            for i in range(rows):
                for j in range(cols):
                    out[i if shape[0] != 1 else 0, j if shape[1] != 1 else 0] += x[i, j]
            return out
        return impl
    if n == 3:
        return {1: _unbroadcast_3_1, 2: _unbroadcast_3_2, 3: _unbroadcast_3_3}[k]
    _unsupported("unbroadcast", f"rank {n} -> {k}")


def _unbroadcast_3_3(x, shape):
    if x.shape[0] == shape[0] and x.shape[1] == shape[1] and x.shape[2] == shape[2]:
        return np.ascontiguousarray(x)
    return _sum_into(x, shape[0], shape[1], shape[2])


def _unbroadcast_3_2(x, shape):
    return _sum_into(x, 1, shape[0], shape[1]).reshape(shape)


def _unbroadcast_3_1(x, shape):
    return _sum_into(x, 1, 1, shape[0]).reshape(shape)


@register_jitable
def _sum_into(x, n0, n1, n2):
    """x (rank 3) summed down to the shape (n0, n1, n2), each n the same as x's or 1."""
    d0, d1, d2 = x.shape
    out = np.zeros((n0, n1, n2))
    for i in range(d0):
        for j in range(d1):
            for k in range(d2):
                out[i if n0 != 1 else 0, j if n1 != 1 else 0, k if n2 != 1 else 0] += x[i, j, k]
    return out


@cached_overload(rt.broadcast_shapes)
def _broadcast_shapes(a, b):
    """The broadcast of two shapes (tuples), ranks <= 3: np.broadcast_shapes costs ~0.3 s of
    Numba compile time per program."""
    n, k = len(a), len(b)
    if n == 0:
        return lambda a, b: b
    if k == 0:
        return lambda a, b: a
    if n == 1 and k == 1:
        return lambda a, b: (_dim(a[0], b[0]),)
    if n == 1 and k == 2:
        return lambda a, b: (b[0], _dim(a[0], b[1]))
    if n == 2 and k == 1:
        return lambda a, b: (a[0], _dim(a[1], b[0]))
    if n == 2 and k == 2:
        return lambda a, b: (_dim(a[0], b[0]), _dim(a[1], b[1]))
    if n == 3 and k == 3:
        return lambda a, b: (_dim(a[0], b[0]), _dim(a[1], b[1]), _dim(a[2], b[2]))
    if n == 3 and k == 2:
        return lambda a, b: (a[0], _dim(a[1], b[0]), _dim(a[2], b[1]))
    if n == 2 and k == 3:
        return lambda a, b: (b[0], _dim(a[0], b[1]), _dim(a[1], b[2]))
    if n == 3 and k == 1:
        return lambda a, b: (a[0], a[1], _dim(a[2], b[0]))
    if n == 1 and k == 3:
        return lambda a, b: (b[0], b[1], _dim(a[0], b[2]))
    _unsupported("broadcast_shapes", f"ranks {n} and {k}")


@register_jitable
def _dim(m, n):
    if m == n or n == 1:
        return m
    if m == 1:
        return n
    raise ValueError("shapes cannot be broadcast together")


# Matrix-vector products as loops: as fast as BLAS's dgemv here (measured 36 us vs 34 us for
# 20000x16, 45 vs 32 for 16x20000) once reductions may be reassociated, and a third of
# np.dot's compile time (~0.1 s against ~0.35 s per layout). The loop order follows the
# matrix's layout so the inner loop is contiguous. Matrix-matrix products stay on BLAS.
_LOOPS = {"cache": True, "fastmath": {"reassoc"}}


@overload(rt.matmul, jit_options=_LOOPS)
def _matmul(a, b):
    # the implementations below take (a, b): Numba matches them to this signature by name
    n, k = _rank(a), _rank(b)
    if n == 1 and k == 1:
        return _dot
    if n == 2 and k == 1:
        return _matvec_by_columns if a.layout == "F" else _matvec_by_rows
    if n == 1 and k == 2:
        return _vecmat
    if n == 2 and k == 2:
        if a.layout in "CF" and b.layout in "CF":
            return _matmat
        return _matmat_copied
    _unsupported("matmul", f"ranks {n} and {k}")


@register_jitable
def _check(n, m):
    if n != m:
        raise ValueError("matmul: the operands' inner sizes differ")


def _dot(a, b):
    _check(a.shape[0], b.shape[0])
    acc = 0.0
    for i in range(a.shape[0]):
        acc += a[i] * b[i]
    return acc


def _matvec_by_rows(a, b):
    rows, cols = a.shape
    _check(cols, b.shape[0])
    out = np.empty(rows)
    for i in range(rows):
        acc = 0.0
        for j in range(cols):
            acc += a[i, j] * b[j]
        out[i] = acc
    return out


def _matvec_by_columns(a, b):
    rows, cols = a.shape
    _check(cols, b.shape[0])
    out = np.zeros(rows)
    for j in range(cols):
        vj = b[j]
        for i in range(rows):
            out[i] += a[i, j] * vj
    return out


def _vecmat(a, b):
    # v @ M is M.T @ v: the transpose flips the layout, and with it the loop order
    return rt.matmul(b.T, a)


def _matmat(a, b):
    return np.dot(a, b)


def _matmat_copied(a, b):
    return np.dot(np.ascontiguousarray(a), np.ascontiguousarray(b))


@register_jitable
def _bmm_core(a, b, ta, tb):
    """out[p] = A(a[p]) @ B(b[p]), A/B the identity or the transpose (ta, tb)."""
    if a.shape[0] != b.shape[0]:
        raise ValueError("batched matmul: the batch lengths differ")
    m = a.shape[2] if ta else a.shape[1]
    k = a.shape[1] if ta else a.shape[2]
    kb = b.shape[2] if tb else b.shape[1]
    n = b.shape[1] if tb else b.shape[2]
    if k != kb:
        raise ValueError("batched matmul: the inner lengths differ")
    out = np.zeros((a.shape[0], m, n))
    for p in range(a.shape[0]):
        for i in range(m):
            for q in range(k):
                x = a[p, q, i] if ta else a[p, i, q]
                for j in range(n):
                    out[p, i, j] += x * (b[p, j, q] if tb else b[p, q, j])
    return out


def _rank3(name, a, b):
    if _rank(a) != 3 or _rank(b) != 3:
        _unsupported(name, f"ranks {_rank(a)} and {_rank(b)}")


# three implementations with their own names (Numba's disk cache keys by qualified name)
def _bmatmul_nn(a, b):
    return _bmm_core(a, b, False, False)


def _bmatmul_nt(a, b):
    return _bmm_core(a, b, False, True)


def _bmatmul_tn(a, b):
    return _bmm_core(a, b, True, False)


@overload(rt.bmatmul, jit_options=_LOOPS)
def _bmatmul(a, b):
    _rank3("bmatmul", a, b)
    return _bmatmul_nn


@overload(rt.bmatmul_nt, jit_options=_LOOPS)
def _bmatmul_nt_overload(a, b):
    _rank3("bmatmul_nt", a, b)
    return _bmatmul_nt


@overload(rt.bmatmul_tn, jit_options=_LOOPS)
def _bmatmul_tn_overload(a, b):
    _rank3("bmatmul_tn", a, b)
    return _bmatmul_tn


@cached_overload(rt.kept_indices)
def _kept_indices(n, idx):
    def impl(n, idx):
        keep = np.ones(n, dtype=np.bool_)
        for i in range(idx.shape[0]):
            keep[idx[i] + n if idx[i] < 0 else idx[i]] = False
        return np.flatnonzero(keep).astype(np.int64)
    return impl


@cached_overload(rt.svd_uv)
def _svd_uv(a):
    def impl(a):
        u, _, vt = np.linalg.svd(np.ascontiguousarray(a), full_matrices=False)
        return u, vt
    return impl


@cached_overload(rt.svdvals_jvp)
def _svdvals_jvp(a, da):
    def impl(a, da):
        u, _, vt = np.linalg.svd(np.ascontiguousarray(a), full_matrices=False)
        w = np.dot(np.ascontiguousarray(da), np.ascontiguousarray(vt.T))
        out = np.zeros(u.shape[1])
        for i in range(u.shape[0]):
            for j in range(u.shape[1]):
                out[j] += u[i, j] * w[i, j]
        return out
    return impl


@cached_overload(rt.svdvals)
def _svdvals(a):
    def impl(a):
        _, s, _ = np.linalg.svd(np.ascontiguousarray(a), full_matrices=False)
        return s
    return impl


@cached_overload(rt.outer)
def _outer(a, b):
    def impl(a, b):
        out = np.empty((a.shape[0], b.shape[0]))
        for i in range(a.shape[0]):
            for j in range(b.shape[0]):
                out[i, j] = a[i] * b[j]
        return out
    return impl


@cached_overload(rt.reshape)
def _reshape(x, shape):
    if isinstance(x, types.Array) and x.layout == "C":
        return lambda x, shape: x.reshape(shape)
    return lambda x, shape: np.ascontiguousarray(x).reshape(shape)


@cached_overload(rt.to_scalar)
def _to_scalar(x):
    if _rank(x) == 0:
        return lambda x: x
    return lambda x: np.sum(x)


@cached_overload(rt.fresh)
def _fresh(x):
    if _rank(x) == 0:
        return lambda x: x
    return lambda x: np.ascontiguousarray(x).copy()


@cached_overload(rt.cotangent)
def _cotangent(ct, shape):
    if _rank(ct) == 0:
        return lambda ct, shape: np.full(shape, ct)
    return lambda ct, shape: np.ascontiguousarray(ct).copy()


@cached_overload(rt.broadcast_scalar)
def _broadcast_scalar(d, shape):
    return lambda d, shape: np.full(shape, d)


@cached_overload(rt.expand_axis)
def _expand_axis(d, shape, axis):
    k = len(shape)
    if k == 1:
        return lambda d, shape, axis: np.full(shape, d)
    if k == 2:
        def impl(d, shape, axis):
            out = np.empty(shape)
            for i in range(shape[0]):
                for j in range(shape[1]):
                    out[i, j] = d[j] if axis == 0 else d[i]
            return out
        return impl
    if k == 3:
        return _expand_axis_3
    _unsupported("expand_axis", f"rank {k}")


def _expand_axis_3(d, shape, axis):
    out = np.empty(shape)
    for i in range(shape[0]):
        for j in range(shape[1]):
            for k in range(shape[2]):
                out[i, j, k] = d[j, k] if axis == 0 else (d[i, k] if axis == 1 else d[i, j])
    return out


@cached_overload(rt.expand_keep)
def _expand_keep(d, shape):
    k = len(shape)
    if k == 1:
        def impl(d, shape):
            return np.full(shape, d[0]) if d.shape[0] == 1 else np.ascontiguousarray(d)
        return impl
    if k == 2:
        def impl(d, shape):
            out = np.empty(shape)
            for i in range(shape[0]):
                for j in range(shape[1]):
                    out[i, j] = d[0 if d.shape[0] == 1 else i, 0 if d.shape[1] == 1 else j]
            return out
        return impl
    if k == 3:
        return _expand_keep_3
    _unsupported("expand_keep", f"rank {k}")


def _expand_keep_3(d, shape):
    out = np.empty(shape)
    for i in range(shape[0]):
        for j in range(shape[1]):
            for k in range(shape[2]):
                out[i, j, k] = d[0 if d.shape[0] == 1 else i, 0 if d.shape[1] == 1 else j,
                                 0 if d.shape[2] == 1 else k]
    return out


# Axis reductions, one set of plain module-level functions per reduction, written out from a
# template. Not closures of one factory: Numba links a callee into each program under its
# qualified name, and a cached program loaded into a process that compiled another closure
# of the same name (max's where min's was cached) would call that one instead.
# As NumPy: max/min propagate NaN (a NaN anywhere in the reduced slice gives NaN: the
# accumulator keeps a NaN it holds, and takes a NaN it meets), and an empty reduced axis is
# sum's 0, prod's 1, mean's NaN and a ValueError for max/min (never a read past the end).
# The accumulator has NumPy's dtype: sum/prod of bools count in int64 (a bool accumulator
# would make `+` a logical or), mean accumulates in float64 (NumPy's, also for ints), max/min
# keep the input's dtype. Each dtype family gets its own set of functions (`_sum_b_2d`...).
_COMBINE = {"sum": "{a} + {b}", "mean": "{a} + {b}", "prod": "{a} * {b}",
            "max": "{a} if ({a} >= {b} or {a} != {a}) else {b}",
            "min": "{a} if ({a} <= {b} or {a} != {a}) else {b}"}
_EMPTY = {"sum": "return np.zeros({shape}, {dt})", "prod": "return np.ones({shape}, {dt})",
          "mean": "return np.full({shape}, np.nan)",
          "max": "raise ValueError(\"zero-size array to reduction operation maximum which has no identity\")",
          "min": "raise ValueError(\"zero-size array to reduction operation minimum which has no identity\")"}
_REDUCER_TEMPLATE = """
def _{fname}_1d(x, axis):
    if x.shape[0] == 0:
        {empty_scalar}
    acc = {init_scalar}(x[0])
    for i in range(1, x.shape[0]):
        acc = {step_scalar}
    return acc{scale_scalar}


def _{fname}_1d_keep(x, axis):
    return np.full(1, _{fname}_1d(x, axis))


def _{fname}_2d(x, axis):
    rows, cols = x.shape
    if axis == 0:
        if rows == 0:
            {empty_cols}
        out = {init}(x[0, :])
        for i in range(1, rows):
            for j in range(cols):
                out[j] = {step_rows}
        return out{scale_rows}
    if cols == 0:
        {empty_rows}
    out = {init}(x[:, 0])
    for j in range(1, cols):
        for i in range(rows):
            out[i] = {step_cols}
    return out{scale_cols}


def _{fname}_2d_keep(x, axis):
    out = _{fname}_2d(x, axis)
    return out.reshape((1, out.shape[0])) if axis == 0 else out.reshape((out.shape[0], 1))


def _{fname}_3d(x, axis):
    d0, d1, d2 = x.shape
    if axis == 0:
        if d0 == 0:
            {empty_d0}
        out = {init}(x[0])
        for i in range(1, d0):
            for j in range(d1):
                for k in range(d2):
                    out[j, k] = {step_3d}
        return out{scale_d0}
    if axis == 1:
        if d1 == 0:
            {empty_d1}
        out = {init}(x[:, 0, :])
        for j in range(1, d1):
            for i in range(d0):
                for k in range(d2):
                    out[i, k] = {step_3d_1}
        return out{scale_d1}
    if d2 == 0:
        {empty_d2}
    out = {init}(x[:, :, 0])
    for k in range(1, d2):
        for i in range(d0):
            for j in range(d1):
                out[i, j] = {step_3d_2}
    return out{scale_d2}


def _{fname}_3d_keep(x, axis):
    out = _{fname}_3d(x, axis)
    if axis == 0:
        return out.reshape((1, out.shape[0], out.shape[1]))
    if axis == 1:
        return out.reshape((out.shape[0], 1, out.shape[1]))
    return out.reshape((out.shape[0], out.shape[1], 1))
"""


def _acc_copy(v):
    return v.copy()


def _acc_int(v):
    return v.copy().astype(np.int64)   # (a copy first: astype keeps a strided view's 'A' layout,
                                       # which the keepdims reshape refuses)


def _acc_float(v):
    return v.copy().astype(np.float64)


def _acc_scalar(v):
    return v


def _acc_scalar_int(v):
    return np.int64(v)


def _acc_scalar_float(v):
    return np.float64(v)


for _fn in (_acc_copy, _acc_int, _acc_float, _acc_scalar, _acc_scalar_int, _acc_scalar_float):
    register_jitable(_fn)

# family -> (suffix, array accumulator, scalar accumulator, empty dtype)
_FAMILIES = {"same": ("", "_acc_copy", "_acc_scalar", "x.dtype"),
             "int": ("_i", "_acc_int", "_acc_scalar_int", "np.int64"),
             "float": ("_f", "_acc_float", "_acc_scalar_float", "np.float64")}


def _family(name: str, dtype) -> str:
    """NumPy's accumulator: mean in float64, sum/prod of bools in int64, else the input's."""
    if name == "mean":
        return "float"
    if name in ("sum", "prod") and isinstance(dtype, types.Boolean):
        return "int"
    return "same"


def _reducers(name: str, family: str = "same") -> dict:
    combine = _COMBINE[name]
    mean = name == "mean"
    suffix, init, init_scalar, dt = _FAMILIES[family]
    fname = name + suffix
    empty = _EMPTY[name].replace("{dt}", dt)
    source = _REDUCER_TEMPLATE.format(
        fname=fname, init=init, init_scalar=init_scalar,
        empty_scalar=empty.format(shape="1") + ("[0]" if empty.startswith("return") else ""),
        empty_cols=empty.format(shape="cols"), empty_rows=empty.format(shape="rows"), empty_d0=empty.format(shape="(d1, d2)"),
        empty_d1=empty.format(shape="(d0, d2)"), empty_d2=empty.format(shape="(d0, d1)"),
        step_scalar=combine.format(a="acc", b="x[i]"),
        step_rows=combine.format(a="out[j]", b="x[i, j]"),
        step_cols=combine.format(a="out[i]", b="x[i, j]"),
        scale_scalar=" / x.shape[0]" if mean else "",
        scale_rows=" / rows" if mean else "", scale_cols=" / cols" if mean else "",
        step_3d=combine.format(a="out[j, k]", b="x[i, j, k]"),
        step_3d_1=combine.format(a="out[i, k]", b="x[i, j, k]"),
        step_3d_2=combine.format(a="out[i, j]", b="x[i, j, k]"),
        scale_d0=" / d0" if mean else "", scale_d1=" / d1" if mean else "", scale_d2=" / d2" if mean else "")
    namespace = {"np": np, "__name__": __name__, "_acc_copy": _acc_copy, "_acc_int": _acc_int,
                 "_acc_float": _acc_float, "_acc_scalar": _acc_scalar, "_acc_scalar_int": _acc_scalar_int,
                 "_acc_scalar_float": _acc_scalar_float}
    exec(compile(source, f"<kernels.numba_runtime {fname} reducers>", "exec"), namespace)   # our template
    fns = {k: v for k, v in namespace.items() if k.startswith(f"_{fname}_")}
    for fn in fns.values():
        fn.__qualname__ = f"reducers.{fn.__name__}"
        register_jitable(fn)   # the keep variants call the plain ones
    return fns


def _reducer_typer(name: str, keep: bool):
    families = {}

    def typer(x, axis):
        n = _rank(x)
        family = _family(name, getattr(x, "dtype", None))
        if family not in families:
            families[family] = _reducers(name, family)
        suffix = _FAMILIES[family][0]
        if n in (1, 2, 3):
            base = families[family][f"_{name}{suffix}_{n}d{'_keep' if keep else ''}"]
            if name in ("max", "min") and isinstance(x.dtype, types.Float) and str(x.dtype) in _FLOATS:
                return _numpys_zeros_axis(name, n, keep, str(x.dtype), base)
            return base
        _unsupported(f"{name}_axis", f"rank {n}")
    return typer


# max/min reductions: NumPy's are SIMD loops, and where the reduced values hold both -0.0 and
# 0.0 (or NaNs) which one comes out depends on the length, the layout and the axis (the lane
# order: np.max([-0., 0.]) is 0.0 but a 9-element slice can give -0.0), so no scalar loop
# reproduces it. Machine code reduces with its own loop and, only where a result is a zero or
# a NaN, recomputes the reduction with NumPy itself (object mode), on the same array: the
# cost falls on that rare case only (`rt.max_all`).
_FLOATS = ("float64",)


# NumPy's own max/min (object mode), in plain functions the programs call: an object-mode block
# in an overload's implementation made Numba refuse to cache every program calling it ("dynamic
# globals"). Not cached themselves: without LLVM's optimisations (NUMBA_OPT=0, the test suite)
# Numba refuses to cache any object-mode block, a warning that is an error where warnings are;
# a program's refusal is a quiet miss (`kernels.numba_cache`), at the default level it is cached
@numba.njit
def _numpys_extremum_all(x, is_min):
    with numba.objmode(r="float64"):
        r = float(np.min(x) if is_min else np.max(x))
    return r


@numba.njit
def _numpys_extremum_0(x, axis, is_min):
    with numba.objmode(r="float64"):
        r = float(np.min(x, axis=axis) if is_min else np.max(x, axis=axis))
    return r


def _numpys_extremum_along(rank: int):
    """`_numpys_extremum_<rank>(x, axis, is_min, keep)`: NumPy's max/min along an axis whose
    result has rank `rank` (a C-contiguous float64 array)."""
    result = types.Array(types.float64, rank, "C")

    def extremum(x, axis, is_min, keep):
        with numba.objmode(r=result):
            r = np.ascontiguousarray(np.min(x, axis=axis, keepdims=keep) if is_min
                                     else np.max(x, axis=axis, keepdims=keep))
        return r
    extremum.__name__ = extremum.__qualname__ = f"_numpys_extremum_{rank}"   # one name a rank
    return numba.njit(extremum)


_numpys_extremum_1, _numpys_extremum_2, _numpys_extremum_3 = (_numpys_extremum_along(n) for n in (1, 2, 3))


_NUMPYS_ZEROS_TEMPLATE = """
def {fname}(x, axis):
    out = base(x, axis)
    if _zero_or_nan(out):
        out = {call}
    return out
"""


def _zero_or_nan(r):
    pass


@overload(_zero_or_nan)
def _zero_or_nan_impl(r):
    if not isinstance(r, types.Array):
        return lambda r: r == 0 or r != r

    def impl(r):
        for e in r.ravel():
            if e == 0 or e != e:
                return True
        return False
    return impl


@cached_overload(rt.zero_or_nan)
def _rt_zero_or_nan(r):
    return lambda r: _zero_or_nan(r)


_numpys_zeros_fns: dict = {}


def _numpys_zeros_axis(name: str, n: int, keep: bool, dt: str, base):
    """rt.<name>_axis(_keep) of a rank-n float64 array: `base` (the template's loop), and NumPy's
    own result where that holds a zero or a NaN. One module-level name per variant (see the
    reducers above: Numba links callees by qualified name)."""
    fname = f"_{name}_{dt}_{n}d{'_keep' if keep else ''}_numpys_zeros"
    if fname not in _numpys_zeros_fns:
        rank = n if keep else n - 1
        is_min = name == "min"
        call = (f"_numpys_extremum_0(x, axis, {is_min})" if rank == 0
                else f"_numpys_extremum_{rank}(x, axis, {is_min}, {keep})")
        source = _NUMPYS_ZEROS_TEMPLATE.format(fname=fname, call=call)
        namespace = {"np": np, "base": base, "_zero_or_nan": _zero_or_nan, "__name__": __name__,
                     f"_numpys_extremum_{rank}": globals()[f"_numpys_extremum_{rank}"]}
        exec(compile(source, f"<kernels.numba_runtime {fname}>", "exec"), namespace)   # our template
        fn = namespace[fname]
        fn.__qualname__ = f"numpys_zeros.{fname}"
        _numpys_zeros_fns[fname] = fn
    return _numpys_zeros_fns[fname]


def _float_array(x) -> str | None:
    if isinstance(x, types.Array) and isinstance(x.dtype, types.Float) and str(x.dtype) in _FLOATS:
        return str(x.dtype)
    return None


def _extremum_all(name: str):
    """rt.max_all / rt.min_all: NumPy's reduction, and NumPy's own result (object mode) where
    the loop's is a zero or a NaN. Not cached on its own: see _numpys_extremum_all."""
    reduce, is_min = getattr(np, name), name == "min"

    def typer(x):
        if _float_array(x) is None:
            return lambda x: reduce(x)

        def impl(x):
            r = reduce(x)
            if r == 0 or r != r:
                r = _numpys_extremum_all(x, is_min)
            return r
        impl.__qualname__ = f"{name}_all_impl"   # one name each (Numba links callees by qualified name)
        return impl
    return typer


overload(rt.max_all)(_extremum_all("max"))
overload(rt.min_all)(_extremum_all("min"))


for _name in _COMBINE:
    overload(getattr(rt, f"{_name}_axis"))(_reducer_typer(_name, False))
    overload(getattr(rt, f"{_name}_axis_keep"))(_reducer_typer(_name, True))


@cached_overload(rt.extremum_mask_all)
def _extremum_mask_all(x, r):
    def impl(x, r):
        mask = np.zeros(x.shape)
        flat = x.ravel()
        out = mask.ravel()
        for i in range(flat.shape[0]):
            if flat[i] == r or (flat[i] != flat[i] and r != r):
                out[i] = 1.0
                break
        return out.reshape(x.shape)
    return impl


@cached_overload(rt.extremum_mask_axis)
def _extremum_mask_axis(x, r_keep, axis):
    n = _rank(x)
    if n == 1:
        return lambda x, r_keep, axis: rt.extremum_mask_all(x, r_keep[0])
    if n == 2:
        def impl(x, r_keep, axis):
            rows, cols = x.shape
            mask = np.zeros(x.shape)
            if axis == 0:
                for j in range(cols):
                    for i in range(rows):
                        if x[i, j] == r_keep[0, j] or (x[i, j] != x[i, j] and r_keep[0, j] != r_keep[0, j]):
                            mask[i, j] = 1.0
                            break
            else:
                for i in range(rows):
                    for j in range(cols):
                        if x[i, j] == r_keep[i, 0] or (x[i, j] != x[i, j] and r_keep[i, 0] != r_keep[i, 0]):
                            mask[i, j] = 1.0
                            break
            return mask
        return impl
    if n == 3:
        return _extremum_mask_axis_3
    _unsupported("extremum_mask_axis", f"rank {n}")


def _extremum_mask_axis_3(x, r_keep, axis):
    """1.0 at the first position along `axis` where x equals its reduction r_keep (a NaN
    where r_keep is NaN)."""
    d0, d1, d2 = x.shape
    mask = np.zeros(x.shape)
    lengths = (d0, d1, d2)
    n = lengths[axis]
    outer = (d1 * d2, d0 * d2, d0 * d1)[axis]
    for q in range(outer):
        for p in range(n):
            if axis == 0:
                i, j, k = p, q // d2, q % d2
                r = r_keep[0, j, k]
            elif axis == 1:
                i, j, k = q // d2, p, q % d2
                r = r_keep[i, 0, k]
            else:
                i, j, k = q // d1, q % d1, p
                r = r_keep[i, j, 0]
            if x[i, j, k] == r or (x[i, j, k] != x[i, j, k] and r != r):
                mask[i, j, k] = 1.0
                break
    return mask


@register_jitable
def _products_of_others(v, out):
    """out[i] = the product of v[j] for j != i, without dividing (zeros are fine)."""
    acc = 1.0
    for i in range(v.shape[0]):
        out[i] = acc
        acc *= v[i]
    acc = 1.0
    for i in range(v.shape[0] - 1, -1, -1):
        out[i] *= acc
        acc *= v[i]


def _prod_others_all(x, axis):
    flat = np.ascontiguousarray(x).ravel()
    out = np.empty(flat.shape[0])
    _products_of_others(flat, out)
    return out.reshape(x.shape)


def _prod_others_1d(x, axis):
    out = np.empty(x.shape[0])
    _products_of_others(np.ascontiguousarray(x), out)
    return out


def _prod_others_2d(x, axis):
    rows, cols = x.shape
    out = np.empty((rows, cols))
    if axis == 0:
        for j in range(cols):
            col = np.empty(rows)
            _products_of_others(np.ascontiguousarray(x[:, j]), col)
            out[:, j] = col
    else:
        for i in range(rows):
            row = np.empty(cols)
            _products_of_others(np.ascontiguousarray(x[i, :]), row)
            out[i, :] = row
    return out


@cached_overload(rt.prod_others)
def _prod_others(x, axis):
    if isinstance(axis, types.NoneType) or axis is None:
        return _prod_others_all
    n = _rank(x)
    if n in (1, 2):
        return _prod_others_1d if n == 1 else _prod_others_2d
    _unsupported("prod_others", f"rank {n}")


@cached_overload(rt.maximum)
def _maximum(a, b):
    # Numba keeps the first operand at a tie, NumPy the second; with NaN both give NaN, so
    # swapping the operands is NumPy's rule, on scalars and (broadcast) arrays alike
    return lambda a, b: np.maximum(b, a)


@cached_overload(rt.minimum)
def _minimum(a, b):
    return lambda a, b: np.minimum(b, a)


@cached_overload(rt.floordiv)
def _floordiv(a, b):
    # a // -1 is -a, which wraps at int64 min as NumPy's quotient does (Numba's division gives 0)
    if isinstance(a, types.Array) or isinstance(b, types.Array):
        return lambda a, b: np.where(b == -1, -a, a // b)
    return lambda a, b: -a if b == -1 else a // b


@cached_overload(rt.mod)
def _mod(a, b):
    return lambda a, b: a % b   # (error_model="numpy": 0 for a zero divisor, as NumPy)


def _argsort_with_numpys_ties(kind: str):
    """Numba's argsort where the keys have no ties (then every sort gives the one order), else
    NumPy's own (object mode): NumPy's unstable sorts order ties their own way (`rt.argsort_quicksort`)."""
    def impl(x):
        idx = np.argsort(x)
        tied = False
        for i in range(len(idx) - 1):
            a, b = x[idx[i]], x[idx[i + 1]]
            if a == b or (a != a and b != b):   # equal keys (-0.0 and 0.0 too), or two NaNs
                tied = True
                break
        if tied:
            with numba.objmode(idx="int64[::1]"):
                idx = np.ascontiguousarray(np.argsort(x, kind=kind), dtype=np.int64)
        return idx
    return impl


@cached_overload(rt.argsort_quicksort)
def _argsort_quicksort(x):
    return _argsort_with_numpys_ties("quicksort")


@cached_overload(rt.argsort_heapsort)
def _argsort_heapsort(x):
    return _argsort_with_numpys_ties("heapsort")


@cached_overload(rt.trip_count)
def _trip_count(start, stop, step):
    def impl(start, stop, step):
        if step > 0:
            return max(0, (stop - start + step - 1) // step)
        return max(0, (start - stop - step - 1) // (-step))
    return impl


@cached_overload(rt.tape_grow)
def _tape_grow(arena, used, record, rest):
    cap = rt.TAPE_RESERVE_CAP

    def impl(arena, used, record, rest):
        out = np.empty(max(used + max(record, min(rest, cap)), 2 * arena.shape[0]))
        out[:used] = arena[:used]
        return out
    return impl


@cached_overload(rt.tape_put)
def _tape_put(arena, pos, x):
    rank = _rank(x)
    if rank == 1:
        def impl(arena, pos, x):
            for i in range(x.shape[0]):
                arena[pos + i] = x[i]
            return pos + x.shape[0]
    elif rank == 2:
        def impl(arena, pos, x):
            n0, n1 = x.shape
            for i in range(n0):
                for j in range(n1):
                    arena[pos + i * n1 + j] = x[i, j]
            return pos + n0 * n1
    elif rank == 3:
        def impl(arena, pos, x):
            n0, n1, n2 = x.shape
            for i in range(n0):
                for j in range(n1):
                    for k in range(n2):
                        arena[pos + (i * n1 + j) * n2 + k] = x[i, j, k]
            return pos + n0 * n1 * n2
    else:
        def impl(arena, pos, x):
            n = x.size
            arena[pos:pos + n] = np.ascontiguousarray(x).reshape(n)
            return pos + n
    return impl


@cached_overload(rt.tape_view)
def _tape_view(arena, end, shape):
    if len(shape) == 1:
        return lambda arena, end, shape: arena[end - shape[0]:end]

    def impl(arena, end, shape):
        n = 1
        for s in shape:
            n *= s
        return arena[end - n:end].reshape(shape)
    return impl


@cached_overload(rt.as_float_array)
def _as_float_array(x):
    return lambda x: x.astype(np.float64)


@cached_overload(rt.checked_int)
def _checked_int(x):
    def impl(x):
        if x != x:
            raise ValueError("cannot convert float NaN to integer")
        if not -9.223372036854775808e18 <= x < 9.223372036854775808e18:
            raise OverflowError("cannot convert float infinity or a float beyond int64 to an integer")
        return int(x)
    return impl


import kernels.numba_special  # noqa: E402,F401  (rt.erf, rt.digamma, ...: registers their overloads)
import kernels.numba_gather  # noqa: E402,F401  (rt.take, rt.take_add, ...: gathers with index arrays)
import kernels.numba_vecmath  # noqa: E402,F401  (rt.vexp: np.exp of arrays as a vectorised loop)


# ------------------------------------------------------------ eigh: NumPy's own (object mode)
# Not cached (see _numpys_extremum_all): the eigenvectors' signs are LAPACK's choice, and NumPy's
# LAPACK is not necessarily the one Numba links (SciPy's), so the host's NumPy computes them.
@numba.njit
def _numpys_eigh(a, lower):
    with numba.objmode(w="float64[::1]", v="float64[:, ::1]"):
        w, v = np.linalg.eigh(a, UPLO="L" if lower else "U")
        w, v = np.ascontiguousarray(w), np.ascontiguousarray(v)
    return w, v


@numba.njit
def _numpys_eigvalsh(a, lower):
    with numba.objmode(w="float64[::1]"):
        w = np.ascontiguousarray(np.linalg.eigvalsh(a, UPLO="L" if lower else "U"))
    return w


@overload(rt.eigvalsh)
def _eigvalsh(a, lower):
    return lambda a, lower: _numpys_eigvalsh(a, lower)


@overload(rt.eigh_w)
def _eigh_w(a, lower):
    return lambda a, lower: _numpys_eigh(a, lower)[0]


@overload(rt.eigh_v)
def _eigh_v(a, lower):
    return lambda a, lower: _numpys_eigh(a, lower)[1]


@register_jitable
def _eigh_close(w):
    n = w.shape[0]
    scale = 0.0
    for i in range(n):
        scale = max(scale, abs(w[i]))
    close = np.zeros((n, n), dtype=np.bool_)
    for i in range(n):
        for j in range(n):
            close[i, j] = i != j and abs(w[j] - w[i]) <= rt._EIGH_CLOSE * scale
    return close


@cached_overload(rt.eigh_values_grad)
def _eigh_values_grad(w, v, dw):
    def impl(w, v, dw):
        n = w.shape[0]
        close = _eigh_close(w)
        big = 0.0
        for i in range(n):
            big = max(big, abs(dw[i]))
        bad = False
        for i in range(n):
            for j in range(n):
                if close[i, j] and abs(dw[j] - dw[i]) > rt._EIGH_SMALL * big:
                    bad = True
        vc = np.ascontiguousarray(v)
        scaled = vc * np.ascontiguousarray(dw)
        return np.dot(scaled, np.ascontiguousarray(vc.T)), bad
    return impl


@cached_overload(rt.eigh_vectors_grad)
def _eigh_vectors_grad(w, v, dv):
    def impl(w, v, dv):
        n = w.shape[0]
        vc = np.ascontiguousarray(v)
        vt = np.ascontiguousarray(vc.T)
        x = np.dot(vt, np.ascontiguousarray(dv))
        close = _eigh_close(w)
        big = 0.0
        for i in range(n):
            for j in range(n):
                big = max(big, abs(x[i, j]))
        bad = False
        f = np.zeros((n, n))
        for i in range(n):
            for j in range(n):
                if i == j:
                    continue
                skew = x[i, j] - x[j, i]
                if close[i, j]:
                    if abs(x[i, j]) > rt._EIGH_SMALL * big:
                        bad = True
                else:
                    f[i, j] = skew / (2.0 * (w[j] - w[i]))
        return np.dot(np.dot(vc, f), vt), bad
    return impl


@cached_overload(rt.fold_triangle)
def _fold_triangle(g, lower):
    def impl(g, lower):
        n = g.shape[0]
        out = np.zeros((n, n))
        for i in range(n):
            for j in range(n):
                if i == j:
                    out[i, j] = g[i, i]
                elif (i > j) == lower:
                    out[i, j] = g[i, j] + g[j, i]
        return out
    return impl


# ------------------------------------------------------------ lstsq: NumPy's own (object mode)
@numba.njit
def _numpys_lstsq_1(a, b, rcond):
    with numba.objmode(x="float64[::1]"):
        x = np.ascontiguousarray(rt.lstsq(a, b, rcond))
    return x


@numba.njit
def _numpys_lstsq_2(a, b, rcond):
    with numba.objmode(x="float64[:, ::1]"):
        x = np.ascontiguousarray(rt.lstsq(a, b, rcond))
    return x


@numba.njit
def _numpys_lstsq_rank(a, rcond):
    with numba.objmode(r="int64"):
        r = rt.lstsq_rank(a, rcond)
    return r


@overload(rt.lstsq)
def _lstsq(a, b, rcond):
    if _rank(b) == 1:
        return lambda a, b, rcond: _numpys_lstsq_1(a, b, rcond)
    return lambda a, b, rcond: _numpys_lstsq_2(a, b, rcond)


@overload(rt.lstsq_rank)
def _lstsq_rank(a, rcond):
    return lambda a, rcond: _numpys_lstsq_rank(a, rcond)


# ------------------------------------------------------------ qr: NumPy's own (object mode)
@numba.njit
def _numpys_qr(a):
    with numba.objmode(q="float64[:, ::1]", r="float64[:, ::1]"):
        q, r = np.linalg.qr(a)
        q, r = np.ascontiguousarray(q), np.ascontiguousarray(r)
    return q, r


@overload(rt.qr_q)
def _qr_q(a):
    return lambda a: _numpys_qr(a)[0]


@overload(rt.qr_r)
def _qr_r(a):
    return lambda a: _numpys_qr(a)[1]


@cached_overload(rt.qr_grad)
def _qr_grad(q, r, gq, gr):
    def impl(q, r, gq, gr):
        m, n = q.shape[0], r.shape[1]
        small = False
        if n > 0:
            top = 0.0
            for i in range(n):
                top = max(top, abs(r[i, i]))
            for i in range(n):
                if abs(r[i, i]) <= max(m, n) * 2.220446049250313e-16 * top:
                    small = True
        if m < n or small:
            return np.zeros((m, n)), True
        qc, rc = np.ascontiguousarray(q), np.ascontiguousarray(r)
        p = np.dot(np.ascontiguousarray(gr), np.ascontiguousarray(rc.T)) - np.dot(np.ascontiguousarray(qc.T),
                                                                                    np.ascontiguousarray(gq))
        nn = np.zeros((n, n))
        for i in range(n):
            for j in range(n):
                nn[i, j] = p[i, j] if i <= j else p[j, i]
        y = np.ascontiguousarray(gq) + np.dot(qc, nn)
        return np.ascontiguousarray(np.linalg.solve(rc, np.ascontiguousarray(y.T)).T), False
    return impl


# ------------------------------------------------------------ svd: NumPy's own (object mode)
# The factors' signs are LAPACK's choice (see eigh above): the host's NumPy computes them, and
# the derivative helpers (`rt.svd_grad`, ...), which must use the same factors, run there too.
@numba.njit
def _numpys_svd_u(a, full):
    with numba.objmode(u="float64[:, ::1]"):
        u = np.ascontiguousarray(rt.svd_u(a, full))
    return u


@numba.njit
def _numpys_svd_vt(a, full):
    with numba.objmode(vt="float64[:, ::1]"):
        vt = np.ascontiguousarray(rt.svd_vt(a, full))
    return vt


@numba.njit
def _numpys_svd_s(a, alone):
    with numba.objmode(s="float64[::1]"):
        s = np.ascontiguousarray(rt.svd_s(a, alone))
    return s


@numba.njit
def _numpys_svd_grad(a, d, which, full):
    with numba.objmode(g="float64[:, ::1]", bad="boolean"):
        g, bad = rt.svd_grad(a, d, which, full)
        g = np.ascontiguousarray(g)
    return g, bad


@numba.njit
def _numpys_svd_values_jvp(a, da, full, file, line, col):
    with numba.objmode(t="float64[::1]"):
        t = np.ascontiguousarray(rt.svd_values_jvp(a, da, full, file, line, col))
    return t


@numba.njit
def _numpys_svd_jvp(a, da, which, full, file, line, col):
    with numba.objmode(t="float64[:, ::1]"):
        t = np.ascontiguousarray(rt.svd_jvp(a, da, which, full, file, line, col))
    return t


@overload(rt.svd_u)
def _svd_u(a, full):
    return lambda a, full: _numpys_svd_u(a, full)


@overload(rt.svd_vt)
def _svd_vt(a, full):
    return lambda a, full: _numpys_svd_vt(a, full)


@overload(rt.svd_s)
def _svd_s(a, alone):
    return lambda a, alone: _numpys_svd_s(a, alone)


@overload(rt.svd_grad)
def _svd_grad(a, d, which, full):
    return lambda a, d, which, full: _numpys_svd_grad(a, d, which, full)


@overload(rt.svd_values_jvp)
def _svd_values_jvp(a, da, full, file, line, col):
    return lambda a, da, full, file, line, col: _numpys_svd_values_jvp(a, da, full, file, line, col)


@overload(rt.svd_jvp)
def _svd_jvp(a, da, which, full, file, line, col):
    return lambda a, da, which, full, file, line, col: _numpys_svd_jvp(a, da, which, full, file, line, col)


# ------------------------------------------------------------ fsum, bincount
@numba.njit
def _hosts_fsum(x):
    with numba.objmode(r="float64"):
        r = float(rt.fsum(x))
    return r


@overload(rt.fsum)
def _fsum(x):
    return lambda x: _hosts_fsum(x)


@register_jitable
def _bins_size(x, n):
    if n < 0:
        raise ValueError("'minlength' must not be negative")
    size = n
    for i in range(x.shape[0]):
        if x[i] < 0:
            raise ValueError("'list' argument must have no negative elements")
        size = max(size, x[i] + 1)
    return size


@cached_overload(rt.bincount)
def _bincount(x, n):
    def impl(x, n):
        out = np.zeros(_bins_size(x, n), dtype=np.int64)
        for i in range(x.shape[0]):
            out[x[i]] += 1
        return out
    return impl


@cached_overload(rt.bincount_weights)
def _bincount_weights(x, w, n):
    def impl(x, w, n):
        size = _bins_size(x, n)
        if w.shape[0] != x.shape[0]:
            raise ValueError("The weights and list don't have the same length.")
        out = np.zeros(size)
        for i in range(x.shape[0]):
            out[x[i]] += w[i]
        return out
    return impl


@cached_overload(rt.take_bins)
def _take_bins(d, x):
    def impl(d, x):
        out = np.empty(x.shape[0])
        for i in range(x.shape[0]):
            out[i] = d[x[i]]
        return out
    return impl
