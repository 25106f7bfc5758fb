"""The op registry (`coarsen.ops`): every op has every entry, and every op, on every target,
agrees with NumPy (values) and with central differences and torch (VJPs).

A new op is tested by being registered: the elementwise tests build one program per
(arity, rank) holding every registered elementwise op, each on its own arguments, and the
composite test one program holding every composite's examples. Hypothesis draws the shapes
(size-1 and empty axes included) and the values (inside each op's domain, or its edges: the
domain's ends, 0, +-30).
"""
from __future__ import annotations

import importlib.util
import math
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import coarsen
from coarsen import ops
from coarsen.autodiff import rules
from coarsen.autodiff.activity import _ZERO_DERIVATIVE
from coarsen.codegen.numpy_emit import NUMPY_EMIT
from coarsen.ir.interpreter import EVAL, interpret
from coarsen.ir.nodes import ELEMENTWISE, Op
from coarsen.ops.spec import resolve

# ---------------------------------------------------------------------------- completeness


def test_every_op_has_every_entry_or_is_listed_core():
    for op in Op:
        if op.value in ops.CORE:
            continue
        spec = ops.REGISTRY.entries.get(op.value)
        assert spec is not None, f"{op} is neither a registry entry nor listed in coarsen.ops.CORE"
        assert op in EVAL, f"{op}: no interpreter evaluation"
        assert op in NUMPY_EMIT, f"{op}: no NumPy emission"
        if spec.kind == "elementwise":
            assert op in ELEMENTWISE
            assert spec.callables or spec.name in _REACHED_BY_COMPOSITES, f"{op}: no callable reaches it"
            if spec.differentiable:
                assert spec.sympy is not None or spec.vjp is not None, f"{op}: no derivative"
            if spec.sympy is not None and spec.printed is not None and spec.device is None:
                assert spec.name in _HOST_ONLY, f"{op}: no GPU device name for {spec.printed}"
        else:
            assert spec.type_rule is not None and spec.evaluate is not None
        if spec.differentiable and (spec.kind == "structural" or spec.sympy is None):
            assert op in rules.DERIVATIVES, f"{op}: no VJP rule"
        if not spec.differentiable:
            assert op in rules.EXEMPT and op in _ZERO_DERIVATIVE, f"{op}: not exempt from differentiation"
    for spec in ops.COMPOSITES:
        assert spec.examples, f"composite {spec.name}: no example to test it by"
        assert spec.callables or spec.methods, f"composite {spec.name}: nothing calls it"
        for dotted in spec.callables:
            if dotted.startswith("numpy"):
                assert resolve(dotted) is not None, f"composite {spec.name}: {dotted} does not exist"


_REACHED_BY_COMPOSITES = {"log", "where", "clip", "xlogy"}   # np.log/math.log(x, base), np.where, np.clip, special.xlogy
_HOST_ONLY: set[str] = set()                        # ops with no GPU device form (none today)


def test_unknown_calls_are_refused_at_the_call_site_with_the_nearest_names(tmp_path):
    module = _module(tmp_path, "unknown_calls", """
        import numpy as np

        def g(x):
            return np.nancumsum(x)
    """)
    with pytest.raises(coarsen.UnsupportedError) as err:
        coarsen.jit(module.g, target="numpy")(np.ones(3))
    text = str(err.value)
    assert "unknown_calls.py:5" in text and "np.nancumsum is not supported" in text, text
    assert "np.nansum" in text or "np.cumsum" in text, text      # the nearest supported names
    assert "numpy/" not in text         # never located inside NumPy's source
    assert "np.expm1" in coarsen.frontend.calls.nearest("np.expm2")


def test_unsupported_calls_are_pointed_at_what_does_their_job(tmp_path):
    """Names that do not look alike (np.unique -> np.sort) come from `calls.ALTERNATIVES`; every
    call it suggests is supported."""
    from coarsen.frontend.calls import ALTERNATIVES, supported_names

    module = _module(tmp_path, "unique_call", """
        import numpy as np

        def g(x):
            return np.sum(np.unique(x))
    """)
    with pytest.raises(coarsen.UnsupportedError) as err:
        coarsen.grad(module.g, target="numpy")(np.ones(3))
    text = str(err.value)
    assert "unique_call.py:5" in text and "np.unique is not supported" in text, text
    assert "the nearest supported: np.sort" in text, text
    supported = set(supported_names()) | {"np.add.at"}
    named = {v for vs in ALTERNATIVES.values() for v in vs if v.startswith("np.")}
    assert named <= supported, named - supported
    leaves = {n.rsplit(".", 1)[-1] for n in supported}
    assert not set(ALTERNATIVES) & leaves, "a supported call listed as unsupported"


@pytest.mark.parametrize("call, nearest", [("special.polygamma(1, x)", "scipy.special.gammaln"),
                                           ("math.lgama(x[0])", "math.lgamma"),
                                           ("np.linalg.eig(x)", "np.linalg.det")])
def test_unknown_library_calls_are_refused_at_the_users_line(tmp_path, call, nearest):
    """A SciPy/NumPy function written in Python that does not compile (polygamma) is refused at
    the user's call, not at a line of SciPy's source; a misspelt module attribute names the
    nearest supported functions."""
    module = _module(tmp_path, "unknown_lib", f"""
        import math
        import numpy as np
        from scipy import special

        def g(x):
            return {call}
    """)
    with pytest.raises(coarsen.UnsupportedError) as err:
        coarsen.jit(module.g, target="numpy")(np.ones((2, 2)))
    text = str(err.value)
    assert text.startswith(str(tmp_path / "unknown_lib.py") + ":7"), text
    assert nearest in text, text


_REFUSED = [   # (call, what the error says): forms refused at the user's line with a reason
    ("np.linalg.norm(x[None], 2, axis=(1, 2))", "ord=2 over two axes of a rank-3 array"),
    ("np.linalg.norm(x, 3)", "matrix norm ord=3 is not supported"),
    ("np.einsum('...j,j->j', x, x[0])", "the output has no '...'"),
    ("np.einsum('...i...', x)", "'...' at most once"),
    ("np.einsum('ii', x)", "repeats an index"),
    ("np.take(x, [[0], [1]])", "no nested lists"),
    ("np.delete(x, x > 0)", "run-time bool[?,?] array"),
    ("np.kron(x[None], x)", "rank > 2"),
]


@pytest.mark.parametrize("call, message", _REFUSED, ids=[c for c, _ in _REFUSED])
def test_refused_forms_name_the_users_line(tmp_path, call, message):
    module = _module(tmp_path, "refused", f"""
        import numpy as np

        def g(x):
            return {call}
    """)
    with pytest.raises(coarsen.UnsupportedError) as err:
        coarsen.jit(module.g, target="numpy")(np.ones((2, 2)))
    text = str(err.value)
    assert "refused.py:5" in text and message in text, text


# ---------------------------------------------------------------------------- helpers


def _module(tmp_path: Path, name: str, source: str):
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_OVERRIDES = {   # source for ops whose operands or results are not plain floats
    "log": "np.log({0})", "where": "np.where({0} > 0, {1}, {2})", "clip": "np.clip({0}, {1}, {2})",
    "not": "np.where(np.logical_not({0} > 0), 1.0, 0.0)",
    "and": "np.where(np.logical_and({0} > 0, {1} > 0), 1.0, 0.0)",
    "or": "np.where(np.logical_or({0} > 0, {1} > 0), 1.0, 0.0)",
    "xlogy": "special.xlogy({0}, {1})",   # the primitive under scipy's (a NaN test around it)
    "lgamma": "special.gammaln({0})",     # the primitive under scipy's (-inf at -inf), math.lgamma's
}


def _call_source(spec, names: list[str]) -> str:
    if spec.name in _OVERRIDES:
        return _OVERRIDES[spec.name].format(*names)
    for prefix, short in (("numpy.", "np."), ("scipy.special.", "special."), ("math.", "math.")):
        for dotted in spec.callables:
            if dotted.startswith(prefix) and resolve(dotted) is not None:
                call = f"{short}{dotted[len(prefix):]}({', '.join(names)})"
                return f"np.where({call}, 1.0, 0.0)" if spec.result == "bool" else call
    raise AssertionError(f"no array callable for {spec.name}")


_MODULES: dict = {}


def _shared_module(build, *args):
    """One module per batch for the whole session: the hypothesis examples of a test reuse
    its compiled programs (a new module per example would compile them again each time)."""
    key = (build.__name__, args[-1])
    if key not in _MODULES:
        import tempfile

        _MODULES[key] = build(Path(tempfile.mkdtemp(prefix="coarsen_registry_")), *args)
    return _MODULES[key]


def _batch_module(tmp_path, specs, tag: str):
    lines = ["import math", "import numpy as np", "from scipy import special", "",
             ""]
    params, outs = [], []
    for k, spec in enumerate(specs):
        names = [f"a{k}_{j}" for j in range(spec.arity)]
        params += names
        outs.append(_call_source(spec, names))
    lines.append(f"def batch({', '.join(params)}):")
    lines.append("    return (" + ", ".join(outs) + ",)")
    return _module(tmp_path, f"batch_{tag}", "\n".join(lines) + "\n")


def _values(rng, domain, shape, avoid, edges: bool):
    lo, hi = domain
    x = rng.uniform(lo, hi, shape)
    for p in avoid:   # poles and kinks: finite differences there mean nothing
        near = np.abs(x - p) < 0.2
        x = np.where(near, np.where(x >= p, p + 0.2, p - 0.2), x)
        x = np.clip(x, lo, hi) if lo < p - 0.2 or hi > p + 0.2 else x
    if edges and x.size:
        choices = [lo, hi, 30.0, -30.0] + ([0.0] if lo < 0 < hi and 0.0 not in avoid else [])
        mask = rng.random(shape) < 0.5
        x = np.where(mask, rng.choice(choices, shape), x)
    return float(x) if x.ndim == 0 else x


def _close(a, b, what: str, rtol=1e-7, atol=1e-9):
    np.testing.assert_allclose(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64),
                               rtol=rtol, atol=atol, equal_nan=True, err_msg=what)


def _directional_fd(fn, args, cts, k, direction, eps=1e-6):
    def inner(t):
        shifted = list(args)
        shifted[k] = args[k] + t * direction
        outs = fn(*shifted)
        return sum(float(np.sum(np.asarray(o, dtype=np.float64) * c)) for o, c in zip(outs, cts))
    return (inner(eps) - inner(-eps)) / (2 * eps)


def _torch_vjp(spec, args, ct):
    import torch

    fn = eval(spec.torch, {"torch": torch})
    ts = [torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=True) for a in args]
    if spec.name == "clip":
        out = fn(ts[0], ts[1], ts[2])
    else:
        out = fn(*ts)
    grads = torch.autograd.grad(out, ts, torch.tensor(np.asarray(ct, dtype=np.float64)), allow_unused=True)
    return [np.zeros(np.shape(a)) if g is None else g.numpy() for a, g in zip(args, grads)]


def _quiet_targets():
    # a program the cpu target cannot compile falls back to NumPy with a warning: an error here
    warnings.simplefilter("error", RuntimeWarning)


# ---------------------------------------------------------------------------- elementwise

_DIFF = {a: [s for s in ops.elementwise() if s.arity == a and s.differentiable] for a in (1, 2, 3)}
_NONDIFF = [s for s in ops.elementwise() if not s.differentiable]
_TARGET_RANKS = [("numpy", r) for r in (0, 1, 2, 3)] + [
    pytest.param("cpu", r, marks=pytest.mark.slow) for r in (0, 2)]


@pytest.mark.parametrize("target, rank", _TARGET_RANKS)
@pytest.mark.parametrize("arity", [1, 2, 3])
@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
@given(dims=st.lists(st.integers(0, 3), min_size=3, max_size=3), seed=st.integers(0, 2**31),
       edges=st.booleans())
def test_elementwise_ops_against_numpy_differences_and_torch(tmp_path_factory, target, rank, arity, dims,
                                                             seed, edges):
    specs = _DIFF[arity]
    module = _shared_module(_batch_module, specs, f"d{arity}")
    rng = np.random.default_rng(seed)
    shape = tuple(dims[:rank])
    args = []
    for spec in specs:
        for j in range(spec.arity):
            domain = spec.domain[j] if j < len(spec.domain) else spec.domain[0]
            args.append(_values(rng, domain, shape, spec.avoid, edges))
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        _quiet_targets()
        reference = module.batch(*args)
        # one compiled program (the VJP's) gives the values too: one Numba compile per case
        values, pullback = coarsen.vjp(module.batch, *args, target=target)
        for spec, v, r in zip(specs, values, reference):
            _close(v, r, f"{spec.name} on {target}, shape {shape}")
        if target == "numpy":
            ir = coarsen.trace(module.batch, *args)
            for spec, v, r in zip(specs, interpret(ir, *args), reference):
                _close(v, r, f"{spec.name} in the interpreter, shape {shape}")
        if edges:
            return   # derivatives at domain edges and +-30 are not what finite differences see
        cts = [rng.normal(size=shape) if rank else float(rng.normal()) for _ in specs]
        grads = pullback(tuple(cts))
    position = 0
    for spec, ct in zip(specs, cts):
        mine = grads[position:position + spec.arity]
        args_k = args[position:position + spec.arity]
        for j in range(spec.arity):
            if spec.name == "where" and j == 0:
                continue   # the condition's operand has no derivative
            direction = rng.normal(size=shape) if rank else 1.0
            fd = _directional_fd(module.batch, args, cts, position + j, direction)
            ad = float(np.sum(np.asarray(mine[j]) * direction))
            assert math.isclose(ad, fd, rel_tol=1e-4, abs_tol=1e-5), \
                f"{spec.name} d/d operand {j} on {target}: vjp {ad} vs central differences {fd}"
        if spec.torch is not None and spec.name != "where":
            for j, g in enumerate(_torch_vjp(spec, args_k, ct)):
                _close(mine[j], g, f"{spec.name} d/d operand {j} vs torch on {target}", rtol=1e-6, atol=1e-8)
        position += spec.arity


@pytest.mark.parametrize("target", ["numpy", pytest.param("cpu", marks=pytest.mark.slow)])
@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
@given(dims=st.lists(st.integers(0, 3), min_size=2, max_size=2), seed=st.integers(0, 2**31),
       rank=st.integers(0, 2))
def test_non_differentiable_elementwise_ops_against_numpy(tmp_path_factory, target, dims, seed, rank):
    module = _shared_module(_batch_module, _NONDIFF, "nd")
    rng = np.random.default_rng(seed)
    shape = tuple(dims[:rank])
    args = [_values(rng, s.domain[min(j, len(s.domain) - 1)], shape, (), True)
            for s in _NONDIFF for j in range(s.arity)]
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        _quiet_targets()
        reference = module.batch(*args)
        values = coarsen.jit(module.batch, target=target)(*args)
    for spec, v, r in zip(_NONDIFF, values, reference):
        _close(v, r, f"{spec.name} on {target}")


# ---------------------------------------------------------------------------- composites

# argument shapes each composite's examples are run at (a size-1 axis in each)
_SHAPES = {
    "atleast_1d": [(), (3,)], "atleast_2d": [(), (3,), (2, 3)], "atleast_3d": [(3,), (2, 3)],
    "expand_dims": [(3,), (2, 3)], "squeeze": [(1, 3), (1, 2, 3)], "flatten": [(2, 3)],
    "transpose": [(2, 3), (2, 3, 1)], "transpose (method)": [(2, 3)], "swapaxes": [(2, 3, 4)],
    "moveaxis": [(2, 3, 4)], "take": [(4,), (2, 3)], "diag": [(3,), (1,), (2, 3), (3, 3)],
    "diagonal": [(3, 3), (2, 4), (1, 3)],
    "tril": [(3, 3), (2, 4)], "triu": [(3, 3)], "trace": [(3, 3), (2, 3)],
    "det (call)": [(3, 3)], "slogdet": [(3, 3)], "inv (call)": [(1, 1), (3, 3)],
    "solve (call)": [(3, 3)], "cholesky (call)": [(3, 3)], "norm": [(4,), (2, 3)],
    "dot": [(3,), (2, 3)], "cross": [(4,), (2, 4)], "einsum": [(2, 3)], "kron": [(3,)],
    "outer": [(3,)], "inner": [(3,), (2, 3)], "vdot": [(2, 3)], "arange": [(4,)], "eye": [(3,)],
    "identity": [(3,)], "full": [(3,), (2, 3)], "linspace": [(2,)], "logit": [(), (3,)],
    "broadcast_to": [(3,)],
    "max (builtin)": [()], "min (builtin)": [()],
}


def _composite_cases():
    cases = []
    for spec in ops.COMPOSITES:
        for source, domains, *shapes in spec.examples:
            for shape in (shapes[0] if shapes else _SHAPES.get(spec.name, [(4,), (3, 1)])):
                cases.append((spec.name, source, domains, shape))
    return cases


def _composite_module(tmp_path, cases):
    lines = ["import math", "import numpy as np", "from scipy import special",
             "from scipy.special import logit, logsumexp, softmax, log_softmax", ""]
    for k, (_, source, domains, _) in enumerate(cases):
        params = ["x", "y"][:len(domains)]
        lines += [f"def c{k}({', '.join(params)}):", f"    return {source}", ""]
    params = [f"x{k}_{j}" for k, (_, _, domains, _) in enumerate(cases) for j in range(len(domains))]
    calls = []
    for k, (_, _, domains, _) in enumerate(cases):
        calls.append(f"c{k}({', '.join(f'x{k}_{j}' for j in range(len(domains)))})")
    lines += [f"def batch({', '.join(params)}):", "    return (" + ", ".join(calls) + ",)"]
    return _module(tmp_path, "composites", "\n".join(lines) + "\n")


def _cpu_cases():
    """On cpu each example once, at its first shape (every shape runs on numpy): Numba's
    compile time dominates, and the shapes exercise the lowering, which both targets share."""
    seen, cases = set(), []
    for case in _composite_cases():
        if case[1] not in seen:
            seen.add(case[1])
            cases.append(case)
    return cases


_CHUNK = 5   # composite cases per compiled program on cpu (Numba's compile time grows
               # faster than linearly with a function's size)
_CPU_CHUNKS = [pytest.param("cpu", k, marks=pytest.mark.slow)
               for k in range((len(_cpu_cases()) + _CHUNK - 1) // _CHUNK)]


@pytest.mark.parametrize("target, chunk", [("numpy", None)] + _CPU_CHUNKS)
def test_composites_against_numpy_and_differences(tmp_path, target, chunk):
    cases = _composite_cases()
    if chunk is not None:
        cases = _cpu_cases()[chunk * _CHUNK:(chunk + 1) * _CHUNK]
    module = _composite_module(tmp_path, cases)
    rng = np.random.default_rng(7)
    args = []
    for _, _, domains, shape in cases:
        args += [_values(rng, d, shape, (), False) for d in domains]
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        _quiet_targets()
        reference = module.batch(*args)
        values, pullback = coarsen.vjp(module.batch, *args, target=target)
        for (name, source, _, shape), v, r in zip(cases, values, reference):
            _close(v, r, f"{name}: {source} at {shape} on {target}", rtol=1e-6)
        if target == "numpy":
            ir = coarsen.trace(module.batch, *args)
            for (name, source, _, shape), v, r in zip(cases, interpret(ir, *args), reference):
                _close(v, r, f"{name}: {source} at {shape} in the interpreter", rtol=1e-6)
        cts = [rng.normal(size=np.shape(r)) if np.ndim(r) else float(rng.normal()) for r in reference]
        grads = pullback(tuple(cts))
    position = 0
    for (name, source, domains, shape) in cases:
        for j in range(len(domains)):
            direction = rng.normal(size=shape) if shape else 1.0
            fd = _directional_fd(module.batch, args, cts, position + j, direction)
            ad = float(np.sum(np.asarray(grads[position + j]) * direction))
            assert math.isclose(ad, fd, rel_tol=1e-4, abs_tol=1e-5), \
                f"{name}: {source} at {shape} on {target}: vjp {ad} vs central differences {fd}"
        position += len(domains)


_SEVERAL_AXES = [   # (source, shapes): reductions over a tuple of axes, one axis at a time
    ("np.sum(x, axis=(0, 1))", [(2, 3), (2, 3, 2), (0, 2)]),
    ("np.mean(x, axis=(2, 0), keepdims=True)", [(2, 3, 2)]),
    ("x.max(axis=(0, -1))", [(2, 3, 2), (1, 4, 1)]),
    ("np.min(x, (1, 0))", [(2, 3)]),
    ("np.prod(x, axis=(0,), keepdims=True)", [(2, 3)]),
    ("np.sum(x, axis=())", [(2, 3)]),
    ("np.mean(x, axis=())", [(2, 3)]),
]


def test_reductions_over_several_axes_against_numpy_and_differences(tmp_path):
    cases = [(source, shape) for source, shapes in _SEVERAL_AXES for shape in shapes]
    module = _module(tmp_path, "several_axes", "import numpy as np\n\n" + "".join(
        f"def c{k}(x):\n    return {source}\n\n" for k, (source, _) in enumerate(cases)))
    rng = np.random.default_rng(3)
    for k, (source, shape) in enumerate(cases):
        fn, x = getattr(module, f"c{k}"), rng.uniform(-2.0, 2.0, size=shape)
        value, pullback = coarsen.vjp(fn, x, target="numpy")
        reference = fn(x)
        assert np.shape(value) == np.shape(reference), source
        _close(value, reference, f"{source} at {shape}")
        ct = rng.normal(size=np.shape(reference))
        (grad,) = pullback(ct)
        direction = rng.normal(size=shape)
        fd = (np.sum(fn(x + 1e-6 * direction) * ct) - np.sum(fn(x - 1e-6 * direction) * ct)) / 2e-6
        assert math.isclose(float(np.sum(grad * direction)), fd, rel_tol=1e-5, abs_tol=1e-6), source
    with pytest.raises(coarsen.UnsupportedError, match="names an axis twice"):
        bad = _module(tmp_path, "several_axes_bad", "import numpy as np\n\ndef g(x):\n    return np.sum(x, axis=(0, -2))\n")
        coarsen.jit(bad.g, target="numpy")(np.ones((2, 3)))


def test_spectral_norm_tangent_and_refused_second_derivatives(tmp_path):
    """norm(x, 2)'s JVP is u_1^T dA v_1; a second derivative through singular values (hessian:
    forward over reverse's tangent; jacfwd twice) is refused at the user's line, not zero."""
    module = _module(tmp_path, "spectral", """
        import numpy as np

        def f(x):
            return np.linalg.norm(x, 2)
    """)
    x = np.random.default_rng(5).normal(size=(3, 2))
    t = np.random.default_rng(6).normal(size=(3, 2))
    _, tangent = coarsen.jvp(module.f, (x,), (t,), target="numpy")
    u, _, vt = np.linalg.svd(x, full_matrices=False)
    assert math.isclose(tangent, u[:, 0] @ t @ vt[0], rel_tol=1e-10)
    for transform in (coarsen.hessian(module.f, target="numpy"),
                      coarsen.jacfwd(coarsen.jacfwd(module.f, target="numpy"), target="numpy")):
        with pytest.raises(coarsen.UnsupportedError, match="spectral.py:5"):
            transform(x)


def test_composites_of_empty_arrays(tmp_path):
    module = _module(tmp_path, "empties", """
        import numpy as np

        def f(x):
            return (np.cumsum(x), np.concatenate((x, x)), np.flip(x), np.diff(x) if False else x[1:] - x[:-1],
                    np.outer(x, x), np.var(np.concatenate((x, np.ones(1)))))
    """)
    x = np.zeros(0)
    with warnings.catch_warnings():
        _quiet_targets()
        for target in ("numpy", "cpu"):
            outs = coarsen.jit(module.f, target=target)(x)
            for o, r in zip(outs, module.f(x)):
                _close(o, r, f"empty on {target}")


@pytest.mark.parametrize("target", ["numpy", pytest.param("cpu", marks=pytest.mark.slow)])
def test_logsumexp_weights_signs_and_infinite_slices_against_scipy(tmp_path, target):
    """b= weights (zero weights take no part in the max, as SciPy), return_sign, keepdims with
    and without an axis, a slice of all zero weights or all -inf (-inf, not nan)."""
    from scipy.special import logsumexp

    module = _module(tmp_path, "lse_forms", """
        from scipy.special import logsumexp

        def f(x, b):
            return (logsumexp(x, b=b), logsumexp(x, axis=1, b=b, keepdims=True),
                    logsumexp(x, axis=None, b=b, keepdims=True), logsumexp(x, 0, b - 1.0, return_sign=True),
                    logsumexp(x, 1, b), logsumexp(x[0, 0], b=b[0, 1]), logsumexp(x, axis=1),
                    logsumexp(x[0], b=b[0, 0]))
    """)
    x = np.array([[1.0, 700.0, -2.0], [0.5, -np.inf, 3.0], [-np.inf, -np.inf, -np.inf]])
    b = np.array([[1.0, 0.0, 2.0], [0.0, 0.0, 0.0], [0.5, 1.0, 1.5]])
    with np.errstate(all="ignore"):
        reference = module.f(x, b)
        assert reference[1][1, 0] == -np.inf and reference[6][2] == -np.inf
        with warnings.catch_warnings():
            _quiet_targets()
            values = coarsen.jit(module.f, target=target)(x, b)
    for k, (v, r) in enumerate(zip(values, reference)):
        for vv, rr in zip(v, r) if isinstance(r, tuple) else [(v, r)]:
            assert np.shape(vv) == np.shape(rr), (k, np.shape(vv), np.shape(rr))
            _close(vv, rr, f"logsumexp form {k} on {target}")


def test_take_and_delete_with_module_level_index_arrays_and_lists(tmp_path):
    module = _module(tmp_path, "index_consts", """
        import numpy as np

        IDX = np.array([0, 2])
        LST = [1, -1]

        def f(x):
            return (np.delete(x, IDX), np.take(x, IDX), np.delete(x, LST, axis=0),
                    np.take(x.reshape(2, 2), LST, axis=1))
    """)
    x = np.array([0.3, -1.2, 2.0, 0.7])
    for v, r in zip(coarsen.jit(module.f, target="numpy")(x), module.f(x)):
        _close(v, r, "module-level indices")
    _, pullback = coarsen.vjp(module.f, x, target="numpy")
    (dx,) = pullback(tuple(np.ones_like(r) for r in module.f(x)))
    # kept by delete(IDX): 1, 3; taken: 0, 2; kept by delete(LST): 0, 2; column 1 twice: 1, 3
    _close(dx, [2.0, 3.0, 2.0, 3.0], "module-level indices: adjoint")


def test_take_and_delete_with_lists_of_loop_indices(tmp_path):
    module = _module(tmp_path, "index_loops", """
        import numpy as np

        def f(x):
            total = 0.0
            for i in range(x.shape[0] - 1):
                total += np.sum(np.take(x, [i, i + 1, -1])) * np.sum(np.delete(x, [i, 0]))
            return total
    """)
    x = np.array([0.5, -1.0, 2.0, 0.25])
    value, grad = coarsen.value_and_grad(module.f, target="numpy")(x)
    assert math.isclose(value, module.f(x), rel_tol=1e-12)
    fd = [(module.f(x + 1e-6 * e) - module.f(x - 1e-6 * e)) / 2e-6 for e in np.eye(4)]
    _close(grad, fd, "take/delete of loop indices", rtol=1e-6, atol=1e-6)


def test_delete_out_of_bounds_raises_index_error_at_the_users_line(tmp_path):
    """Slices would clamp an index past the end (silently deleting nothing): a run-time check
    raises IndexError, as NumPy, in the values and in the gradient."""
    module = _module(tmp_path, "delete_bounds", """
        import numpy as np

        def f(x):
            return np.sum(np.delete(x, [1, 5])) + np.sum(np.delete(x, -5))

        def g(x, k):   # a run-time index vector: argmax (0 here) shifted by k
            return np.sum(np.delete(x, np.argmax(x, axis=0) + k, axis=0))
    """)
    assert float(coarsen.jit(module.f, target="numpy")(np.ones(6))) == module.f(np.ones(6))
    for run in (coarsen.jit(module.f, target="numpy"), coarsen.grad(module.f, target="numpy")):
        with pytest.raises(IndexError, match="delete_bounds.py:5"):
            run(np.ones(4))
    x = np.ones((3, 2))
    for k in (-3, 2):   # in range: -3 and 2 on an axis of length 3
        assert float(coarsen.jit(module.g, target="numpy")(x, k)) == module.g(x, k)
    for k in (-4, 3):
        with pytest.raises(IndexError):
            module.g(x, k)
        for run in (coarsen.jit(module.g, target="numpy"), coarsen.grad(module.g, target="numpy")):
            with pytest.raises(IndexError, match="delete_bounds.py:8"):
                run(x, k)


# ---------------------------------------------------------------------------- the GPU


CUDA_SCRIPT = """
import sys, warnings
sys.path.insert(0, {cwd!r})
sys.path.insert(0, {tmp!r})
import numpy as np, coarsen
import cuda_batch as m
rng = np.random.default_rng(0)
args = {args}
with warnings.catch_warnings():
    warnings.simplefilter("error", RuntimeWarning)
    ref_v, ref_g = coarsen.value_and_grad(m.total, argnums=tuple(range(len(args))), target="numpy")(*args)
    v, g = coarsen.value_and_grad(m.total, argnums=tuple(range(len(args))), target="cuda")(*args)
assert np.isclose(v, ref_v), (v, ref_v)
for a, b in zip(g, ref_g):
    assert np.allclose(a, b), (a, b)
print("ok")
"""


@pytest.mark.gpu
@pytest.mark.slow
def test_elementwise_ops_on_the_cuda_target_in_the_simulator(tmp_path):
    """Every elementwise op with a GPU device form, fused into CUDA kernels (forward and VJP);
    lgamma's, gamma's and digamma's derivatives read kernels.cuda_special's digamma/trigamma."""
    specs = [s for s in _DIFF[1] + _DIFF[2] if s.sympy is not None and s.name not in _HOST_ONLY]
    assert {"lgamma", "gamma", "digamma"} <= {s.name for s in specs}
    names, terms, args = [], [], []
    rng = np.random.default_rng(1)
    for k, spec in enumerate(specs):
        ps = [f"a{k}_{j}" for j in range(spec.arity)]
        names += ps
        terms.append(f"np.sum({_call_source(spec, ps)})")
        for j in range(spec.arity):
            lo, hi = spec.domain[min(j, len(spec.domain) - 1)]
            args.append(np.round(rng.uniform(lo, hi, 5), 3).tolist())
    (tmp_path / "cuda_batch.py").write_text(
        "import math\nimport numpy as np\nfrom scipy import special\n\n"
        f"def total({', '.join(names)}):\n    return " + " + ".join(terms) + "\n")
    script = CUDA_SCRIPT.format(cwd=os.getcwd(), tmp=str(tmp_path),
                                args="[" + ", ".join(f"np.array({a})" for a in args) + "]")
    env = dict(os.environ)
    env.setdefault("NUMBA_ENABLE_CUDASIM", "1")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr[-3000:]


CUDA_COMPOSITES_SCRIPT = """
import sys, warnings
sys.path.insert(0, {cwd!r})
sys.path.insert(0, {tests!r})
from pathlib import Path
import numpy as np, coarsen
import test_op_registry as T
cases = [c for c in T._cpu_cases() if c[0] in {names!r}]
module = T._composite_module(Path({tmp!r}), cases)
rng = np.random.default_rng(7)
args = [T._values(rng, d, shape, (), False) for _, _, domains, shape in cases for d in domains]
with warnings.catch_warnings(), np.errstate(all="ignore"):
    warnings.simplefilter("error", RuntimeWarning)
    ref, ref_pullback = coarsen.vjp(module.batch, *args, target="numpy")
    cts = tuple(rng.normal(size=np.shape(r)) if np.ndim(r) else float(rng.normal()) for r in ref)
    values, pullback = coarsen.vjp(module.batch, *args, target="cuda")
    grads, ref_grads = pullback(cts), ref_pullback(cts)
for case, v, r in zip(cases, values, ref):
    np.testing.assert_allclose(np.asarray(v), np.asarray(r), rtol=1e-7, atol=1e-9, err_msg=str(case))
for k, (g, r) in enumerate(zip(grads, ref_grads)):
    np.testing.assert_allclose(np.asarray(g), np.asarray(r), rtol=1e-7, atol=1e-9, err_msg=str(k))
print("ok", len(cases))
"""


@pytest.mark.gpu
@pytest.mark.slow
def test_structural_composites_on_the_cuda_target_in_the_simulator(tmp_path):
    """The composites built of scans, concatenations, gathers, run-time checks, matmuls, batched
    matmuls and singular values (einsum, tensordot, kron, diag, norm, logsumexp, take/delete,
    squeeze, argmax, cumprod, matrix_power, vander, average, sort and order statistics,
    searchsorted, interp), values and
    VJPs on the cuda target against numpy, each example once."""
    names = {"einsum", "kron", "diag", "diagonal", "norm", "logsumexp", "take", "delete", "squeeze",
             "argmax", "argmin", "cumprod (call)", "tensordot", "matrix_power", "vander", "average",
             "sort", "argsort", "median", "percentile", "quantile", "searchsorted", "count_nonzero", "interp"}
    script = CUDA_COMPOSITES_SCRIPT.format(cwd=os.getcwd(), tests=str(Path(__file__).parent), tmp=str(tmp_path),
                                           names=names)
    env = dict(os.environ)
    env.setdefault("NUMBA_ENABLE_CUDASIM", "1")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr[-3000:]
    assert int(out.stdout.split()[-1]) >= 50, out.stdout   # every named composite's examples ran


def test_device_source_names_every_function_by_its_gpu_name():
    from coarsen.codegen.forward import device_source

    assert device_source("np.arcsin(x) + rt.erf(y) + np.exp(z)") == "math.asin(x) + math.erf(y) + math.exp(z)"
    assert device_source("rt.digamma(x) * rt.trigamma(x)") == "cuda_special.digamma(x) * cuda_special.trigamma(x)"



# ---------------------------------------------------------------------------- forward mode


def test_forward_mode_agrees_with_reverse_mode_on_the_registry(tmp_path):
    """<ct, J t> from the JVP program equals <J^T ct, t> from the VJP program, for every
    differentiable elementwise op and every composite."""
    rng = np.random.default_rng(11)
    specs = _DIFF[1] + _DIFF[2]
    ew = _batch_module(tmp_path, specs, "fwd")
    ew_args = [_values(rng, s.domain[min(j, len(s.domain) - 1)], (3,), s.avoid, False)
               for s in specs for j in range(s.arity)]
    cases = _composite_cases()
    comp = _composite_module(tmp_path, cases)
    comp_args = [_values(rng, d, shape, (), False) for _, _, domains, shape in cases for d in domains]
    for module, args in ((ew, ew_args), (comp, comp_args)):
        tangents = [rng.normal(size=np.shape(a)) if np.ndim(a) else float(rng.normal()) for a in args]
        with np.errstate(all="ignore"):
            outs, tangent_outs = coarsen.jvp(module.batch, args, tangents, target="numpy")
            cts = [rng.normal(size=np.shape(o)) if np.ndim(o) else float(rng.normal()) for o in outs]
            _, pullback = coarsen.vjp(module.batch, *args, target="numpy")
            grads = pullback(tuple(cts))
        forward = sum(float(np.sum(np.asarray(t) * c)) for t, c in zip(tangent_outs, cts))
        reverse = sum(float(np.sum(np.asarray(g) * t)) for g, t in zip(grads, tangents))
        assert math.isclose(forward, reverse, rel_tol=1e-8, abs_tol=1e-8), (forward, reverse)


@pytest.mark.parametrize("target", ["numpy", pytest.param("cpu", marks=pytest.mark.slow)])
def test_cumprod_and_prod_jvp_against_central_differences_with_zeros(tmp_path, target):
    """cumprod's tangent is a division-free forward sweep, and prod's is its last element:
    exact where elements are zero (one zero, two zeros in a row), along each axis, ranks 1-3,
    keepdims, an empty product."""
    module = _module(tmp_path, "cumprod_fwd", """
        import numpy as np

        def f(x, y, z):
            return (np.cumprod(x), np.cumprod(y, axis=1), np.cumprod(z, axis=0), y.cumprod(axis=0),
                    np.prod(x), np.prod(y, axis=0), np.prod(z, axis=2, keepdims=True), np.prod(y, keepdims=True),
                    y.prod(axis=1) + np.prod(x[:0]))
    """)
    rng = np.random.default_rng(3)
    x = np.array([0.5, 0.0, -2.0, 1.5])
    y = rng.normal(size=(2, 4))
    y[0, 1] = y[0, 2] = 0.0
    z = rng.normal(size=(3, 2, 2))
    z[1, 0, 1] = 0.0
    args = (x, y, z)
    tangents = tuple(rng.normal(size=a.shape) for a in args)
    with warnings.catch_warnings():
        _quiet_targets()
        _, touts = coarsen.jvp(module.f, args, tangents, target=target)
    eps = 1e-6
    plus = module.f(*(a + eps * t for a, t in zip(args, tangents)))
    minus = module.f(*(a - eps * t for a, t in zip(args, tangents)))
    for k, (t, p, m) in enumerate(zip(touts, plus, minus)):
        _close(t, (p - m) / (2 * eps), f"cumprod tangent {k} on {target}", rtol=1e-6, atol=1e-8)
    assert np.any(touts[0][1:] != 0.0)   # the zero does not stop the tangent at its position


def test_forward_mode_tangent_takes_the_broadcast_shape_of_an_operand_without_one(tmp_path):
    module = _module(tmp_path, "bcast", """
        import numpy as np

        def f(x):
            return np.sum(np.zeros((3, 4)) + x[:, None]) + np.sum(np.where(np.ones((2, 3)) > 0, x, 0.0))
    """)
    x = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(coarsen.jacfwd(module.f, target="numpy")(x), [6.0, 6.0, 6.0])
    np.testing.assert_allclose(coarsen.grad(module.f, target="numpy")(x), [6.0, 6.0, 6.0])


CACHE_SCRIPT = """
import sys, math
sys.path.insert(0, {cwd!r})
sys.path.insert(0, {tmp!r})
import numpy as np, coarsen
import cache_progs as m
x = np.array([0.1, 0.5, 0.9])
if sys.argv[1] == "other-first":   # compile the same-shaped siblings before loading the cached ones
    coarsen.jit(m.with_erf, target="cpu")(x)
    coarsen.jit(m.with_cumsum, target="cpu")(x)
assert np.allclose(coarsen.jit(m.with_erfc, target="cpu")(x), [math.erfc(v) for v in x])
assert np.allclose(coarsen.jit(m.with_cumprod, target="cpu")(x), np.cumprod(x))
print("ok")
"""


@pytest.mark.slow
def test_cached_programs_link_their_own_special_functions_and_scans(tmp_path):
    """A program loaded from the disk cache into a process that compiled a sibling runtime
    function (erf before erfc, cumsum before cumprod) calls its own: Numba links callees by
    qualified name, so each has its own."""
    (tmp_path / "cache_progs.py").write_text(textwrap.dedent("""
        from scipy import special
        import numpy as np

        def with_erf(x):
            return special.erf(x)

        def with_erfc(x):
            return special.erfc(x)

        def with_cumsum(x):
            return np.cumsum(x)

        def with_cumprod(x):
            return np.cumprod(x)
    """))
    env = dict(os.environ, COARSEN_CACHE_DIR=str(tmp_path / "cache"))
    script = CACHE_SCRIPT.format(cwd=os.getcwd(), tmp=str(tmp_path))
    for order in ("alone", "other-first"):
        done = subprocess.run([sys.executable, "-c", script, order], env=env, capture_output=True, text=True)
        assert done.returncode == 0 and "ok" in done.stdout, done.stderr[-2000:]
