"""python -m benchmarks.gpu --out DIR [--tiny] [--no-tests]: the cuda target on a real GPU.

One prepared run for the few minutes a GPU machine is lent (issue: "the cuda target proven on
a real GPU"). Everything goes under DIR:
1. `tests.log`: `NUMBA_ENABLE_CUDASIM=0 python -m pytest -m gpu tests/kernels` and the AD tests
   parametrised over targets, on "cuda" (skipped with --no-tests);
2. `results.json`, `results.txt`: for each program, coarsen's gradient on the GPU, JAX
   `jit(vmap(grad))` / `jit(grad)` and `torch.func` on the same GPU, each gradient checked
   against coarsen's cpu target (max relative error; the target is 1e-10), steady time per call
   (CUDA events where the library has them, else synchronised wall time) and the first call
   (compile) time apart.

Scalar loop/branch programs run as `coarsen.vmap(coarsen.grad(f), target="cuda")`, one GPU
thread per element with the loop inside the thread; JAX and torch run the branch-free forms
(`where`/`clip`), which is what their tracers need. Array programs run as
`coarsen.grad(f, target="cuda")` on CuPy arrays.

`--tiny` runs every step at small sizes; with NUMBA_ENABLE_CUDASIM=1 and no GPU it runs in
Numba's CUDA simulator (and the peers on the CPU), which is how CI keeps this script working.
Every step's failure is recorded in the results, never fatal: one run shows everything.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import numpy as np

from benchmarks.bgd_hyperopt import bgd_final_loss
from benchmarks.hmc import potential
from benchmarks.hookean import spring_energy   # one system per row of the mapped positions


# ---------------------------------------------------------------------- scalar programs (vmap)
def cartpole(t0, t1, t2, t3, steps):
    """benchmarks/cartpole.py's rollout cost with the policy's weights as four scalars."""
    x = 0.0
    v = 0.1
    a = 0.05
    w = 0.0
    cost = 0.0
    for t in range(steps):
        f = t0 * x + t1 * v + t2 * a + t3 * w
        if f > 10.0:
            f = 10.0
        elif f < -10.0:
            f = -10.0
        s = np.sin(a)
        c = np.cos(a)
        tmp = (f + 0.05 * w * w * s) / 1.1
        acc_a = (9.8 * s - c * tmp) / (0.5 * (4.0 / 3.0 - 0.1 * c * c / 1.1))
        acc_x = tmp - 0.05 * acc_a * c / 1.1
        x = x + 0.02 * v
        v = v + 0.02 * acc_x
        a = a + 0.02 * w
        w = w + 0.02 * acc_a
        if np.abs(a) > 0.2:
            cost = cost + 10.0 * a * a
        else:
            cost = cost + a * a
        cost = cost + 0.1 * x * x
    return cost


def cartpole_branch_free(t0, t1, t2, t3, steps):
    x = 0.0
    v = 0.1
    a = 0.05
    w = 0.0
    cost = 0.0
    for t in range(steps):
        f = np.clip(t0 * x + t1 * v + t2 * a + t3 * w, -10.0, 10.0)
        s = np.sin(a)
        c = np.cos(a)
        tmp = (f + 0.05 * w * w * s) / 1.1
        acc_a = (9.8 * s - c * tmp) / (0.5 * (4.0 / 3.0 - 0.1 * c * c / 1.1))
        acc_x = tmp - 0.05 * acc_a * c / 1.1
        x = x + 0.02 * v
        v = v + 0.02 * acc_x
        a = a + 0.02 * w
        w = w + 0.02 * acc_a
        cost = cost + np.where(np.abs(a) > 0.2, 10.0, 1.0) * a * a + 0.1 * x * x
    return cost


def branch_element(x, p, q, z):
    """The nested-branch kernel (benchmarks/branch_kernel.py) at one element."""
    d = p + q * x
    if d > 0.0:
        a = np.sqrt(d)
    else:
        if d > -1.0:
            a = d * d
        else:
            a = 1.0 + np.log(-d)
    return z * a * (1.0 + np.exp(-d))


def branch_element_branch_free(x, p, q, z):
    d = p + q * x
    positive = d > 0.0
    middle = d > -1.0
    a = np.where(positive, np.sqrt(np.where(positive, d, 1.0)),
                 np.where(middle, d * d, 1.0 + np.log(-np.where(middle, -1.0, d))))
    return z * a * (1.0 + np.exp(-d))


# ---------------------------------------------------------------------- cases
def _cases(tiny: bool, rng: np.random.Generator) -> list[dict]:
    big = (lambda full, small: small if tiny else full)
    n_pol, n_el, n_sys = big(1_000_000, 128), big(10_000_000, 1000), big(100_000, 32)
    steps = big(50, 4)
    thetas = tuple(rng.normal(scale=0.5, size=n_pol) for _ in range(4))
    rest = rng.uniform(0.2, 0.6, (10, 10))
    records = big(200_000, 300)
    bgd_steps = big(100, 5)
    X = rng.standard_normal((records, 16))
    y = (rng.random(records) < 0.5).astype(np.float64)
    return [
        dict(name="cartpole", kind="vmap", program=cartpole, peer_program=cartpole_branch_free,
             argnums=(0, 1, 2, 3), in_axes=(0, 0, 0, 0, None), args=(*thetas, steps),
             label=f"{n_pol} policies, {steps} steps"),
        dict(name="branch", kind="vmap", program=branch_element, peer_program=branch_element_branch_free,
             argnums=(1, 2, 3), in_axes=(0, None, None, None),
             args=(rng.normal(scale=2.0, size=n_el), 0.1, 0.8, 1.2), label=f"{n_el} elements"),
        dict(name="hookean", kind="vmap", program=spring_energy, peer_program=spring_energy,
             argnums=0, in_axes=(0, None, None), args=(rng.uniform(size=(n_sys, 20)), rest, 1.5),
             label=f"{n_sys} systems of 10 vertices"),
        dict(name="bgd_hyperopt", kind="array", program=bgd_final_loss, argnums=0,
             args=(0.1, X, X @ rng.standard_normal(16), bgd_steps), label=f"{records} records, {bgd_steps} steps"),
        dict(name="hmc_grad_U", kind="array", program=potential, argnums=0,
             args=(0.3 * rng.standard_normal(16), X, y, 10.0), label=f"{records} records"),
    ]


# ---------------------------------------------------------------------- timing
def _timer(library: str) -> tuple[Callable, str]:
    """A function timing `call` once (seconds), and how it measures."""
    if library == "cupy":
        try:
            import cupy
            if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
                def timed(call):
                    start, stop = cupy.cuda.Event(), cupy.cuda.Event()
                    start.record()
                    call()
                    stop.record()
                    stop.synchronize()
                    return cupy.cuda.get_elapsed_time(start, stop) / 1e3
                return timed, "cupy CUDA events"
        except ImportError:
            pass
    if library == "torch":
        import torch
        if torch.cuda.is_available():
            def timed(call):
                start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                call()
                stop.record()
                torch.cuda.synchronize()
                return start.elapsed_time(stop) / 1e3
            return timed, "torch CUDA events"

    def timed(call):
        t = time.perf_counter()
        call()
        return time.perf_counter() - t
    return timed, "synchronised wall time"


def _measure(call: Callable, library: str, repeats: int) -> dict:
    timed, how = _timer(library)
    t0 = time.perf_counter()
    out = call()
    first = time.perf_counter() - t0
    times = sorted(timed(call) for _ in range(repeats))
    return dict(first_call_s=first, median_s=times[len(times) // 2], min_s=times[0], timing=how), out


def _rel_err(got, ref) -> float:
    got = np.concatenate([np.ravel(np.asarray(g, dtype=np.float64)) for g in _leaves(got)])
    ref = np.concatenate([np.ravel(np.asarray(r, dtype=np.float64)) for r in _leaves(ref)])
    return float(np.max(np.abs(got - ref)) / max(np.max(np.abs(ref)), 1e-300))


def _leaves(x):
    if isinstance(x, (tuple, list)):
        return [leaf for item in x for leaf in _leaves(item)]
    if hasattr(x, "get"):          # CuPy
        return [x.get()]
    if hasattr(x, "detach"):       # torch
        return [x.detach().cpu().numpy()]
    return [np.asarray(x)]


# ---------------------------------------------------------------------- contenders
def _coarsen(case: dict, target: str):
    import coarsen
    g = coarsen.grad(case["program"], argnums=case["argnums"], target="numpy" if case["kind"] == "vmap" else target)
    if case["kind"] == "vmap":
        f = coarsen.vmap(g, in_axes=case["in_axes"], target=target)
        return lambda: f(*case["args"])
    if target == "cuda" and os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
        import cupy
        args = tuple(cupy.asarray(a) if isinstance(a, np.ndarray) else a for a in case["args"])
        return lambda: g(*args)
    return lambda: g(*case["args"])


def _jax(case: dict):
    import jax
    import jax.numpy as jnp
    from benchmarks.backends import rebind
    jax.config.update("jax_enable_x64", True)
    program = rebind(case.get("peer_program", case["program"]), jnp)
    static = [i for i, a in enumerate(case["args"]) if isinstance(a, int)]
    if case["kind"] == "vmap":
        grad = jax.grad(program, argnums=case["argnums"])
        axes = tuple(None if i in static else ax for i, ax in enumerate(case["in_axes"]))
        f = jax.jit(jax.vmap(grad, in_axes=axes), static_argnums=tuple(static))
    else:
        f = jax.jit(jax.grad(program, argnums=case["argnums"]), static_argnums=tuple(static))
    args = tuple(a if i in static else jnp.asarray(a) for i, a in enumerate(case["args"]))
    return lambda: jax.block_until_ready(f(*args))


def _torch(case: dict):
    import torch
    from benchmarks.backends import rebind, torch_numpy
    device = "cuda" if torch.cuda.is_available() else "cpu"
    program = rebind(case.get("peer_program", case["program"]), torch_numpy())
    grad = torch.func.grad(program, argnums=case["argnums"])
    args = tuple(torch.as_tensor(a, dtype=torch.float64, device=device) if isinstance(a, (np.ndarray, float)) else a
                 for a in case["args"])
    if case["kind"] == "vmap":
        f = torch.func.vmap(grad, in_dims=case["in_axes"])
    else:
        f = grad
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def call():
        out = f(*args)
        sync()
        return out
    return call


# ---------------------------------------------------------------------- steps
def run_tests(out: Path) -> dict:
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="0")
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "gpu", "tests/kernels",
           "tests/coarsen/test_every_target.py", "-k", "cuda"]
    t = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    (out / "tests.log").write_text(proc.stdout + proc.stderr)
    last = (proc.stdout.strip().splitlines() or [""])[-1]
    return dict(command=" ".join(cmd), returncode=proc.returncode, summary=last,
                seconds=time.perf_counter() - t)


def run_benchmarks(tiny: bool, repeats: int, peers: tuple[str, ...] = ("jax", "torch.func")) -> list[dict]:
    rows = []
    for case in _cases(tiny, np.random.default_rng(0)):
        row = dict(name=case["name"], label=case["label"])
        try:
            reference = _coarsen(case, "cpu")()
        except Exception as err:   # recorded, not fatal: one run should show everything
            reference = None
            row["cpu_reference_error"] = f"{type(err).__name__}: {err}"
        for peer, make, library in (("coarsen cuda", lambda c: _coarsen(c, "cuda"), "cupy"),
                                    ("jax", _jax, "jax"), ("torch.func", _torch, "torch")):
            if peer != "coarsen cuda" and peer not in peers:
                row[peer] = dict(error="not run (--peers)")
                continue
            try:
                stats, got = _measure(make(case), library, repeats)
                if reference is not None:
                    stats["rel_err_vs_cpu"] = _rel_err(got, reference)
                row[peer] = stats
            except Exception as err:
                row[peer] = dict(error=f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"[:300],
                                 trace=traceback.format_exc(limit=3))
        ours = row.get("coarsen cuda", {}).get("median_s")
        for peer in ("jax", "torch.func"):
            theirs = row.get(peer, {}).get("median_s")
            if ours and theirs:
                row[f"{peer} / coarsen"] = theirs / ours
        rows.append(row)
        print(_line(row), flush=True)
    return rows


def _line(row: dict) -> str:
    def cell(peer):
        r = row.get(peer, {})
        if "error" in r:
            return f"{peer}: {r['error'][:80]}"
        return (f"{peer}: {r['median_s'] * 1e3:.3f} ms (first {r['first_call_s']:.2f} s, "
                f"rel err {r.get('rel_err_vs_cpu', float('nan')):.1e})")
    ratios = ", ".join(f"{k} {v:.2f}x" for k, v in row.items() if k.endswith("/ coarsen"))
    return f"{row['name']} [{row['label']}]\n  " + "\n  ".join(
        cell(p) for p in ("coarsen cuda", "jax", "torch.func")) + (f"\n  {ratios}" if ratios else "")


def device_name() -> str:
    try:
        from numba import cuda
        if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
            return "Numba CUDA simulator (no GPU)"
        return cuda.get_current_device().name.decode() if hasattr(cuda.get_current_device().name, "decode") \
            else str(cuda.get_current_device().name)
    except Exception as err:
        return f"unknown ({type(err).__name__}: {err})"


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(prog="python -m benchmarks.gpu", description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True, help="folder for tests.log, results.json, results.txt")
    p.add_argument("--tiny", action="store_true", help="small sizes (the simulator in CI)")
    p.add_argument("--no-tests", action="store_true", help="skip the pytest step")
    p.add_argument("--repeats", type=int, default=None, help="timed calls per contender (default 20, tiny 3)")
    p.add_argument("--peers", default="jax,torch.func", help="peers beside coarsen (default: jax,torch.func)")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = dict(device=device_name(), date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                  tiny=args.tiny, python=sys.version.split()[0])
    print(f"device: {report['device']}", flush=True)
    if not args.no_tests:
        report["tests"] = run_tests(out)
        print(f"tests: {report['tests']['summary']}", flush=True)
    report["benchmarks"] = run_benchmarks(args.tiny, args.repeats or (3 if args.tiny else 20),
                                          tuple(filter(None, args.peers.split(","))))
    (out / "results.json").write_text(json.dumps(report, indent=2, default=str))
    (out / "results.txt").write_text("\n".join([f"device: {report['device']}  date: {report['date']}",
                                                 *(_line(r) for r in report["benchmarks"])]) + "\n")
    print(f"wrote {out / 'results.json'} and {out / 'results.txt'}")
    return report


if __name__ == "__main__":
    main()
