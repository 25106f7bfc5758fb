"""`raise` and `try`/`except` decided when tracing (#22).

- `raise E(msg)` reached unconditionally (in the function's top-level block, or on a branch
  whose condition is known when tracing) is raised when tracing: the user's exception class
  and message, with the user's file:line added as a note. A `raise` under a condition known
  only when running (`if np.any(x < 0): raise ValueError("...")`, in a loop, in a function
  inlined under a branch) becomes a run-time check where it stands (`Op.CHECK`, which every
  pass keeps and every target emits as `if ...: raise E(...)`): the same exception class with
  the same message. Its class is a builtin exception or a user's subclass of Exception (a
  global of the generated module: `codegen.forward.exception_name`; a GPU thread under vmap
  reports builtins only), its arguments constants known when tracing (f-strings of such too);
  the rest of its block is dead.
- `try: body except E: handler` lowers the body on trial. If the body fails when tracing with
  an error plain Python would also raise at that point (`PythonFailure`: a missing attribute or
  dict key, a `raise` reached when tracing) and a handler catches that class, the body's
  instructions are dropped and the handler is lowered instead. If the body lowers, the handlers
  are dead code, but only when they cannot catch what compiled code raises at run time
  (IndexError, ValueError, ZeroDivisionError, LinAlgError, ...): a handler for those would have
  to run on data, so it is refused rather than dropped silently.
"""
from __future__ import annotations

import ast
from typing import Any

import numpy as np

from coarsen.errors import UnsupportedError
from coarsen.frontend.bindings import Static
from coarsen.ir.nodes import Op

# what compiled code may raise while running (bounds checks, reshape sizes, integer division,
# linear algebra): a handler that catches one of these cannot be decided when tracing
RUNTIME_ERRORS = (IndexError, ValueError, ZeroDivisionError, ArithmeticError, np.linalg.LinAlgError,
                  FloatingPointError, OverflowError)


class PythonFailure(UnsupportedError):
    """An error the traced code would raise as plain Python too (`python`: that exception):
    a `try` whose handler catches `python` folds to the handler."""

    def __init__(self, python: BaseException, message: str, loc, hint: str | None = None):
        super().__init__(message, loc, hint)
        self.python = python
        self.user_raise = False


def fail(lw, python: BaseException, message: str, node: ast.AST, hint: str | None = None):
    raise PythonFailure(python, message, lw.src.loc(node), hint)


def runtime_check(lw, bad, exc: type, message: str, node: ast.AST | None) -> None:
    """`if bad: raise exc(message)` when the program runs (`Op.CHECK`); nothing where `bad` is
    known false when tracing."""
    if lw.constant_of(bad) is False:
        return
    lw.b.emit(Op.CHECK, (bad,), {"exc": exc, "args": (message,)}, lw.src.loc(node))
    lw.ctx.runtime_raises.append(exc)


def python_error(lw, exc: BaseException, node: ast.AST, hint: str) -> None:
    """Raise what plain Python (or NumPy) raises here: when tracing where every call reaches
    this point (the caller gets `exc` itself), else a run-time check where it stands."""
    loc = lw.src.loc(node)
    if _in_nested_region(lw):
        runtime_check(lw, lw.b.const(True), type(exc), f"{loc}: {exc}", node)
        return
    exc.add_note(f"raised when tracing, at {loc}")
    failure = PythonFailure(exc, f"{type(exc).__name__}: {exc}", loc, hint)
    failure.user_raise = True   # uncaught, it reaches the caller as itself
    raise failure


def _in_nested_region(lw) -> bool:
    """Whether code lowered now runs only under a run-time condition (an `if` on data, a
    loop body, the rest of a function after a return that may have run)."""
    return len(lw.b._blocks) > 1


def _exception(lw, node: ast.expr | None) -> BaseException:
    if node is None:
        lw.unsupported("a bare `raise` is not supported", node, "raise an exception instance")
    if isinstance(node, ast.Call):
        callee = lw.expr(node.func)
        if node.keywords:
            lw.unsupported("keyword arguments of an exception are not supported", node)
        args = [_message_part(lw, a) for a in node.args]
    else:
        callee, args = lw.expr(node), []
    cls = callee.obj if isinstance(callee, Static) else None
    if isinstance(cls, BaseException):
        return cls
    if not (isinstance(cls, type) and issubclass(cls, BaseException)):
        lw.unsupported(f"`raise {ast.unparse(node)}`: not an exception class known when tracing", node)
    return cls(*args)


def _message_part(lw, node: ast.expr) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    try:
        binding = lw.expr(node)
    except UnsupportedError:   # an f-string and the like: the source text stands in
        return ast.unparse(node)
    if isinstance(binding, Static):
        return binding.obj
    constant = lw.constant_of(binding)
    return constant if constant is not None else ast.unparse(node)


def _constant_part(lw, node: ast.expr, what: str = "a `raise` under a run-time condition") -> Any:
    """An exception argument of a run-time check: a constant known when tracing, or refused
    (compiled code raises with constant arguments)."""
    from coarsen.frontend.bindings import Static
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, int, float, bool)):
        return node.value
    if isinstance(node, ast.JoinedStr):
        parts = []
        for v in node.values:
            if isinstance(v, ast.Constant):
                parts.append(str(v.value))
                continue
            value = _constant_part(lw, v.value, what)
            conv = {-1: None, 115: str, 114: repr, 97: ascii}[v.conversion]
            spec = _constant_part(lw, v.format_spec, what) if v.format_spec is not None else ""
            parts.append(format(conv(value) if conv else value, spec))
        return "".join(parts)
    try:
        binding = lw.expr(node)
    except UnsupportedError:
        binding = None
    if isinstance(binding, Static) and isinstance(binding.obj, (str, int, float, bool)):
        return binding.obj
    constant = lw.constant_of(binding)
    if constant is not None and not isinstance(constant, np.ndarray):
        return constant
    lw.unsupported(f"`{ast.unparse(node)}` in {what}: its value is known only "
                   "when running, and compiled code raises with constant arguments", node,
                   "use a constant message (values known when tracing may be formatted in)")


def lower_runtime_raise(lw, stmt: ast.Raise) -> None:
    """`raise E(...)` reached only under a run-time condition: a CHECK where it stands."""
    import builtins
    node = stmt.exc
    if node is None:
        lw.unsupported("a bare `raise` is not supported", stmt, "raise an exception instance")
    call = node if isinstance(node, ast.Call) else None
    callee = lw.expr(call.func if call else node)
    cls = callee.obj if isinstance(callee, Static) else None
    if call is not None and call.keywords:
        lw.unsupported("keyword arguments of an exception are not supported", node)
    if not (isinstance(cls, type) and issubclass(cls, BaseException)):
        lw.unsupported(f"`raise {ast.unparse(node)}`: not an exception class known when tracing", node)
    if getattr(builtins, cls.__name__, None) is not cls and not issubclass(cls, Exception):
        lw.unsupported(f"`raise {cls.__name__}` under a condition known only when running: compiled code "
                       "raises builtin exceptions and subclasses of Exception only", stmt,
                       "derive the class from Exception, or check outside")
    args = tuple(_constant_part(lw, a) for a in (call.args if call else ()))
    for a in (call.args if call else ()):
        if isinstance(a, ast.Starred):
            lw.unsupported("*args in a raise are not supported", a)
    loc = lw.src.loc(stmt)
    lw.b.emit(Op.CHECK, (lw.b.const(True),), {"exc": cls, "args": args}, loc)
    lw.ctx.runtime_raises.append(cls)


def lower_assert(lw, stmt: ast.Assert) -> None:
    """`assert test, msg`: as `if not test: raise AssertionError(msg)` (dropped under python -O,
    as Python drops it): decided when tracing, or a run-time check."""
    import sys
    if sys.flags.optimize:
        return
    test = lw.truth(lw.expr(stmt.test), stmt.test)
    holds = lw.constant_of(test)
    if holds is True:
        return
    args = () if stmt.msg is None else (_constant_part(lw, stmt.msg, "an `assert` message"),)
    loc = lw.src.loc(stmt)
    if holds is False and not _in_nested_region(lw):   # fails at every call: raised when tracing
        exc = AssertionError(*args)
        exc.add_note(f"raised when tracing, at {loc}")
        failure = PythonFailure(exc, f"AssertionError: {exc}", loc,
                                "the assertion is decided when tracing, so every call would fail it")
        failure.user_raise = True
        raise failure
    cond = lw.b.const(True) if holds is False else lw.b.emit(Op.NOT, (test,))
    lw.b.emit(Op.CHECK, (cond,), {"exc": AssertionError, "args": args}, loc)
    lw.ctx.runtime_raises.append(AssertionError)


def lower_raise(lw, stmt: ast.Raise) -> None:
    if _in_nested_region(lw):
        return lower_runtime_raise(lw, stmt)
    exc = _exception(lw, stmt.exc)
    loc = lw.src.loc(stmt)
    exc.add_note(f"raised when tracing, at {loc}")
    failure = PythonFailure(exc, f"{type(exc).__name__}: {exc}", loc,
                            "the condition that leads here is decided when tracing, so every call would raise it")
    failure.user_raise = True   # uncaught, the user's own exception reaches the caller
    raise failure


def lower_try(lw, stmt: ast.Try) -> None:
    if stmt.finalbody:
        lw.unsupported("try/finally is not supported", stmt, "move the cleanup outside the compiled function")
    handlers = []
    for h in stmt.handlers:
        if h.type is None:
            classes: tuple = (BaseException,)
        else:
            binding = lw.expr(h.type)
            objs = binding if isinstance(binding, tuple) else (binding,)
            if not all(isinstance(o, Static) and isinstance(o.obj, type)
                       and issubclass(o.obj, BaseException) for o in objs):
                lw.unsupported(f"`except {ast.unparse(h.type)}`: not exception classes known when tracing", h)
            classes = tuple(o.obj for o in objs)
        if h.name is not None:
            lw.unsupported("`except ... as name` is not supported", h, "leave out `as name`")
        runtime = [e.__name__ for e in RUNTIME_ERRORS if issubclass(e, classes)]
        if runtime:
            lw.unsupported(f"try/except: `except {ast.unparse(h.type) if h.type else ''}` would catch "
                           f"{', '.join(runtime)}, which compiled code raises while running: "
                           "whether the handler runs is not decided when tracing", stmt,
                           "catch only errors decided when tracing (AttributeError, KeyError, TypeError), "
                           "or check the condition with if/else")
        handlers.append((classes, h))
    depth, length = len(lw.b._blocks), len(lw.b.current)
    env = dict(lw.env)
    raises = len(lw.ctx.runtime_raises)
    try:
        lw.lower_body(stmt.body)
        for cls in lw.ctx.runtime_raises[raises:]:   # a run-time check in the body a handler catches
            if any(issubclass(cls, classes) for classes, _ in handlers):
                lw.unsupported(f"try/except around a `raise {cls.__name__}` under a condition known only when "
                               "running: whether the handler runs is not decided when tracing", stmt,
                               "compute the handler's result with if/else on the same condition")
    except PythonFailure as failure:
        for classes, h in handlers:
            if isinstance(failure.python, classes):
                del lw.b._blocks[depth:]
                del lw.b.current[length:]   # the body's instructions never ran
                lw.env.clear()
                lw.env.update(env)
                lw.lower_body(h.body)
                return
        raise
    if stmt.orelse:
        if lw.exit_condition() is not None:
            lw.unsupported("try/else after a return, break or continue in the try body is not supported",
                           stmt, "move the else code into the try body")
        lw.lower_body(stmt.orelse)
