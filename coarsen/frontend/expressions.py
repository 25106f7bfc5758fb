"""Expressions -> SSA values (a mixin of the `Lowerer` in `statements`).

Every `expr_<NodeType>` returns a binding (see `bindings`). Names resolve in the function's
environment, then its closure and module globals (read once, at compile time), then builtins.
"""
from __future__ import annotations

import ast
import inspect
import builtins
from typing import Any

import numpy as np

from coarsen.frontend.bindings import Conflict, ListItems, MaybeBound, Method, SharedList, Static, describe
from coarsen.frontend.inlining import CallLowering
from coarsen.frontend.scalars import ScalarKinds
from coarsen.ir.nodes import ELEMENTWISE, VIEWS, Op, Value
from coarsen.frontend import narrow_origin
from coarsen.ir.types import BOOL, F64, I64, Type
from coarsen.ir.typing import TypeRuleError, numpy_array_dtype

_BINOPS = {
    ast.Add: Op.ADD, ast.Sub: Op.SUB, ast.Mult: Op.MUL, ast.Div: Op.DIV, ast.FloorDiv: Op.FLOORDIV,
    ast.Mod: Op.MOD, ast.Pow: Op.POW, ast.MatMult: Op.MATMUL, ast.BitAnd: Op.AND, ast.BitOr: Op.OR,
}
_SYMBOLS = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
    ast.Pow: "**", ast.MatMult: "@", ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^",
    ast.LShift: "<<", ast.RShift: ">>",
}
_COMPARE = {ast.Lt: Op.LT, ast.LtE: Op.LE, ast.Gt: Op.GT, ast.GtE: Op.GE, ast.Eq: Op.EQ, ast.NotEq: Op.NE}
_OTHER_COMPARISONS = {ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in"}
# ops whose array result may share memory with their first argument (NumPy returns a view)
_VIEWS = VIEWS   # from the op registry (entries declared view=True) and GETITEM
def _array_methods() -> frozenset:
    """The array methods calls.METHODS lowers (the op registry's included)."""
    from coarsen.frontend.calls import METHODS

    return frozenset(METHODS)

_UNSUPPORTED_EXPRS: dict[type, tuple[str, str | None]] = {
    ast.GeneratorExp: ("generators are not supported", "build the value with a for loop over range(...)"),
    ast.ListComp: ("list comprehensions are not supported", "fill an np.zeros(...) array in a for loop"),
    ast.SetComp: ("set comprehensions are not supported", None),
    ast.DictComp: ("dict comprehensions are not supported", None),
    ast.Lambda: ("lambdas are not supported", "define a module-level function with def; calls are inlined"),
    ast.Set: ("set literals are not supported", "use a tuple"),
    ast.JoinedStr: ("string operations are not supported", "coarsen compiles numeric code only"),
    ast.Await: ("await is not supported", None),
    ast.Yield: ("generators (yield) are not supported", "return an array built in a loop"),
    ast.YieldFrom: ("generators (yield) are not supported", None),
    ast.Starred: ("starred expressions are not supported", "pass arguments one by one"),
}


def _number(obj: Any) -> bool:
    return isinstance(obj, (bool, int, float, np.bool_, np.integer, np.floating))


def _structure(obj: Any) -> bool:
    """An element that makes a module-level list or tuple compile-time structure: an array, a
    list/tuple, or an object with attributes (not a module, class or function)."""
    import types
    if isinstance(obj, (np.ndarray, list, tuple)):
        return True
    return (hasattr(obj, "__dict__") and not isinstance(obj, (type, types.ModuleType, types.FunctionType,
                                                              types.BuiltinFunctionType, types.MethodType)))


# whether this NumPy's np.floor/np.ceil keep an int64 operand's dtype (NumPy >= 2.1)
_INT_FLOOR = np.floor(np.array([1], dtype=np.int64)).dtype == np.int64


# ops whose int64 scalar result is an element (or a reduction) of an array: a NumPy scalar

class ExpressionLowering(CallLowering, ScalarKinds):
    # ------------------------------------------------------------------ helpers
    def constant_of(self, binding: Any) -> Any:
        return self.b.constant_of(binding) if isinstance(binding, Value) else None

    def emit(self, op: Op, args, node: ast.AST | None, attrs: dict | None = None, hint: str = "",
             ufunc: bool = False) -> Value:
        """Emit one op; an array result is a view of its first argument or a fresh array.
        `ufunc`: the user called NumPy's ufunc (np.multiply(a, b)), NumPy's rules even for
        Python scalars."""
        args = tuple(args)
        if op in ELEMENTWISE and args and not any(a.type.rank for a in args):
            done = self.numpy_bool_scalars(op, args, node, ufunc)
            if done is not None:
                return done
        if op is Op.POW and "f64" not in (args[0].type.dtype, args[1].type.dtype):
            return self.numpy_int_power(args[0], args[1], node)
        if op in (Op.NEG, Op.ABS) and args[0].type == I64 and self.constant_of(args[0]) is None \
                and args[0].id not in self.ctx.numpy_scalars and args[0].id not in self.ctx.range_ints:
            # -n, abs(n) of Python's int -2**63 is 2**63, beyond int64 (NumPy's int64 wraps)
            from coarsen.frontend.exceptions import runtime_check
            runtime_check(self, self.b.emit(Op.EQ, (args[0], self.b.const(-2 ** 63))), OverflowError,
                          f"{self.src.loc(node)}: an integer {'negation' if op is Op.NEG else 'abs()'} beyond "
                          "int64 (-(-2**63) is 2**63 in Python; compiled code computes ints in int64)", node)
        if op in ELEMENTWISE and any(a.type.dtype == "bool" and a.type.rank for a in args) \
                and all(a.type.dtype != "f64" for a in args):
            self.numpy_bool_dtype(op, args, node)
        if op in (Op.FLOOR, Op.CEIL) and args[0].type.dtype in ("i64", "bool") and _INT_FLOOR:
            # NumPy >= 2.1: np.floor/np.ceil of ints are those ints (int64, exact beyond 2**53)
            return self.emit(Op.COPY, args, node) if args[0].type.rank else args[0]
        try:
            result = self.b.emit(op, args, attrs, self.src.loc(node), hint)
        except TypeRuleError as err:
            self.type_error(str(err), node)
        if op in (Op.MATMUL, Op.BMATMUL):
            self.inner_sizes_match(op, args, node)
        if op is Op.SHAPE:
            self.ctx.range_ints.add(result.id)   # a size: far inside int64 (`int_sum`)
        if not result.type.rank and op is not Op.SHAPE and any(a.type.rank for a in args):
            # a scalar NumPy makes of an array (an element, a reduction, np.dot, np.argmax) is
            # NumPy's: its int64 wraps, its bools add logically (`x[0] > 0`); a size is Python's
            self.mark_scalar(result)
        elif not result.type.rank and op in ELEMENTWISE:
            self.mark_scalar(result, args)
        if result.type.rank:
            if op in _VIEWS:
                self.ctx.aliases.share(result, args[0])
            else:
                self.ctx.aliases.fresh(result)
        return result

    def inner_sizes_match(self, op: Op, args: tuple, node: ast.AST | None) -> None:
        """NumPy's ValueError for a matrix product whose inner sizes differ, as a check of its
        own: a gradient that does not read the product (d/dx of x @ y is y) would otherwise
        return one of the wrong shape (checked when tracing where the sizes are known)."""
        from coarsen.frontend.exceptions import runtime_check
        a, b = args
        inner = (a.type.rank - 1, 1 if op is Op.BMATMUL else max(b.type.rank - 2, 0))
        sizes = [self.b.emit(Op.SHAPE, (v,), {"dim": d}, self.src.loc(node)) for v, d in zip(args, inner)]
        known = [self.constant_of(n) for n in sizes]
        if None not in known:
            if known[0] != known[1]:
                from coarsen.frontend.exceptions import python_error
                python_error(self, ValueError(f"matmul: the inner sizes {known[0]} and {known[1]} of the "
                                              "operands differ"), node, "check the operands' shapes")
            return
        runtime_check(self, self.b.emit(Op.NE, tuple(sizes), None, self.src.loc(node)), ValueError,
                      f"{self.src.loc(node)}: matmul: the inner sizes of the operands differ", node)

    def int_array_power(self, exponent: Value, node: ast.AST | None) -> None:
        """An integer array to an integer power: NumPy raises ValueError for a negative
        exponent (the result would not be an integer); when tracing where the exponent is
        known, else a run-time check."""
        from coarsen.frontend.exceptions import python_error, runtime_check
        from coarsen.ops.reductions import _any_all
        message = "Integers to negative integer powers are not allowed."
        known = self.constant_of(exponent) if not exponent.type.rank else self.b.arrays.get(exponent.id)
        if known is not None:
            if np.any(np.asarray(known) < 0):
                python_error(self, ValueError(message), node, "make the base a float array: x.astype(float) ** k")
            return
        negative = self.b.emit(Op.LT, (exponent, self.b.const(0)), loc=self.src.loc(node))
        runtime_check(self, _any_all("any")(self, [negative], {}, node), ValueError, message, node)

    def numpy_int_power(self, base: Value, exponent: Value, node: ast.AST | None) -> Value:
        """np.power / `**` of integer arrays (or NumPy integer scalars): NumPy's int64 power,
        exact and wrapping (`rt.int_power`), after NumPy's ValueError for a negative exponent;
        narrow data is then checked as for `*` (`frontend.narrow`)."""
        self.int_array_power(exponent, node)
        if (base.type.dtype == "bool" and base.type.rank and (
                exponent.type.dtype == "bool" or isinstance(node, ast.BinOp) and self.constant_of(exponent) == 2)) \
                or (exponent.type.dtype == "bool" and exponent.type.rank and base.type.dtype == "bool"):
            self.unsupported("a power of a boolean array: NumPy computes `mask ** 2` (np.square) and powers "
                             "by booleans in int8", node, "convert the mask first: mask.astype(np.int64)")
        base, exponent = (self.emit(Op.CAST, (v,), node, {"dtype": "i64"}) if v.type.dtype == "bool" else v
                          for v in (base, exponent))
        if base.type.rank and exponent.type.rank:   # one shape: broadcast each against the other
            zero = self.b.const(0)
            base, exponent = (self.emit(Op.ADD, (base, self.emit(Op.MUL, (exponent, zero), node)), node),
                              self.emit(Op.ADD, (exponent, self.emit(Op.MUL, (base, zero), node)), node))
        return self.emit(Op.INT_POWER, (base, exponent), node)

    def op_symbol(self, op: ast.operator) -> str:
        return _SYMBOLS.get(type(op), type(op).__name__)

    def as_value(self, binding: Any, node: ast.AST) -> Value:
        if isinstance(binding, Value):
            return binding
        if isinstance(binding, Static) and isinstance(binding.obj, (bool, int, float)):
            return self.b.const(binding.obj)
        if isinstance(binding, Static) and isinstance(binding.obj, (str, bytes)):
            self.unsupported("string operations are not supported", node, "coarsen compiles numeric code only")
        self.type_error(f"expected a number or an array, got {describe(binding)}", node)

    def static_value(self, binding: Any, node: ast.AST, what: str) -> Any:
        """A compile-time constant (an axis, a flag): a folded constant or a static object."""
        if isinstance(binding, Static):
            return binding.obj
        constant = self.constant_of(binding)
        if constant is None:
            self.unsupported(f"{what} must be known at compile time", node,
                             "use a literal or a module-level constant")
        return constant

    def truth(self, binding: Any, node: ast.AST) -> Value:
        if isinstance(binding, (tuple, dict)):   # a list, tuple or dict: non-empty, known when tracing
            return self.b.const(bool(binding))
        value = self.as_value(binding, node)
        if value.type.rank:
            self.unsupported("the truth value of an array is ambiguous", node,
                             "use np.any(...)/np.all(...) on a reduction, or np.where for elementwise choices")
        if value.type == BOOL:
            return value
        return self.emit(Op.NE, (value, self.b.const(0)), node)

    # ------------------------------------------------------------------ names
    def lookup(self, name: str, node: ast.AST) -> Any:
        outer = getattr(self, "outer", None)
        if outer is not None and name in self.snapshot and name not in self.own_names \
                and self.env.get(name) is self.snapshot[name]:
            return outer.lookup(name, node)   # an enclosing variable, as it is now (`closures`)
        if name in self.env:
            binding = self.env[name]
            if isinstance(binding, Conflict):   # typed differently on the paths that reach here
                self.type_error(binding.message, node, binding.hint)
            if isinstance(binding, MaybeBound):
                return self.bound_value(name, binding, node)
            return binding
        if name in self.local_names:   # local everywhere in the function: never the global
            return self.unbound_local(name, node)
        if name in self.src.namespace:
            obj = self.src.namespace[name]
            if self.ctx.reads is not None:
                self.ctx.reads.name(self.src.fn, name, obj)
            return self.from_python(obj, node)
        if hasattr(builtins, name):
            if self.ctx.reads is not None:
                self.ctx.reads.name(self.src.fn, name, getattr(builtins, name))
            return Static(getattr(builtins, name))
        self.unsupported(f"name `{name}` is not defined: not a local of the function, a name of "
                         "its module or a builtin (Python: NameError)", node,
                         "define it, or import it in the function's module")

    def bound_value(self, name: str, binding: MaybeBound, node: ast.AST) -> Value:
        """A name bound on some paths only (`MaybeBound`): where its flag is not known true,
        a run-time check raises Python's UnboundLocalError when it is unbound; after the
        check it is an ordinary binding."""
        from coarsen.frontend.exceptions import python_error, runtime_check
        message = f"cannot access local variable '{name}' where it is not associated with a value"
        flag = self.constant_of(binding.flag)
        if flag is False:
            python_error(self, UnboundLocalError(message), node, "assign it before the branch or loop that binds it")
        elif flag is not True:
            runtime_check(self, self.emit(Op.NOT, (binding.flag,), node), UnboundLocalError,
                          f"{self.src.loc(node)}: {message}", node)
        self.env[name] = binding.value
        return binding.value

    def from_python(self, obj: Any, node: ast.AST) -> Any:
        """A module-level object seen from compiled code: numbers and arrays become constants."""
        if isinstance(obj, (bool, np.bool_)):
            return self.b.const(bool(obj))
        if isinstance(obj, (int, np.integer)):
            value = self.b.const(int(obj))
            if narrow_origin(obj) is not None:   # an np.int8 / np.uint32 scalar: its arithmetic is
                self.ctx.narrow[value.id] = narrow_origin(obj)   # checked (`narrow`), so not folded away
                self.b.constants.pop(value.id, None)
            return value
        if isinstance(obj, (float, np.floating)):
            return self.b.const(float(obj))
        if isinstance(obj, np.ndarray):
            if type(obj) is not np.ndarray and not isinstance(obj, np.memmap):
                from coarsen.frontend import _subclass_message
                self.unsupported(_subclass_message(obj), node)
            if obj.dtype.kind not in "fiub":
                self.unsupported(f"module-level array of dtype {obj.dtype} is not supported", node)
            if obj.ndim == 0:   # its one element, of its kind (an int stays exact)
                return self.from_python(obj[()], node)
            # integer arrays index: int64; bool arrays mask: bool (their sums are int64)
            dtype = {"i": "i64", "u": "i64", "b": "bool"}.get(obj.dtype.kind, "f64")
            array = np.array(obj, dtype={"i64": np.int64, "bool": np.bool_}.get(dtype, np.float64))
            array.flags.writeable = False
            if self.ctx.reads is not None:   # a large one is passed by reference (coarsen.byref)
                self.ctx.reads.constant(array, obj)
            value = self.b.const(array, self.src.loc(node), Type(dtype, array.ndim))
            if narrow_origin(obj) is not None:   # int8/int32/uint/bool data: its arithmetic is checked
                self.ctx.narrow[value.id] = narrow_origin(obj)
            return value
        if isinstance(obj, tuple) and all(isinstance(o, (int, float, bool, np.ndarray)) for o in obj):
            return tuple(self.from_python(o, node) for o in obj)
        if isinstance(obj, (list, tuple)) and (any(_structure(o) for o in obj) or (
                isinstance(obj, list) and all(_number(o) for o in obj))):
            # a module-level list of numbers, layer objects, arrays or (W, b) pairs: a
            # compile-time tuple of its elements, each read through its index (their
            # attributes are reads of their own; a list replaced, grown or with an element
            # replaced is noticed at the next call)
            if self.ctx.reads is not None:
                for k, o in enumerate(obj):
                    self.ctx.reads.item(obj, k, o)
            items = tuple(self.from_python(o, node) for o in obj)
            # a list stays a list (NumPy indexes by a list as by an index array, by a tuple as
            # by several indices; it is returned a list), held outside: read, never changed
            return SharedList(items) if isinstance(obj, list) else items
        if isinstance(obj, dict) and obj and all(isinstance(k, str) for k in obj) \
                and all(_number(v) or isinstance(v, np.ndarray) or _structure(v) or isinstance(v, dict)
                        for v in obj.values()):
            # a module-level configuration dict: a compile-time dict read key by key (a value
            # replaced or a key deleted is noticed at the next call)
            if self.ctx.reads is not None:
                for k, v in obj.items():
                    self.ctx.reads.key(obj, k, v)
                self.ctx.reads.keys(obj)   # iterated or counted: a key added is a new program
            return {k: self.from_python(v, node) for k, v in obj.items()}
        return Static(obj)

    def static_callee(self, node: ast.expr) -> Any:
        try:
            binding = self.expr(node)
        except Exception:
            return None
        return binding.obj if isinstance(binding, Static) else None

    # ------------------------------------------------------------------ dispatch
    def expr(self, node: ast.expr) -> Any:
        method = getattr(self, f"expr_{type(node).__name__}", None)
        if method is None:
            what, hint = _UNSUPPORTED_EXPRS.get(type(node), (f"the expression {type(node).__name__} is not supported", None))
            self.unsupported(what, node, hint)
        return method(node)

    def expr_NamedExpr(self, node: ast.NamedExpr) -> Any:
        """`(w := v * 2.0) > 0.5`: the value, bound to the name where it is evaluated (branches
        of `if`/`and`/`or`/`x if c else y` merge it as assignments). Comprehensions and while
        tests refuse it (`refuse_walrus`)."""
        value = self.expr(node.value)
        self.assign(node.target, value, node)
        return value

    def numpy_int(self, x: Value, node) -> Value:
        """np.int64(x) (or a module-level np.int64): an int64 NumPy scalar, whose arithmetic
        wraps as NumPy's (`int_product`); never folded as a Python int when tracing."""
        if x.type.dtype == "f64":
            x = self.convert(x, "i64", node)   # (NaN, inf, beyond int64: an error)
        out = self.b.emit(Op.CAST, (x,), {"dtype": "i64", "explicit": True, "numpy": True}, self.src.loc(node))
        self.ctx.numpy_scalars.add(out.id)
        return out

    def numpy_bool_dtype(self, op: Op, args, node) -> None:
        """NumPy computes some ops of boolean arrays in a narrow dtype: np.sin(mask) and
        np.exp(mask) in float16, `mask % True` and np.square(mask) in int8. Refused (coarsen
        computes float64 and int64); the others are NumPy's dtype (`coarsen.ir.typing`)."""
        found = numpy_array_dtype(op, tuple((a.type.dtype, a.type.rank) for a in args))
        if found is None or found in (np.bool_, np.int64, np.float64):
            return
        self.unsupported(f"`{op.value}` of a boolean array: NumPy computes it in {found}, coarsen in "
                         f"{'float64' if found.kind == 'f' else 'int64'}", node,
                         "convert the mask first: mask.astype(float) or mask.astype(np.int64)")

    def refuse_walrus(self, node: ast.AST, where: str) -> None:
        """`:=` inside a comprehension binds in the function from items a summed comprehension
        evaluates and then masks, and in a while loop's test the name is not a loop carry:
        refused there."""
        for sub in ast.walk(node):
            if isinstance(sub, ast.NamedExpr):
                self.unsupported(f"an assignment expression (:=) in {where} is not supported", sub,
                                 "assign in a separate statement")

    def expr_Dict(self, node: ast.Dict) -> dict:
        """`{"w": W, "b": b}` with keys known when tracing: a compile-time dict, read as argument
        dicts are (`p["w"]`, iteration); writes into it are refused like theirs (`setitem`)."""
        out = {}
        for key, value in zip(node.keys, node.values):
            if key is None:
                self.unsupported("** unpacking in a dict literal is not supported", value,
                                 "list the entries: {\"w\": p[\"w\"], ...}")
            k = self.static_value(self.expr(key), key, "a dict key")
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                self.unsupported(f"dict key {k!r} is not supported", key, "use string keys")
            out[k] = self.expr(value)
        return out

    def expr_Constant(self, node: ast.Constant) -> Any:
        v = node.value
        if isinstance(v, (bool, int, float)):
            return self.b.const(v, self.src.loc(node))
        if v is None or v is Ellipsis or isinstance(v, str):
            return Static(v)
        self.unsupported(f"constants of type {type(v).__name__} are not supported", node)

    def expr_Name(self, node: ast.Name) -> Any:
        return self.lookup(node.id, node)

    def expr_Tuple(self, node: ast.Tuple) -> tuple:
        return tuple(self.expr(e) for e in node.elts)

    def expr_List(self, node: ast.List) -> tuple:
        """List displays: items as a tuple (shapes, np.array([...]) arguments), a new object
        per display so that `xs.append` finds other names of the same list (`ListItems`)."""
        from coarsen.frontend.containers import ListItems
        return ListItems(self.expr(e) for e in node.elts)

    def expr_Attribute(self, node: ast.Attribute) -> Any:
        base = self.operand(node.value)
        attr = node.attr
        from coarsen.frontend import masks
        if isinstance(base, masks.Masked):   # x[m].sum(), x[m].size
            if attr == "size":
                return masks.reduce(self, "size", base, [], {}, node)
            if attr not in masks.METHODS:
                masks.escaping(self, node.value)
            return Method(base, attr)
        from coarsen.frontend import objects
        if isinstance(base, objects.Obj):   # an object argument: its attributes, its class's methods
            return objects.attribute(self, base, attr, node)
        if isinstance(base, tuple) and attr in (getattr(type(base), "_fields", None) or ()):
            return getattr(base, attr)   # a NamedTuple argument's field (`coarsen.tree`)
        from coarsen.frontend import random
        if isinstance(base, random.GeneratorArg) or (isinstance(base, Static) and random.is_generator(base.obj)):
            return random.attribute(self, base if isinstance(base, random.GeneratorArg) else base.obj, attr, node)
        if isinstance(base, Static):
            if isinstance(base.obj, (str, bytes)):
                self.unsupported(f"string operations (.{attr}) are not supported", node,
                                 "coarsen compiles numeric code only")
            if not hasattr(base.obj, attr):
                from coarsen.frontend.exceptions import fail
                if self.ctx.reads is not None:   # a try/except may fold on its absence
                    from coarsen.deps import MISSING
                    self.ctx.reads.attr(base.obj, attr, MISSING)
                hint = None
                if inspect.ismodule(base.obj) and base.obj.__name__.split(".")[0] in ("numpy", "math", "scipy"):
                    from coarsen.frontend.calls import nearest
                    close = nearest(f"{base.obj.__name__}.{attr}")
                    hint = f"the nearest supported: {', '.join(close)}" if close else None
                what = f"module {base.obj.__name__!r}" if inspect.ismodule(base.obj) else describe(base)
                fail(self, AttributeError(attr), f"{what} has no attribute `{attr}`", node, hint)
            obj = getattr(base.obj, attr)
            if self.ctx.reads is not None:
                self.ctx.reads.attr(base.obj, attr, obj)
            return self.from_python(obj, node)
        if isinstance(base, Value) and base.type.rank:
            if attr == "T":
                return self.emit(Op.TRANSPOSE, (base,), node)
            if attr in ("shape", "ndim", "size"):
                return self.shape_attribute(base, attr, node)
            if attr in _array_methods():
                return Method(base, attr)
        if isinstance(base, (tuple, Value)):   # no Python object it may be has it: plain Python's
            kinds = (tuple, list) if isinstance(base, tuple) else (np.ndarray,) if base.type.rank else \
                (float, int, bool, np.float64, np.int64, np.bool_, np.ndarray)   # AttributeError (try folds)
            if not any(hasattr(k, attr) for k in kinds):
                from coarsen.frontend.exceptions import fail
                fail(self, AttributeError(attr), f"{describe(base)} has no attribute `{attr}`", node)
        self.unsupported(f"attribute `.{attr}` of {describe(base)} is not supported", node,
                         "arrays support .T, .shape, .ndim, .size and the methods " + ", ".join(sorted(_array_methods())))

    def shape_attribute(self, base: Value, attr: str, node: ast.AST) -> Any:
        """`x.shape` (a tuple of i64), `x.ndim`, `x.size` of an array or a scalar (np.shape(2.0))."""
        if attr == "shape":
            return tuple(self.emit(Op.SHAPE, (base,), node, {"dim": d}) for d in range(base.type.rank))
        if attr == "ndim":
            return self.b.const(base.type.rank)
        size = self.b.const(1)
        for d in range(base.type.rank):
            size = self.emit(Op.MUL, (size, self.emit(Op.SHAPE, (base,), node, {"dim": d})), node)
        return size

    # ------------------------------------------------------------------ operators
    def expr_BinOp(self, node: ast.BinOp) -> Any:
        return self.binop(node.op, self.expr(node.left), self.expr(node.right), node)

    def sequence_binop(self, op: ast.operator, left: Any, right: Any, node: ast.AST) -> tuple:
        """Python's `+` (concatenation) of two lists or two tuples and `*` (repetition) of one
        by an int known when tracing; the result is a new list (`ListItems`) or tuple."""
        from coarsen.frontend.containers import ListItems
        lists = (ListItems, SharedList, list)   # (a list argument is a Python list)
        kind = ListItems if isinstance(left, lists) or isinstance(right, lists) else tuple
        if isinstance(op, ast.Add) and isinstance(left, tuple) and isinstance(right, tuple):
            # (a list + a tuple, Python's TypeError, is not told apart: a list carried through
            # a loop may be a plain tuple here)
            return kind(left + right)
        if isinstance(op, ast.Mult) and isinstance(left, tuple) != isinstance(right, tuple):
            seq, count = (left, right) if isinstance(left, tuple) else (right, left)
            n = self.constant_of(count) if isinstance(count, Value) and not count.type.rank else None
            if isinstance(n, (int, np.integer)) and not isinstance(n, (bool, np.bool_)):
                return kind(seq * int(n))
        self.unsupported(f"the operator {self.op_symbol(op)} on tuples or lists is not supported here",
                         node, "lists and tuples support + (of two) and * by an int known when "
                         "tracing; for arithmetic on the items, make an array: np.array([...])")

    def binop(self, op: ast.operator, left: Any, right: Any, node: ast.AST) -> Value:
        code = _BINOPS.get(type(op))
        if code is None:
            self.unsupported(f"the operator {self.op_symbol(op)} is not supported", node,
                             "use arithmetic, comparisons, & and | on booleans")
        if isinstance(left, tuple) or isinstance(right, tuple):
            return self.sequence_binop(op, left, right, node)
        a, b = self.as_value(left, node), self.as_value(right, node)
        if code in (Op.AND, Op.OR) and (a.type.dtype != "bool" or b.type.dtype != "bool"):
            self.unsupported(f"the operator {self.op_symbol(op)} on integers (bitwise) is not supported", node,
                             "use it on booleans (comparisons) only")
        if code is Op.MATMUL and (a.type.rank == 0 or b.type.rank == 0):
            self.type_error("@ needs arrays on both sides", node, "use * to scale by a scalar")
        if code is Op.POW and not a.type.rank and not b.type.rank and "f64" not in (a.type.dtype, b.type.dtype):
            return self.int_power(a, b, node)
        if code is Op.MATMUL:   # bool @ bool: NumPy's logical product (`ops.linalg.matmul`)
            from coarsen.ops.linalg import matmul
            return matmul(self, a, b, node)
        if code in (Op.ADD, Op.SUB) and not a.type.rank and not b.type.rank and self.numpy_bool_sum(a, b):
            self.refuse_numpy_bool(code, node)
        if code is Op.MUL and not a.type.rank and not b.type.rank and a.type.dtype == b.type.dtype == "i64":
            return self.int_product(a, b, node)
        if code in (Op.ADD, Op.SUB) and not a.type.rank and not b.type.rank \
                and a.type.dtype == b.type.dtype == "i64":
            return self.int_sum(code, a, b, node)
        if code in (Op.MOD, Op.FLOORDIV) and not a.type.rank and not b.type.rank \
                and a.type.dtype == b.type.dtype == "i64" \
                and (a.id in self.ctx.numpy_scalars or b.id in self.ctx.numpy_scalars):
            # an element or reduction of an int64 array is a NumPy scalar: NumPy's 0 for a zero
            # divisor (with a RuntimeWarning), its wrapping quotient; the result is one too
            return self.emit(code, (a, b), node)
        if code in (Op.MOD, Op.FLOORDIV) and not a.type.rank and not b.type.rank \
                and a.type.dtype == b.type.dtype == "i64":
            # Python's ints raise (machine code's integer division returns 0; np.mod is a call)
            from coarsen.frontend.exceptions import runtime_check
            runtime_check(self, self.emit(Op.EQ, (b, self.b.const(0)), node), ZeroDivisionError,
                          "integer modulo by zero" if code is Op.MOD else "integer division or modulo by zero",
                          node)
            if code is Op.FLOORDIV:
                self.int_quotient_check(a, b, node)
        return self.emit(code, (a, b), node)

    def int_quotient_check(self, a: Value, b: Value, node: ast.AST | None) -> None:
        """`a // b` of Python ints: (-2**63) // -1 is 2**63 in Python, beyond int64 (NumPy's int64
        wraps it to -2**63, Numba's machine code gives 0): an OverflowError, as `int_product`.
        Not tested: a constant divisor other than -1 or a constant dividend other than -2**63, and
        an element of an int64 array (a NumPy scalar, NumPy's wrapping quotient)."""
        from coarsen.frontend.exceptions import runtime_check
        ka, kb = self.constant_of(a), self.constant_of(b)
        if (ka is not None and kb is not None) or a.id in self.ctx.numpy_scalars or b.id in self.ctx.numpy_scalars:
            return
        lo = -2 ** 63
        if (kb is not None and int(kb) != -1) or (ka is not None and int(ka) != lo):
            return
        hit = [self.emit(Op.EQ, (v, self.b.const(k)), node) for v, k, c in ((a, lo, ka), (b, -1, kb)) if c is None]
        big = hit[0] if len(hit) == 1 else self.emit(Op.AND, tuple(hit), node)
        runtime_check(self, big, OverflowError, f"{self.src.loc(node)}: an integer quotient beyond int64 "
                      "((-2**63) // -1 is 2**63 in Python; compiled code computes ints in int64): make an "
                      "operand a float where a float result will do", node)

    def int_product(self, a: Value, b: Value, node: ast.AST | None) -> Value:
        """`a * b` of Python ints, computed in int64: an OverflowError where the product leaves
        int64 (Python's ints never wrap: n * n of n = 2**40 was 0); of an element of an int64
        array (a NumPy scalar), NumPy's wrapping product. The test is the product in
        float64 against 2**63, which can only err towards raising (within an ulp of 2**63)."""
        from coarsen.frontend.exceptions import runtime_check
        if self.constant_of(a) is not None and self.constant_of(b) is not None:
            return self.emit(Op.MUL, (a, b), node)   # folded in Python's ints, exact (3**45)
        if a.id in self.ctx.numpy_scalars or b.id in self.ctx.numpy_scalars:
            return self.emit(Op.MUL, (a, b), node)   # x[0] * k: NumPy's int64, wrapping
        fa, fb = (self.emit(Op.CAST, (v,), node, {"dtype": "f64", "explicit": True}) for v in (a, b))
        big = self.emit(Op.GE, (self.emit(Op.ABS, (self.emit(Op.MUL, (fa, fb), node),), node),
                                self.b.const(2.0 ** 63)), node)
        runtime_check(self, big, OverflowError, f"{self.src.loc(node)}: an integer product beyond int64 (Python's "
                      "ints do not wrap; compiled code computes them in int64): start the product from a float "
                      "(f = 1.0) where a float result will do", node)
        return self.emit(Op.MUL, (a, b), node)

    def int_sum(self, code: Op, a: Value, b: Value, node: ast.AST | None) -> Value:
        """`a + b`, `a - b` of Python ints in int64: an OverflowError where the result leaves
        int64 (`n = n + n` seventy times was 0), tested as `int_product` does. Not tested: a
        constant folded when tracing (exact), NumPy int64 scalars (they wrap), and a counted
        loop's index or an array's size plus or minus a small constant or another such value
        (`x[i + 1]`, `i - j`, `len(x) - 1`: ranges run within int64, and only ranges of 2**62 and more
        could leave it)."""
        from coarsen.frontend.exceptions import runtime_check
        ka, kb = self.constant_of(a), self.constant_of(b)
        if ka is not None and kb is not None:
            return self.emit(code, (a, b), node)
        if a.id in self.ctx.numpy_scalars or b.id in self.ctx.numpy_scalars:
            return self.emit(code, (a, b), node)   # NumPy's int64, wrapping
        small = lambda k: isinstance(k, (int, np.integer)) and abs(int(k)) < 2 ** 31
        ranged = self.ctx.range_ints
        if (a.id in ranged and (small(kb) or b.id in ranged)) or (b.id in ranged and small(ka)):
            result = self.emit(code, (a, b), node)
            ranged.add(result.id)   # (each such step moves less than 2**31 further)
            return result
        hi, lo = 2 ** 63 - 1, -2 ** 63
        if small(kb) or small(ka):   # one comparison: x + k > hi where x > hi - k, ...
            k, x = (int(kb), a) if small(kb) else (int(ka), b)
            if code is Op.ADD or x is a:
                k = k if code is Op.ADD else -k   # x + k, x - k
                big = (Op.GT, hi - k) if k >= 0 else (Op.LT, lo - k)
            else:                                 # k - x
                big = (Op.LT, k - hi) if k >= 0 else (Op.GT, k - lo)
            big = self.emit(big[0], (x, self.b.const(big[1])), node)
        else:
            fa, fb = (self.emit(Op.CAST, (v,), node, {"dtype": "f64", "explicit": True}) for v in (a, b))
            big = self.emit(Op.GE, (self.emit(Op.ABS, (self.emit(code, (fa, fb), node),), node),
                                    self.b.const(2.0 ** 63)), node)
        runtime_check(self, big, OverflowError, f"{self.src.loc(node)}: an integer "
                      f"{'sum' if code is Op.ADD else 'difference'} beyond int64 (Python's ints do not wrap; "
                      "compiled code computes them in int64): make an operand a float where a float result "
                      "will do", node)
        return self.emit(code, (a, b), node)

    def int_power(self, base: Value, exponent: Value, node: ast.AST) -> Value:
        """`int ** int` of Python ints (int64 here): an int for an exponent >= 0 (as in Python;
        an OverflowError beyond int64, `int_product`), a float for a constant negative one (0 ** -k raises
        ZeroDivisionError, as Python). A run-time exponent that is an int argument of the
        traced function is refused, so the trace is specialised to its value (`frontend.trace`);
        any other is computed in int64, and a negative value raises (Python's result would be a
        float, which an int64 program cannot return)."""
        from coarsen.frontend.exceptions import python_error, runtime_check

        base, exponent = (self.emit(Op.CAST, (v,), node, {"dtype": "i64"}) if v.type.dtype == "bool" else v
                          for v in (base, exponent))
        if base.id in self.ctx.numpy_scalars or exponent.id in self.ctx.numpy_scalars:
            # a NumPy int64 scalar: NumPy's ValueError for a negative exponent, its wrapping power
            self.int_array_power(exponent, node)
            result = self.emit(Op.INT_POWER, (base, exponent), node)
            self.ctx.numpy_scalars.add(result.id)
            return result
        k = self.constant_of(exponent)
        zero = self.b.const(0)
        if isinstance(k, (int, bool)) and k < 0:   # a float in Python
            if self.constant_of(base) == 0:
                python_error(self, ZeroDivisionError("0.0 cannot be raised to a negative power"), node,
                             "a negative power of 0 is undefined")
            runtime_check(self, self.emit(Op.EQ, (base, zero), node), ZeroDivisionError,
                          "0.0 cannot be raised to a negative power", node)
            as_float = self.emit(Op.CAST, (base,), node, {"dtype": "f64", "explicit": True})
            return self.emit(Op.POW, (as_float, self.b.const(float(k))), node)
        if isinstance(k, (int, bool)):
            result, square = self.b.const(1), base   # square-and-multiply: Python's int result
            while k:
                if k & 1:
                    result = self.int_product(result, square, node)
                k >>= 1
                if k:
                    square = self.int_product(square, square, node)
            return result
        if not self.b.shaped and self._from_int_argument(exponent):
            self.unsupported("`int ** n` with a run-time int exponent n: Python's result is an int for n >= 0 "
                             "and a float for n < 0", node, "pass n as a compile-time int, or write float(a) ** n")
        negative = self.emit(Op.LT, (exponent, zero), node)
        runtime_check(self, self.emit(Op.AND, (negative, self.emit(Op.EQ, (base, zero), node)), node),
                      ZeroDivisionError, "0.0 cannot be raised to a negative power", node)
        runtime_check(self, negative, ValueError,
                      "int ** negative int: Python gives a float, which coarsen's int64 result cannot hold; "
                      "write float(a) ** n", node)
        return self.emit(Op.INT_POWER, (base, exponent), node)

    def _from_int_argument(self, value: Value, depth: int = 0) -> bool:
        """Whether `value` is computed from an int argument of the traced function (`n`, `n - 3`):
        refused there, the trace is specialised to the ints' values (`frontend.trace`)."""
        from coarsen.ops.lowering import producer

        params = getattr(self.ctx, "param_index", {})
        if value.id in params:
            return value.type.dtype == "i64" and not value.type.rank
        instr = producer(self, value) if depth < 16 else None
        return instr is not None and not instr.regions and any(
            self._from_int_argument(a, depth + 1) for a in instr.args)

    def expr_UnaryOp(self, node: ast.UnaryOp) -> Value:
        operand = self.expr(node.operand)
        if isinstance(operand, tuple) and not isinstance(node.op, ast.Not):
            symbol = {ast.USub: "-", ast.UAdd: "+", ast.Invert: "~"}.get(type(node.op), "")
            self.type_error(f"bad operand type for unary {symbol}: a tuple", node,
                            "apply it to the elements, or to np.array(...)")
        if isinstance(node.op, ast.UAdd):
            value = self.as_value(operand, node)
            if value.type.dtype == "bool" and value.type.rank or "bool" in self.numpy_dtypes(value):
                self.unsupported("unary + of NumPy booleans: NumPy raises a TypeError", node,
                                 "convert first: b.astype(int)")
            return value
        if isinstance(node.op, ast.Not):   # Python's bool, whatever the operand
            return self.python_scalar(self.emit(Op.NOT, (self.truth(operand, node),), node))
        value = self.as_value(operand, node)
        if isinstance(node.op, ast.USub) and not value.type.rank and "bool" in self.numpy_dtypes(value):
            self.refuse_numpy_bool(Op.NEG, node)
        if isinstance(node.op, ast.USub):
            return self.emit(Op.NEG, (value,), node)
        if value.type.dtype != "bool":
            self.unsupported("bitwise ~ on numbers is not supported", node, "use `not` or ~ on booleans")
        if not value.type.rank and value.id in self.ctx.mixed_scalars:
            self.unsupported("~ of a bool that is NumPy's on one path into here and Python's on another: "
                             "NumPy's ~ is its negation, Python's ~True is -2", node,
                             "use `not b` (or np.logical_not(b))")
        if not value.type.rank and value.id not in self.ctx.numpy_scalars:
            # a Python bool (an argument, `n > 2`), or one whose origin a branch or loop hid: Python's
            # ~True is -2 (an int), NumPy's ~np.True_ is False
            self.unsupported("~ of a Python bool is its bitwise inversion (~True is -2), not its negation", node,
                             "use `not b` (or np.logical_not(b))")
        return self.emit(Op.NOT, (value,), node)

    def expr_Compare(self, node: ast.Compare) -> Value:
        from coarsen.frontend import introspection
        first = None   # the operands of a single comparison, each lowered once
        if len(node.ops) == 1 and (type(node.ops[0]) in _OTHER_COMPARISONS or type(node.ops[0]) in (ast.Eq, ast.NotEq)):
            first = (self.expr(node.left), self.expr(node.comparators[0]))
            if introspection.is_static_comparison(self, node, *first):   # `x is None`, `mode == "a"`
                return introspection.static_comparison(self, node, *first)
        for op in node.ops:
            if type(op) not in _COMPARE:
                word = _OTHER_COMPARISONS.get(type(op), type(op).__name__)
                self.unsupported(f"`{word}` comparisons are not supported", node,
                                 "compare numbers with <, <=, >, >=, ==, != (and booleans with ==)")
        raw_left = first[0] if first else self.expr(node.left)
        if first and (isinstance(first[0], tuple) or isinstance(first[1], tuple)):
            return self.compare_tuples(node, *first)
        if isinstance(raw_left, tuple):
            self.unsupported("comparisons of tuples other than == and != are not supported", node,
                             "compare their elements")
        left = self.as_value(raw_left, node.left)
        return self.compare_chain(node, left, 0, first[1] if first else None)

    def compare_tuples(self, node: ast.Compare, a: Any, b: Any) -> Value:
        """`a == b` / `a != b` of tuples (or lists): Python's one bool, element by element (a
        tuple never equals a number or an array); ordering comparisons are refused."""
        op = type(node.ops[0])
        if op not in (ast.Eq, ast.NotEq):
            self.unsupported("ordering comparisons of tuples (lexicographic) are not supported", node,
                             "compare their elements")
        equal: Value = self.b.const(isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b))
        if self.constant_of(equal):
            for x, y in zip(a, b):
                if isinstance(x, tuple) or isinstance(y, tuple):
                    self.unsupported("comparisons of nested tuples are not supported", node, "compare their elements")
                if x is y and isinstance(x, Value) and not x.type.rank:
                    # Python compares elements as `x is y or x == y`: one traced value is one
                    # object (a name, an element read twice from one tuple), so a NaN equals
                    # itself here; every computation makes a new value (the builder does no
                    # CSE), as Python makes a new float
                    continue
                x, y = self.as_value(x, node), self.as_value(y, node)
                if x.type.rank or y.type.rank:
                    self.unsupported("== of tuples holding arrays takes each array's truth value: Python "
                                     "raises ValueError", node, "compare the arrays with np.array_equal or np.all(a == b)")
                equal = self.emit(Op.AND, (equal, self.emit(Op.EQ, (x, y), node)), node)
        return equal if op is ast.Eq else self.emit(Op.NOT, (equal,), node)

    def compare_chain(self, node: ast.Compare, left: Value, k: int, right_binding: Any = None) -> Value:
        """`a < b < c` is `(a < b) and (b < c)`, b evaluated once: the rest of the chain runs
        only where the first link holds (Python's short-circuit), and a link that is an array
        is refused there (Python takes its truth value, which is ambiguous for arrays)."""
        comparator = node.comparators[k]
        raw = right_binding if right_binding is not None else self.expr(comparator)
        if isinstance(raw, tuple):
            self.unsupported("comparisons of tuples other than == and != are not supported", node,
                             "compare their elements")
        right = self.as_value(raw, comparator)
        test = self.emit(_COMPARE[type(node.ops[k])], (left, right), node)
        if k == len(node.ops) - 1:
            return test
        if test.type.rank:
            self.unsupported("a chained comparison of arrays (`0 < x < 1`) takes the truth value of its "
                             "first link, an array: Python raises ValueError", node,
                             "compare elementwise: (0 < x) & (x < 1)")
        false = self.b.const(False)
        return self.if_value(test, lambda: self.compare_chain(node, right, k + 1), lambda: false, node)

    def expr_BoolOp(self, node: ast.BoolOp) -> Any:
        """`a and b`, `a or b` with Python's short-circuit: b runs only when it decides."""
        value = self.expr(node.values[0])
        for operand in node.values[1:]:
            test = self.truth(value, node)
            if isinstance(node.op, ast.Or):
                test = self.emit(Op.NOT, (test,), node)
            first = value
            value = self.if_value(test, lambda operand=operand: self.expr(operand), lambda: first, node)
        return value

    def expr_IfExp(self, node: ast.IfExp) -> Any:
        cond = self.truth(self.expr(node.test), node.test)
        return self.if_value(cond, lambda: self.expr(node.body), lambda: self.expr(node.orelse), node)

    def if_value(self, cond: Value, then, otherwise, node) -> Any:
        def side(build):
            def run() -> None:
                self.env["$value"] = build()
            return run
        self.lower_if(cond, side(then), side(otherwise), node)
        return self.env.pop("$value")

    # ------------------------------------------------------------------ subscripts
    def operand(self, node: ast.expr) -> Any:
        """`self.expr(node)`, where a boolean-mask read `x[m]` may be a `masks.Masked` (for the
        consumers that take it whole: reductions, len, .size, a masked write's value)."""
        return self.expr_Subscript(node, masks=True) if isinstance(node, ast.Subscript) else self.expr(node)

    def expr_Subscript(self, node: ast.Subscript, masks: bool = False) -> Any:
        base = self.expr(node.value)
        if isinstance(base, (tuple, list)):   # a list: a list argument, read as JAX reads one
            what = "tuple" if isinstance(base, tuple) else "list"
            key = self.static_value(self.expr(node.slice), node.slice, f"a {what} index") \
                if not isinstance(node.slice, ast.Slice) else None
            if isinstance(node.slice, ast.Slice):
                parts = [None if p is None else self.static_value(self.expr(p), p, f"a {what} slice bound")
                         for p in (node.slice.lower, node.slice.upper, node.slice.step)]
                items = base[slice(*parts)]
                # a list's slice is a new list (NumPy's index array, returned as a list); a tuple's a tuple
                return items if type(base) is tuple or isinstance(base, list) else ListItems(items)
            if not isinstance(key, (int, np.integer)) or isinstance(key, (bool, np.bool_)) \
                    or not -len(base) <= key < len(base):
                self.type_error(f"{what} index {key!r} is out of range for a {what} of {len(base)}", node)
            return base[int(key)]
        if isinstance(base, dict):
            key = self.static_value(self.expr(node.slice), node.slice, "a dict key")
            if key not in base:
                from coarsen.frontend.exceptions import fail
                fail(self, KeyError(key), f"key {key!r} is not in the dict (keys: {', '.join(sorted(base))})",
                     node)
            return base[key]
        if not isinstance(base, Value) or not base.type.rank:
            self.unsupported(f"cannot index {describe(base)}", node)
        pattern, index = self.index(node.slice, base, node, arrays=True, masks=True)
        if pattern == ("m",):
            from coarsen.frontend import masks as masking
            if not masks:
                masking.escaping(self, node)
            return masking.select(self, base, index[0], node)
        if "a" in pattern:
            return self.gather(base, pattern, index, node)
        view = self.emit(Op.GETITEM, (base, *index), node, {"index": pattern})
        self.ctx.aliases.row_view(view, base, pattern, index, ast.unparse(node))   # for the alias check
        return view

    def gather(self, base: Value, pattern: tuple[str, ...], index: list[Value], node: ast.AST) -> Value:
        """x[...] with int64 index arrays ("a" in `pattern`), NumPy's advanced indexing: ints
        and slices index first, the indexed axes move to the front, `take` gathers, and the
        gathered axis goes where NumPy puts it (see `coarsen.ops.indexing`)."""
        if "n" in pattern:
            self.unsupported("np.newaxis (None) together with index arrays is not supported", node,
                             "index first, then add the axis: y = x[idx]; y[:, None]")
        if sum(p != "n" for p in pattern) > base.type.rank:
            self.type_error(f"too many indices ({len(pattern)}) for an array of rank {base.type.rank}", node)
        basic: list[str] = []
        basic_values: list[Value] = []
        arrays: list[Value] = []
        axes: list[int] = []       # the arrays' axes after basic indexing
        values = iter(index)
        dropped = 0
        for k, p in enumerate(pattern):
            if p == "a":
                arrays.append(next(values))
                axes.append(k - dropped)
                basic.append("s000")
                continue
            if p == "i":
                dropped += 1
                basic_values.append(next(values))
            else:
                basic_values.extend(next(values) for flag in p[1:] if flag == "1")
            basic.append(p)
        if len(arrays) > 3:
            self.unsupported("more than three index arrays in one subscript are not supported", node,
                             "gather in steps: y = x[i0, i1]; ...")
        y = base
        if any(p != "s000" for p in basic):
            y = self.emit(Op.GETITEM, (base, *basic_values), node, {"index": tuple(basic)})
        rest = [a for a in range(y.type.rank) if a not in axes]
        if axes != list(range(len(axes))):
            y = self.emit(Op.PERMUTE, (y,), node, {"axes": tuple(axes + rest)})
        name = ast.unparse(node.value) if isinstance(node, ast.Subscript) else (base.hint or "")
        user_axes = tuple(k for k, p in enumerate(pattern) if p == "a")
        out = self.emit(Op.TAKE, (y, *arrays), node, {"axes": user_axes, "name": name})
        advanced = [k for k, p in enumerate(pattern) if p in ("i", "a")]
        adjacent = advanced == list(range(advanced[0], advanced[-1] + 1))
        target = advanced[0] if adjacent else 0    # NumPy: in place if adjacent, else first
        if target:   # the broadcast index shape's axes (m of them) go to `target`
            m = max(a.type.rank for a in arrays)
            others = list(range(m, out.type.rank))
            order = others[:target] + list(range(m)) + others[target:]
            out = self.emit(Op.PERMUTE, (out,), node, {"axes": tuple(order)})
        return out

    def index(self, node: ast.expr, array: Value, where: ast.AST, arrays: bool = False,
              masks: bool = False) -> tuple[tuple[str, ...], list[Value]]:
        """The index pattern ("i" an int, "a" an index array, "s..." a slice, "n" np.newaxis,
        with `masks` "m" for a boolean mask that is the only index) and its values."""
        parts = node.elts if isinstance(node, ast.Tuple) else [node]
        given: dict[int, Any] = {}   # a part's binding, where the index is a tuple held in a name
        if len(parts) == 1 and not isinstance(node, (ast.Slice, ast.List, ast.ListComp)):
            whole = self.expr(node)
            if type(whole) is tuple:   # x[iu], iu = np.triu_indices(n, 1): NumPy reads x[iu[0], iu[1]]
                if not whole or any(isinstance(b, tuple) for b in whole):
                    self.unsupported("indexing with a tuple of indices held in a variable is supported where "
                                     "its items are integers, index arrays, None or ...", node,
                                     "write the indices out: x[i, j]")
                parts = [node] * len(whole)
                given = dict(enumerate(whole))
            else:
                given = {0: whole}
        pattern: list[str] = []
        values: list[Value] = []
        ellipsis: int | None = None   # where `...` stood: as many full slices as axes are left
        for k, part in enumerate(parts):
            if isinstance(part, ast.Slice):
                flags = "s"
                for bound in (part.lower, part.upper, part.step):
                    if bound is None or (isinstance(bound, ast.Constant) and bound.value is None):
                        flags += "0"
                        continue
                    flags += "1"
                    values.append(self.index_value(self.expr(bound), bound))
                pattern.append(flags)
                continue
            binding = given[k] if k in given else self.expr(part)
            if isinstance(binding, Static) and binding.obj is None:
                pattern.append("n")
            elif isinstance(binding, Static) and binding.obj is Ellipsis:
                if ellipsis is not None:
                    self.type_error("an index can only have a single ellipsis ('...')", part)
                ellipsis = len(pattern)
            elif isinstance(binding, (tuple, list)) \
                    and (len(parts) > 1 or isinstance(part, (ast.List, ast.ListComp)) or type(binding) is not tuple) \
                    and arrays and (listed := self._int_list(binding)) is not None:
                # a list of ints beside other indices (x[1:, cols]), written in place (x[[0, 2]])
                # or held in a name (cols = [0, 2]; x[cols]): NumPy's index array
                pattern.append("a")
                values.append(listed)
            elif isinstance(binding, (tuple, list)) and arrays and type(binding) is not tuple \
                    and (stacked := self._int_values(binding, part)) is not None:
                # a list of run-time ints: x[[p, k]] (a row swap, U[[k, p]] = U[[p, k]])
                pattern.append("a")
                values.append(stacked)
            elif isinstance(binding, (tuple, list)):
                what = "a tuple" if type(binding) is tuple else "a list"
                self.unsupported(f"indexing with {what} of indices that are not all integers is not supported",
                                 part, "index with integers or integer arrays: x[i, j], x[[i, k]], x[idx]")
            elif masks and len(parts) == 1 and isinstance(binding, Value) and binding.type.rank \
                    and binding.type.dtype == "bool":
                pattern.append("m")
                values.append(binding)
            else:
                value = self.index_value(binding, part, arrays)
                pattern.append("a" if value.type.rank else "i")
                values.append(value)
        if ellipsis is not None:
            used = sum(p != "n" for p in pattern)
            pattern[ellipsis:ellipsis] = ["s000"] * max(array.type.rank - used, 0)
        return tuple(pattern), values

    def _int_values(self, binding: tuple | list, node: ast.AST) -> Value | None:
        """A non-empty list of int scalars (known or not when tracing) as an int64 index array."""
        if not binding or not all(isinstance(b, Value) and not b.type.rank and b.type.dtype == "i64"
                                  for b in binding):
            return None
        floats = tuple(self.cast_to(b, F64) for b in binding)   # exact: |index| < 2**53
        return self.cast_to(self.emit(Op.STACK, floats, node), Type("i64", 1))

    def _int_list(self, binding: tuple) -> Value | None:
        """A non-empty tuple binding of integers known when tracing, as an int64 index array."""
        ints = [self.constant_of(b) for b in binding]
        if not ints or any(type(i) is not int for i in ints):
            return None
        return self.b.const(np.array(ints, dtype=np.int64), type=Type("i64", 1))

    def index_value(self, binding: Any, node: ast.AST, arrays: bool = False) -> Value:
        value = self.as_value(binding, node)
        if value.type.rank:
            if value.type.dtype == "bool":
                self.unsupported("indexing with a boolean mask beside other indices is not supported (its "
                                 "result's length depends on the data)", node,
                                 "keep the shape and select: np.where(mask, x, 0.0); x[mask] alone compiles in "
                                 "sums, means, max/min, len and writes x[mask] = v")
            if value.type.dtype != "i64":
                self.unsupported("array indices must be integer arrays; this one holds floats", node,
                                 "pass an integer array (np.array([...], dtype=int)), or convert: idx.astype(int)")
            return value
        if value.type.dtype == "f64":
            self.type_error("array indices must be integers", node, "convert with int(...)")
        if value.type.dtype == "bool":   # NumPy: a 0-d mask (x[True] adds an axis), not 0 or 1
            self.unsupported("indexing with a boolean (True/False) is not supported: NumPy reads it "
                             "as a mask that adds an axis, not as the index 0 or 1", node,
                             "index with int(...) if you mean 0 or 1, or choose: x if c else y")
        return value
