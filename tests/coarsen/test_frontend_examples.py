"""The frontend on hand-written programs, the printer's golden output, and the verifier.

- every program of `frontend_examples.EXAMPLES` traces to IR that verifies and that the IR
  interpreter runs to CPython's result;
- the printed IR of a few functions matches the golden files in tests/coarsen/golden
  (`pytest --update-golden` rewrites them; review the diff);
- IR broken by hand (built with `coarsen.ir.builder.Builder`) fails verification with an
  `InternalError` naming the pass and the broken invariant.
"""
from __future__ import annotations

import numpy as np
import pytest

import coarsen
import frontend_examples as fe
from coarsen import tree
from coarsen.ir import BOOL, F64, I64, Builder, Function, Instr, Op, Region, Type, format_function, verify
from test_generated_programs import assert_same


@pytest.mark.parametrize("name", sorted(fe.EXAMPLES))
def test_example_matches_cpython(name):
    fn, arg_sets = fe.EXAMPLES[name]
    for args in arg_sets:
        ir = verify(coarsen.trace(fn, *args), "frontend")
        assert_same(fn(*args), coarsen.interpret(ir, *args))


def test_example_traced_once_runs_on_other_inputs():
    ir = coarsen.trace(fe.early_returns, 1.5, 3)
    for x in (-1.0, 0.2, 1.5, 100.0):
        for n in (0, 1, 3):
            assert coarsen.interpret(ir, x, n) == fe.early_returns(x, n)


@pytest.mark.parametrize("name, args", [
    ("for_loops", (0.5, 4)),
    ("while_break_continue", (1.0, 5.0)),
    ("element_writes", (np.array([1.0, -2.0]), 4)),
    ("early_returns", (1.5, 3)),
    ("calls", (np.array([0.5, -1.0]), np.array([2.0, 0.25]))),
])
def test_printer_golden(golden, name, args):
    text = format_function(coarsen.trace(getattr(fe, name), *args))
    golden(f"coarsen/golden/{name}.ir", text)


def test_printing_is_deterministic():
    texts = {format_function(coarsen.trace(fe.early_returns, 1.5, 3)) for _ in range(3)}
    assert len(texts) == 1


def test_explain_prints_the_ir(capsys):
    text = coarsen.explain(fe.accumulate, np.ones(3))
    assert "func accumulate(%x: f64[?]) -> (f64):" in capsys.readouterr().out
    assert "for %i = 0 to" in text


# ---------------------------------------------------------------- the verifier
def _function(b: Builder, params, yields, name="hand") -> Function:
    arg_tree = ("tuple", tuple(tree.LEAF for _ in params))
    result_tree = tree.LEAF if len(yields) == 1 else ("tuple", tuple(tree.LEAF for _ in yields))
    return Function(name, tuple(params), Region((), tuple(b.current), tuple(yields)), arg_tree, result_tree)


def test_hand_built_ir_verifies_and_runs():
    b = Builder()
    x, n = b.new_value(F64, "x"), b.new_value(I64, "n")
    body_i, body_s = b.new_value(I64, "i"), b.new_value(F64, "s")
    with b.region() as block:
        fi = b.emit(Op.CAST, (body_i,), {"dtype": "f64"})
        s2 = b.emit(Op.ADD, (body_s, b.emit(Op.MUL, (x, fi))))
    loop = Region((body_i, body_s), tuple(block), (s2,))
    (s,) = b.emit_control(Op.FOR, (b.const(0), n, b.const(1), b.const(0.0)), [F64], (loop,))
    fn = verify(_function(b, [x, n], [s]))
    assert coarsen.interpret(fn, 2.0, 4) == 2.0 * (0 + 1 + 2 + 3)
    assert "for %i = 0 to %n step 1 iter(%s = 0.0)" in format_function(fn)


def _broken(build) -> str:
    b = Builder()
    params, yields = build(b)
    with pytest.raises(coarsen.InternalError) as info:
        verify(_function(b, params, yields), "hand-made")
    message = str(info.value)
    assert "IR verification failed after pass 'hand-made'" in message
    assert "func hand(" in message   # the excerpt of the broken function
    return message


def test_verifier_use_before_definition():
    def build(b):
        x = b.new_value(F64, "x")
        ghost = b.new_value(F64, "ghost")   # never defined
        return [x], [b.emit(Op.ADD, (x, ghost))]
    assert "used before it is defined" in _broken(build)


def test_verifier_double_definition():
    def build(b):
        x = b.new_value(F64, "x")
        y = b.emit(Op.NEG, (x,))
        b.current.append(Instr(Op.NEG, (x,), (y,)))
        return [x], [y]
    assert "defined twice" in _broken(build)


def test_verifier_wrong_result_type():
    def build(b):
        x = b.new_value(F64, "x")
        bad = b.new_value(I64, "bad")
        b.current.append(Instr(Op.ADD, (x, x), (bad,)))
        return [x], [bad]
    assert "result type" in _broken(build)


def test_verifier_type_rule_violation():
    def build(b):
        x = b.new_value(F64, "x")
        out = b.new_value(F64, "out")
        b.current.append(Instr(Op.SUM, (x,), (out,), {"axis": None}))   # sum of a scalar
        return [x], [out]
    assert "sum of a scalar" in _broken(build)


def test_verifier_if_condition_must_be_bool():
    def build(b):
        x = b.new_value(F64, "x")
        then, other = Region((), (), (x,)), Region((), (), (x,))
        (y,) = b.emit_control(Op.IF, (x,), [F64], (then, other))
        return [x], [y]
    assert "bool scalar condition" in _broken(build)


def test_verifier_if_branches_yield_result_types():
    def build(b):
        x, c = b.new_value(F64, "x"), b.new_value(BOOL, "c")
        with b.region() as block:
            k = b.const(1)
        then, other = Region((), tuple(block), (k,)), Region((), (), (x,))
        (y,) = b.emit_control(Op.IF, (c,), [F64], (then, other))
        return [x, c], [y]
    assert "region yields ['i64'], expected ['f64']" in _broken(build)


def test_verifier_value_does_not_escape_its_region():
    def build(b):
        x, c = b.new_value(F64, "x"), b.new_value(BOOL, "c")
        with b.region() as block:
            inner = b.emit(Op.NEG, (x,))
        b.emit_control(Op.IF, (c,), [], (Region((), tuple(block), ()), Region((), (), ())))
        return [x, c], [b.emit(Op.ADD, (inner, x))]   # `inner` lives in the then-region only
    assert "used before it is defined" in _broken(build)


def test_verifier_sibling_region_values_are_invisible():
    def build(b):
        x, c = b.new_value(F64, "x"), b.new_value(BOOL, "c")
        with b.region() as then_block:
            t = b.emit(Op.NEG, (x,))
        with b.region() as else_block:
            e = b.emit(Op.ADD, (t, x))   # reads the then-branch's value
        (y,) = b.emit_control(Op.IF, (c,), [F64], (Region((), tuple(then_block), (t,)),
                                                      Region((), tuple(else_block), (e,))))
        return [x, c], [y]
    assert "used before it is defined" in _broken(build)


def test_verifier_for_bounds_are_ints():
    def build(b):
        x = b.new_value(F64, "x")
        i, s = b.new_value(I64, "i"), b.new_value(F64, "s")
        loop = Region((i, s), (), (s,))
        (y,) = b.emit_control(Op.FOR, (b.const(0), x, b.const(1), x), [F64], (loop,))
        return [x], [y]
    assert "for bounds must be i64" in _broken(build)


def test_verifier_loop_carried_types_agree():
    def build(b):
        x, n = b.new_value(F64, "x"), b.new_value(I64, "n")
        i, s = b.new_value(I64, "i"), b.new_value(F64, "s")
        loop = Region((i, s), (), (i,))   # yields an i64 where the carried value is f64
        (y,) = b.emit_control(Op.FOR, (b.const(0), n, b.const(1), x), [F64], (loop,))
        return [x, n], [y]
    assert "region yields ['i64'], expected ['f64']" in _broken(build)


def test_verifier_while_condition_yields_bool():
    def build(b):
        x = b.new_value(F64, "x")
        cp, bp = b.new_value(F64, "c"), b.new_value(F64, "b")
        cond, body = Region((cp,), (), (cp,)), Region((bp,), (), (bp,))
        (y,) = b.emit_control(Op.WHILE, (x,), [F64], (cond, body))
        return [x], [y]
    assert "region yields ['f64'], expected ['bool']" in _broken(build)


def test_verifier_region_parameter_types():
    def build(b):
        x, n = b.new_value(F64, "x"), b.new_value(I64, "n")
        i, s = b.new_value(I64, "i"), b.new_value(Type("f64", 1), "s")
        loop = Region((i, s), (), (x,))
        (y,) = b.emit_control(Op.FOR, (b.const(0), n, b.const(1), x), [F64], (loop,))
        return [x, n], [y]
    assert "region parameters" in _broken(build)
