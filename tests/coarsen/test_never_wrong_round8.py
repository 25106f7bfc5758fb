"""What red-team round 8 found (each failed before its fix). Values against NumPy/Python,
gradients against torch.autograd and central differences, on the numpy and cpu targets.

- Loops whose backward replays a tape (while, for with break or with a branch on data) taped
  a module-level array constant and rebound its name when popping: the generated function
  then raised UnboundLocalError on a generated name (power iteration, Newton, fixed point
  with a global matrix: a very common pattern).
- A program reading a module-level dict wrote a disk-cache entry that its own loader rejected
  as corrupt, with a warning in every later process.
- Bool array arguments and module-level bool arrays reached compiled code as 0.0/1.0.
- A lambda in a dict display or on a call's continuation line could not be read.
- Two scripts' `__main__.f` of the same text shared a disk entry (errors named the other file).
- A module-level grad(h)/jit(h) was fingerprinted by its name: replaced, it was served stale.
- Matrix products of mismatched inner sizes: grad on cpu returned a gradient of the wrong shape.
- Python ints divided by zero: machine code returned 0 where the numpy tier raised.
- hvp broadcast a tangent of another shape (jvp refused it).
- Python ints multiplied beyond int64 wrapped (n * n of 2**40 was 0): now an OverflowError.
- An enum member was fingerprinted by its type, and `is`/`==` decided when tracing by nothing:
  a mode flag rebound between calls was served the old program."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import coarsen

TARGETS = ("numpy", "cpu")
torch.set_num_threads(1)

A0 = np.array([[3.0, 1.0], [1.0, 2.0]]) * 0.2
C0 = np.array([0.5, 2.0])


def power_iteration(b):
    x = np.zeros(2)
    i = 0
    while i < 3:
        x = A0 @ x + b
        i += 1
    return np.sum(x)


def fixed_point(b):
    x = 1.0
    i = 0
    while i < 3:
        x = np.sum(C0 * b) * x + 1.0
        i += 1
    return x


def until_large(b):
    x = np.zeros(2)
    for _ in range(30):
        x = A0 @ x + b
        if np.sum(x) > 10:
            break
    return np.sum(x)


def branch_on_data(x):
    s = 0.0
    for i in range(3):
        if x[i % 2] > 0.5 * i:
            s += np.sum(C0 * x) * s + 1
        else:
            s += np.sum(A0 @ x)
    return s


def rows_until(X):
    s = 0.0
    for row in X:
        s += np.sum(row * C0) ** 2
        if s > 100:
            break
    return s


def _torch_branch_on_data(x):   # torch's `s += ...` would write into a tensor autograd needs
    s = 0.0
    for i in range(3):
        if x[i % 2] > 0.5 * i:
            s = s + torch.sum(torch.tensor(C0) * x) * s + 1
        else:
            s = s + torch.sum(torch.tensor(A0) @ x)
    return s


def _torch_rows_until(X):
    s = 0.0
    for row in X:
        s = s + torch.sum(row * torch.tensor(C0)) ** 2
        if s > 100:
            break
    return s


TWINS = {branch_on_data: _torch_branch_on_data, rows_until: _torch_rows_until}


def _torch(fn, x):
    """The program run by torch: its globals as tensors, the same Python control flow."""
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    f = TWINS.get(fn) or (lambda v: _run_torch(fn, v))
    f(t).backward()
    return t.grad.numpy()


class _TorchNumpy:
    zeros = staticmethod(lambda n: torch.zeros(n, dtype=torch.float64))
    sum = staticmethod(torch.sum)


def _fd(fn, x, h=1e-6):
    g = np.zeros_like(x)
    for k in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[k] += h
        xm[k] -= h
        g[k] = (fn(xp) - fn(xm)) / (2 * h)
    return g


CASES = [(power_iteration, np.array([1.0, 2.0])), (fixed_point, np.array([0.1, 0.2])),
         (until_large, np.array([1.0, 2.0])), (branch_on_data, np.array([1.2, 2.0])),
         (rows_until, np.array([[1.0, 2.0], [0.5, -1.0], [3.0, 4.0]]))]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("fn,x", CASES, ids=[f.__name__ for f, _ in CASES])
def test_taped_loops_reading_a_module_level_array(fn, x, target):
    value, g = coarsen.value_and_grad(fn, target=target)(x)
    assert value == pytest.approx(fn(x), rel=1e-13)
    np.testing.assert_allclose(g, _torch(fn, x), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(g, _fd(fn, x), rtol=1e-6, atol=1e-6)


def test_second_derivatives_and_vmap_of_such_a_loop():
    b = np.array([1.0, 2.0])
    h = coarsen.hessian(fixed_point, target="numpy")(b)
    t = torch.tensor(b, dtype=torch.float64)
    ref = torch.autograd.functional.hessian(
        lambda v: _run_torch(fixed_point, v), t).numpy()
    np.testing.assert_allclose(h, ref, rtol=1e-10, atol=1e-12)
    batch = np.array([[1.0, 2.0], [0.5, 0.25], [-1.0, 3.0]])
    per_row = coarsen.vmap(coarsen.grad(power_iteration), target="numpy")(batch)
    np.testing.assert_allclose(per_row, [_torch(power_iteration, r) for r in batch], rtol=1e-12)


def _run_torch(fn, t):
    g = dict(fn.__globals__, np=_TorchNumpy, A0=torch.tensor(A0), C0=torch.tensor(C0))
    return type(fn)(fn.__code__, g)(t)


CONFIG_PROGRAM = '''
import warnings
import coarsen
P = {"a": %r, "b": {"c": 3.0}}
def f(x):
    return P["a"] * x + P["b"]["c"]
with warnings.catch_warnings():
    warnings.simplefilter("error")   # "ignoring the corrupt cache entry" would fail here
    print(coarsen.grad(f, target="numpy")(1.0), coarsen.jit(f, target="numpy")(1.0))
'''


@pytest.mark.slow
def test_a_module_level_dict_read_is_cached_on_disk_and_its_edits_are_seen(tmp_path):
    """Programs reading a module-level dict wrote disk entries their own loader rejected as
    corrupt (the path step "key"), warning in every later process."""
    import os
    import subprocess
    import sys
    env = dict(os.environ, COARSEN_CACHE_DIR=str(tmp_path / "cache"))

    def run(a: float) -> str:
        script = tmp_path / "m.py"
        script.write_text(CONFIG_PROGRAM % a)
        done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    assert run(2.0) == ["2.0", "5.0"]
    assert run(2.0) == ["2.0", "5.0"]   # from the disk entry, without a warning
    assert run(4.0) == ["4.0", "7.0"]   # another value in the dict: another program


# ---- bool arrays: arguments and module-level masks keep NumPy's bool dtype (H8-6) ----------
# They reached compiled code as 0.0/1.0 while the IR typed them bool: x[np.sum(b)] raised
# IndexError from a generated line, np.sum(b, axis=0) came back float64, and a module-level
# mask combined with `|` was refused as an integer bitwise operator.

MASK = np.array([False, True, True, False])


def pick(b, x):
    return x[np.sum(b)] * 2.0


def counted(b, x):
    return x[int(np.count_nonzero(b))] + np.sum(x[: np.sum(b)])


def column_counts(b, x):
    return np.sum(b.reshape(2, 2), axis=0)


def with_module_mask(b, x):
    return np.sum(np.where(~b & (MASK | b), x * x, 1.0))


def joined(b, x):
    return np.concatenate([b, MASK])


def masked_loop(b, x):
    s = 0.0
    for i in range(4):
        if b[i]:
            s += x[i] ** 2
    return s


BOOL_PROGRAMS = [pick, counted, column_counts, with_module_mask, joined, masked_loop]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("fn", BOOL_PROGRAMS, ids=[f.__name__ for f in BOOL_PROGRAMS])
def test_bool_array_arguments_and_module_masks(fn, target):
    b, x = np.array([True, False, True, True]), np.arange(1.0, 5.0)
    got, want = coarsen.jit(fn, target=target)(b, x), fn(b, x)
    assert np.asarray(got).dtype == np.asarray(want).dtype
    np.testing.assert_array_equal(got, want)
    if np.asarray(want).dtype == np.float64:
        np.testing.assert_allclose(coarsen.grad(fn, argnums=1, target=target)(b, x),
                                   _fd(lambda v: fn(b, v), x), rtol=1e-6, atol=1e-7)


# ---- lambdas on a continuation line of a longer statement (H8-5) ---------------------------

LOSSES = {
    "square": lambda x: np.sum(x ** 2),
    "cube": lambda x: np.sum(x ** 3),
}


def test_lambdas_in_a_dict_display_and_a_call_continuation():
    x = np.array([1.0, 2.0])
    np.testing.assert_allclose(coarsen.grad(LOSSES["square"], target="numpy")(x), 2 * x)
    np.testing.assert_allclose(coarsen.grad(LOSSES["cube"], target="numpy")(x), 3 * x ** 2)
    g = coarsen.grad(
        lambda v: np.sum(np.sin(v)), target="numpy")
    np.testing.assert_allclose(g(x), np.cos(x))


# ---- two scripts sharing a disk cache (H8-7) -----------------------------------------------

SCRIPT = '''import numpy as np, coarsen
%sdef pick(x, i):
    return x[i]
try:
    coarsen.jit(pick, target="numpy")(np.arange(3.0), 7)
except IndexError as err:
    print(err)
'''


@pytest.mark.slow
def test_run_time_errors_name_the_script_that_ran(tmp_path):
    """The same function text in two `__main__` scripts: the second's IndexError named the
    first script's file:line (the disk entry's key had neither)."""
    import os
    import subprocess
    import sys
    env = dict(os.environ, COARSEN_CACHE_DIR=str(tmp_path / "cache"))
    for name, pad in [("one.py", ""), ("two.py", "\n\n\n")]:
        (tmp_path / name).write_text(SCRIPT % pad)
        done = subprocess.run([sys.executable, str(tmp_path / name)], env=env, capture_output=True,
                              text=True, timeout=300)
        line = 3 + len(pad)
        assert f"{tmp_path / name}:{line}:" in done.stdout, done.stdout + done.stderr


# ---- a transformed helper replaced under the same name (H8-10) -----------------------------
# Programs calling a module-level grad(h)/jit(h) fingerprinted it by its name alone: a
# notebook cell redefining the helper, or grad(h, argnums=1) in place of argnums=0, was
# served the old program by every new transform of the caller (and from the disk cache).


def _doubled(x):
    return x * 2.0


def _tenfold(x):
    return x * 10.0


for _f in (_doubled, _tenfold):   # as a cell re-run redefines `scale`
    _f.__name__ = _f.__qualname__ = "scale"


def _two(x, y):
    return x * x * y


SCALE = coarsen.jit(_doubled)
G = coarsen.grad(_two, argnums=0)


def calls_scale(x):
    return SCALE(x) + 1.0


def calls_g(x):
    return G(x, 3.0) * x


@pytest.mark.parametrize("target", TARGETS)
def test_a_replaced_transformed_helper_is_seen_by_new_transforms_of_its_caller(target):
    global SCALE, G
    saved = SCALE, G
    try:
        assert coarsen.jit(calls_scale, target=target)(1.0) == 3.0
        SCALE = coarsen.jit(_tenfold)
        assert coarsen.jit(calls_scale, target=target)(1.0) == 11.0
        assert coarsen.grad(calls_scale, target=target)(1.0) == 10.0
        SCALE = coarsen.grad(_tenfold)   # another transformation of the same name
        assert coarsen.jit(calls_scale, target=target)(1.0) == 11.0
        assert coarsen.jit(calls_g, target=target)(2.0) == 24.0    # d/dx x*x*y = 2xy, times x
        G = coarsen.grad(_two, argnums=1)
        assert coarsen.jit(calls_g, target=target)(2.0) == 8.0     # d/dy = x*x, times x
    finally:
        SCALE, G = saved


# ---- matrix products whose inner sizes differ (H8-8) ---------------------------------------
# grad on the cpu target returned a gradient of the wrong shape (d/dx of x @ y is y: the
# product itself, which would have raised, was dead code).


def dot_of(x, y):
    return np.dot(x, y)


def against_ones(x):
    return x @ np.ones(3)


def head_dot(x):
    return np.dot(x[:2], x)


def contracted(x, y):
    return np.einsum("i,i->", x, y) + np.inner(x, y) + np.vdot(x, y)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("fn,args", [(dot_of, 2), (against_ones, 1), (head_dot, 1), (contracted, 2)],
                         ids=["dot", "matmul", "slice", "einsum-inner-vdot"])
def test_a_product_of_mismatched_sizes_raises_in_every_transform(fn, args, target):
    x2, y3 = np.array([1.0, 2.0]), np.array([1.0, 2.0, 3.0])
    call = (x2, y3) if args == 2 else ((y3,) if fn is head_dot else (x2,))
    with pytest.raises(ValueError):
        fn(*call)
    for transform in (coarsen.grad, coarsen.jit, coarsen.value_and_grad):
        with pytest.raises(ValueError):
            transform(fn, target=target)(*call)
    same = (x2, x2) if args == 2 else ((x2,) if fn is head_dot else (y3,))
    if fn is not against_ones:   # sizes that match still compute
        np.testing.assert_allclose(coarsen.grad(fn, target=target)(*same), _fd(lambda v: fn(v, *same[1:]), same[0]),
                                   rtol=1e-6)


# ---- Python's ints divided by zero (H8-9) --------------------------------------------------
# The numpy tier raised ZeroDivisionError; machine code returned 0 (so a tiered cpu program
# changed its answer when its machine code arrived).


def cyclic(x):
    n = int(x[0])
    return x[1] * (5 % n) + x[1] * (7 // n)


def by_argument(x, n):
    return x * (7 % n)


@pytest.mark.parametrize("target", TARGETS)
def test_integer_modulo_and_floor_division_by_zero_raise(target):
    x = np.array([0.5, 1.0])
    for transform in (coarsen.jit, coarsen.grad):
        with pytest.raises(ZeroDivisionError):
            transform(cyclic, target=target)(x)
        with pytest.raises(ZeroDivisionError):
            transform(by_argument, target=target)(2.0, 0)
    y = np.array([3.0, 2.0])
    assert coarsen.jit(cyclic, target=target)(y) == cyclic(y)
    assert coarsen.grad(by_argument, target=target)(2.0, 5) == 2.0


def test_hvp_refuses_a_tangent_of_another_shape():
    """A (3, 1) tangent of a (3,) primal broadcast and summed back: [9, 18, 27] for H @ 1 =
    [3, 6, 9] (H8-11); jvp refused it already."""
    x = np.array([0.5, 1.0, 1.5])
    for bad in (np.ones((3, 1)), np.ones(1), np.ones((1, 3)), 1.0, np.ones(4)):
        with pytest.raises(ValueError, match="structure and shapes"):
            coarsen.hvp(_cube_sum, (x,), (bad,))
    np.testing.assert_allclose(coarsen.hvp(_cube_sum, (x,), (np.ones(3),), argnums=0), 6 * x)


def _cube_sum(v):
    return np.sum(v ** 3)


# ---- Python ints beyond int64 (H8-1) -------------------------------------------------------


def squared_count(x, n):
    return x * (n * n)


def factorial_scaled(x, n):
    f = 1
    for i in range(1, n + 1):
        f = f * i
    return x * f


def cubed(x, n):
    return x * n ** 3


@pytest.mark.parametrize("target", TARGETS)
def test_an_integer_product_beyond_int64_raises_instead_of_wrapping(target):
    """n * n of n = 2**40 was 0 (int64 wraps; Python's ints do not)."""
    for fn, n in [(squared_count, 2**40), (factorial_scaled, 25), (cubed, 2**22)]:
        for transform in (coarsen.jit, coarsen.grad):
            with pytest.raises(OverflowError):
                transform(fn, target=target)(1.5, n)
    for fn, n in [(squared_count, 2**31), (factorial_scaled, 20), (cubed, 2**20)]:
        assert coarsen.jit(fn, target=target)(1.5, n) == fn(1.5, n)
        assert coarsen.grad(fn, target=target)(1.5, n) == fn(1.0, n)


# ---- objects the trace compared: enum members, sentinels, custom == (H8-12) ----------------
import enum  # noqa: E402  (beside the tests that use it)


class Mode(enum.Enum):
    SQUARE = 1
    CUBE = 2


class Tag:
    pass


class Opt:
    def __init__(self, name):
        self.name = name

    def __eq__(self, other):
        return isinstance(other, Opt) and other.name == self.name


A_TAG, B_TAG = Tag(), Tag()
ADAM = Opt("adam")
MODE, SEL, CUR = Mode.SQUARE, A_TAG, Opt("adam")


def by_mode(x):
    return x ** 2 if MODE == Mode.SQUARE else x ** 3


def by_sentinel(x):
    return x * 2.0 if SEL is A_TAG else x * 3.0


def by_equality(x):
    return x * 2.0 if CUR == ADAM else x * 3.0


@pytest.mark.parametrize("target", TARGETS)
def test_a_flag_object_rebound_between_calls_is_seen(target):
    """An enum member's fingerprint was its type alone (every member alike), and `is`/`==`
    decided when tracing read no fingerprint at all: new transforms were served stale."""
    global MODE, SEL, CUR
    saved = MODE, SEL, CUR
    try:
        for fn, flips in [(by_mode, ("MODE", Mode.CUBE)), (by_sentinel, ("SEL", B_TAG))]:
            first = coarsen.grad(fn, target=target)(2.0)
            assert first == (4.0 if fn is by_mode else 2.0)
            globals()[flips[0]] = flips[1]
            assert coarsen.grad(fn, target=target)(2.0) == (12.0 if fn is by_mode else 3.0)
            assert coarsen.jit(fn, target=target)(2.0) == fn(2.0)
    finally:
        MODE, SEL, CUR = saved


def by_name(x):
    return x * 2.0 if CUR.name == "adam" else x * 3.0


@pytest.mark.parametrize("target", TARGETS)
def test_an_own_eq_that_reads_state_is_refused_and_its_attribute_is_watched(target):
    """`CUR == ADAM` through Opt.__eq__ reads CUR.name: a later `CUR.name = "sgd"` on the same
    object was not seen by a compiled function (H8-12c). Refused; comparing the attribute
    itself is a read the program watches."""
    with pytest.raises(coarsen.UnsupportedError, match="compare the attribute"):
        coarsen.jit(by_equality, target=target)(2.0)
    f = coarsen.jit(by_name, target=target)
    saved = CUR.name
    try:
        assert f(2.0) == 4.0
        CUR.name = "sgd"
        assert f(2.0) == 6.0
    finally:
        CUR.name = saved


def tiny_scale(x):
    return x / 3**45   # folded when tracing, in Python's ints: exact


def strided_squares(x):
    s = 0.0
    for i in range(1, 2**40, 2**38):   # few iterations, large indices
        s = s + i * i
    return x * s


def taylor_exp(x):
    s, fact = 0.0, 1
    for n in range(1, 28):
        fact = fact * n
        s = s + x ** n / fact
    return s


@pytest.mark.parametrize("target", TARGETS)
def test_integer_products_known_when_tracing_stay_exact_and_loops_raise(target):
    assert coarsen.jit(tiny_scale, target=target)(0.5) == tiny_scale(0.5)
    for fn in (strided_squares, taylor_exp):   # 3.3e12 for 1.06e24 on cpu; 27! wrapped
        with pytest.raises(OverflowError, match="start the product from a float"):
            coarsen.jit(fn, target=target)(0.5)
