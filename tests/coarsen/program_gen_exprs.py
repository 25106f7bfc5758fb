"""Expressions for the program generator (`program_gen`): typed, shape-exact, in-domain.

`ExprGen.expr(kind, scope, depth)` returns an `E`: the source text of an expression of that
kind (and, for arrays, that exact shape) over the variables in `scope`, plus the names of the
variables whose memory the value may share (a slice, a transpose, the variable itself). The
statement generator copies such a value before binding it where a write could follow.
"""
from __future__ import annotations

from typing import Callable

from hypothesis import strategies as st

from program_gen_arrays import ArrayGen
from program_gen_kinds import B, E, F, FLOATS, I, SCALAR_MATH, SHAPES_1, SHAPES_2, Helper, is_array, union

class ExprGen(ArrayGen):
    def __init__(self, draw: Callable, helpers: list[Helper], consts: dict[str, tuple]) -> None:
        self.draw = draw
        self.helpers = helpers
        self.consts = consts
        self.counter = 0

    # ------------------------------------------------------------------ drawing
    def choose(self, options):
        return self.draw(st.sampled_from(list(options)))

    def integers(self, lo: int, hi: int) -> int:
        return self.draw(st.integers(lo, hi))

    def boolean(self) -> bool:
        return self.draw(st.booleans())

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def shape(self) -> tuple[int, ...]:
        return self.choose(SHAPES_1 + SHAPES_1 + SHAPES_2)

    def literal(self, kind: tuple) -> str:
        if kind == F:
            return self.choose(FLOATS)
        if kind == I:
            return str(self.integers(0, 4))
        shape = kind[1]

        def nested(dims):
            if not dims:
                return self.choose(FLOATS)
            return "[" + ", ".join(nested(dims[1:]) for _ in range(dims[0])) + "]"
        return f"np.array({nested(shape)})"

    # ------------------------------------------------------------------ names
    def named(self, kind: tuple, scope) -> list[E]:
        """Variables, module constants and tuple elements of exactly this kind."""
        out = [E(n, frozenset({n}) if is_array(kind) else frozenset())
               for n, v in scope.items() if v.kind == kind]
        # a module-level array is never writable: its name marks the alias
        out += [E(n, frozenset({n}) if is_array(kind) else frozenset())
                for n, k in self.consts.items() if k == kind]
        for n, v in scope.items():
            if v.kind[0] == "t":
                for j, k in enumerate(v.kind[1]):
                    if k == kind:
                        index = self.choose([j, j - len(v.kind[1])])
                        out.append(E(f"{n}[{index}]", frozenset({n}) if is_array(kind) else frozenset()))
        return out

    def arrays(self, scope, rank: int | None = None) -> list[tuple[str, tuple]]:
        out = [(n, v.kind[1]) for n, v in scope.items() if is_array(v.kind)]
        out += [(n, k[1]) for n, k in self.consts.items() if is_array(k)]
        return [(n, s) for n, s in out if rank is None or len(s) == rank]

    def alias_of(self, name: str, scope) -> frozenset:
        return frozenset({name})

    def dim_text(self, size: int, scope) -> str:
        options = [str(size)]
        for n, shape in self.arrays(scope):
            for d, s in enumerate(shape):
                if s == size:
                    options += [f"{n}.shape[{d}]"] + ([f"len({n})"] if d == 0 else [])
        return self.choose(options)

    def shape_text(self, shape: tuple, scope) -> str:
        exact = [f"{n}.shape" for n, s in self.arrays(scope) if s == shape]
        dims = [self.dim_text(s, scope) for s in shape]
        options = [f"({', '.join(dims)})" if len(dims) > 1 else dims[0], f"({dims[0]},)" if len(dims) == 1
                   else f"({', '.join(dims)})"] + exact
        return self.choose(options)

    def bound(self, scope) -> str:
        """A small int expression, fit for a loop bound."""
        options = [str(self.integers(0, 4))]
        options += [n for n, v in scope.items() if v.kind == I and v.small]
        options += [f"len({n})" for n, _ in self.arrays(scope)]
        options += [n for n, k in self.consts.items() if k == I]
        text = self.choose(options)
        wrap = self.choose(["", "", "min", "plus"])
        if wrap == "min":
            return f"min(({self.expr(I, scope, 1).text}) % 5, {text})"
        if wrap == "plus":
            return f"({text} + 1)"
        return text

    # ------------------------------------------------------------------ dispatch
    def expr(self, kind: tuple, scope, depth: int) -> E:
        if kind[0] == "t":
            return self.tuple_expr(kind, scope, depth)
        method = {"f": self.f_expr, "i": self.i_expr, "b": self.b_expr, "a": self.a_expr}[kind[0]]
        return method(kind, scope, max(depth, 0))

    def common(self, kind: tuple, scope, depth: int) -> list[Callable[[], E]]:
        """Forms every kind has: a conditional expression and a helper call."""
        out: list[Callable[[], E]] = []
        if depth > 0:
            def cond() -> E:
                a, b = self.expr(kind, scope, depth - 1), self.expr(kind, scope, depth - 1)
                return E(f"({a.text} if {self.expr(B, scope, depth - 1).text} else {b.text})", union(a, b))
            out.append(cond)
            for h in self.helpers:
                if h.returns == kind:
                    out.append(lambda h=h: self.call(h, scope, depth - 1))
        return out

    def call(self, h: Helper, scope, depth: int) -> E:
        args = []
        aliases: frozenset = frozenset()
        params = h.params[:-1] if h.default is not None and self.boolean() else h.params
        for k in params:
            a = self.expr(k, scope, depth)
            if is_array(k) and any(scope[n].writable for n in a.aliases if n in scope):
                a = E(f"({a.text}).copy()")
            aliases |= a.aliases
            args.append(a.text)
        if self.boolean() and args:
            args = [f"q{j}={t}" for j, t in enumerate(args)]
        return E(f"{h.name}({', '.join(args)})", aliases if is_array(h.returns) or h.returns[0] == "t" else frozenset())

    def tuple_expr(self, kind: tuple, scope, depth: int) -> E:
        options = [E(n, frozenset({n})) for n, v in scope.items() if v.kind == kind]
        options += [self.call(h, scope, depth - 1) for h in self.helpers if h.returns == kind and depth > 0]
        if options and self.boolean():
            return self.choose(options)
        parts = []
        aliases: frozenset = frozenset()
        for k in kind[1]:
            e = self.expr(k, scope, depth - 1)
            if is_array(k) and any(scope[n].writable for n in e.aliases if n in scope):
                e = E(f"({e.text}).copy()")
            aliases |= e.aliases
            parts.append(e.text)
        return E("(" + ", ".join(parts) + ")", aliases)

    def pick(self, leaves: list[Callable[[], E]], compound: list[Callable[[], E]], depth: int) -> E:
        if depth <= 0 or not compound or self.choose([True, False, False]):
            return self.choose(leaves)()
        return self.choose(compound)()

    def condition(self, scope, depth: int) -> str:
        """An `if`/`while` test: usually a bool, sometimes a number (Python truthiness)."""
        kind = self.choose([B, B, B, I, F])
        return self.expr(kind, scope, depth).text

    # ------------------------------------------------------------------ scalars
    def f_expr(self, kind, scope, depth: int) -> E:
        leaves = [lambda: E(self.choose(FLOATS))]
        leaves += [lambda e=e: e for e in self.named(F, scope)]
        for n, shape in self.arrays(scope):
            leaves.append(lambda n=n, shape=shape: E(f"{n}[{self.element_index(shape, scope)}]"))
            if len(shape) == 2:
                leaves.append(lambda n=n, shape=shape: E(
                    f"{n}[{self.integers(-shape[0], shape[0] - 1)}][{self.integers(0, shape[1] - 1)}]"))
        d = depth - 1
        sub = lambda: self.f_expr(F, scope, d)   # noqa: E731
        num = lambda: self.expr(self.choose([F, F, I]), scope, d)   # noqa: E731
        compound = [
            lambda: E(f"({num().text} {self.choose(['+', '-', '*'])} {num().text})"),
            lambda: E(f"({num().text} / (abs({sub().text}) + 1.0))"),
            lambda: E(f"({self.i_expr(I, scope, d).text} / 3)"),
            lambda: E(f"({sub().text} ** {self.choose(['2', '3', '2.0'])})"),
            lambda: E(f"(abs({sub().text}) ** {self.choose(['0.5', '1.5'])})"),
            lambda: E(f"({sub().text} {self.choose(['//', '%'])} 1.5)"),
            lambda: E(self.choose(SCALAR_MATH).format(x=sub().text)),
            lambda: E(f"{self.choose(['np.maximum', 'np.minimum', 'max', 'min'])}({num().text}, {sub().text})"),
            lambda: E(f"max({sub().text}, {sub().text}, {num().text})"),
            lambda: E(f"np.clip({sub().text}, -1.0, {self.choose(['1.0', '2.5'])})"),
            lambda: E(f"float(np.where({self.b_expr(B, scope, d).text}, {sub().text}, {num().text}))"),
            lambda: E(f"float({self.i_expr(I, scope, d).text})"),
            lambda: self.reduction_to_scalar(scope, d),
            lambda: self.dot(scope, d),
        ]
        return self.pick(leaves, compound + self.common(F, scope, depth), depth)

    def element_index(self, shape: tuple, scope) -> str:
        parts = []
        for size in shape:
            ints = [n for n, v in scope.items() if v.kind == I]
            if ints and self.boolean():
                parts.append(f"{self.choose(ints)} % {self.dim_text(size, scope)}")
            else:
                parts.append(str(self.integers(-size, size - 1)))
        return ", ".join(parts)

    def reduction_to_scalar(self, scope, depth: int) -> E:
        shape = self.shape()
        x = self.a_expr(("a", shape), scope, depth).text
        form = self.choose(["np", "method", "axis", "dynamic"])
        fn = self.choose(["sum", "mean", "max", "min", "prod"])
        if form == "np":
            return E(f"np.{fn}({x})")
        if form == "method":
            return E(f"({x}).{fn}()")
        if form == "axis" and len(shape) == 1:
            return E(f"np.{fn}({x}, axis={self.choose(['0', '-1'])})")
        smalls = [n for n, v in scope.items() if v.kind == I and v.small]
        if smalls and len(shape) == 1:
            cut = self.choose([f"[:{self.choose(smalls)}]", f"[{self.choose(smalls)}:]"])
            return E(f"np.{self.choose(['sum', 'prod'])}(({x}){cut})")
        return E(f"np.{fn}({x})")

    def dot(self, scope, depth: int) -> E:
        n = self.choose([1, 2, 3, 4])
        a, b = (self.a_expr(("a", (n,)), scope, depth).text for _ in range(2))
        return E(self.choose([f"({a} @ {b})", f"np.dot({a}, {b})"]))

    def i_expr(self, kind, scope, depth: int) -> E:
        leaves = [lambda: E(str(self.integers(-1, 4)))]
        leaves += [lambda e=e: e for e in self.named(I, scope)]
        for n, shape in self.arrays(scope):
            leaves.append(lambda n=n, shape=shape: E(f"{n}.shape[{self.integers(0, len(shape) - 1)}]"))
            leaves.append(lambda n=n: E(f"len({n})"))
            leaves.append(lambda n=n: E(f"{n}.{self.choose(['ndim', 'size'])}"))
        d = depth - 1
        sub = lambda: self.i_expr(I, scope, d)   # noqa: E731
        compound = [
            lambda: E(f"({sub().text} {self.choose(['+', '-', '*'])} {sub().text})"),
            lambda: E(f"({sub().text} {self.choose(['//', '%'])} {self.choose(['2', '3'])})"),
            lambda: E(f"({sub().text} ** {self.choose(['2', '0', '3'])})"),
            lambda: E(f"abs({sub().text})"),
            lambda: E(f"{self.choose(['min', 'max'])}({sub().text}, {sub().text})"),
            lambda: E(f"int({self.f_expr(F, scope, d).text})"),
            lambda: E(f"(-{sub().text})"),
        ]
        return self.pick(leaves, compound + self.common(I, scope, depth), depth)

    def b_expr(self, kind, scope, depth: int) -> E:
        leaves = [lambda: E(self.choose(["True", "False"]))]
        leaves += [lambda e=e: e for e in self.named(B, scope)]
        d = depth - 1
        sub = lambda: self.b_expr(B, scope, d)   # noqa: E731
        num = lambda: self.expr(self.choose([F, F, I]), scope, d)   # noqa: E731
        cmp = lambda: self.choose(["<", "<=", ">", ">=", "==", "!="])   # noqa: E731
        compound = [
            lambda: E(f"({num().text} {cmp()} {num().text})"),
            lambda: E(f"({self.f_expr(F, scope, d).text} {self.choose(['<', '>'])} 0.0)"),
            lambda: E(f"({num().text} {cmp()} {num().text} {cmp()} {num().text})"),
            lambda: E(f"(not {sub().text})"),
            lambda: E(f"({sub().text} {self.choose(['and', 'or'])} {sub().text})"),
            lambda: E(f"bool({self.i_expr(I, scope, d).text})"),
        ]
        return self.pick(leaves, compound + self.common(B, scope, depth) + compound, depth)
