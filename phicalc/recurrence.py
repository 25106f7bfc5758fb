"""Loops as recurrences: closed forms where they exist, a symbolic step adjoint otherwise.

Input: a :class:`Recurrence` (one loop step ``state -> update(state, index)``), the initial
state, the trip count ``n`` (a symbol recorded by the forward run) and the index's start and
step (``index = start + k*step`` at step ``k``).
Output: :func:`closed_form` -> each state component after ``n`` steps, or None per component
that has no closed form; :meth:`Recurrence.step_vjp` -> the adjoint of one step, which the
compiler iterates in reverse over recorded states when there is no closed form.

How closed forms are found (pattern first, SymPy only on small leftovers):
components are solved in dependency order (a component may use already-solved ones: a
triangular system); a component that reads itself must be affine in itself,
``s' = A*s + B(k)`` with ``A`` free of ``s``:
- ``A == 1``:     s_n = s_0 + sum_{k<n} B(k)                      (sums, k-fold accumulation)
- ``A`` constant: s_n = A**n s_0 + sum_{j<n} A**j B(n-1-j)        (affine, geometric)
- ``B == 0``:     s_n = s_0 * prod_{k<n} A(k)  for A = c * r**(poly in k)   (products)
and ``s' = s**m`` gives ``s_0**(m**n)``. A component that does not read itself is its last
update: ``Phi(n > 0, update at k = n-1, s_0)``. Sums go through
:func:`phicalc.summation.sum_closed`, so geometric sums are ``Geom`` terms: valid for every
``A`` including ``A == 1`` (no division by ``A - 1``, correct derivatives there too).

Invariants: closed forms hold for every integer n >= 0; a component whose dependencies failed
fails; :func:`closed_form` returns within about ``budget_s`` seconds (remaining components fail
when it runs out).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

import sympy as sp
from sympy import S

from phicalc.diff import jvp, vjp
from phicalc.summation import power_sum, sum_closed
from phicalc.terms import Phi, Sign, relation
from phicalc.walk import tree_size

_Expr = sp.Expr

MAX_TREE_SIZE = 5000
"""Updates larger than this (as trees) are not solved: SymPy's algorithms would blow the
time budget."""


@dataclass(frozen=True)
class Recurrence:
    """One loop step: ``state[i] <- update[i]`` simultaneously (updates read the old state).

    ``state``: distinct Symbols; ``update``: one expression per component, over the state, the
    loop ``index`` (None when the body does not read it) and loop invariants (every other free
    symbol, see :attr:`invariants`).
    """

    state: tuple[sp.Symbol, ...]
    update: tuple[sp.Expr, ...]
    index: sp.Symbol | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", tuple(self.state))
        object.__setattr__(self, "update", tuple(sp.sympify(u) for u in self.update))
        if len(self.state) != len(self.update):
            raise ValueError("Recurrence: one update per state component")
        if len(set(self.state)) != len(self.state):
            raise ValueError("Recurrence: state symbols must be distinct")

    @property
    def invariants(self) -> tuple[sp.Symbol, ...]:
        """Free symbols of the update that are neither state nor index, sorted by name."""
        skip = set(self.state) | ({self.index} if self.index is not None else set())
        free = set().union(*(u.free_symbols for u in self.update)) - skip
        return tuple(sorted(free, key=lambda s: s.name))

    def step_vjp(self, cotangents: Sequence[sp.Expr]
                 ) -> tuple[tuple[sp.Expr, ...], tuple[sp.Expr, ...]]:
        """Adjoint of one step: given cotangents of the updated state, return
        ``(cotangents of the old state, cotangents of the invariants)``, the latter aligned
        with :attr:`invariants`. The expressions read the old state (recorded in the forward
        run for the step being reversed) and the index at that step."""
        wrt = list(self.state) + list(self.invariants)
        grads = vjp(list(self.update), wrt, list(cotangents))
        k = len(self.state)
        return tuple(grads[:k]), tuple(grads[k:])

    def step_jvp(self, state_tangents: Sequence[sp.Expr],
                 invariant_tangents: Sequence[sp.Expr] | None = None) -> tuple[sp.Expr, ...]:
        """Tangent of the updated state given tangents of the old state and (optionally, in
        :attr:`invariants` order) of the invariants."""
        inv = list(self.invariants)
        tangents = list(state_tangents) + list(invariant_tangents or [S.Zero] * len(inv))
        return tuple(jvp(list(self.update), list(self.state) + inv, tangents))


class _Fail(Exception):
    pass


def _poly_exponent_product(a: _Expr, k: sp.Symbol, n: _Expr) -> _Expr:
    """prod_{k<n} a(k) for a = c * prod r_i**(poly_i(k)) with c, r_i free of k."""
    out = S.One
    for f in sp.Mul.make_args(sp.powsimp(a)):
        if not f.has(k):
            out *= f ** n
        elif f.is_Pow and not f.base.has(k) and f.exp.is_polynomial(k):
            poly = sp.Poly(sp.expand(f.exp), k)
            total = sp.Add(*(c * power_sum(p, n) for (p,), c in poly.terms()))
            out *= f.base ** total
        elif isinstance(f, sp.exp) and f.args[0].is_polynomial(k):
            poly = sp.Poly(sp.expand(f.args[0]), k)
            out *= sp.exp(sp.Add(*(c * power_sum(p, n) for (p,), c in poly.terms())))
        else:
            raise _Fail
    return out


# Heads whose argument changes the value only by jumps (derivative 0 almost everywhere): a
# state symbol inside one makes the update non-affine even though its derivative looks it.
_JUMPS = (Sign, sp.sign, sp.floor, sp.ceiling, sp.Heaviside, sp.frac)


def _jumps_in(f: _Expr, s: sp.Symbol) -> bool:
    """Whether ``s`` reaches ``f`` through a Phi condition or a piecewise-constant function."""
    for node in sp.preorder_traversal(f):
        if isinstance(node, Phi) and node.args[0].has(s):
            return True
        if isinstance(node, _JUMPS) and node.has(s):
            return True
        if isinstance(node, sp.Mod) and node.args[1].has(s):
            return True
    return False


def _solve_scalar(s: sp.Symbol, f: _Expr, s0: _Expr, k: sp.Symbol, n: _Expr,
                  deadline: float) -> _Expr:
    """Closed form of s_{k+1} = f(s_k, k), s_0 = s0, after n steps."""
    if not f.has(s):
        # Overwritten each step: the value from the last step, or s0 when the loop never ran.
        return Phi(relation(sp.StrictGreaterThan, n, 0), f.xreplace({k: n - 1}), s0)
    if f == s:
        return s0
    if f.is_Pow and f.base == s and f.exp.is_number and not f.exp.has(k):
        return s0 ** (f.exp ** n)
    a = jvp([f], [s], [S.One])[0]
    if a.has(s) or _jumps_in(f, s):
        raise _Fail  # not affine in s
    # f is affine in s (its s-derivative is free of s), so f = a*s + f(0).
    b = sp.expand(f.xreplace({s: S.Zero}))
    if a.has(k):
        if b != 0:
            raise _Fail
        return s0 * _poly_exponent_product(a, k, n)
    if a == 1:
        total = sum_closed(b, k, n, deadline)
        if total is None:
            raise _Fail
        return s0 + total
    if b == 0:
        return s0 * a ** n
    # s_n = a**n s0 + sum_{k<n} a**(n-1-k) b(k) = a**n s0 + sum_{j<n} a**j b(n-1-j).
    j = sp.Dummy("j", integer=True, nonnegative=True)
    total = sum_closed(a ** j * b.xreplace({k: n - 1 - j}), j, n, deadline)
    if total is None:
        raise _Fail
    return a ** n * s0 + total


def closed_form(rec: Recurrence, init: Sequence[sp.Expr], n: sp.Expr,
                start: sp.Expr = 0, step: sp.Expr = 1, budget_s: float = 1.0
                ) -> tuple[sp.Expr | None, ...] | None:
    """Each state component after ``n`` steps of ``rec`` from ``init``.

    Returns a tuple aligned with ``rec.state`` whose entries are closed forms (in ``init``,
    the invariants, ``start``, ``step`` and ``n``) or None for a component with no closed
    form (and for every component that depends on one); returns None when no component has
    one. ``n`` is the trip count (an integer >= 0 at run time); at step ``k`` the index is
    ``start + k*step``.
    """
    deadline = time.perf_counter() + budget_s
    init = [sp.sympify(v) for v in init]
    if len(init) != len(rec.state):
        raise ValueError("closed_form: one initial value per state component")
    k = sp.Dummy("k", integer=True, nonnegative=True)
    count = sp.Dummy("n", integer=True, nonnegative=True)
    updates = list(rec.update)
    if rec.index is not None:
        at_k = sp.sympify(start) + sp.sympify(step) * k
        updates = [u.xreplace({rec.index: at_k}) for u in updates]
    state = list(rec.state)
    # Everything below uses SymPy's tree walks (expand, has, xreplace): a body whose values
    # are reused deeply (x = x*x + x, thirty times) is a small DAG but a huge tree.
    too_big = {i for i, u in enumerate(updates) if tree_size(u) > MAX_TREE_SIZE}
    deps = [{j for j, s in enumerate(state) if j != i and u.has(s)}
            for i, u in enumerate(updates)]
    solved: dict[int, _Expr] = {}   # closed forms in the generic count `count`
    failed: set[int] = set(too_big)
    progress = True
    while progress:
        progress = False
        for i in range(len(state)):
            if i in solved or i in failed:
                continue
            if deps[i] & failed or time.perf_counter() > deadline:
                failed.add(i)
                progress = True
                continue
            if not deps[i] <= solved.keys():
                continue
            # Other components enter as their closed forms at step k.
            f = updates[i].xreplace({state[j]: solved[j].xreplace({count: k}) for j in deps[i]})
            try:
                solved[i] = _solve_scalar(state[i], f, init[i], k, count, deadline)
            except (_Fail, sp.PolynomialError, NotImplementedError):
                failed.add(i)
            progress = True
    if not solved:
        return None
    n = sp.sympify(n)
    return tuple(solved[i].xreplace({count: n}) if i in solved else None
                 for i in range(len(state)))


__all__ = ["Recurrence", "closed_form"]
