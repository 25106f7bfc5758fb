"""A hypothesis strategy that writes random programs in coarsen's language, as Python source.

`programs()` draws a `Program`: the text of a module (imports, module-level constants, 0-2
helper functions and the entry function `f`) plus the kinds of `f`'s parameters. `inputs_for`
draws arguments for it; `load` writes the module to a file and imports it, so that
`inspect.getsource` (which coarsen reads) works.

Programs are correct Python by construction, as far as a generator can know statically:
- every array shape is known while generating, so element and slice reads are in bounds;
- loops are bounded (range over small integers; while loops count an explicit counter first);
- math functions get arguments inside their domains (np.log(np.abs(v) + 1.0), ...);
- an array is written (element writes, augmented assignment) only when it is fresh and
  unaliased: created in the function, not an input, a module constant or a view of one. A
  *risky* program (a third of them) instead keeps some aliases of writable arrays and writes
  through them (`Program.may_alias`): coarsen may refuse it, but must not run it wrongly.
What is still left to chance (an overflow, a NaN) makes CPython raise or warn; the property
discards such draws.

Kinds: ("f",) float, ("i",) int, ("b",) bool, ("a", shape) float64 array, ("t", kinds) tuple.
"""
from __future__ import annotations

import importlib.util
import itertools
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from program_gen_exprs import ExprGen
from program_gen_kinds import E, Helper, Var, is_array

F, I, B = ("f",), ("i",), ("b",)
_COUNTER = itertools.count()


@dataclass(frozen=True)
class Program:
    source: str
    params: tuple[tuple, ...]    # kinds of f's parameters
    entry: str = "f"
    may_alias: bool = False      # writes may go through aliases: coarsen may refuse the program

    def __str__(self) -> str:   # hypothesis prints this for a failing example
        return self.source


@dataclass
class _Block:
    """Where a statement list is generated: what may exit it and the result kind to return."""

    returns: tuple
    in_loop: bool = False
    depth: int = 0


class ProgramGen(ExprGen):
    """Statements and whole functions (expressions come from `ExprGen`)."""

    def __init__(self, draw: Callable, helpers: list[Helper], consts: dict[str, tuple],
                 risky: bool = False) -> None:
        super().__init__(draw, helpers, consts)
        self.lines: list[str] = []
        self.risky = risky        # sometimes bind an alias where a write may follow
        self.aliased = False      # ... and did

    # ------------------------------------------------------------------ output
    def emit(self, indent: int, text: str) -> None:
        self.lines.append("    " * indent + text)

    def assign_to(self, name: str, kind: tuple, expr: E, scope: dict[str, Var], new: bool) -> str:
        """The text of `expr` to bind to `name`, copied if it would alias a writable array."""
        text = expr.text
        writable = is_array(kind) and not expr.aliases
        if is_array(kind) and expr.aliases:
            if any(scope[a].writable for a in expr.aliases if a in scope) or (
                    not new and scope[name].writable):
                if self.risky:   # keep the alias; writes through it may follow
                    self.aliased, writable = True, True
                else:
                    text, writable = f"({text}).copy()", True
        if kind[0] == "t":
            writable = False
        scope[name] = Var(kind, writable=writable)
        return text

    # ------------------------------------------------------------------ statements
    def block(self, scope: dict[str, Var], ctx: _Block, indent: int, n_max: int) -> bool:
        """Statements into `scope` (updated in place); True if the block surely exits."""
        count = self.integers(1, n_max)
        for _ in range(count):
            if self.statement(scope, ctx, indent):
                return True
        return False

    def statement(self, scope: dict[str, Var], ctx: _Block, indent: int) -> bool:
        options = ["assign", "assign", "reassign", "augassign", "write", "tuple"]
        if ctx.depth < 2:
            options += ["if", "for", "while"]
        if ctx.in_loop:
            options += ["exit_loop"]
        if self.risky:
            options += ["alias"] * 4 + ["write"] * 3
        options += ["return"]
        what = self.choose(options)
        return getattr(self, f"stmt_{what}")(scope, ctx, indent)

    def new_kind(self, scope: dict[str, Var]) -> tuple:
        kinds = [F, I, B, ("a", self.shape())] + [v.kind for v in scope.values() if is_array(v.kind)]
        return self.choose(kinds)

    def stmt_assign(self, scope, ctx, indent) -> bool:
        kind = self.new_kind(scope)
        name = self.fresh("v")
        if is_array(kind) and self.boolean():   # a fresh array filled by element writes
            maker = self.choose(["np.zeros", "np.ones", "np.empty"])
            self.emit(indent, f"{name} = {maker}({self.shape_text(kind[1], scope)})")
            if maker == "np.empty":   # filled before anything reads it
                full = ", ".join(":" for _ in kind[1])
                self.emit(indent, f"{name}[{full}] = {self.expr(kind, scope, 2).text}")
            scope[name] = Var(kind, writable=True)
            return False
        expr = self.expr(kind, scope, 3)
        self.emit(indent, f"{name} = {self.assign_to(name, kind, expr, scope, True)}")
        return False

    def reassignable(self, scope, in_loop: bool) -> list[str]:
        return [n for n, v in scope.items() if not v.frozen and v.kind[0] != "t"]

    def stmt_reassign(self, scope, ctx, indent) -> bool:
        names = self.reassignable(scope, ctx.in_loop)
        if not names:
            return self.stmt_assign(scope, ctx, indent)
        name = self.choose(names)
        kind = scope[name].kind
        if kind == I and not ctx.in_loop and self.boolean():
            kind = F   # int -> float: the variable's type widens at the next join
        expr = self.expr(kind, scope, 3)
        self.emit(indent, f"{name} = {self.assign_to(name, kind, expr, scope, False)}")
        return False

    def stmt_augassign(self, scope, ctx, indent) -> bool:
        names = [n for n, v in scope.items() if not v.frozen and
                 (v.kind in (F, I) or (is_array(v.kind) and v.writable))]
        if not names:
            return self.stmt_assign(scope, ctx, indent)
        name = self.choose(names)
        kind = scope[name].kind
        op = self.choose(["+=", "-=", "*="])
        if kind == I:
            rhs = self.expr(I, scope, 1).text if op != "*=" else self.choose(["2", "-1", "1"])
        elif kind == F:
            rhs = self.expr(self.choose([F, I]), scope, 2).text
        else:
            rhs_kind = self.choose([F, kind] + ([("a", kind[1][1:])] if len(kind[1]) == 2 else []))
            rhs = self.expr(rhs_kind, scope, 2).text
        self.emit(indent, f"{name} {op} {rhs}")
        return False

    def stmt_write(self, scope, ctx, indent) -> bool:
        names = [n for n, v in scope.items() if is_array(v.kind) and v.writable and not v.frozen]
        if not names:
            return self.stmt_assign(scope, ctx, indent)
        name = self.choose(names)
        index, sub_shape = self.write_index(scope[name].kind[1], scope)
        kind = ("a", sub_shape) if sub_shape else F
        value = self.expr(self.choose([kind, F]) if sub_shape else F, scope, 2)
        op = self.choose(["=", "=", "+="])
        self.emit(indent, f"{name}[{index}] {op} {value.text}")
        return False

    def stmt_alias(self, scope, ctx, indent) -> bool:
        """(Risky programs only.) Bind a writable array, or a view of it, to a second name."""
        names = [n for n, v in scope.items() if is_array(v.kind) and v.writable]
        if not names:
            return self.stmt_assign(scope, ctx, indent)
        base = self.choose(names)
        shape = scope[base].kind[1]
        shapes = [shape] + ([shape[::-1]] if len(shape) == 2 else [(k,) for k in range(1, shape[0])])
        target = self.choose(shapes)
        options = [E(base, frozenset({base}))] if target == shape else []
        options += [e for e in (make() for make in self.views(target, {base: scope[base]})) if base in e.aliases]
        if not options:
            return self.stmt_assign(scope, ctx, indent)
        expr = self.choose(options)
        kind = ("a", target)
        targets = [n for n, v in scope.items() if v.kind == kind and not v.frozen and n != base]
        name = self.choose(targets + [self.fresh("v")])
        self.emit(indent, f"{name} = {self.assign_to(name, kind, expr, scope, name not in scope)}")
        return False

    def stmt_tuple(self, scope, ctx, indent) -> bool:
        choice = self.choose(["pack", "unpack", "swap"])
        if choice == "swap":
            pairs = [(a, b) for a, b in itertools.combinations(sorted(scope), 2)
                     if scope[a].kind == scope[b].kind and not scope[a].frozen and not scope[b].frozen
                     and not is_array(scope[a].kind)]
            if pairs:
                a, b = self.choose(pairs)
                self.emit(indent, f"{a}, {b} = {b}, {a}")
                return False
        kinds = tuple(self.choose([F, I, B, ("a", self.shape())]) for _ in range(self.integers(2, 3)))
        kind = ("t", kinds)
        expr = self.expr(kind, scope, 2)
        if choice == "pack":
            name = self.fresh("t")
            self.emit(indent, f"{name} = {expr.text}")
            scope[name] = Var(kind)
            return False
        names = [self.fresh("u") for _ in kinds]
        self.emit(indent, f"{', '.join(names)} = {expr.text}")
        for n, k in zip(names, kinds):
            scope[n] = Var(k, writable=False)
        return False

    def stmt_return(self, scope, ctx, indent) -> bool:
        guarded = ctx.depth > 0 or ctx.in_loop or self.boolean()
        if guarded:
            self.emit(indent, f"if {self.expr(B, scope, 2).text}:")
            self.emit(indent + 1, f"return {self.result_text(ctx.returns, scope)}")
            return False
        self.emit(indent, f"return {self.result_text(ctx.returns, scope)}")
        return True

    def result_text(self, kind: tuple, scope) -> str:
        if kind[0] == "t":
            return ", ".join(self.expr(k, scope, 2).text for k in kind[1])
        return self.expr(kind, scope, 3).text

    def stmt_exit_loop(self, scope, ctx, indent) -> bool:
        word = self.choose(["break", "continue"])
        if self.boolean():
            self.emit(indent, f"if {self.expr(B, scope, 2).text}:")
            self.emit(indent + 1, word)
            return False
        self.emit(indent, word)
        return True

    def stmt_if(self, scope, ctx, indent) -> bool:
        inner = _Block(ctx.returns, ctx.in_loop, ctx.depth + 1)
        branches: list[dict[str, Var]] = []
        exits: list[bool] = []
        n_elif = self.choose([0, 0, 1, 2])
        has_else = self.boolean()
        for k in range(1 + n_elif):
            self.emit(indent, f"{'if' if k == 0 else 'elif'} {self.condition(scope, 2)}:")
            branch = dict(scope)
            exits.append(self.block(branch, inner, indent + 1, 3))
            branches.append(branch)
        if has_else:
            self.emit(indent, "else:")
            branch = dict(scope)
            exits.append(self.block(branch, inner, indent + 1, 3))
            branches.append(branch)
        else:
            branches.append(dict(scope))
            exits.append(False)
        self.join(scope, [b for b, e in zip(branches, exits) if not e] or branches)
        return all(exits)

    def join(self, scope: dict[str, Var], branches: list[dict[str, Var]]) -> None:
        """After a branch: names bound before keep their binding, with the widest kind."""
        for name, var in list(scope.items()):
            kinds = {b[name].kind for b in branches}
            kind = F if kinds == {I, F} else var.kind
            writable = all(b[name].writable for b in branches)
            small = all(b[name].small for b in branches) and kind == I
            scope[name] = Var(kind, writable=writable, frozen=var.frozen, small=small)

    def widen_before_loop(self, scope: dict[str, Var]) -> None:
        """Let the loop body store floats in some int variables: the loop-header phi widens
        (coarsen lowers the body again with the wider type). An int is a fine float meanwhile."""
        for name, var in list(scope.items()):
            if var.kind == I and not var.frozen and self.choose([False, False, True]):
                scope[name] = Var(F)

    def stmt_for(self, scope, ctx, indent) -> bool:
        i = self.fresh("i")
        lo, hi = self.bound(scope), self.bound(scope)
        form = self.choose(["n", "ab", "step", "down"])
        if form == "n":
            head = f"range({hi})"
        elif form == "ab":
            head = f"range({lo}, {hi})"
        elif form == "step":
            head = f"range({lo}, {hi}, {self.choose([2, 3, 1])})"
        else:
            head = f"range({hi}, {lo}, {self.choose([-1, -2])})"
        self.widen_before_loop(scope)
        self.emit(indent, f"for {i} in {head}:")
        body = dict(scope)
        body[i] = Var(I, frozen=True, small=True)
        self.block(body, _Block(ctx.returns, True, ctx.depth + 1), indent + 1, 3)
        self.join(scope, [scope, body])
        return False

    def stmt_while(self, scope, ctx, indent) -> bool:
        w = self.fresh("w")
        limit = self.choose(["3", "4", self.bound(scope)])   # drawn before `w` is in scope
        self.widen_before_loop(scope)
        self.emit(indent, f"{w} = 0")
        scope[w] = Var(I, frozen=True, small=True)
        form = self.choose(["count", "cond", "true", "true_return"])
        if form == "count":
            self.emit(indent, f"while {w} < {limit}:")
        elif form == "cond":
            self.emit(indent, f"while {w} < {limit} and {self.condition(scope, 1)}:")
        else:
            self.emit(indent, "while True:")
        self.emit(indent + 1, f"{w} += 1")
        if form == "true":
            self.emit(indent + 1, f"if {w} > {limit}:")
            self.emit(indent + 2, "break")
        body = dict(scope)
        inner = _Block(ctx.returns, True, ctx.depth + 1)
        if form == "true_return":   # no break: the loop ends only by returning
            self.emit(indent + 1, f"if {w} > {limit}:")
            self.emit(indent + 2, f"return {self.result_text(ctx.returns, body)}")
            inner = _Block(ctx.returns, False, ctx.depth + 1)
        self.block(body, inner, indent + 1, 3)
        self.join(scope, [scope, body])
        return form == "true_return"

    # ------------------------------------------------------------------ functions
    def function(self, name: str, params: list[tuple], returns: tuple, main: bool,
                 default: str | None = None) -> list[str]:
        self.lines = []
        names = [f"{'p' if main else 'q'}{k}" for k in range(len(params))]
        scope: dict[str, Var] = {}
        for n, kind in zip(names, params):
            scope[n] = Var(kind, frozen=kind == I and main, small=kind == I and main)
        if default is not None:
            names[-1] += f"={default}"
        self.emit(0, f"def {name}({', '.join(names)}):")
        exits = self.block(scope, _Block(returns), 1, 7 if main else 3)
        if not exits:
            self.emit(1, f"return {self.result_text(returns, scope)}")
        return self.lines


def _kind(draw, gen: ExprGen, allow_tuple: bool) -> tuple:
    options = [F, F, I, B, ("a", gen.shape()), ("a", gen.shape())]
    if allow_tuple:
        options.append(("t", (F, ("a", gen.shape()))))
    return draw(st.sampled_from(options))


@st.composite
def programs(draw) -> Program:
    """A random module: constants, helpers h0.., and the entry function f."""
    consts: dict[str, tuple] = {}
    header = ["import math", "", "import numpy as np", ""]
    probe = ExprGen(draw, [], consts)
    for k in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from([F, I, ("a", probe.shape())]))
        name = f"C{k}"
        header.append(f"{name} = {probe.literal(kind)}")
        consts[name] = kind
    helpers: list[Helper] = []
    bodies: list[str] = []
    for k in range(draw(st.integers(0, 2))):
        gen = ProgramGen(draw, list(helpers), consts)
        params = [_kind(draw, gen, False) for _ in range(draw(st.integers(1, 3)))]
        returns = _kind(draw, gen, True)
        default = gen.literal(params[-1]) if params[-1][0] in "fi" and draw(st.booleans()) else None
        helper = Helper(f"h{k}", tuple(params), returns, default)
        bodies += ["", ""] + gen.function(helper.name, params, returns, main=False, default=default)
        helpers.append(helper)
    gen = ProgramGen(draw, helpers, consts, risky=draw(st.sampled_from([False, False, True])))
    params = [_kind(draw, gen, True) for _ in range(draw(st.integers(1, 4)))]
    returns = _kind(draw, gen, True)
    bodies += ["", ""] + gen.function("f", params, returns, main=True)
    return Program("\n".join(header + bodies) + "\n", tuple(params), may_alias=gen.aliased)


def _arg(kind: tuple) -> st.SearchStrategy:
    floats = st.floats(-3.0, 3.0, allow_nan=False, width=64)
    if kind == F:
        return st.one_of(floats, floats.map(np.float64))
    if kind == I:
        return st.integers(-1, 5)
    if kind == B:
        return st.one_of(st.booleans(), st.booleans().map(np.bool_))
    if kind[0] == "t":
        return st.tuples(*(_arg(k) for k in kind[1]))
    return hnp.arrays(np.float64, kind[1], elements=floats)


def inputs_for(program: Program) -> st.SearchStrategy[tuple]:
    return st.tuples(*(_arg(k) for k in program.params))


def load(program: Program, directory: Path) -> Any:
    """Write the program to a fresh module file in `directory`, import it, return its `f`."""
    name = f"coarsen_gen_{next(_COUNTER)}_{abs(hash(program.source)) % 10**8}"
    path = directory / f"{name}.py"
    path.write_text(program.source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return getattr(module, program.entry)


__all__ = ["Program", "programs", "inputs_for", "load"]
