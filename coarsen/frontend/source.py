"""Reading a user's function: its source, AST, file positions, globals and closure."""
from __future__ import annotations

import ast
import functools
import inspect
import linecache
import re
import textwrap
import types
from dataclasses import dataclass, field
from typing import Any

from coarsen.errors import Loc, UnsupportedError


@dataclass
class SourceInfo:
    fn: Any
    node: ast.FunctionDef
    text: str
    filename: str
    line_offset: int
    col_offset: int
    namespace: dict[str, Any] = field(default_factory=dict)   # closure cells over globals

    def loc(self, node: ast.AST | None) -> Loc:
        if node is None or not hasattr(node, "lineno"):
            return Loc(self.filename, self.node.lineno + self.line_offset, self.col_offset)
        return Loc(self.filename, node.lineno + self.line_offset, node.col_offset + self.col_offset)


_DEF = re.compile(r'^(\s*def\s)|(\s*async\s+def\s)|(.*(?<!\w)lambda(:|\s))|^(\s*@)')


def getsourcelines(code: types.CodeType) -> tuple[list[str], int]:
    """`inspect.getsourcelines(code)`, without `inspect.getmodule`'s scan of sys.modules: that
    scan runs again whenever a module was added, and every compiled program adds one, so it
    took a quarter of a small program's compile time. Falls back to inspect where linecache
    alone cannot read the file (a module loaded from a zip)."""
    filename = code.co_filename
    linecache.checkcache(filename)
    lines = linecache.getlines(filename)
    lnum = code.co_firstlineno - 1
    if not lines or not 0 <= lnum < len(lines):
        return inspect.getsourcelines(code)
    while lnum > 0 and not _DEF.match(lines[lnum]):   # as inspect.findsource does
        lnum -= 1
    return inspect.getblock(lines[lnum:]), lnum + 1


def _defining_function(fn: Any) -> Any:
    """The Python function whose `def` locates an error about `fn`: `fn` itself, a callable
    object's `__call__` method, or the user's function under coarsen's own transformed
    callables (`vmap(f)`: f); None when there is none."""
    for _ in range(32):
        if getattr(fn, "__code__", None) is not None:
            return fn
        if type(fn).__module__.split(".")[0] == "coarsen":
            fn = getattr(fn, "fn", None) or getattr(fn, "origin", None) or getattr(fn, "inner", None)
        else:
            call = getattr(type(fn), "__call__", None)
            fn = call if isinstance(call, types.FunctionType) else None
        if fn is None:
            return None
    return None


def definition_loc(fn: Any) -> Loc:
    """The line that defines `fn` (at its `def` or `lambda`; a callable object's `__call__`;
    unknown for a callable without code)."""
    code = getattr(_defining_function(fn), "__code__", None)
    if code is None:
        return Loc("<unknown>", 0, 0)
    line = linecache.getline(code.co_filename, code.co_firstlineno)
    col = line.find("lambda") if code.co_name == "<lambda>" else len(line) - len(line.lstrip())
    return Loc(code.co_filename, code.co_firstlineno, max(col, 0))


def read_source(fn: Any) -> SourceInfo:
    """The parsed source of a plain Python function, or UnsupportedError saying why not."""
    if not isinstance(fn, types.FunctionType):
        if isinstance(fn, functools.partial):   # (its repr prints every bound array)
            name = getattr(fn.func, "__qualname__", "a function")
            raise UnsupportedError(
                f"functools.partial({name}, ...) is not supported by this transform",
                definition_loc(fn.func), "coarsen.grad, value_and_grad and jit take a partial; here "
                f"write the function: lambda x: {name}(x, ...)")
        if isinstance(fn, types.MethodType):
            name = getattr(fn.__func__, "__qualname__", "a method")
            raise UnsupportedError(
                f"the bound method {name} is not a plain Python function", definition_loc(fn.__func__),
                "pass the object as an argument: def loss(model, x): ..., or close over it: "
                "lambda x: model.method(x)")
        if type(fn).__module__.split(".")[0] == "coarsen":   # jit(vmap(f)), grad(vmap(f))
            raise UnsupportedError(
                f"a {type(fn).__name__} object made by coarsen (coarsen.vmap(f), ...) is compiled already: it "
                "cannot be transformed again", definition_loc(fn),
                "call it as it is, or transform the function first and map that: coarsen.vmap(coarsen.grad(f))")
        if isinstance(getattr(type(fn), "__call__", None), types.FunctionType):   # a callable object
            raise UnsupportedError(
                f"a {type(fn).__name__} object (an instance whose class defines __call__) is not a plain "
                "Python function", definition_loc(fn),
                "close over it: lambda x: obj(x), or pass the object as an argument: def loss(obj, x): return obj(x)")
        raise UnsupportedError(
            f"{type(fn).__name__} object {getattr(fn, '__qualname__', '')} is not a plain Python function",
            definition_loc(fn), "coarsen compiles functions defined with `def` in a file")
    loc = definition_loc(fn)
    if fn.__name__ == "<lambda>":
        return _read_lambda(fn, loc)
    try:
        # of its code: for a decorator's wrapper (functools.wraps sets __wrapped__), inspect
        # would give the wrapped function's source, and the wrapper's work would be lost
        lines, first = getsourcelines(fn.__code__)
        filename = inspect.getsourcefile(fn.__code__) or fn.__code__.co_filename
    except (OSError, TypeError) as err:
        raise UnsupportedError(f"cannot read the source of {fn.__name__}: {err}", loc,
                               "define the function in a file (not in a REPL or exec)") from None
    raw = "".join(lines)
    text = textwrap.dedent(raw)
    col_offset = len(lines[0]) - len(lines[0].lstrip()) if text != raw else 0
    tree = ast.parse(text)
    node = tree.body[0]
    if not isinstance(node, ast.FunctionDef):
        raise UnsupportedError(f"{fn.__name__} is not defined by a def statement", loc)
    from coarsen.deps import source_matches
    if not source_matches(fn, text):   # never compile a text other than the code Python runs
        raise UnsupportedError(
            f"the source of {fn.__name__} in {filename} is not the code it runs: the file (or cell) "
            "changed after the function was defined", loc,
            "reload the module (importlib.reload) or run the definition again, then transform it")
    namespace = dict(fn.__globals__)
    if fn.__closure__:
        for name, cell in zip(fn.__code__.co_freevars, fn.__closure__):
            try:
                namespace[name] = cell.cell_contents
            except ValueError:   # empty cell: a name bound later in the enclosing function
                pass
    info = SourceInfo(fn, node, text, filename, first - 1, col_offset, namespace)
    yielded = _first_yield(node)
    if yielded is not None:
        raise UnsupportedError("generators (functions with yield) are not supported", info.loc(yielded),
                               "return an array built in a loop")
    return info


def _lambda_matches(code: types.CodeType, node: ast.Lambda) -> bool:
    """Whether the lambda `node` compiles to `code` (in a function binding its free names, as
    `deps.source_matches` does for a `def`)."""
    from coarsen.deps import code_digest
    body = "".join(f"    {v} = None\n" for v in code.co_freevars)
    text = f"def __coarsen_outer__():\n{body}    return ({ast.unparse(node)})\n"
    try:
        module = compile(text, "<coarsen lambda check>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return False
    want = code_digest(code)
    # the code of `node` itself: the <lambda> directly inside __coarsen_outer__ (not a lambda
    # nested in it, which would make `lambda: g(lambda x: x)` match the inner lambda's code)
    outer = [c for c in module.co_consts if isinstance(c, types.CodeType) and c.co_name == "__coarsen_outer__"]
    own = [c for o in outer for c in o.co_consts if isinstance(c, types.CodeType) and c.co_name == "<lambda>"]
    return any(code_digest(c) == want for c in own)


def _first_yield(fn_node: ast.FunctionDef) -> ast.AST | None:
    """The first yield of the function's own body (nested functions are their own business)."""
    todo = list(reversed(fn_node.body))
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Yield, ast.YieldFrom)):
            return node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        todo.extend(reversed(list(ast.iter_child_nodes(node))))
    return None


def _read_lambda(fn: Any, loc: Loc) -> SourceInfo:
    """A lambda's source: the one lambda of its parameters on its line, as `def <lambda>`."""
    try:
        # of its code: for a decorator's wrapper (functools.wraps sets __wrapped__), inspect
        # would give the wrapped function's source, and the wrapper's work would be lost
        lines, first = getsourcelines(fn.__code__)
        filename = inspect.getsourcefile(fn.__code__) or fn.__code__.co_filename
    except (OSError, TypeError) as err:
        raise UnsupportedError(f"cannot read the source of a lambda: {err}", loc,
                               "define the function in a file (not in a REPL or exec)") from None
    raw = "".join(lines)
    text = textwrap.dedent(raw)
    col_offset = len(lines[0]) - len(lines[0].lstrip()) if text != raw else 0
    try:
        tree = ast.parse(text)
    except SyntaxError:   # the lambda's lines are part of a larger statement: parse them as an expression
        try:
            tree = ast.parse("(\n" + text + "\n)")
            first -= 1
        except SyntaxError:   # a dict entry, a call's continuation line: the whole file
            text, first, col_offset = "".join(linecache.getlines(filename)), 1, 0
            try:
                tree = ast.parse(text)
            except SyntaxError:
                raise UnsupportedError("cannot parse the lambda's source lines", loc,
                                       "define the function with `def`") from None
    on_line = [n for n in ast.walk(tree) if isinstance(n, ast.Lambda) and n.lineno == fn.__code__.co_firstlineno - first + 1]
    # the lambda whose text compiles to the code Python runs (never one beside it with the same
    # parameters, nor a line edited since the import): equal digests compute the same thing
    found = [n for n in on_line if _lambda_matches(fn.__code__, n)]
    if not found:
        raise UnsupportedError("the lambda's source line has no lambda that compiles to the code it runs"
                               if on_line else "cannot find the lambda in its source line", loc,
                               "define the function with `def` (or reload the module if its file changed)")
    node = found[0]
    fn_node = ast.FunctionDef(name="<lambda>", args=node.args, body=[ast.Return(node.body)], decorator_list=[],
                              returns=None, type_comment=None)
    ast.copy_location(fn_node, node)
    ast.copy_location(fn_node.body[0], node.body)
    namespace = dict(fn.__globals__)
    if fn.__closure__:
        for name, cell in zip(fn.__code__.co_freevars, fn.__closure__):
            try:
                namespace[name] = cell.cell_contents
            except ValueError:
                pass
    return SourceInfo(fn, fn_node, text, filename, first - 1, col_offset, namespace)
