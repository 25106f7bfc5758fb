"""Traversals of SymPy expression DAGs that visit each distinct subtree once.

Input: SymPy expressions, often with deeply shared subtrees (derivatives reuse the primal).
Output: rebuilt expressions (:func:`bottom_up`) or membership answers (:func:`dag_has`).

Why: SymPy's own ``has``, ``xreplace``, ``free_symbols`` and ``count_ops`` walk the *tree*,
which is exponential in the depth of sharing; these walk the DAG, so their cost is linear in
the number of distinct nodes.
"""

from __future__ import annotations

from typing import Callable

import sympy as sp


def rebuild(e: sp.Basic, args: tuple[sp.Basic, ...]) -> sp.Basic:
    """``e`` with new ``args`` (SymPy's evaluation, except for relations between non-numbers)."""
    # A relation between non-numbers is not decided by SymPy's evaluation anyway, and asking
    # the assumption system costs milliseconds per condition.
    if isinstance(e, sp.core.relational.Relational) and not all(a.is_number for a in args):
        return e.func(*args, evaluate=False)
    return e.func(*args)


def bottom_up(expr: sp.Basic, rule: Callable[[sp.Basic], sp.Basic | None]) -> sp.Basic:
    """Rebuild ``expr`` from the leaves up, replacing each node ``e`` by ``rule(e)`` when that
    is not None. Shared subtrees are visited once (memoised on the node)."""
    memo: dict[sp.Basic, sp.Basic] = {}

    def visit(e: sp.Basic) -> sp.Basic:
        if e in memo:
            return memo[e]
        if e.args and not isinstance(e, (sp.Symbol, sp.Number)):
            new_args = tuple(visit(a) for a in e.args)
            rebuilt = rebuild(e, new_args) if new_args != e.args else e
        else:
            rebuilt = e
        out = rule(rebuilt)
        out = rebuilt if out is None else out
        memo[e] = out
        return out

    return visit(expr)


def dag_has(expr: sp.Basic, types: tuple[type, ...], clean: set | None = None) -> bool:
    """Whether ``expr`` contains a node of one of ``types``, visiting each distinct subtree
    once (SymPy's ``has`` walks the tree, exponential on deeply shared DAGs).

    ``clean``: optional set of nodes already known not to contain ``types``; it is updated,
    so repeated checks over growing expressions stay linear overall.
    """
    seen = clean if clean is not None else set()
    stack = [expr]
    while stack:
        e = stack.pop()
        if e in seen:
            continue
        if isinstance(e, types):
            return True
        seen.add(e)
        stack.extend(e.args)
    return False


def tree_size(expr: sp.Basic) -> int:
    """Number of nodes ``expr`` has as a *tree* (what SymPy's tree walks pay), computed over
    the DAG. Used to refuse inputs on which SymPy's own algorithms would take forever."""
    size: dict[sp.Basic, int] = {}
    stack: list[tuple[sp.Basic, bool]] = [(expr, False)]
    while stack:
        node, done = stack.pop()
        if node in size:
            continue
        if done or not node.args:
            size[node] = 1 + sum(size[a] for a in node.args)
            continue
        stack.append((node, True))
        stack.extend((a, False) for a in node.args if a not in size)
    return size[expr]


__all__ = ["bottom_up", "dag_has", "tree_size", "rebuild"]
