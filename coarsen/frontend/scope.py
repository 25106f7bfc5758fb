"""Syntactic facts about statement lists: which names they assign, whether they exit."""
from __future__ import annotations

import ast

_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
_LOOPS = (ast.For, ast.While, ast.AsyncFor)


def _target_names(target: ast.AST, out: set[str], subscripts: bool = True) -> None:
    """The names a binding target rebinds; `a[i] = v` rebinds `a` here (value semantics) unless
    `subscripts` is false (Python's scoping: it makes no name local)."""
    if isinstance(target, ast.Name):
        out.add(target.id)
    elif isinstance(target, (ast.Tuple, ast.List)):
        for t in target.elts:
            _target_names(t, out, subscripts)
    elif isinstance(target, ast.Subscript) and subscripts:
        base = target.value
        while isinstance(base, ast.Subscript):
            base = base.value
        if isinstance(base, ast.Name):   # a[i] = v rebinds `a` to the updated array
            out.add(base.id)
    elif isinstance(target, ast.Starred):
        _target_names(target.value, out, subscripts)


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


def local_names(fn: ast.FunctionDef | ast.Lambda) -> frozenset[str]:
    """The names local to a function by Python's scoping rule: its parameters and every name
    its body binds anywhere (assignment, loop or `with` target, `except ... as`, import, nested
    `def`/`class`, walrus, even inside a comprehension), not counting nested scopes, less the
    names declared `global` or `nonlocal`. Such a name read where it is not bound is Python's
    UnboundLocalError, never the module's global of the same name."""
    args = fn.args
    out = {a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)}
    out |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
    declared: set[str] = set()
    body = [fn.body] if isinstance(fn, ast.Lambda) else fn.body
    todo = list(body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
            todo.extend(node.decorator_list)   # evaluated here; the body is its own scope
            if not isinstance(node, ast.ClassDef):
                todo.extend(d for d in (*node.args.defaults, *node.args.kw_defaults) if d is not None)
            continue
        if isinstance(node, ast.Lambda):
            todo.extend(d for d in (*node.args.defaults, *node.args.kw_defaults) if d is not None)
            continue
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            # its own scope, but a walrus inside binds in this function
            out.update(n.target.id for n in ast.walk(node)
                       if isinstance(n, ast.NamedExpr) and isinstance(n.target, ast.Name))
            todo.append(node.generators[0].iter)   # the first iterable is evaluated here
            continue
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            declared.update(node.names)
        elif isinstance(node, ast.Assign):
            for t in node.targets:
                _target_names(t, out, False)
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign, ast.For, ast.AsyncFor, ast.NamedExpr)):
            _target_names(node.target, out, False)
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                if item.optional_vars is not None:
                    _target_names(item.optional_vars, out, False)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            out.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            out.update((a.asname or a.name).split(".")[0] for a in node.names if a.name != "*")
        elif isinstance(node, ast.Delete):
            for t in node.targets:
                _target_names(t, out, False)
        todo.extend(ast.iter_child_nodes(node))
    return frozenset(out - declared)
