"""User objects while tracing (#22): attributes, methods inlined like functions.

- An object argument (a dataclass, or a class with `__coarsen_fields__`: see `coarsen.tree`)
  is an `Obj` binding: its class and the bindings of its data attributes (Values for arrays
  and numbers, which are inputs of the program, so `grad` differentiates them) and its
  static attributes (Python objects, part of the signature).
- A module-level or closed-over object is a `Static`: its attributes are read when tracing
  (numbers and arrays become constants; `coarsen.deps` records each read, so rebinding or
  mutating one makes the compiled program stale).
- `obj.method(...)` inlines the method's function with `self` bound to the object; static
  and class methods, and properties (their getter inlined), likewise. Class attributes read
  through an object are recorded as reads of the class.
"""
from __future__ import annotations

import ast
import inspect
import types
from dataclasses import dataclass
from typing import Any

from coarsen import tree


@dataclass(frozen=True, eq=False)
class Obj:
    """An object argument while tracing: `cls` and its attributes' bindings."""

    cls: type
    attrs: dict

    @property
    def obj(self) -> Any:
        """A stand-in instance for trace-time tests (isinstance, hasattr, type)."""
        return tree.new_object(self.cls, {name: None for name in self.attrs})


@dataclass(frozen=True, eq=False)
class BoundMethod:
    """`obj.method` looked up, not yet called: the function and the `self` binding."""

    fn: types.FunctionType
    self_binding: Any


def make_object(cls: type, attrs: dict) -> Obj:
    return Obj(cls, attrs)


def attribute(lw, base: Obj, attr: str, node: ast.AST) -> Any:
    if attr in base.attrs:
        value = base.attrs[attr]
        if isinstance(value, list):   # a list attribute: compile-time structure, as a tuple
            return tuple(value)
        return value if not _python_static(value) else lw.from_python(value, node)
    return class_attribute(lw, base.cls, base, attr, node)


def _python_static(value: Any) -> bool:
    from coarsen.frontend.bindings import Static
    from coarsen.ir.nodes import Value
    from coarsen.frontend.random import GeneratorArg
    return not isinstance(value, (Value, tuple, dict, Obj, Static, GeneratorArg))


def class_attribute(lw, cls: type, self_binding: Any, attr: str, node: ast.AST) -> Any:
    from coarsen.frontend.exceptions import fail
    try:
        raw = inspect.getattr_static(cls, attr)
    except AttributeError:
        if lw.ctx.reads is not None:
            from coarsen.deps import MISSING
            lw.ctx.reads.attr(cls, attr, MISSING)
        fail(lw, AttributeError(attr), f"a {cls.__name__} object has no attribute `{attr}`", node)
    if lw.ctx.reads is not None:   # a method or class attribute redefined later: compile again
        lw.ctx.reads.attr(cls, attr, getattr(cls, attr))
    if isinstance(raw, staticmethod):
        return lw.from_python(raw.__func__, node)
    if isinstance(raw, classmethod):
        from coarsen.frontend.bindings import Static
        return BoundMethod(raw.__func__, Static(cls))
    if isinstance(raw, property):
        if not isinstance(raw.fget, types.FunctionType):
            lw.unsupported(f"property {attr} of {cls.__name__} has no Python getter", node)
        return lw.inline(raw.fget, [self_binding], {}, node)
    if isinstance(raw, types.FunctionType):
        return BoundMethod(raw, self_binding)
    if inspect.isdatadescriptor(raw) or inspect.ismethoddescriptor(raw):
        lw.unsupported(f"attribute `{attr}` of a {cls.__name__} object is a descriptor coarsen cannot "
                       "read when tracing", node)
    return lw.from_python(getattr(cls, attr), node)


def call_method(lw, method: BoundMethod, args: list, kwargs: dict, node: ast.AST) -> Any:
    return lw.inline(method.fn, [method.self_binding, *args], kwargs, node)
