"""phicalc: the phi-calculus under coarsen's AD compiler (depends on SymPy only).

- terms: ``Phi(c, a, b)`` for branches, ``Maximum``/``Minimum``/``Sign``/``Clip``,
  ``Softplus``/``Sigmoid``, ``Geom`` (division-free geometric sums), each with its
  derivative rule; ``push_phi`` distributes over and merges branches;
- differentiation: ``vjp``/``jvp`` over expression DAGs, linear cost;
- loops: ``Recurrence``, ``closed_form`` and ``Recurrence.step_vjp``;
- rewrites: ``stable`` (softplus, log1p, expm1, sigmoid);
- emission: ``cse`` and ``to_source`` (Python/NumPy/Numba source).
"""

from phicalc.diff import NoDerivativeError, gradient, jvp, partials, vjp
from phicalc.distribute import add_terms, push_phi, scale
from phicalc.cse import cse
from phicalc.emit import can_emit, emit_function, to_source
from phicalc.lowering import lower
from phicalc.recurrence import Recurrence, closed_form
from phicalc.rewrite import stable
from phicalc.summation import sum_closed
from phicalc.convert import normalize, to_sympy
from phicalc.terms import (PHICALC_FUNCTIONS, Clip, Geom, Maximum, Minimum, Phi, Sigmoid,
                           Sign, Softplus)

__all__ = [
    "Phi", "Maximum", "Minimum", "Sign", "Clip", "Softplus", "Sigmoid", "Geom",
    "PHICALC_FUNCTIONS", "normalize", "to_sympy", "push_phi", "scale", "add_terms",
    "vjp", "jvp", "gradient", "partials", "NoDerivativeError",
    "Recurrence", "closed_form", "sum_closed",
    "stable",
    "cse", "to_source", "lower", "can_emit", "emit_function",
]
