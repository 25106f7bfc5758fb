"""scipy.linalg's triangular solves, `solve_triangular` and `cho_solve`, as compositions of
registry ops: np.linalg.solve of the triangle SciPy reads (the other triangle is ignored, as
LAPACK's trtrs ignores it), so values agree with SciPy to rounding and derivatives are the
solve's and the triangle mask's.

Input: a callable the user's program calls. Output: its lowering `(lw, args, kwargs, node) ->
Value`, or None for anything else.
Invariants: nothing here imports scipy.linalg (a call is recognised once the user's program
has imported it); SciPy's errors are kept: ValueError for infs or NaNs (check_finite, the
default), LinAlgError for a singular triangle (from the solve), TypeError for a bad `trans`.
"""
from __future__ import annotations

import sys
from typing import Any, Callable

from coarsen.ops import lowering as L
from coarsen.ops.spec import O


def _finite(lw, arrays, node) -> None:
    """SciPy's check_finite: ValueError where an array holds an inf or a NaN (x * 0 is NaN
    exactly there, so one sum tells)."""
    from coarsen.frontend.exceptions import runtime_check

    for x in arrays:
        probe = lw.emit(O.SUM, (lw.emit(O.MUL, (x, lw.b.const(0.0)), node),), node, {"axis": None, "keepdims": False})
        runtime_check(lw, lw.emit(O.NE, (probe, probe), node), ValueError,
                      "array must not contain infs or NaNs", node)


def _triangle(lw, a, lower: bool, unit: bool, node):
    """The triangle of `a` SciPy reads; with `unit`, ones on its diagonal (never read)."""
    from coarsen.ops.shape import offset_mask

    n, m = L.shape(lw, a, node)
    keep = offset_mask(lw, n, m, lw.b.const(0), node, "LE" if lower else "GE")
    tri = lw.emit(O.WHERE, (keep, a, lw.b.const(0.0)), node)
    if unit:
        tri = lw.emit(O.WHERE, (offset_mask(lw, n, m, lw.b.const(0), node, "EQ"), lw.b.const(1.0), tri), node)
    return tri


def _square(lw, a, node, message: str = "expected square matrix") -> None:
    """SciPy's ValueError for a matrix that is not square (NumPy's solve would raise its
    LinAlgError from inside)."""
    from coarsen.frontend.exceptions import runtime_check

    n, m = L.shape(lw, a, node)
    runtime_check(lw, lw.emit(O.NE, (n, m), node), ValueError, message, node)


def _flag(lw, binding, node, what: str, default):
    value = L.static(lw, binding, node, what)
    return default if value is None else value


def _solve_triangular(lw, args, kwargs, node):
    from coarsen.ops.linalg import _matrix

    a, b, trans, lower, unit, _, check = L.positional(
        lw, args, kwargs, node, ["a", "b", "trans", "lower", "unit_diagonal", "overwrite_b", "check_finite"],
        "solve_triangular", 2)
    a = _matrix(lw, a, node, "solve_triangular")
    b = L.array(lw, b, node, "solve_triangular")
    _square(lw, a, node)
    trans = _flag(lw, trans, node, "trans", 0)
    if trans not in (0, 1, 2, "N", "T", "C") or isinstance(trans, bool):
        lw.type_error(f"solve_triangular(): trans must be 0, 1, 2, 'N', 'T' or 'C', got {trans!r}", node)
    if _flag(lw, check, node, "check_finite", True):
        _finite(lw, (a, b), node)
    tri = _triangle(lw, a, bool(_flag(lw, lower, node, "lower", False)),
                    bool(_flag(lw, unit, node, "unit_diagonal", False)), node)
    if trans not in (0, "N"):   # real matrices: 'C' is 'T'
        tri = lw.emit(O.TRANSPOSE, (tri,), node)
    return lw.emit(O.SOLVE, (tri, b), node)


def _cho_solve(lw, args, kwargs, node):
    from coarsen.frontend.bindings import Static
    from coarsen.ops.linalg import _matrix

    factor, b, _, check = L.positional(lw, args, kwargs, node, ["c_and_lower", "b", "overwrite_b", "check_finite"],
                                       "cho_solve", 2)
    if not (isinstance(factor, tuple) and len(factor) == 2):
        lw.type_error("cho_solve() takes (c, lower) as its first argument, as cho_factor returns it", node)
    c = _matrix(lw, factor[0], node, "cho_solve")
    lower = factor[1].obj if isinstance(factor[1], Static) else lw.constant_of(factor[1])
    if lower is None:
        lw.unsupported("cho_solve()'s `lower` must be known when tracing", node, "pass True or False")
    b = L.array(lw, b, node, "cho_solve")
    _square(lw, c, node, "The factored matrix c is not square.")
    if _flag(lw, check, node, "check_finite", True):
        _finite(lw, (c, b), node)
    tri = _triangle(lw, c, bool(lower), False, node)   # A = L L^T (lower) or U^T U (upper)
    first, second = (tri, lw.emit(O.TRANSPOSE, (tri,), node))
    if not lower:
        first, second = second, first
    return lw.emit(O.SOLVE, (second, lw.emit(O.SOLVE, (first, b), node)), node)


LOWERINGS: dict[str, Callable] = {"solve_triangular": _solve_triangular, "cho_solve": _cho_solve}


def lookup(obj: Any) -> Callable | None:
    """The lowering of scipy.linalg's own function `obj`, or None: found where SciPy defines it
    (`scipy.linalg._basic.solve_triangular`), never by what `scipy.linalg.solve_triangular`
    holds now (a user's wrapper assigned there is the user's function, inlined)."""
    name, module = getattr(obj, "__name__", None), getattr(obj, "__module__", None) or ""
    if name not in LOWERINGS or not module.startswith("scipy.linalg"):
        return None
    home = sys.modules.get(module)
    return LOWERINGS[name] if home is not None and vars(home).get(name) is obj else None
