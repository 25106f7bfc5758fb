"""Common-subexpression elimination, linear in the size of the expression DAG.

Input: a list of SymPy expressions (phicalc terms allowed), typically derivatives whose
subtrees are heavily shared.
Output: ``(assignments, reduced)``: evaluating ``t_i = value_i`` in order, then ``reduced``,
gives the inputs. Temporaries are real Symbols ``t0, t1, ...`` (integer Symbols when the value
is an integer, e.g. ``n - 1`` from a trip count) skipping names the inputs use.

Why not ``sympy.cse``: it sorts arguments with ``ordered``, whose key counts nodes of the
*tree*, and walks ``free_symbols``/``has`` the same way, so it takes time exponential in the
sharing depth (seconds for a 6-deep chain, hours for 20). Here every distinct node is visited
once; a node becomes a temporary when it has two or more uses (edges from distinct parents,
or several outputs). No algebraic re-association is attempted (``x*y`` inside ``x*y*z`` is
not found): the segments the compiler builds are capped in size, and the win is the sharing.

Invariants: temporaries are defined before use (children first); atoms, numbers and
negations of atoms are never temporaries; output is deterministic for a given input.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import sympy as sp

from phicalc.lowering import lower


def _trivial(e: sp.Basic) -> bool:
    if e.is_Atom or not e.args:
        return True
    # -x is as cheap to recompute as to name
    return e.is_Mul and len(e.args) == 2 and e.args[0] == -1 and e.args[1].is_Atom


def _postorder(roots: Sequence[sp.Basic]) -> tuple[list[sp.Basic], dict[sp.Basic, int]]:
    """Distinct non-trivial nodes, children first, and how many times each is used."""
    uses: dict[sp.Basic, int] = {}
    order: list[sp.Basic] = []
    visited: set[sp.Basic] = set()
    for root in roots:
        uses[root] = uses.get(root, 0) + 1
        stack: list[tuple[sp.Basic, bool]] = [(root, False)]
        while stack:
            node, done = stack.pop()
            if done:
                order.append(node)
                continue
            if node in visited or _trivial(node):
                continue
            visited.add(node)
            stack.append((node, True))
            for a in reversed(node.args):
                uses[a] = uses.get(a, 0) + 1
                if a not in visited:
                    stack.append((a, False))
    return order, uses


def _symbol_names(order: Sequence[sp.Basic], roots: Sequence[sp.Basic]) -> set[str]:
    names = {r.name for r in roots if isinstance(r, sp.Symbol)}
    for node in order:
        names.update(a.name for a in node.args if isinstance(a, sp.Symbol))
    return names


def _names(taken: set[str]) -> Iterator[str]:
    i = 0
    while True:
        name = f"t{i}"
        i += 1
        if name not in taken:
            yield name


def _rebuild(node: sp.Basic, args: tuple[sp.Basic, ...]) -> sp.Basic:
    """``node`` with new ``args``, without re-running SymPy's evaluation: the node was already
    canonical, and evaluation (assumption queries in ``sin.eval`` & co.) dominates the cost."""
    try:
        return node.func(*args, evaluate=False)
    except TypeError:
        return node.func(*args)


def _is_integer(e: sp.Basic) -> bool:
    """Integer-valued by construction (integer atoms under + * and natural powers); a cheap
    stand-in for SymPy's assumption system, which costs milliseconds per query."""
    if e.is_Atom:
        return bool(getattr(e, "is_integer", False))
    if e.is_Add or e.is_Mul:
        return all(_is_integer(a) for a in e.args)
    if e.is_Pow:
        return _is_integer(e.base) and e.exp.is_Integer and e.exp >= 0
    return False


def cse(exprs: Sequence[sp.Basic]) -> tuple[list[tuple[sp.Symbol, sp.Expr]], list[sp.Expr]]:
    """Common-subexpression elimination over ``exprs`` after :func:`phicalc.lowering.lower`.

    Returns ``(assignments, reduced)``; see the module docstring. A temporary may hold a
    condition (``t0 = x > 0``) shared by several Phis. A subexpression shared by two branches
    is computed before the branch is chosen, so the emitted code must tolerate evaluating it
    (NumPy semantics: inf/nan, not exceptions).
    """
    roots = [lower(sp.sympify(e)) for e in exprs]
    order, uses = _postorder(roots)
    names = _names(_symbol_names(order, roots))
    replaced: dict[sp.Basic, sp.Basic] = {}
    assignments: list[tuple[sp.Symbol, sp.Expr]] = []
    for node in order:
        args = tuple(replaced.get(a, a) for a in node.args)
        value = _rebuild(node, args) if args != node.args else node
        if uses.get(node, 0) >= 2 and not _trivial(value):
            if _is_integer(value):
                t = sp.Symbol(next(names), integer=True)
            else:
                t = sp.Symbol(next(names), real=True)
            assignments.append((t, value))
            replaced[node] = t
        elif value is not node:
            replaced[node] = value
    reduced = [replaced.get(r, r) for r in roots]
    # An output that is itself a temporary: return the temporary (already computed once).
    return assignments, reduced


__all__ = ["cse"]
