"""phicalc: the phi-calculus under coarsen's AD compiler (depends on SymPy only).

Public API (everything the layer above may use):

- terms (``phicalc.terms``): ``Phi(c, a, b)`` (a if c else b; d = Phi(c, da, db)),
  ``Maximum``/``Minimum`` (ties: the first argument takes the derivative, as np.maximum),
  ``Sign`` (derivative 0), ``Clip`` (np.clip), ``Softplus``, ``Sigmoid``, and ``Geom(a, n, m)``
  (d^m/da^m sum_{k<n} a**k, the division-free geometric sum loop closed forms use).
  SymPy's ``Abs`` is differentiated as ``Sign`` (0 at 0). ``normalize`` turns SymPy's
  Piecewise/Max/Min/sign/Heaviside into these; ``to_sympy`` expands them back (for checks).
- ``push_phi(expr)``: distribute over / merge / decide branches, pull common factors out.
- ``vjp(outputs, wrt, cotangents) -> list[Expr]`` (one per wrt symbol) and
  ``jvp(outputs, wrt, tangents) -> list[Expr]`` (one per output): one linear pass over the
  expression DAG, no DiracDelta/Heaviside/Piecewise in the results.
- ``Recurrence(state, update, index=None)``; ``closed_form(rec, init, n, start=0, step=1)
  -> tuple[Expr | None, ...] | None``; ``rec.step_vjp(cotangents) -> (state_cts,
  invariant_cts)`` with invariant cotangents aligned with ``rec.invariants``.
- ``stable(expr)``: softplus/log1p/expm1/sigmoid rewrites.
- ``cse(exprs) -> (assignments, reduced)`` and ``to_source(expr, array=False) -> str``
  (NumPy / Numba-nopython source); ``emit_function`` combines them. A printer of your own
  must first ``lower(expr)``: it rewrites ``Geom`` and ``Clip`` into printable terms.
"""

from phicalc.convert import normalize, to_sympy
from phicalc.cse import cse
from phicalc.diff import NoDerivativeError, gradient, jvp, partials, vjp
from phicalc.distribute import add_terms, push_phi, scale
from phicalc.emit import can_emit, emit_function, to_source
from phicalc.lowering import lower
from phicalc.recurrence import Recurrence, closed_form
from phicalc.rewrite import stable
from phicalc.summation import sum_closed
from phicalc.terms import (PHICALC_FUNCTIONS, AsFloat, Clip, Geom, Maximum, Minimum, Paren, Phi,
                           Sigmoid, Sign, Softplus)

__all__ = [
    "Phi", "Maximum", "Minimum", "Sign", "Clip", "Softplus", "Sigmoid", "Geom", "Paren",
    "AsFloat", "PHICALC_FUNCTIONS", "normalize", "to_sympy", "push_phi", "scale", "add_terms",
    "vjp", "jvp", "gradient", "partials", "NoDerivativeError",
    "Recurrence", "closed_form", "sum_closed",
    "stable",
    "cse", "to_source", "lower", "can_emit", "emit_function",
]
