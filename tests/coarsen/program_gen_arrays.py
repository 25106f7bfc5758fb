"""Array expressions for the program generator (a mixin of `program_gen_exprs.ExprGen`).

`a_expr(("a", shape), scope, depth)` builds an expression of exactly that shape: variables,
views (slices, rows, columns, transposes, reshapes: these record the variable they alias),
fresh arrays, elementwise math with broadcasting, selections, matmul and reductions along an
axis. `write_index` picks in-bounds targets for element and slice writes, and writes through
integer index arrays with repeated and negative indices (NumPy's semantics: the last write of a
repeated index wins; `+=` does not accumulate).
"""
from __future__ import annotations

from typing import Callable

from program_gen_kinds import ARRAY_MATH, B, E, F


class ArrayGen:
    def a_expr(self, kind, scope, depth: int) -> E:
        shape = kind[1]
        leaves: list[Callable[[], E]] = [lambda e=e: e for e in self.named(kind, scope)]
        leaves += self.views(shape, scope)
        leaves += [lambda: E(f"np.{self.choose(['zeros', 'ones'])}({self.shape_text(shape, scope)})")]
        like = [n for n, s in self.arrays(scope) if s == shape]
        if like:
            leaves.append(lambda: E(f"np.{self.choose(['zeros_like', 'ones_like'])}({self.choose(like)})"))
        if len(shape) == 1:
            leaves.append(lambda: E("np.array([" + ", ".join(
                self.f_expr(F, scope, 0).text for _ in range(shape[0])) + "])"))
        d = depth - 1
        sub = lambda: self.a_expr(kind, scope, d)   # noqa: E731
        operand = lambda: self.choose([sub, sub, lambda: self.f_expr(F, scope, d)])()   # noqa: E731

        def mixed() -> E:   # an array op an array or a scalar, either side
            a, b = sub().text, operand().text
            if self.boolean():
                a, b = b, a
            return E(f"({a} {self.choose(['+', '-', '*'])} {b})")
        compound = [
            mixed,
            lambda: E(f"({operand().text} / (np.abs({sub().text}) + 1.0))"),
            lambda: E(f"({sub().text} ** {self.choose(['2', '3'])})"),
            lambda: E(f"(np.abs({sub().text}) ** {self.choose(['0.5', '1.5'])})"),
            lambda: E(self.choose(ARRAY_MATH).format(x=sub().text)),
            lambda: E(f"np.{self.choose(['maximum', 'minimum'])}({sub().text}, {operand().text})"),
            lambda: E(f"np.where(({sub().text} > {operand().text}), {operand().text}, {sub().text})"),
            lambda: E(f"np.where({self.b_expr(B, scope, d).text}, {sub().text}, {operand().text})"),
            lambda: E(f"np.clip({sub().text}, {self.choose(['-1.0', '0.0'])}, {self.choose(['1.0', '2.0'])})"),
            lambda: E(f"({sub().text}).copy()"),
            lambda: self.matmul(shape, scope, d),
            lambda: self.reduce_axis(shape, scope, d),
        ]
        if len(shape) == 2:
            row = lambda: self.a_expr(("a", shape[1:]), scope, d)   # noqa: E731
            col = lambda: self.a_expr(("a", shape[:1]), scope, d)   # noqa: E731
            compound += [
                lambda: E(f"({sub().text} {self.choose(['+', '*'])} {row().text})"),
                lambda: E(f"({col().text}[:, None] * {row().text}[None, :])"),
                lambda: self.view_of(self.a_expr(('a', shape[::-1]), scope, d), "({}).T"),
                lambda: self.view_of(self.a_expr(('a', shape[::-1]), scope, d), "np.transpose({})"),
                lambda: self.view_of(self.a_expr(('a', (shape[0] * shape[1],)), scope, d),
                                     f"({{}}).reshape({shape[0]}, {shape[1]})"),
            ]
        return self.pick(leaves or compound, compound + self.common(kind, scope, depth), depth)

    @staticmethod
    def view_of(inner: E, template: str) -> E:
        """A transpose or reshape of `inner`: it shares `inner`'s memory."""
        return E(template.format(inner.text), inner.aliases)

    def views(self, shape: tuple, scope) -> list[Callable[[], E]]:
        """Slices, rows, columns, transposes and reshapes of variables that have this shape."""
        out: list[Callable[[], E]] = []
        for n, s in self.arrays(scope):
            al = self.alias_of(n, scope)
            if len(shape) == 1 and len(s) == 1 and s[0] >= shape[0]:
                a = self.integers(0, s[0] - shape[0])
                out.append(lambda n=n, a=a, al=al: E(f"{n}[{a}:{a + shape[0]}]", al))
                if s[0] == shape[0]:
                    out.append(lambda n=n, al=al: E(f"{n}[{self.choose(['::-1', ':', '-' + str(shape[0]) + ':'])}]", al))
                if (s[0] + 1) // 2 == shape[0]:
                    out.append(lambda n=n, al=al: E(f"{n}[::2]", al))
            if len(shape) == 1 and len(s) == 2:
                if s[1] == shape[0]:
                    out.append(lambda n=n, s=s, al=al: E(f"{n}[{self.integers(-s[0], s[0] - 1)}]", al))
                if s[0] == shape[0]:
                    out.append(lambda n=n, s=s, al=al: E(f"{n}[:, {self.integers(0, s[1] - 1)}]", al))
                if s[0] * s[1] == shape[0]:
                    out.append(lambda n=n, al=al: E(f"{n}.reshape({self.choose([shape[0], -1])})", al))
                if s[1] == shape[0]:
                    out.append(lambda n=n, s=s, al=al: E(f"{n}[{self.integers(-s[0], s[0] - 1)}, :]", al))
            if len(shape) == 2 and len(s) == 2:
                if s[0] >= shape[0] and s[1] >= shape[1]:
                    a, b = self.integers(0, s[0] - shape[0]), self.integers(0, s[1] - shape[1])
                    out.append(lambda n=n, a=a, b=b, al=al: E(
                        f"{n}[{a}:{a + shape[0]}, {b}:{b + shape[1]}]", al))
                if s == shape[::-1]:
                    out.append(lambda n=n, al=al: E(f"{n}.T", al))
                if s[0] * s[1] == shape[0] * shape[1] and s != shape:
                    out.append(lambda n=n, al=al: E(f"np.reshape({n}, ({shape[0]}, {shape[1]}))", al))
            if len(shape) == 2 and len(s) == 1 and s[0] == shape[0] * shape[1]:
                out.append(lambda n=n, al=al: E(
                    f"{n}.reshape({shape[0]}, {self.choose([shape[1], -1])})", al))
            if len(shape) == 2 and len(s) == 1 and shape == (1, s[0]):
                out.append(lambda n=n, al=al: E(f"{n}[None, :]", al))
            if len(shape) == 2 and len(s) == 1 and shape == (s[0], 1):
                out.append(lambda n=n, al=al: E(f"{n}[:, None]", al))
        return out

    def matmul(self, shape: tuple, scope, depth: int) -> E:
        p = self.choose([1, 2, 3])
        if len(shape) == 1:
            if self.boolean():
                a, b = self.a_expr(("a", (shape[0], p)), scope, depth), self.a_expr(("a", (p,)), scope, depth)
            else:
                a, b = self.a_expr(("a", (p,)), scope, depth), self.a_expr(("a", (p, shape[0])), scope, depth)
        else:
            a = self.a_expr(("a", (shape[0], p)), scope, depth)
            b = self.a_expr(("a", (p, shape[1])), scope, depth)
        return E(self.choose([f"({a.text} @ {b.text})", f"np.dot({a.text}, {b.text})",
                              f"np.matmul({a.text}, {b.text})", f"({a.text}).dot({b.text})"]))

    def reduce_axis(self, shape: tuple, scope, depth: int) -> E:
        fn = self.choose(["sum", "mean", "max", "min", "prod"])
        p = self.choose([1, 2, 3])
        if len(shape) == 1:
            axis = self.integers(0, 1)
            source = (p, shape[0]) if axis == 0 else (shape[0], p)
            x = self.a_expr(("a", source), scope, depth).text
            return E(self.choose([f"np.{fn}({x}, axis={axis})", f"({x}).{fn}(axis={axis - 2})",
                                  f"np.{fn}({x}, {axis})"]))
        if shape[1] == 1:
            x = self.a_expr(("a", (shape[0], p)), scope, depth).text
            return E(f"np.{fn}({x}, axis=1, keepdims=True)")
        return self.a_expr(("a", shape), scope, depth)

    def write_index(self, shape: tuple, scope) -> tuple[str, tuple]:
        """An in-bounds index for an element or slice write, and the shape it selects."""
        if self.choose([False, False, False, True]):   # through an index array (#13)
            length = self.integers(1, 4)
            items = [self.integers(-shape[0], shape[0] - 1) for _ in range(length)]
            return f"np.array({items}, dtype=int)", (length,) + tuple(shape[1:])
        if len(shape) == 1:
            form = self.choose(["elem", "elem", "slice"])
            if form == "elem":
                return self.element_index(shape, scope), ()
            a = self.integers(0, shape[0] - 1)
            b = self.integers(a + 1, shape[0])
            return f"{a}:{b}", (b - a,)
        form = self.choose(["elem", "elem", "row", "col", "rowslice"])
        if form == "elem":
            return self.element_index(shape, scope), ()
        if form == "row":
            return str(self.integers(-shape[0], shape[0] - 1)), (shape[1],)
        if form == "col":
            return f":, {self.integers(0, shape[1] - 1)}", (shape[0],)
        a = self.integers(0, shape[1] - 1)
        return f"{self.integers(0, shape[0] - 1)}, {a}:{shape[1]}", (shape[1] - a,)
