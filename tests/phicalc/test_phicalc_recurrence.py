"""Loop closed forms against literally iterating the loop, partial answers, the time budget,
and the step adjoint."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from phicalc import Geom, Phi, Recurrence, closed_form, vjp
from phicalc_helpers import central_difference, close, compile_expr
from tests.timing import best_times

s, p, v, w, m, q, x, y, a, b, g, mu, lr, b1, b2 = sp.symbols(
    "s p v w m q x y a b g mu lr b1 b2", real=True)
i = sp.Symbol("i", integer=True)
c = sp.Symbol("c")  # a recorded bool
n, start, step = sp.symbols("n start step", integer=True)

# name -> (recurrence, sampler of invariant values); initial values are drawn separately.
CASES = {
    "accumulate": Recurrence((s,), (s + x,)),
    "affine": Recurrence((s,), (a * s + b,)),
    "product": Recurrence((p,), (p * x,)),
    "index_sum": Recurrence((s,), (s + i * x,), i),
    "index_square": Recurrence((s,), (s + i ** 2,), i),
    "triangular": Recurrence((s, p), (s + p, p * x)),
    "momentum": Recurrence((v, w), (mu * v + g, w - lr * v)),
    "affine_index": Recurrence((s,), (a * s + i,), i),
    "index_power": Recurrence((p,), (p * x ** i,), i),
    "overwrite": Recurrence((s, q), (s + q, i * x), i),
    "adam_like": Recurrence((m, v, w), (b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g ** 2,
                                        w - lr * (m + v))),
    "branch_invariant": Recurrence((s,), (s + Phi(c, x, y * s),)),
    "affine_symbolic_coeff": Recurrence((w,), (w - lr * (x * w - y),)),
}

special = st.sampled_from([1.0, -1.0, 0.0, 1 + 1e-9, 1 - 1e-7, 0.5])
invariant = st.one_of(special, st.floats(-1.5, 1.5, allow_nan=False))


@functools.lru_cache(maxsize=None)
def solved(name: str):
    """(initial-value symbols, closed forms in n, start, step, compiled evaluator) per case."""
    rec = CASES[name]
    inits = sp.symbols(" ".join(f"{sym.name}_0" for sym in rec.state), real=True, seq=True)
    forms = closed_form(rec, inits, n, start, step)
    assert forms is not None and all(f is not None for f in forms), forms
    fn = compile_expr(list(forms), list(inits) + list(rec.invariants) + [n, start, step])
    return inits, forms, fn


@functools.lru_cache(maxsize=None)
def step_function(rec: Recurrence):
    params = list(rec.state) + list(rec.invariants) + ([rec.index] if rec.index else [])
    return compile_expr(list(rec.update), params)


def iterate(rec: Recurrence, init, inv: dict, count: int, i0: int, di: int):
    fn = step_function(rec)
    state = list(init)
    scale = max([1.0] + [abs(v) for v in state])
    for k in range(count):
        extra = [i0 + k * di] if rec.index else []
        state = [float(u) for u in fn(*state, *[inv[sym] for sym in rec.invariants], *extra)]
        scale = max([scale] + [abs(u) for u in state])
    return state, scale


@pytest.mark.parametrize("name", sorted(CASES))
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_closed_form_matches_iteration(name, data):
    rec = CASES[name]
    inits, forms, fn = solved(name)
    count = data.draw(st.integers(0, 30), "n")
    i0, di = data.draw(st.integers(-3, 3), "start"), data.draw(st.integers(-2, 2), "step")
    inv = {sym: (data.draw(st.booleans(), sym.name) if sym == c
                 else data.draw(invariant, sym.name)) for sym in rec.invariants}
    if name == "index_power":  # keep x**(sum of indices) in range
        inv[x] = data.draw(st.floats(0.8, 1.2), "x")
        i0, di = data.draw(st.integers(-1, 1)), data.draw(st.integers(-1, 1))
    init = [data.draw(st.floats(-2, 2, allow_nan=False), f"init{j}") for j in range(len(inits))]
    expected, scale = iterate(rec, init, inv, count, i0, di)
    with np.errstate(all="ignore"):
        got = fn(*init, *[inv[sym] for sym in rec.invariants], count, i0, di)
    for gv, ev in zip(got, expected):
        assert close(float(gv), ev, 1e-8, 1e-9 * scale), (forms, gv, ev)


def test_closed_form_shapes():
    s0, p0 = sp.symbols("s0 p0", real=True)
    assert closed_form(CASES["accumulate"], [s0], n) == (s0 + n * x,)
    assert closed_form(CASES["affine"], [s0], n) == (a ** n * s0 + b * Geom(a, n),)
    assert closed_form(CASES["product"], [p0], n) == (p0 * x ** n,)
    (tri_s, tri_p) = closed_form(CASES["triangular"], [s0, p0], n)
    assert tri_p == p0 * x ** n and tri_s == s0 + p0 * Geom(x, n)
    (sq,) = closed_form(CASES["index_square"], [s0], n)
    assert sp.expand(sq - s0 - n * (n - 1) * (2 * n - 1) / 6) == 0
    # no Sum, Product or division by a symbol survives
    for name, rec in CASES.items():
        inits = sp.symbols(" ".join(f"{sym.name}_0" for sym in rec.state), real=True, seq=True)
        for f in closed_form(rec, inits, n):
            assert not f.has(sp.Sum, sp.Product, sp.Piecewise), (name, f)
            assert not any(pw.exp.is_negative and pw.base.has(a, mu, b1, b2, x)
                           for pw in f.atoms(sp.Pow)), (name, f)


def test_partial_and_missing_closed_forms():
    s0, q0 = sp.symbols("s0 q0", real=True)
    # q has no closed form; s does not read it, so s still gets one.
    assert closed_form(Recurrence((s, q), (s + x, sp.sin(q))), [s0, q0], n) == (s0 + n * x, None)
    # s reads q: nothing is solvable.
    assert closed_form(Recurrence((s, q), (s + q, sp.sin(q))), [s0, q0], n) is None
    assert closed_form(Recurrence((s,), (sp.sin(s),)), [s0], n) is None
    # coupled components are not solved (even when a closed form exists)
    assert closed_form(Recurrence((s, q), (q, s)), [s0, q0], n) is None
    # Adam's w - lr*m/sqrt(v) has none, but its moment estimates do.
    m0, v0, w0 = sp.symbols("m0 v0 w0", real=True)
    adam = Recurrence((m, v, w), (b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g ** 2,
                                  w - lr * m / sp.sqrt(v)))
    forms = closed_form(adam, [m0, v0, w0], n)
    assert forms[0] is not None and forms[1] is not None and forms[2] is None
    # nonlinear in itself via a kink
    assert closed_form(Recurrence((s,), (sp.Abs(s) + x,)), [s0], n) is None
    # affine-looking, but s also picks the branch or jumps
    assert closed_form(Recurrence((s,), (s + Phi(s > 0, x, y),)), [s0], n) is None
    assert closed_form(Recurrence((s,), (s + sp.floor(s),)), [s0], n) is None


class _Clock:
    """A stand-in for `time` in phicalc's modules: each reading advances `tick` seconds, so a
    budget is spent after a known number of checks, whatever the machine's load."""

    def __init__(self, tick: float) -> None:
        self.now, self.tick = 0.0, tick

    def perf_counter(self) -> float:
        self.now += self.tick
        return self.now


def test_closed_form_respects_its_time_budget(monkeypatch):
    """The budget is checked before every component and before SymPy's summation fallback:
    on a clock where the budget is spent at the first check, no component is attempted
    and the fallback is never entered (no wall-clock bound: the test cannot go red under load)."""
    import phicalc.recurrence as recurrence
    import phicalc.summation as summation
    s0 = sp.Symbol("s0", real=True)
    hard = [s + 1 / (i + 1), s + sp.sin(i * x) / (i ** 2 + 1), s * (i + x) + sp.exp(i)]
    monkeypatch.setattr(recurrence, "time", _Clock(tick=10.0))
    monkeypatch.setattr(summation, "time", _Clock(tick=10.0))

    def no_summation(*args, **kw):
        raise AssertionError("SymPy's summation ran after the budget was spent")
    monkeypatch.setattr(summation.sp, "summation", no_summation)
    for update in hard + [s + x, a * s + b]:
        assert closed_form(Recurrence((s,), (update,), i), [s0], n, budget_s=1.0) is None
    # the same clock, budget not yet spent at the first check: the pattern path still solves
    # what it can without the fallback
    monkeypatch.setattr(recurrence, "time", _Clock(tick=0.0))
    monkeypatch.setattr(summation, "time", _Clock(tick=0.0))
    assert closed_form(Recurrence((s,), (s + x,), i), [s0], n, budget_s=1.0) == (s0 + n * x,)


def test_closed_form_is_fast_on_typical_loops(monkeypatch):
    """Typical loops are solved by the pattern path, never by SymPy's (slow) summation
    fallback: a structural check, not a wall-clock one."""
    import phicalc.summation as summation

    def no_summation(*args, **kw):
        raise AssertionError("a typical loop needed SymPy's summation fallback")
    monkeypatch.setattr(summation.sp, "summation", no_summation)
    for name, rec in CASES.items():
        inits = sp.symbols(" ".join(f"{sym.name}_0" for sym in rec.state), real=True, seq=True)
        closed_form(rec, inits, n)


@pytest.mark.parametrize("a_value", [1.0, 0.9, 1 + 1e-8, -0.5])
def test_affine_gradient_is_right_at_and_near_one(a_value):
    """d s_n / d a of the closed form (through Geom's rule) against differentiating the loop."""
    s0 = sp.Symbol("s0", real=True)
    (form,) = closed_form(CASES["affine"], [s0], n)
    grads = vjp([form], [a, b, s0], [1])
    count, b_value, s_value = 12, 0.3, 1.7
    fn = compile_expr(grads, [a, b, s0, n])
    got = fn(a_value, b_value, s_value, count)

    def loop(av, bv, sv):
        for _ in range(count):
            sv = av * sv + bv
        return sv

    point = (a_value, b_value, s_value)
    for j in range(3):
        fd = central_difference(loop, point, j, 1e-6)
        assert close(float(got[j]), fd, 1e-6, 1e-7), (j, got[j], fd)


@settings(max_examples=30, deadline=None)
@given(st.tuples(*[st.floats(-2, 2, allow_nan=False) for _ in range(6)]))
def test_step_vjp_matches_finite_differences(values):
    rec = Recurrence((s, p), (Phi(s > x, s * p + sp.sin(x), s - p * y), p * sp.exp(-s * s) + i * y), i)
    assert rec.invariants == (x, y)
    cs, cp = sp.symbols("cs cp", real=True)
    d_state, d_inv = rec.step_vjp([cs, cp])
    sv, pv, xv, yv, csv, cpv = values
    if abs(sv - xv) < 1e-3:
        return  # on the kink
    fn = compile_expr(list(d_state) + list(d_inv), [s, p, x, y, i, cs, cp])
    got = fn(sv, pv, xv, yv, 3, csv, cpv)
    step_fn = compile_expr(list(rec.update), [s, p, x, y, i])

    def dot(*args):
        out = step_fn(*args, 3)
        return csv * out[0] + cpv * out[1]

    for j in range(4):
        fd = central_difference(dot, (sv, pv, xv, yv), j, 1e-6)
        assert close(float(got[j]), fd, 1e-5, 1e-6), (j, got[j], fd)


def test_step_jvp_is_consistent_with_step_vjp():
    rec = Recurrence((s, p), (s * p + x, p * x - s ** 2))
    tangent = rec.step_jvp([1, 0], [0])
    cotangent = rec.step_vjp([1, 0])[0]
    assert sp.expand(tangent[0] - cotangent[0]) == 0


def test_recurrence_validates():
    with pytest.raises(ValueError):
        Recurrence((s,), (s, s))
    with pytest.raises(ValueError):
        Recurrence((s, s), (s, s))
    with pytest.raises(ValueError):
        closed_form(Recurrence((s,), (s + 1,)), [1, 2], n)


def test_large_trip_counts_stay_finite_and_exact():
    """A 1000-step affine loop: the closed form is O(1) to evaluate and agrees with the loop."""
    s0 = sp.Symbol("s0", real=True)
    (form,) = closed_form(CASES["affine"], [s0], n)
    fn = compile_expr([form], [a, b, s0, n])
    for av in (0.999, 1.0, 1.0 - 1e-12, 0.5):
        sv = 0.25
        for _ in range(1000):
            sv = av * sv + 0.01
        assert close(float(fn(av, 0.01, 0.25, 1000)[0]), sv, 1e-9, 1e-12)
    assert math.isfinite(float(fn(1.0, 0.01, 0.25, 10 ** 6)[0]))


def test_deeply_shared_bodies_are_refused_quickly():
    body = s
    for _ in range(30):
        body = body * body + x  # a 60-node DAG, a 2**30-node tree
    assert closed_form(Recurrence((s, p), (body, p + x)), [1, 0], n) == (None, n * x)
    # quickly: twice as deep costs a bounded factor more (measured ~11x: SymPy's construction
    # of the deeper DAG is not linear), where a tree walk would cost 2**30 times more;
    # measured in the same process, no wall-clock bound
    deeper = body
    for _ in range(30):
        deeper = deeper * deeper + x

    deep, shallow = best_times(lambda: closed_form(Recurrence((s, p), (deeper, p + x)), [1, 0], n),
                               lambda: closed_form(Recurrence((s, p), (body, p + x)), [1, 0], n),
                               repeats=3, before=sp.core.cache.clear_cache)
    ratio = deep / shallow
    assert ratio < 200, f"a 60-deep body took {ratio:.0f}x as long as a 30-deep one"
