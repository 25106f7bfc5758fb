"""Every target computes the same gradients as the NumPy target and as central differences of
the Python function (an independent reference: the numpy target runs the same generated
source); vmap, the torch wrapper, the disk cache and the fallback behave as documented.
More independent checks of every target: tests/coarsen/test_every_target.py."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import coarsen
from tests.kernels import programs as P

rng = np.random.default_rng(7)
CASES = [
    (P.branch_kernel, (0.3, 1.0, 2.0, 0.5), (0, 1, 2, 3)),
    (P.branch_kernel, (-3.3, 1.0, 2.0, 0.5), (0, 1)),
    (P.while_loop, (0.7, 6), (0,)),
    (P.hookean, (rng.normal(size=(6, 2)), 0.8), (0, 1)),
    (P.scan_writes, (rng.normal(size=7),), (0,)),
    (P.reductions, (rng.normal(size=(4, 3)),), (0,)),
    (P.folded_branch_in_while, (0.7, 3), (0,)),
    (P.pruned_array_tape, (rng.normal(size=3), 3), (0,)),
    (P.rank3, (rng.normal(size=(2, 3, 4)),), (0,)),
    (P.rank3_mix, (rng.normal(size=(2, 3, 4)), rng.normal(size=(3, 4))), (0, 1)),
    (P.clipped_rollout, (np.array([2.0, -1.5]), np.array([0.4, -0.2]), 12), (0, 1)),
    (P.clipped_rollout, (np.array([0.1, 0.2]), np.array([0.4, -0.2]), 0), (0, 1)),
    (P.mlp_loss, ({"W1": rng.normal(size=(4, 5)), "b1": rng.normal(size=5), "W2": rng.normal(size=(5, 3)),
                   "b2": rng.normal(size=3)}, rng.normal(size=(6, 4)), np.eye(3)[rng.integers(0, 3, 6)]), (0,)),
]


def _close(a, b):
    if isinstance(a, dict):
        return all(_close(a[k], b[k]) for k in a)
    if isinstance(a, tuple):
        return all(_close(x, y) for x, y in zip(a, b))
    return np.allclose(a, b, rtol=1e-10, atol=1e-12)


def central_differences(fn, args, k, h=1e-6):
    """d fn / d args[k] by central differences of the Python function, leaf by leaf."""
    def moved(path, delta):
        new = [a.copy() if isinstance(a, np.ndarray) else dict(a) if isinstance(a, dict) else a for a in args]
        if isinstance(new[k], dict):
            name, idx = path
            new[k][name] = new[k][name].copy()
            new[k][name][idx] += delta
        elif isinstance(new[k], np.ndarray):
            new[k][path] += delta
        else:
            new[k] = new[k] + delta
        return fn(*new)

    def grad_of(x, prefix=None):
        if isinstance(x, np.ndarray):
            g = np.zeros(x.shape)
            for idx in np.ndindex(x.shape):
                path = (prefix, idx) if prefix is not None else idx
                g[idx] = (moved(path, h) - moved(path, -h)) / (2 * h)
            return g
        return (moved(None, h) - moved(None, -h)) / (2 * h)
    x = args[k]
    if isinstance(x, dict):
        return {name: grad_of(v, name) for name, v in x.items()}
    return grad_of(x)


def _close_fd(a, b):
    if isinstance(a, dict):
        return all(_close_fd(a[k], b[k]) for k in a)
    return np.allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fn,args,argnums", CASES, ids=lambda c: getattr(c, "__name__", ""))
def test_cpu_matches_numpy(fn, args, argnums):
    ref = coarsen.value_and_grad(fn, argnums=argnums, target="numpy")(*args)
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # compiled by Numba, no fallback to NumPy
        # (not Numba's notice that one of the runtime's cached overloads cannot be cached: in a
        # fresh checkout the first test to compile it would fail, whichever test that is)
        warnings.filterwarnings("ignore", message=".*Cannot cache compiled function")
        got = coarsen.value_and_grad(fn, argnums=argnums, target="cpu")(*args)
    assert np.isclose(ref[0], got[0], rtol=1e-12)
    assert _close(ref[1], got[1])
    # and both against Python itself: its value, central differences for the gradient
    assert np.isclose(got[0], fn(*args), rtol=1e-12)
    for k, g in zip(argnums, got[1]):
        assert _close_fd(g, central_differences(fn, args, k)), f"d/d argument {k}"


def test_cpu_falls_back_with_a_warning_for_rank_4_reductions():
    x = rng.normal(size=(2, 3, 4, 2))
    with pytest.warns(RuntimeWarning, match="cannot compile"):
        g = coarsen.grad(P.rank4, target="cpu")(x)
    assert np.allclose(g, coarsen.grad(P.rank4, target="numpy")(x))


def test_jit_primal_matches_python():
    x = rng.normal(size=(5, 2))
    assert np.isclose(coarsen.jit(P.hookean)(x, 0.5), P.hookean(x, 0.5))
    assert np.isclose(coarsen.jit(P.while_loop, target="numpy")(0.3, 4), P.while_loop(0.3, 4))


@pytest.mark.parametrize("target", ["numpy", "cpu"])
def test_vmap_of_scalar_programs_and_of_their_gradients(target):
    xs = np.linspace(-2.0, 2.0, 50)
    v = coarsen.vmap(P.while_loop, in_axes=(0, None), target=target)(xs, 5)
    assert np.allclose(v, [P.while_loop(x, 5) for x in xs])
    g = coarsen.vmap(coarsen.grad(P.branch_kernel), in_axes=(0, None, None, None), target=target)(xs, 1.0, 2.0, 0.5)
    ref = [central_differences(P.branch_kernel, (x, 1.0, 2.0, 0.5), 0) for x in xs]
    assert np.allclose(g, ref, rtol=1e-6, atol=1e-6)


def test_torch_function_passes_gradcheck():
    torch = pytest.importorskip("torch")
    import coarsen.torch as ct
    torch.set_num_threads(1)
    fk = ct.function(P.branch_kernel)
    x = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    q = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, q: fk(x, 1.0, q, 0.5), (x, q))
    fs = ct.function(P.scan_writes)
    assert torch.autograd.gradcheck(fs, (torch.randn(6, dtype=torch.float64, requires_grad=True),))


def cubes(x):
    return np.sum(x ** 3)


@pytest.mark.parametrize("target", ["numpy", "cpu"])
def test_torch_function_refuses_a_second_derivative_instead_of_dropping_it(target):
    """create_graph=True: the gradient is computed outside torch's graph, so a gradient penalty
    through it lost coarsen's terms silently ([1, 4, -6] where torch gives [5.5, 292, -978]);
    now the second backward raises, and a create_graph backward that does not go through the
    gradient still works (red team round 5, G5)."""
    torch = pytest.importorskip("torch")
    import coarsen.torch as ct
    fc = ct.function(cubes, target=target)
    x = torch.tensor([0.5, 2.0, -3.0], dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(fc(x), (x,), create_graph=True)
    assert torch.allclose(g, 3 * x.detach() ** 2)
    with pytest.raises(RuntimeError, match="second derivative through coarsen.torch.function"):
        torch.autograd.grad((g ** 2).sum() + (x ** 2).sum(), (x,))
    (g,) = torch.autograd.grad(fc(x) + (x ** 2).sum(), (x,), create_graph=True)
    (h,) = torch.autograd.grad((x ** 3).sum(), (x,), create_graph=True)   # other graphs unaffected
    assert torch.allclose(h, 3 * x.detach() ** 2)


def test_torch_function_inside_a_model_trains():
    torch = pytest.importorskip("torch")
    import coarsen.torch as ct
    torch.set_num_threads(1)
    layer = torch.nn.Linear(3, 1).double()
    fk = ct.function(P.branch_kernel)
    opt = torch.optim.SGD(layer.parameters(), lr=0.05)
    x = torch.randn(8, 3, dtype=torch.float64)
    losses = []
    for _ in range(20):
        opt.zero_grad()
        out = layer(x).sum() * 0.1
        loss = fk(out, 1.0, 0.5, 0.1) ** 2
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert losses[-1] < losses[0]


def test_second_process_reuses_the_disk_cache(tmp_path):
    """Fresh processes sharing a cache dir: the first traces the function and compiles machine
    code (Numba's "numba:compile" events); the second neither traces nor compiles anything, it
    loads the first's files. (Counts, not timings, so load cannot make it flake; the time saved
    is benchmarks/startup.py's "cold-process compile" column.)"""
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {os.getcwd()!r})
        import numba
        from numba.core import event
        import coarsen
        from tests.kernels import programs as P
        import numpy as np
        import coarsen.programs as programs
        numba.njit(lambda x: x + 1.0)(1.0)   # Numba's own start-up, paid by any jitted program
        traced = []
        trace = programs._trace
        programs._trace = lambda *a, **k: traced.append(1) or trace(*a, **k)
        g = coarsen.grad(P.hookean, target="cpu")
        with event.install_recorder("numba:compile") as compiles:
            g(np.ones((5, 2)) * np.arange(5.0)[:, None], 0.3)
        print(len(traced), sum(ev.is_start for _, ev in compiles.buffer))
    """)
    # machine code on the first call (tiered, it compiles in the background after the call)
    env = dict(os.environ, COARSEN_CACHE_DIR=str(tmp_path), COARSEN_TIERED="0")
    runs = [subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                           text=True, check=True).stdout.split()[-2:] for _ in range(2)]
    (traced0, compiled0), (traced1, compiled1) = [(int(n), int(c)) for n, c in runs]
    assert any(p.name.startswith("program_") for p in tmp_path.iterdir())
    assert traced0 == 1 and compiled0 > 0, "the first process found something cached in an empty dir"
    assert traced1 == 0, "the second process traced the function again"
    assert compiled1 == 0, f"the second process compiled {compiled1} function(s) again"


def test_machine_code_of_one_optimisation_level_is_not_served_to_another(tmp_path):
    """The suite compiles at NUMBA_OPT=0 (tests/conftest.py); a user's later process at the
    default level must compile its own machine code, not load the tests' from the shared cache
    (Numba's own index key has no optimisation level)."""
    import pickle
    from kernels.numba_cache import _unseal
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {os.getcwd()!r})
        import numpy as np
        import coarsen
        from tests.kernels import programs as P
        print(coarsen.grad(P.hookean, target="cpu")(np.ones((5, 2)) * np.arange(5.0)[:, None], 0.3).sum())
    """)
    outputs = []
    for level in ("0", "3", "0"):
        env = dict(os.environ, COARSEN_CACHE_DIR=str(tmp_path), NUMBA_OPT=level)
        outputs.append(subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                                      text=True, check=True).stdout.split()[-1])
    assert len(set(outputs)) == 1, outputs
    levels = set()
    for index in tmp_path.rglob("coarsen_generated_*.nbi"):
        _, _, overloads = pickle.loads(_unseal(index.read_bytes(), str(index)))
        levels |= {key[-1] for key in overloads}
    assert levels == {"opt _OptLevel(0)", "opt _OptLevel(3)"}, levels


@pytest.mark.slow
def test_a_cached_program_links_its_own_reductions(tmp_path):
    """A program loaded from the disk cache into a process that compiled other programs first
    must call the reductions it was compiled with. (Closures of one factory once shared a
    qualified name, so a cached `max` could link to this process's `min`: wrong values.)"""
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {os.getcwd()!r})
        import numpy as np
        import coarsen
        from tests.kernels import programs as P
        x = np.random.default_rng(3).normal(size=(4, 3))
        if sys.argv[1] == "other-first":
            coarsen.value_and_grad(P.other_reductions, target="cpu")(x)
        value, grad = coarsen.value_and_grad(P.reductions, target="cpu")(x)
        ref_value, ref_grad = coarsen.value_and_grad(P.reductions, target="numpy")(x)
        assert np.isclose(value, P.reductions(x), rtol=1e-12), (value, P.reductions(x))
        assert np.allclose(grad, ref_grad, rtol=1e-12)
    """)
    env = dict(os.environ, COARSEN_CACHE_DIR=str(tmp_path), NUMBA_CACHE_DIR=str(tmp_path / "numba"))
    for order in ("alone", "other-first"):
        done = subprocess.run([sys.executable, "-c", script, order], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.gpu
def test_cuda_vmap_in_the_simulator_or_on_a_gpu():
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {os.getcwd()!r})
        import numpy as np, coarsen
        from tests.kernels import programs as P
        xs = np.linspace(-2.0, 2.0, 64)
        v = coarsen.vmap(P.while_loop, in_axes=(0, None), target="cuda")(xs, 5)
        assert np.allclose(v, [P.while_loop(x, 5) for x in xs])
        g = coarsen.vmap(coarsen.grad(P.branch_kernel), in_axes=(0, None, None, None), target="cuda")(xs, 1.0, 2.0, 0.5)
        ref = [coarsen.grad(P.branch_kernel, target="numpy")(x, 1.0, 2.0, 0.5) for x in xs]
        assert np.allclose(g, ref)
        print("ok")
    """)
    env = dict(os.environ)
    env.setdefault("NUMBA_ENABLE_CUDASIM", "1")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr[-2000:]


CUDA_PROGRAMS = textwrap.dedent("""
    import sys
    sys.path.insert(0, {cwd!r})
    import numpy as np, coarsen
    from tests.kernels import programs as P
    rng = np.random.default_rng(3)
    params = {{"W1": rng.normal(size=(4, 5)), "b1": rng.normal(size=5), "W2": rng.normal(size=(5, 3)),
              "b2": rng.normal(size=3)}}
    cases = [(P.reductions, (rng.normal(size=(4, 3)),)), (P.branch_kernel, (0.3, 1.0, 2.0, 0.5)),
             (P.scan_writes, (rng.normal(size=5),)),
             (P.mlp_loss, (params, rng.normal(size=(6, 4)), np.eye(3)[rng.integers(0, 3, 6)]))]
    for fn, args in cases:
        ref_v, ref_g = coarsen.value_and_grad(fn, target="numpy")(*args)
        v, g = coarsen.value_and_grad(fn, target="cuda")(*args)
        assert np.isclose(v, ref_v), fn.__name__
        if isinstance(g, dict):
            assert all(np.allclose(g[k], ref_g[k]) for k in g), fn.__name__
        else:
            assert np.allclose(g, ref_g), fn.__name__
        assert np.isclose(coarsen.jit(fn, target="cuda")(*args), ref_v), fn.__name__
    source = coarsen.grad(P.mlp_loss, target="cuda").source(params, rng.normal(size=(6, 4)),
                                                             np.eye(3)[rng.integers(0, 3, 6)])
    assert "cuda.grid(1)" in source and "rt.fused(" in source   # fused elementwise kernels
    print("ok")
""")


@pytest.mark.gpu
def test_cuda_array_programs_fuse_segments_into_kernels():
    env = dict(os.environ)
    env.setdefault("NUMBA_ENABLE_CUDASIM", "1")
    out = subprocess.run([sys.executable, "-c", CUDA_PROGRAMS.format(cwd=os.getcwd())], env=env,
                         capture_output=True, text=True)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr[-3000:]


def test_cuda_without_a_gpu_says_what_to_install():
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {os.getcwd()!r})
        import coarsen
        from kernels.targets import TargetUnavailable
        from tests.kernels import programs as P
        try:
            coarsen.grad(P.branch_kernel, target="cuda")(0.3, 1.0, 2.0, 0.5)
        except TargetUnavailable as err:
            print(err)
    """)
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert "pip install 'coarsen[gpu]'" in out.stdout, out.stdout + out.stderr[-2000:]


def _sum_scaled(x, n):
    total = 0.0
    for i in range(n):
        total = total + np.sum(x * x) * (i + 1)
    return total


@pytest.mark.parametrize("target", ["numpy", "cpu"])
def test_calls_that_change_signature_take_the_right_program(target):
    """The guarded entry for the last signature must never run another signature's program:
    a float where an int was, another rank or dtype, a non-float64 array, nested arguments."""
    g = coarsen.value_and_grad(_sum_scaled, target=target)
    x1, x2 = rng.normal(size=3), rng.normal(size=(2, 3))
    calls = [(x1, 2), (x1, 3), (x2, 2), (x1, 2), (x1.astype(np.float32), 2), (x1, np.int64(3)),
             (x2, 3)]
    for x, n in calls:
        value, grad = g(x, n)
        xs = np.asarray(x, dtype=np.float64)
        scale = sum(i + 1 for i in range(int(n)))
        assert value == pytest.approx(scale * np.sum(xs * xs), rel=1e-6)
        np.testing.assert_allclose(grad, 2 * scale * xs, rtol=1e-6)
        assert np.shape(grad) == np.shape(xs)
    # a float where the loop bound was an int is refused, not truncated; a list is a container
    with pytest.raises(Exception):
        g(x1, 2.5)
    with pytest.raises(coarsen.CoarsenTypeError, match="a list of 3"):
        g(list(x1), 2)
    g.forget()
    assert g(x1, 2)[0] == pytest.approx(3 * np.sum(x1 * x1))


@pytest.mark.parametrize("target", ["numpy", "cpu"])
def test_the_side_of_a_where_not_taken_raises_no_warning(target):
    """Both sides of a `where` and their derivatives are computed, then one is selected: a
    division by zero on the discarded side must neither warn nor leak into the gradient."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message=".*Cannot cache compiled function")   # (as above)
        g = coarsen.grad(P.where_sqrt, target=target)(np.array([0.0, 4.0, -1.0]))
    np.testing.assert_array_equal(g, [0.0, 0.25, 0.0])


def test_numba_gathers_and_scatter_adds_of_rows_match_numpy():
    """`rt.take` / `rt.take_add` in machine code on 2-d arrays (rows element by element) and
    on 1-d and 3-d ones: repeated and negative indices accumulate as `np.add.at`, in order."""
    import numba

    from kernels import runtime as rt
    import kernels.numba_runtime  # noqa: F401  (the overloads)

    @numba.njit
    def take(x, i):
        return rt.take(x, i)

    @numba.njit
    def take_add(d, g, i):
        rt.take_add(d, g, i)

    rng = np.random.default_rng(3)
    idx = np.array([2, 0, -1, 2, 2, -3, 1])
    for shape in [(4, 5), (4,), (4, 2, 3), (4, 1)]:
        x = rng.normal(size=shape)
        np.testing.assert_array_equal(take(x, idx), x[idx])
        g = rng.normal(size=(len(idx),) + shape[1:])
        d, ref = x.copy(), x.copy()
        take_add(d, g, idx)
        np.add.at(ref, idx, g)
        np.testing.assert_array_equal(d, ref)
    d, ref, g = np.zeros((4, 5)), np.zeros((4, 5)), rng.normal(size=(len(idx), 1))   # rows broadcast
    take_add(d, g, idx)
    np.add.at(ref, idx, g)
    np.testing.assert_array_equal(d, ref)


def test_numbas_refusal_to_cache_is_a_quiet_miss_where_warnings_are_errors():
    """Numba refuses to cache some machine code (dynamic globals) with a warning; a test that
    makes warnings errors turned it into coarsen's "ignoring Numba's cache entry" warning. It
    is a miss, nothing to repair: no warning of ours. Any other failure still warns."""
    import contextlib
    from numba.core import caching
    from numba.core.errors import NumbaWarning
    from kernels import numba_cache
    numba_cache.install()

    class Fake:
        _name = "f"

        class _cache_file:
            _index_path = "/tmp/coarsen_generated_f.nbi"

        def __init__(self, err):
            self.err = err

        def _guard_against_spurious_io_errors(self):
            return contextlib.nullcontext()

        def _save_overload(self, sig, data):
            raise self.err

    refused = NumbaWarning('Cannot cache compiled function "f" as it uses dynamic globals')
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert caching.Cache.save_overload(Fake(refused), (), None) is None
    with pytest.warns(RuntimeWarning, match="ignoring Numba's cache entry"):
        caching.Cache.save_overload(Fake(OSError("disk full")), (), None)
