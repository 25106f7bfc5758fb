"""Random differentiable programs, each with a PyTorch twin, for the gradient properties.

`programs(returns)` is a hypothesis strategy drawing an `AdProgram`: the source of a NumPy
module (0-2 helper functions and the entry function `f`) and the source of its *twin*, the
same program statement for statement with torch ops on float64 tensors. `load` writes both
to files and imports them (coarsen reads functions with `inspect.getsource`); `inputs(seed)`
draws arguments. What the generator covers:

- parameters: float scalars, float64 arrays of shapes (1,), (2,), (3,), (2, 3), maybe an int `n`;
- expressions: + - * / ** (with broadcasting), unary math in safe domains (sqrt(v**2 + 1),
  log1p(v**2), ...), maximum/minimum/abs/sign/clip (kinks), comparisons used as numbers,
  sum/mean/max/min/prod with and without axis (and keepdims), as functions or methods,
  reshape, `@`, np.dot and `.T`, element and slice reads, np.array([...]) and `v[:, None] * w`,
  np.where, conditional expressions, calls of helpers (results and pairs);
- statements: assignments, augmented assignments, unpacking a helper's pair of results,
  np.zeros/np.ones/.copy() arrays written element- and row-wise, if/elif/else on data,
  for-range loops (nested, bound by a constant or by `n`; stepped, reversed and empty ranges:
  `range(a, b, +-k)`, `range(n, -1, -k)`, negative counts), while loops with break, continue
  and data-dependent exits, returns inside branches and loops;
- inputs (`AdProgram.inputs`): uniform, or on a coarse grid where ties and kinks happen; the
  twin's maximum/minimum/max/min follow coarsen's tie semantics (first argument / first
  extremal element), so ties are compared exactly, not skipped.

How the twin stays the same program:
- every scalar variable of the twin holds a tensor (a literal is wrapped: `_t(0.5)`), so torch
  functions always get tensors; `E.const` marks expressions that are plain Python numbers;
- a twin write `y[i] = v` clones first (`_w = v; y = y.clone(); y[i] = _w`): the NumPy code
  has value semantics here, and autograd forbids changing a tensor a backward function saved;
- an array bound to a name is never a view of another name (a bare name, slice or row is
  copied), so NumPy's aliasing and torch's views never matter.
Branch conditions are random comparisons: points near a branch boundary or kink are left to
the property, which skips finite differences that do not settle.
"""
from __future__ import annotations

import hashlib
import importlib.util
import itertools
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from hypothesis import strategies as st

F = ("f",)
SHAPES = ((2,), (3,), (2, 3))
GRID = (-1.0, -0.5, 0.0, 0.5, 1.0)

NP_PRELUDE = "import math\n\nimport numpy as np\n"
# The twin's extrema follow coarsen's documented semantics at ties (torch's own split a tie's
# derivative evenly): a binary maximum/minimum gives it to its first argument (np.maximum,
# max()), a reduction to the first extremal element (torch.argmax/argmin return the first).
TH_PRELUDE = """import torch


def _t(v):
    return v if isinstance(v, torch.Tensor) else torch.tensor(v, dtype=torch.float64)


def _maximum(a, b):
    a, b = _t(a), _t(b)
    return torch.where(a >= b, a, b)


def _minimum(a, b):
    a, b = _t(a), _t(b)
    return torch.where(a <= b, a, b)


def _extremum(arg, x, dim=None, keepdim=False):
    if dim is None:
        flat = x.reshape(-1)
        r = flat[arg(flat)]
        return r.reshape((1,) * x.dim()) if keepdim else r
    r = torch.gather(x, dim, arg(x, dim=dim, keepdim=True))
    return r if keepdim else r.squeeze(dim)


def _amax(x, dim=None, keepdim=False):
    return _extremum(torch.argmax, x, dim, keepdim)


def _amin(x, dim=None, keepdim=False):
    return _extremum(torch.argmin, x, dim, keepdim)
"""


def arr(shape: tuple) -> tuple:
    return ("a", tuple(shape))


@dataclass(frozen=True)
class E:
    """An expression in both languages."""

    np: str
    th: str
    const: bool = False   # a plain Python number in both programs (no variable inside)
    view: bool = False    # may be (a view of) a named array

    @property
    def tensor(self) -> str:
        """The twin's text where a tensor is required."""
        return f"_t({self.th})" if self.const else self.th


@dataclass
class Var:
    kind: tuple
    writable: bool = False   # created here by np.zeros/np.ones/.copy(): element writes allowed


@dataclass
class Helper:
    name: str
    params: tuple[tuple, ...]
    returns: tuple


@dataclass
class Scope:
    vars: dict[str, Var] = field(default_factory=dict)
    ints: list[str] = field(default_factory=list)

    def copy(self) -> "Scope":
        return Scope({k: Var(v.kind, v.writable) for k, v in self.vars.items()}, list(self.ints))

    def named(self, pred) -> list[str]:
        return [n for n, v in self.vars.items() if pred(v)]


@dataclass(frozen=True)
class AdProgram:
    np_source: str
    th_source: str
    params: tuple[tuple, ...]        # kinds of f's parameters; ("i",) is the int `n`
    returns: tuple

    @property
    def float_argnums(self) -> tuple[int, ...]:
        return tuple(k for k, p in enumerate(self.params) if p != ("i",))

    def __str__(self) -> str:   # hypothesis prints this for a failing example
        return f"{self.np_source}\n# ---- torch twin ----\n{self.th_source}"

    def inputs(self, seed: int, grid: bool = False) -> tuple:
        """Arguments: uniform in [-1.5, 1.5], or (`grid`) from a coarse grid of halves, where
        ties (max(x0, x1) with x0 == x1), kinks (abs(0), clip at a bound) and branch
        boundaries (x > 0.5) happen. `n` is in [-2, 4]: negative counts make empty ranges."""
        rng = np.random.default_rng(seed)
        out = []
        for p in self.params:
            if p == ("i",):
                out.append(int(rng.integers(-2, 5)))
            elif grid:
                out.append(rng.choice(GRID, size=None if p == F else p[1]))
                out[-1] = float(out[-1]) if p == F else out[-1].astype(np.float64)
            elif p == F:
                out.append(float(rng.uniform(-1.5, 1.5)))
            else:
                out.append(rng.uniform(-1.5, 1.5, size=p[1]))
        return tuple(out)


# (numpy, torch) templates of elementwise unary functions; `{a}` is the argument
UNARY = [
    ("np.sin({a})", "torch.sin({a})"),
    ("np.cos({a})", "torch.cos({a})"),
    ("np.tanh({a})", "torch.tanh({a})"),
    ("np.exp({a})", "torch.exp({a})"),
    ("np.sqrt(np.square({a}) + 1.0)", "torch.sqrt(torch.square({a}) + 1.0)"),
    ("np.log1p(np.square({a}))", "torch.log1p(torch.square({a}))"),
    ("np.log(np.abs({a}) + 0.5)", "torch.log(torch.abs({a}) + 0.5)"),
    ("np.abs({a})", "torch.abs({a})"),
    ("np.arctan({a})", "torch.arctan({a})"),
    ("(1.0 / (1.0 + np.exp(-{a})))", "(1.0 / (1.0 + torch.exp(-{a})))"),
    ("(({a}) ** 2)", "(({a}) ** 2)"),
    ("(({a}) ** 3)", "(({a}) ** 3)"),
    ("np.sinh({a})", "torch.sinh({a})"),
    ("np.cosh({a})", "torch.cosh({a})"),
    ("np.expm1({a})", "torch.expm1({a})"),
    ("np.log2(np.square({a}) + 0.5)", "torch.log2(torch.square({a}) + 0.5)"),
    ("np.sign({a})", "torch.sign({a})"),
]
# scalar-only spellings through the math module
MATH_UNARY = [("math.sin({a})", "torch.sin({a})"), ("math.exp({a})", "torch.exp({a})"),
              ("math.tanh({a})", "torch.tanh({a})")]
# (numpy, torch, method names): reductions, called as functions or as methods (the twin's
# extrema are functions of the prelude: no method)
REDUCE = [("np.sum", "torch.sum", "sum", "sum"), ("np.mean", "torch.mean", "mean", "mean"),
          ("np.max", "_amax", "max", None), ("np.min", "_amin", "min", None),
          ("np.prod", "torch.prod", "prod", "prod")]


class Gen:
    """Draws expressions and statements; writes both programs line by line."""

    def __init__(self, draw: Callable, helpers: list[Helper]) -> None:
        self.draw = draw
        self.helpers = helpers
        self.np_lines: list[str] = []
        self.th_lines: list[str] = []
        self.counter = itertools.count()

    # ------------------------------------------------------------------ drawing
    def choose(self, options):
        return self.draw(st.sampled_from(list(options)))

    def integer(self, lo: int, hi: int) -> int:
        return self.draw(st.integers(lo, hi))

    def literal(self) -> str:
        return repr(self.draw(st.integers(-20, 20)) / 10)

    def fresh(self, prefix: str) -> str:
        return f"{prefix}{next(self.counter)}"

    def emit(self, indent: int, np_text: str, th_text: str | None = None) -> None:
        self.np_lines.append("    " * indent + np_text)
        self.th_lines.append("    " * indent + (np_text if th_text is None else th_text))

    # ------------------------------------------------------------------ expressions
    def expr(self, kind: tuple, scope: Scope, depth: int) -> E:
        return self.scalar(scope, depth) if kind == F else self.array(kind[1], scope, depth)

    def scalar(self, scope: Scope, depth: int) -> E:
        floats = scope.named(lambda v: v.kind == F)
        arrays = scope.named(lambda v: v.kind[0] == "a")
        options = ["const"] + ["var"] * 4 * bool(floats) + ["int"] * bool(scope.ints)
        options += ["elem"] * 2 * bool(arrays)
        if depth > 0:
            options += ["unary"] * 3 + ["binary"] * 4 + ["reduce", "reduce", "dot", "ifexp", "maximum"]
            options += ["call"] * 2 * bool(self.helpers)
        what = self.choose(options)
        if what == "const":
            text = self.literal()
            return E(text, text, const=True)
        if what == "var":
            name = self.choose(floats)
            return E(name, name)
        if what == "int":
            text = f"({self.literal()} * {self.choose(scope.ints)})"
            return E(text, text, const=True)
        if what == "elem":
            name = self.choose(arrays)
            index = ", ".join(self.index(n, scope) for n in scope.vars[name].kind[1])
            return E(f"{name}[{index}]", f"{name}[{index}]")
        if what == "unary":
            a = self.scalar(scope, depth - 1)
            np_t, th_t = self.choose(UNARY + MATH_UNARY)
            return E(np_t.format(a=a.np), th_t.format(a=a.tensor), const=False)
        if what == "binary":
            return self.binary(F, scope, depth)
        if what == "reduce":
            x = self.array(self.choose(SHAPES), scope, depth - 1)
            return self.reduce(x, None)
        if what == "dot":
            n = self.choose([2, 3])
            a, b = self.array((n,), scope, depth - 1), self.array((n,), scope, depth - 1)
            if self.draw(st.booleans()):
                return E(f"np.dot({a.np}, {b.np})", f"torch.dot({a.th}, {b.th})")
            return E(f"({a.np} @ {b.np})", f"({a.th} @ {b.th})")
        if what == "ifexp":
            return self.ifexp(F, scope, depth)
        if what == "maximum":
            # `a` and `b` may be the same expression: a tie everywhere, the first takes it all
            a, b = self.scalar(scope, depth - 1), self.scalar(scope, depth - 1)
            f = self.choose(["maximum", "minimum"])
            if self.draw(st.booleans()):   # the builtin on two scalars
                return E(f"{f[:3]}({a.np}, {b.np})", f"_{f}({a.tensor}, {b.tensor})")
            return E(f"np.{f}({a.np}, {b.np})", f"_{f}({a.tensor}, {b.tensor})")
        return self.call(scope, depth)

    def reduce(self, x: E, axis: int | None) -> E:
        np_f, th_f, np_m, th_m = self.choose(REDUCE[:4] * 3 + REDUCE[4:])
        np_axis, th_axis = ("", "") if axis is None else (f"axis={axis}", f"dim={axis}")
        if self.draw(st.booleans()):
            if th_m is None:
                return E(f"{x.np}.{np_m}({np_axis})", f"{th_f}({x.th}{', ' + th_axis if th_axis else ''})")
            return E(f"{x.np}.{np_m}({np_axis})", f"{x.th}.{th_m}({th_axis})")
        np_axis, th_axis = (", " + np_axis, ", " + th_axis) if axis is not None else ("", "")
        return E(f"{np_f}({x.np}{np_axis})", f"{th_f}({x.th}{th_axis})")

    def index(self, length: int, scope: Scope) -> str:
        if scope.ints and self.draw(st.booleans()):
            return f"{self.choose(scope.ints)} % {length}"
        return str(self.integer(-length, length - 1))

    def binary(self, kind: tuple, scope: Scope, depth: int) -> E:
        op = self.choose(["+", "-", "*", "/", "**"])
        if kind == F:
            a, b = self.scalar(scope, depth - 1), self.scalar(scope, depth - 1)
        else:
            shape = kind[1]
            sides = [(kind, kind), (kind, F), (F, kind)]
            if len(shape) == 2:
                sides.append((kind, arr(shape[1:])))
            if shape != (1,) and scope.named(lambda v: v.kind == arr((1,))):
                sides.append((kind, arr((1,))))   # broadcasting a length-1 axis
            ka, kb = self.choose(sides)
            if op == "**":
                ka = kind   # the base sets the shape
            a, b = self.expr(ka, scope, depth - 1), self.expr(kb, scope, depth - 1)
        const = a.const and b.const
        if op == "/":   # a denominator >= 1
            return E(f"({a.np} / (1.0 + np.square({b.np})))", f"({a.th} / (1.0 + torch.square({b.tensor})))")
        if op == "**":   # a base >= 1, a variable exponent in (-2, 2): an unbounded one makes
            # ill-conditioned programs (sin of 1e9) whose NumPy and coarsen values differ
            return E(f"(np.sqrt(np.square({a.np}) + 1.0) ** (2.0 * np.tanh({b.np})))",
                     f"(torch.sqrt(torch.square({a.tensor}) + 1.0) ** (2.0 * torch.tanh({b.tensor})))")
        return E(f"({a.np} {op} {b.np})", f"({a.th} {op} {b.th})", const=const)

    def ifexp(self, kind: tuple, scope: Scope, depth: int) -> E:
        a, b = self.expr(kind, scope, depth - 1), self.expr(kind, scope, depth - 1)
        c = self.cond(scope, depth - 1)
        # the twin's arms are tensors: a number on one side would leak out as a Python float
        return E(f"({a.np} if {c.np} else {b.np})", f"({a.tensor} if {c.th} else {b.tensor})",
                 view=a.view or b.view)

    def cond(self, scope: Scope, depth: int) -> E:
        a = self.scalar(scope, max(depth, 1))
        op, t = self.choose(["<", ">", "<=", ">="]), self.literal()
        c = E(f"{a.np} {op} {t}", f"{a.th} {op} {t}")
        if depth > 0 and self.integer(0, 4) == 0:
            other = self.cond(scope, depth - 1)
            join = self.choose(["and", "or"])
            c = E(f"({c.np}) {join} ({other.np})", f"({c.th}) {join} ({other.th})")
        return c

    def call(self, scope: Scope, depth: int) -> E:
        h = self.choose(self.helpers)
        args = [self.expr(k, scope, depth - 1) for k in h.params]
        e = E(f"{h.name}({', '.join(a.np for a in args)})", f"{h.name}({', '.join(a.tensor for a in args)})")
        if h.returns == F:
            return e
        k = h.returns[1].index(F)   # a pair (float, ...): take the float
        return E(f"{e.np}[{k}]", f"{e.th}[{k}]")

    def array(self, shape: tuple, scope: Scope, depth: int) -> E:
        kind = arr(shape)
        same = scope.named(lambda v: v.kind == kind)
        options = ["var"] * 4 * bool(same) + ["build"]
        if depth > 0:
            options += ["unary", "unary", "binary", "binary", "binary", "ifexp", "where", "clip", "maximum", "mask"]
            if len(shape) == 2:
                options += ["normalize", "reshape"]
            if len(shape) == 1 and shape[0] > 1:
                options += ["matmul", "matmul", "reduce", "reduce", "slice", "slice"]
        what = self.choose(options)
        if what == "var":
            name = self.choose(same)
            return E(name, name, view=True)
        if what == "build":
            if len(shape) == 1:
                items = [self.scalar(scope, min(depth, 1)) for _ in range(shape[0])]
                return E(f"np.array([{', '.join(i.np for i in items)}])",
                         f"torch.stack([{', '.join(i.tensor for i in items)}])")
            a, b = self.array(shape[:1], scope, depth - 1), self.array(shape[1:], scope, depth - 1)
            return E(f"({a.np}[:, None] * {b.np})", f"({a.th}[:, None] * {b.th})")
        if what == "unary":
            a = self.array(shape, scope, depth - 1)
            np_t, th_t = self.choose(UNARY)
            return E(np_t.format(a=a.np), th_t.format(a=a.th))
        if what == "binary":
            return self.binary(kind, scope, depth)
        if what == "ifexp":
            return self.ifexp(kind, scope, depth)
        if what == "where":
            c = self.array(shape, scope, depth - 1)
            a, b = self.array(shape, scope, depth - 1), self.array(shape, scope, depth - 1)
            t = self.literal()
            return E(f"np.where({c.np} > {t}, {a.np}, {b.np})", f"torch.where({c.th} > {t}, {a.th}, {b.th})")
        if what == "mask":   # a comparison used as numbers: no derivative through the mask
            a, c = self.array(shape, scope, depth - 1), self.array(shape, scope, depth - 1)
            t = self.literal()
            return E(f"({a.np} * ({c.np} > {t}))", f"({a.th} * ({c.th} > {t}))")
        if what == "normalize":   # a keepdims reduction broadcast back
            a, m = self.array(shape, scope, depth - 1), self.array(shape, scope, depth - 1)
            axis = self.choose([0, 1, -1])
            np_f, th_f = self.choose([("np.max", "_amax"), ("np.sum", "torch.sum"), ("np.mean", "torch.mean")])
            return E(f"({a.np} - {np_f}({m.np}, axis={axis}, keepdims=True))",
                     f"({a.th} - {th_f}({m.th}, dim={axis}, keepdim=True))")
        if what == "reshape":   # (2, 3) -> (3, 2) -> transposed back to (2, 3)
            a = self.array(shape, scope, depth - 1)
            if self.draw(st.booleans()):
                return E(f"np.reshape({a.np}, (3, 2)).T", f"torch.reshape({a.th}, (3, 2)).T", view=a.view)
            return E(f"{a.np}.reshape((3, 2)).T", f"{a.th}.reshape((3, 2)).T", view=a.view)
        if what == "clip":
            a = self.array(shape, scope, depth - 1)
            lo, hi = sorted(self.draw(st.integers(-15, 15)) / 10 for _ in range(2))
            return E(f"np.clip({a.np}, {lo!r}, {hi + 0.1!r})", f"torch.clamp({a.th}, {lo!r}, {hi + 0.1!r})")
        if what == "maximum":
            a = self.array(shape, scope, depth - 1)
            b = self.expr(self.choose([kind, F]), scope, depth - 1)
            f = self.choose(["maximum", "minimum"])
            return E(f"np.{f}({a.np}, {b.np})", f"_{f}({a.th}, {b.tensor})")
        n = shape[0]
        other = 5 - n   # the other vector length: matrices are (2, 3)
        if what == "matmul":
            m = self.array((2, 3), scope, depth - 1)
            v = self.array((other,), scope, depth - 1)
            if n == 2:
                np_t, th_t = self.choose([("({m} @ {v})", "({m} @ {v})"), ("({v} @ {m}.T)", "({v} @ {m}.T)")])
            else:
                np_t, th_t = self.choose([("({m}.T @ {v})", "({m}.T @ {v})"), ("({v} @ {m})", "({v} @ {m})")])
            return E(np_t.format(m=m.np, v=v.np), th_t.format(m=m.th, v=v.th))
        if what == "reduce":
            m = self.array((2, 3), scope, depth - 1)
            axis = 0 if n == 3 else 1
            if self.draw(st.booleans()):   # the same reduction through the transpose
                return self.reduce(E(f"{m.np}.T", f"{m.th}.T"), 1 - axis)
            return self.reduce(m, axis)
        # slice: a row of a matrix, a column, or part of a longer vector
        mats = scope.named(lambda v: v.kind == arr((2, 3)))
        longer = scope.named(lambda v: v.kind == arr((3,)))
        if n == 3 and mats:
            text = f"{self.choose(mats)}[{self.index(2, scope)}]"
        elif n == 2 and mats and self.draw(st.booleans()):
            text = f"{self.choose(mats)}[:, {self.index(3, scope)}]"
        elif n == 2 and longer:
            text = f"{self.choose(longer)}[{self.choose(['0:2', '1:', ':2', '-2:'])}]"
        else:
            return self.array(shape, scope, depth - 1)
        return E(text, text, view=True)

    # ------------------------------------------------------------------ statements
    def block(self, scope: Scope, indent: int, depth: int, in_loop: bool, returns: tuple, count: int) -> None:
        for _ in range(count):
            self.statement(scope, indent, depth, in_loop, returns)

    def statement(self, scope: Scope, indent: int, depth: int, in_loop: bool, returns: tuple) -> None:
        options = ["assign"] * 3 + ["reassign"] * 2 + ["augassign", "array", "array", "write", "write", "write"]
        if any(h.returns != F for h in self.helpers):
            options += ["unpack"]
        if depth < 2:
            options += ["if", "if", "for", "for", "for", "while", "while"]
        if in_loop:
            options += ["exit", "exit"]
        options += ["return"]
        getattr(self, f"stmt_{self.choose(options)}")(scope, indent, depth, in_loop, returns)

    def bind(self, name: str, kind: tuple, e: E) -> tuple[str, str]:
        """Texts that bind `e` to `name` without aliasing another name."""
        if kind == F:
            return f"{name} = {e.np}", f"{name} = {e.tensor}"
        if e.view:
            return f"{name} = ({e.np}).copy()", f"{name} = ({e.th}).clone()"
        return f"{name} = {e.np}", f"{name} = {e.th}"

    def stmt_assign(self, scope, indent, depth, in_loop, returns) -> None:
        kind = self.choose([F, F] + [arr(s) for s in SHAPES])
        name = self.fresh("v")
        e = self.expr(kind, scope, 3)
        self.emit(indent, *self.bind(name, kind, e))
        scope.vars[name] = Var(kind, writable=kind != F and e.view)

    def stmt_reassign(self, scope, indent, depth, in_loop, returns) -> None:
        names = scope.named(lambda v: not v.writable)
        if not names:
            return self.stmt_assign(scope, indent, depth, in_loop, returns)
        name = self.choose(names)
        kind = scope.vars[name].kind
        self.emit(indent, *self.bind(name, kind, self.expr(kind, scope, 3)))

    def stmt_augassign(self, scope, indent, depth, in_loop, returns) -> None:
        names = scope.named(lambda v: v.kind == F or v.writable)
        if not names:
            return self.stmt_assign(scope, indent, depth, in_loop, returns)
        name = self.choose(names)
        kind = scope.vars[name].kind
        op = self.choose(["+", "-", "*"])
        rhs_kind = kind if kind == F else self.choose([kind, F])
        e = self.expr(rhs_kind, scope, 2)
        if op == "*":   # keep products bounded over loop iterations
            e = E(f"np.tanh({e.np})", f"torch.tanh({e.tensor})")
        # the twin rebinds instead of updating in place (autograd may have saved the old tensor)
        self.emit(indent, f"{name} {op}= {e.np}", f"{name} = {name} {op} {e.th}")

    def stmt_array(self, scope, indent, depth, in_loop, returns) -> None:
        shape = self.choose(SHAPES)
        name = self.fresh("y")
        sources = scope.named(lambda v: v.kind == arr(shape))
        how = self.choose(["zeros", "ones"] + ["copy"] * bool(sources))
        dims = repr(shape) if len(shape) > 1 else str(shape[0])
        if how == "copy":
            src = self.choose(sources)
            self.emit(indent, f"{name} = {src}.copy()", f"{name} = {src}.clone()")
        else:
            self.emit(indent, f"{name} = np.{how}({dims})", f"{name} = torch.{how}({dims}, dtype=torch.float64)")
        scope.vars[name] = Var(arr(shape), writable=True)

    def stmt_write(self, scope, indent, depth, in_loop, returns) -> None:
        names = scope.named(lambda v: v.writable)
        if not names:
            return self.stmt_array(scope, indent, depth, in_loop, returns)
        name = self.choose(names)
        shape = scope.vars[name].kind[1]
        if len(shape) == 2 and self.draw(st.booleans()):
            where, value_kind = self.index(shape[0], scope), self.choose([arr(shape[1:]), F])
        elif len(shape) == 1 and shape[0] == 3 and self.integer(0, 3) == 0:
            where, value_kind = self.choose(["0:2", "1:"]), self.choose([arr((2,)), F])
        else:
            where, value_kind = ", ".join(self.index(n, scope) for n in shape), F
        e = self.expr(value_kind, scope, 2)
        op = self.choose(["=", "=", "+="])
        # the twin computes the value before cloning: a value that is (or autograd saved) a
        # view of the old tensor must not see the write
        self.emit(indent, f"{name}[{where}] {op} {e.np}",
                  f"_w = {e.th}; {name} = {name}.clone(); {name}[{where}] {op} _w")

    def stmt_unpack(self, scope, indent, depth, in_loop, returns) -> None:
        h = self.choose([h for h in self.helpers if h.returns != F])
        args = [self.expr(k, scope, 2) for k in h.params]
        names = [self.fresh("t") for _ in h.returns[1]]
        self.emit(indent, f"{', '.join(names)} = {h.name}({', '.join(a.np for a in args)})",
                  f"{', '.join(names)} = {h.name}({', '.join(a.tensor for a in args)})")
        for name, kind in zip(names, h.returns[1]):
            scope.vars[name] = Var(kind)

    def stmt_if(self, scope, indent, depth, in_loop, returns) -> None:
        c = self.cond(scope, 2)
        self.emit(indent, f"if {c.np}:", f"if {c.th}:")
        self.block(scope.copy(), indent + 1, depth + 1, in_loop, returns, self.integer(1, 3))
        if self.integer(0, 2) == 0:
            c = self.cond(scope, 2)
            self.emit(indent, f"elif {c.np}:", f"elif {c.th}:")
            self.block(scope.copy(), indent + 1, depth + 1, in_loop, returns, self.integer(1, 2))
        if self.draw(st.booleans()):
            self.emit(indent, "else:")
            self.block(scope.copy(), indent + 1, depth + 1, in_loop, returns, self.integer(1, 3))


    def stmt_for(self, scope, indent, depth, in_loop, returns) -> None:
        i = self.fresh("i")
        lo, hi = self.integer(-2, 4), self.integer(-2, 4)
        step = self.choose([-3, -2, -1, 2, 3])
        # stepped, reversed and empty ranges (a closed form's trip count must clamp at 0)
        bounds = [str(self.integer(1, 4)), f"1, {self.integer(2, 4)}", f"{lo}, {hi}, {step}",
                  f"{hi}, {lo}, {step}", str(self.integer(-2, 0))]
        if "n" in scope.ints:   # n may be negative: range(n) is then empty
            bounds += ["n", "n", f"n, -1, {-abs(step)}", f"{lo}, n, {abs(step)}", "n - 2"]
        self.emit(indent, f"for {i} in range({self.choose(bounds)}):")
        inner = scope.copy()
        inner.ints.append(i)
        self.block(inner, indent + 1, depth + 1, True, returns, self.integer(1, 3))

    def stmt_while(self, scope, indent, depth, in_loop, returns) -> None:
        j = self.fresh("j")
        self.emit(indent, f"{j} = 0")
        test = f"{j} < {self.choose([str(self.integer(1, 4))] + ['n'] * ('n' in scope.ints))}"
        if self.integer(0, 2) == 0:   # a data-dependent exit as well
            c = self.cond(scope, 1)
            self.emit(indent, f"while {test} and ({c.np}):", f"while {test} and ({c.th}):")
        else:
            self.emit(indent, f"while {test}:")
        self.emit(indent + 1, f"{j} += 1")   # first, so that `continue` cannot loop forever
        inner = scope.copy()
        inner.ints.append(j)
        self.block(inner, indent + 1, depth + 1, True, returns, self.integer(1, 3))
        scope.ints.append(j)

    def stmt_exit(self, scope, indent, depth, in_loop, returns) -> None:
        c = self.cond(scope, 1)
        self.emit(indent, f"if {c.np}:", f"if {c.th}:")
        self.emit(indent + 1, self.choose(["break", "continue"]))

    def stmt_return(self, scope, indent, depth, in_loop, returns) -> None:
        c = self.cond(scope, 1)
        self.emit(indent, f"if {c.np}:", f"if {c.th}:")
        self.emit_return(indent + 1, scope, returns)

    def emit_return(self, indent: int, scope: Scope, returns: tuple) -> None:
        if returns[0] == "t":   # a helper returning a pair
            items = [self.expr(k, scope, 2) for k in returns[1]]
            self.emit(indent, f"return {', '.join(e.np for e in items)}",
                      f"return {', '.join(e.tensor for e in items)}")
            return
        e = self.expr(returns, scope, 3)
        if returns == F:
            self.emit(indent, f"return {e.np}", f"return {e.tensor}")
        else:
            self.emit(indent, f"return {e.np}", f"return {e.th}")


@st.composite
def programs(draw, returns: str = "scalar") -> AdProgram:
    """A random program whose entry `f` returns a float ("scalar") or an array ("array")."""
    helpers: list[Helper] = []
    np_parts, th_parts = [NP_PRELUDE], [TH_PRELUDE]
    for k in range(draw(st.integers(0, 2))):
        gen = Gen(draw, helpers)
        kinds = tuple(draw(st.sampled_from([F, F, arr((3,)), arr((2, 3))])) for _ in range(draw(st.integers(1, 2))))
        names = [f"u{j}" for j in range(len(kinds))]
        scope = Scope({n: Var(kd) for n, kd in zip(names, kinds)})
        gives = draw(st.sampled_from([F, F, ("t", (F, F)), ("t", (F, arr((3,))))]))
        gen.emit(0, f"def h{k}({', '.join(names)}):")
        gen.block(scope, 1, 1, False, gives, draw(st.integers(0, 2)))
        gen.emit_return(1, scope, gives)
        np_parts.append("\n\n" + "\n".join(gen.np_lines) + "\n")
        th_parts.append("\n\n" + "\n".join(gen.th_lines) + "\n")
        helpers.append(Helper(f"h{k}", kinds, gives))
    gen = Gen(draw, helpers)
    kinds = [draw(st.sampled_from([F, arr((2,)), arr((3,)), arr((2, 3)), F, arr((1,))]))
             for _ in range(draw(st.integers(1, 3)))]
    names = [f"x{j}" for j in range(len(kinds))]
    scope = Scope({n: Var(kd) for n, kd in zip(names, kinds)})
    if draw(st.integers(0, 2)) == 0:
        kinds.append(("i",))
        names.append("n")
        scope.ints.append("n")
    ret = F if returns == "scalar" else arr(draw(st.sampled_from(SHAPES)))
    gen.emit(0, f"def f({', '.join(names)}):")
    gen.block(scope, 1, 0, False, ret, draw(st.integers(1, 6)))
    gen.emit_return(1, scope, ret)
    np_parts.append("\n\n" + "\n".join(gen.np_lines) + "\n")
    th_parts.append("\n\n" + "\n".join(gen.th_lines) + "\n")
    return AdProgram("".join(np_parts), "".join(th_parts), tuple(kinds), ret)


def load(program: AdProgram, directory: Path):
    """Write both programs to files and import them: (numpy module, torch module)."""
    # named by content: a replayed draw gets the same file, so its failure reads the same
    digest = hashlib.sha1(program.np_source.encode()).hexdigest()[:12]
    modules = []
    for suffix, text in (("np", program.np_source), ("th", program.th_source)):
        name = f"ad_prog_{digest}_{suffix}"
        path = directory / f"{name}.py"
        path.write_text(text)
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        modules.append(module)
    return tuple(modules)
