"""Syntactic facts about statement lists: which names they assign, whether they exit."""
from __future__ import annotations

import ast

_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
_LOOPS = (ast.For, ast.While, ast.AsyncFor)


def _target_names(target: ast.AST, out: set[str]) -> None:
    if isinstance(target, ast.Name):
        out.add(target.id)
    elif isinstance(target, (ast.Tuple, ast.List)):
        for t in target.elts:
            _target_names(t, out)
    elif isinstance(target, ast.Subscript):
        base = target.value
        while isinstance(base, ast.Subscript):
            base = base.value
        if isinstance(base, ast.Name):   # a[i] = v rebinds `a` to the updated array
            out.add(base.id)
    elif isinstance(target, ast.Starred):
        _target_names(target.value, out)


def assigned_names(stmts: list[ast.stmt]) -> set[str]:
    """Names any statement in `stmts` (nested blocks included) may rebind."""
    out: set[str] = set()
    for stmt in stmts:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Assign):
                for t in node.targets:
                    _target_names(t, out)
            elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
                _target_names(node.target, out)
            elif isinstance(node, (ast.For, ast.AsyncFor)):
                _target_names(node.target, out)
            elif isinstance(node, ast.NamedExpr):
                _target_names(node.target, out)
    return out


def contains(stmts: list[ast.stmt], kind: type, stop_at_loops: bool) -> bool:
    """Whether a statement of `kind` occurs, not counting nested functions (and, if asked,
    nested loops, which own their own break/continue)."""
    todo = list(stmts)
    while todo:
        node = todo.pop()
        if isinstance(node, kind):
            return True
        if isinstance(node, _SCOPES):
            continue
        if stop_at_loops and isinstance(node, _LOOPS):
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))
    return False
