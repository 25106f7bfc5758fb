"""Trace-time Python: `isinstance`, `hasattr`, `callable`, `type(x)`, `is` and `==` between
objects known when tracing, folded to constants (#22).

A binding stands for every Python object the compiled program may see in its place: an f64
scalar may be a float, an np.float64, an np.float32 or a 0-d array (the signature does not tell
them apart), an array any ndarray, a `Static` exactly its object. A test is folded only when
it has the same answer for every one of those `candidates`; otherwise it is refused (a test
folded the wrong way would take the wrong branch silently).

Tuples: a list literal is a tuple binding too (`containers`), so a tuple binding is a `tuple`
only when it is (by identity) a tuple the caller passed in (`TraceContext.tuple_args`);
otherwise it may be a tuple or a list.
"""
from __future__ import annotations

import ast
import builtins
from typing import Any

import numpy as np

from coarsen.frontend.bindings import Method, Static, describe
from coarsen.ir.nodes import Value

_SCALARS = {
    "f64": (1.0, np.float64(1.0), np.float32(1.0), np.array(1.0)),
    "i64": (1, np.int64(1), np.int32(1), np.array(1)),
    "bool": (True, np.bool_(True), np.array(True)),
}


def candidates(lw, binding: Any, node: ast.AST) -> tuple:
    """Example Python objects for every object `binding` may be when the program runs."""
    if isinstance(binding, Static):
        return (binding.obj,)
    if isinstance(binding, Value):
        if binding.type.rank:
            return (np.empty((0,) * binding.type.rank),)
        return _SCALARS[binding.type.dtype]
    if isinstance(binding, tuple):
        if binding and id(binding) in lw.ctx.tuple_args:
            return (binding,)
        return (tuple(binding), list(binding))
    if isinstance(binding, list):
        return (binding,)
    if isinstance(binding, dict):
        return (binding,)
    obj = getattr(binding, "obj", None)   # an object argument (see `objects`): its Python object
    if obj is not None:
        return (obj,)
    if isinstance(binding, Method):
        lw.unsupported(f"cannot inspect {describe(binding)} when tracing", node, "call the method")
    lw.unsupported(f"cannot inspect {describe(binding)} when tracing", node)


def _python(lw, binding: Any, node: ast.AST, what: str) -> Any:
    """A binding that must be a compile-time object (the class in isinstance, a name)."""
    if isinstance(binding, Static):
        return binding.obj
    if isinstance(binding, tuple):
        return tuple(_python(lw, b, node, what) for b in binding)
    constant = lw.constant_of(binding)
    if constant is not None:
        return constant
    lw.unsupported(f"{what} must be known when tracing, got {describe(binding)}", node)


def _decide(lw, binding: Any, test, node: ast.AST, what: str) -> Value:
    answers = set()
    for obj in candidates(lw, binding, node):
        try:
            answers.add(bool(test(obj)))
        except Exception as err:   # the test itself fails in Python: so it does here
            lw.type_error(f"{what}: {type(err).__name__}: {err}", node)
    if len(answers) != 1:
        lw.unsupported(f"{what} is not decided when tracing: {describe(binding)} may be any of "
                       f"{', '.join(sorted({type(o).__name__ for o in candidates(lw, binding, node)}))}",
                       node, "test the rank or dtype instead (np.ndim(x), x.ndim), or pass a value "
                             "whose type the signature fixes (an array, or a tuple argument)")
    return lw.b.const(answers.pop())


def _isinstance(lw, args, kwargs, node):
    if kwargs or len(args) != 2:
        lw.type_error("isinstance() takes 2 arguments", node)
    classes = _python(lw, args[1], node, "the class in isinstance()")
    return _decide(lw, args[0], lambda o: isinstance(o, classes), node, ast.unparse(node))


def _hasattr(lw, args, kwargs, node):
    if kwargs or len(args) != 2:
        lw.type_error("hasattr() takes 2 arguments", node)
    name = _python(lw, args[1], node, "the attribute name in hasattr()")
    if not isinstance(name, str):
        lw.type_error("hasattr(): attribute name must be a string", node)
    if isinstance(args[0], Static) and lw.ctx.reads is not None:   # the answer depends on it
        from coarsen.deps import MISSING
        lw.ctx.reads.attr(args[0].obj, name, getattr(args[0].obj, name, MISSING))
    return _decide(lw, args[0], lambda o: hasattr(o, name), node, ast.unparse(node))


def _callable(lw, args, kwargs, node):
    if kwargs or len(args) != 1:
        lw.type_error("callable() takes 1 argument", node)
    if isinstance(args[0], Method):
        return lw.b.const(True)
    return _decide(lw, args[0], callable, node, ast.unparse(node))


def _type(lw, args, kwargs, node):
    if kwargs or len(args) != 1:
        lw.unsupported("type() with 3 arguments is not supported", node)
    types = {type(o) for o in candidates(lw, args[0], node)}
    if len(types) != 1:
        lw.unsupported(f"type() of {describe(args[0])} is not known when tracing: it may be any of "
                       f"{', '.join(sorted(t.__name__ for t in types))}", node,
                       "test the rank instead (np.ndim(x)), or pass an array")
    return Static(types.pop())


def register(calls: dict) -> None:
    calls[builtins.isinstance] = _isinstance
    calls[builtins.hasattr] = _hasattr
    calls[builtins.callable] = _callable
    calls[builtins.type] = _type


def is_static_comparison(lw, node: ast.Compare, left: Any, right: Any) -> bool:
    """`a is b`, `a is not b`, and `==`/`!=` where one side is a non-numeric object."""
    if len(node.ops) != 1:
        return False
    if isinstance(node.ops[0], (ast.Is, ast.IsNot)):
        return True
    numeric = (bool, int, float, np.number)
    return isinstance(node.ops[0], (ast.Eq, ast.NotEq)) and any(
        isinstance(s, Static) and not isinstance(s.obj, numeric) for s in (left, right))


def static_comparison(lw, node: ast.Compare, left: Any, right: Any) -> Value:
    """Fold `a is b` / `a == b` between objects known when tracing (None, classes, strings)."""
    op = node.ops[0]
    negate = isinstance(op, (ast.IsNot, ast.NotEq))
    identity = isinstance(op, (ast.Is, ast.IsNot))
    if isinstance(left, Value) and isinstance(right, Value) and identity:
        lw.unsupported("`is` between two numbers or arrays is not decided when tracing", node,
                       "compare values with == or np.array_equal")
    lefts, rights = candidates(lw, left, node), candidates(lw, right, node)
    if not identity:
        for obj in (*lefts, *rights):
            if _mutable_equality(obj):
                lw.unsupported(f"`{ast.unparse(node)}` compares with {type(obj).__name__}.__eq__, which reads the "
                               "object's state: a later change of it would not be seen", node,
                               "compare the attribute it depends on (cfg.name == 'adam'), or use `is`")
    answers = {(a is b) if identity else _equal(a, b) for a in lefts for b in rights}
    if lw.ctx.reads is not None:   # the answer depends on which objects these are
        for side, objs in ((left, lefts), (right, rights)):
            if isinstance(side, Static):
                for obj in objs:
                    lw.ctx.reads.identity(obj)
    if len(answers) != 1 or None in answers:
        lw.unsupported(f"`{ast.unparse(node)}` is not decided when tracing", node,
                       "compare numbers with == and objects known when tracing with `is`")
    return lw.b.const(answers.pop() != negate)


def _mutable_equality(obj: Any) -> bool:
    """An object whose own `__eq__` may read state that changes (a dataclass, a class of the
    user's), not a value known by its fingerprint (numbers, strings, enum members, classes)."""
    from coarsen.deps import fingerprint
    if type(obj).__eq__ is object.__eq__:
        return False
    fp = fingerprint(obj)
    return fp is None or fp.startswith("object:")


def _equal(a: Any, b: Any) -> bool | None:
    try:
        result = a == b
        return bool(result) if isinstance(result, (bool, np.bool_)) else None
    except Exception:
        return None
