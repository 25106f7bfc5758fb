"""Sensitivity of hyperoptimizer towers to their initial step sizes, and what a level costs.

Input: scikit-learn's bundled digits (1,797 8x8 images, no download), an MLP 64-128-10 (tanh),
cross-entropy, minibatches of 16, 20 epochs, seeds 0..2, one torch thread.
Output (in --out, default benchmarks/hyperopt_results/):
- sensitivity.csv: one row per (variant, optimizer, initial step size, seed): test error, ...
- overhead.csv: milliseconds per training step for towers SGD^k, k = 0 (no update) .. 50.
- sensitivity.png: test error vs initial step size per tower (reference formulation and ours),
  and step time vs height.
- summary.txt: the tables (also printed).

Variants: "reference" is the paper's unconstrained formulation (step sizes updated additively,
free to turn negative; written out below in a few lines), "ours" is hyperopt (step sizes in
log coordinates with the trust bound, see hyperopt/README.md).  Every level of a tower starts
at the same step size.  SGD towers learn the step size only, as in the paper; Adam towers learn
alpha, beta1 and beta2.

Run:  python benchmarks/hyperopt_sensitivity.py [--quick] [--backend torch|numpy] [--jobs 2]
      [--executor local|ray [--ray-address ADDR]]
``--backend numpy`` trains the same model as a plain NumPy function differentiated by
``coarsen.value_and_grad``, with the NumPy backend of hyperopt.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import math
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

# Reported by an independent run of the paper's torch formulation (issue 5): test error.
REFERENCE = {"SGD": {1e-4: 0.878}, "SGD/SGD": {1e-4: 0.143}, "SGD^3": {1e-4: 0.059},
             "SGD^4": {1e-4: 0.056}}
STEP_SIZES = [1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0]
ADAM = {"Adam": (1e-3, []), "Adam/SGD": (1e-3, [("SGD", 1e-5)]),
        "Adam/Adam": (1e-3, [("Adam", 1e-4)])}


@dataclasses.dataclass(frozen=True)
class Run:
    variant: str  # "reference" | "ours"
    name: str  # "SGD^3", "Adam/SGD", ...
    step: float  # initial step size (every level for SGD towers; the bottom for Adam)
    seed: int
    trust: float | None = 1.0  # hyperopt's bound on a hyperparameter's step (ours only)


def height_of(name: str) -> int:
    return 1 if name == "SGD" else 2 if name == "SGD/SGD" else int(name[4:])


def sgd_name(height: int) -> str:
    return {1: "SGD", 2: "SGD/SGD"}.get(height, f"SGD^{height}")


def load_digits_split() -> tuple[np.ndarray, ...]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    x, y = load_digits(return_X_y=True)
    return tuple(train_test_split(x / 16.0, y, test_size=0.2, random_state=0, stratify=y))


def make_model(seed: int) -> Any:
    import torch
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.Tanh(),
                               torch.nn.Linear(128, 10)).double()


def hyperopt_spec(run: Run) -> Any:
    import hyperopt
    if run.name.startswith("Adam"):
        alpha, uppers = ADAM[run.name]
        top = None
        for kind, step in reversed(uppers):
            top = getattr(hyperopt, kind)(step, optimizer=top, trust=run.trust)
        return hyperopt.Adam(alpha, optimizer=top)
    opt = None
    for _ in range(height_of(run.name)):
        opt = hyperopt.SGD(run.step, optimizer=opt, trust=run.trust,
                           learn=["alpha"] if opt is not None else None)
    return opt


class ReferenceSGDTower:
    """The paper's formulation, closed form: SGD^k with raw (unconstrained) step sizes.

    ``a[j-1] -= a[j] * dL/da[j-1]`` with ``dL/da[0] = -<g_t, g_{t-1}>`` and each higher
    hypergradient chained through the last update only, exactly as in the paper.
    """

    def __init__(self, params: list, step: float, height: int) -> None:
        self.params, self.alpha = params, [step] * height
        self.prev_g = None
        self.prev_d: list[float | None] = [None] * height  # d a[j-1] / d a[j], last update

    def step(self) -> None:
        import torch
        with torch.no_grad():
            g = torch.cat([p.grad.reshape(-1) for p in self.params])
            hg: list[float | None] = [None] * len(self.alpha)
            if self.prev_g is not None:
                hg[0] = -float(g @ self.prev_g)
                for j in range(1, len(self.alpha) - 1):
                    if hg[j - 1] is not None and self.prev_d[j] is not None:
                        hg[j] = hg[j - 1] * self.prev_d[j]
            d: list[float | None] = [None] * len(self.alpha)
            for j in range(len(self.alpha) - 1, 0, -1):  # top-down, as the paper
                if hg[j - 1] is not None:
                    self.alpha[j - 1] -= self.alpha[j] * hg[j - 1]
                    d[j] = -hg[j - 1]
            for p in self.params:
                p.sub_(self.alpha[0] * p.grad)
            self.prev_g, self.prev_d = g, d

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None


def batches(n: int, batch: int, epochs: int, seed: int):
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        order = rng.permutation(n)
        for i in range(0, n, batch):
            yield order[i:i + batch]


def train_torch(run: Run, epochs: int, batch: int) -> dict[str, Any]:
    import torch
    import hyperopt
    import hyperopt.torch
    torch.set_num_threads(1)
    xtr, xte, ytr, yte = (torch.from_numpy(np.asarray(a)) for a in load_digits_split())
    model = make_model(run.seed)
    if run.variant == "reference":
        opt: Any = ReferenceSGDTower(list(model.parameters()), run.step, height_of(run.name))
    else:
        opt = hyperopt.torch.from_spec(model.parameters(), hyperopt_spec(run))
    start, loss, stopped = time.perf_counter(), math.nan, ""
    for idx in batches(len(xtr), batch, epochs, run.seed):
        opt.zero_grad()
        out = torch.nn.functional.cross_entropy(model(xtr[idx]), ytr[idx])
        loss = out.item()
        if not math.isfinite(loss):
            stopped = "non-finite loss"
            break
        out.backward()
        try:
            opt.step()
        except hyperopt.NonFiniteError as e:
            stopped = str(e).split(";")[0]
            break
    with torch.no_grad():
        logits = model(xte)
        ok = torch.isfinite(logits).all()
        err = float((logits.argmax(1) != yte).double().mean()) if ok else 0.9
    alpha = opt.alpha[0] if run.variant == "reference" else opt.hyperparameters()[0]["alpha"]
    return {"test_error": err, "last_loss": loss, "stopped": stopped, "final_alpha": alpha,
            "seconds": time.perf_counter() - start}


def numpy_mlp_loss(params: dict, x: np.ndarray, y: np.ndarray) -> Any:
    """The same MLP as a plain NumPy function (what coarsen differentiates); ``y`` one-hot."""
    h = np.tanh(x @ params["W1"] + params["b1"])
    logits = h @ params["W2"] + params["b2"]
    z = logits - np.max(logits, axis=1, keepdims=True)
    return -np.mean(np.sum(y * (z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))), axis=1))


def train_numpy(run: Run, epochs: int, batch: int, value_and_grad: Any = None
                ) -> dict[str, Any]:
    import hyperopt
    if run.variant != "ours":
        raise ValueError("the numpy backend runs hyperopt only (variant 'ours')")
    xtr, xte, ytr, yte = load_digits_split()
    model = make_model(run.seed)  # same initial weights as the torch runs
    w = [p.detach().numpy().copy() for p in model.parameters()]
    params = {"W1": w[0].T.copy(), "b1": w[1], "W2": w[2].T.copy(), "b2": w[3]}
    onehot = np.eye(10)[ytr]
    opt = hyperopt_spec(run)
    state, loss, stopped = opt.init(params), math.nan, ""
    start = time.perf_counter()
    for idx in batches(len(xtr), batch, epochs, run.seed):
        try:
            loss, params, state = opt.step(numpy_mlp_loss, params, state, xtr[idx], onehot[idx],
                                           value_and_grad=value_and_grad)
        except hyperopt.NonFiniteError as e:
            stopped = str(e).split(";")[0]
            break
    logits = np.tanh(xte @ params["W1"] + params["b1"]) @ params["W2"] + params["b2"]
    err = float(np.mean(logits.argmax(1) != yte)) if np.isfinite(logits).all() else 0.9
    return {"test_error": err, "last_loss": loss, "stopped": stopped,
            "final_alpha": opt.hyperparameters(state)[0]["alpha"],
            "seconds": time.perf_counter() - start}


def _work(args: tuple[str, Run, int, int]) -> tuple[Run, dict[str, Any]]:
    backend, run, epochs, batch = args
    return run, (train_torch if backend == "torch" else train_numpy)(run, epochs, batch)


def _stepper(backend: str, k: int, x: np.ndarray, y: np.ndarray) -> Any:
    """A closure running one training step of SGD^k (k = 0: gradient only, no update)."""
    import torch
    import hyperopt.torch
    spec = hyperopt_spec(Run("ours", sgd_name(k), 1e-3, 0)) if k else None
    if backend == "torch":
        model = make_model(0)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        opt = hyperopt.torch.from_spec(model.parameters(), spec) if k else None

        def one() -> None:
            model.zero_grad()
            torch.nn.functional.cross_entropy(model(xt), yt).backward()
            if opt is not None:
                opt.step()
        return one
    import coarsen
    vg = coarsen.value_and_grad(numpy_mlp_loss)
    rng = np.random.default_rng(0)
    params = {"W1": rng.normal(0, 0.1, (64, 128)), "b1": np.zeros(128),
              "W2": rng.normal(0, 0.1, (128, 10)), "b2": np.zeros(10)}
    onehot = np.eye(10)[y]
    box = [params, spec.init(params) if k else None]

    def one_numpy() -> None:
        if k:
            _, box[0], box[1] = spec.step(numpy_mlp_loss, box[0], box[1], x, onehot)
        else:
            vg(box[0], x, onehot)
    return one_numpy


def step_overhead(backend: str, heights: list[int], steps: int, rounds: int = 10
                  ) -> list[dict[str, Any]]:
    """Milliseconds per training step (forward, backward, update) of SGD^k, k = heights.

    Heights are timed round-robin, ``rounds`` times each, keeping the fastest round: on a
    shared machine, load then hits every height alike and the minimum filters it out.
    """
    import torch
    torch.set_num_threads(1)
    xtr, _, ytr, _ = load_digits_split()
    x, y = xtr[:16], ytr[:16]
    steppers = {k: _stepper(backend, k, x, y) for k in heights}
    for k, one in steppers.items():
        for _ in range(max(20, k + 5)):  # warm-up: every level active, caches filled
            one()
    times: dict[int, list[float]] = {k: [] for k in heights}
    for _ in range(rounds):
        for k, one in steppers.items():
            t = time.perf_counter()
            for _ in range(steps):
                one()
            times[k].append((time.perf_counter() - t) / steps * 1e3)
    return [{"backend": backend, "height": k, "ms_per_step": min(times[k]),
             "ms_median": statistics.median(times[k])} for k in heights]


def memory_profile(steps: int, every: int = 1000) -> list[dict[str, Any]]:
    """RSS, live tensors and gc-tracked objects while Adam/SGD/SGD trains (torch backend)."""
    import torch
    import hyperopt
    import hyperopt.torch
    torch.set_num_threads(1)
    xtr, _, ytr, _ = load_digits_split()
    x, y = torch.from_numpy(xtr[:16]), torch.from_numpy(ytr[:16])
    model = make_model(0)
    opt = hyperopt.torch.from_spec(model.parameters(), hyperopt.Adam(
        1e-3, optimizer=hyperopt.SGD(1e-5, optimizer=hyperopt.SGD(1e-6)), on_nonfinite="skip"))
    rows = []
    for t in range(1, steps + 1):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        if t % every == 0:
            rows.append({"step": t, **_census()})
    return rows


def _census() -> dict[str, Any]:
    """RSS and object counts; the gc.get_objects() list must not outlive this call, or the
    next census would see (and keep alive) everything this one saw."""
    import gc
    import torch
    gc.collect()
    objects = gc.get_objects()
    tensors = sum(issubclass(type(o), torch.Tensor) for o in objects)  # proxies: no isinstance
    n = len(objects)
    del objects
    with open("/proc/self/statm") as f:
        rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    return {"rss_mib": rss / 2**20, "gc_objects": n, "live_tensors": tensors}


def summarize(rows: list[dict[str, Any]], overhead: list[dict[str, Any]],
              memory: list[dict[str, Any]] | None = None) -> str:
    trusts = sorted({str(r["trust"]) for r in rows if r["variant"] == "ours"})
    lines = ["Test error (mean over seeds, %) by initial step size; reference = the paper's "
             f"unconstrained formulation, ours = hyperopt (trust {', '.join(trusts)}).", ""]
    steps = sorted({r["step"] for r in rows if r["name"].startswith("SGD")})
    for variant in ("reference", "ours"):
        sel = [r for r in rows if r["variant"] == variant and r["name"].startswith("SGD")]
        if not sel:
            continue
        lines.append(f"{variant:10s} " + " ".join(f"{s:>8g}" for s in steps))
        for name in sorted({r["name"] for r in sel}, key=height_of):
            cells = []
            for s in steps:
                errs = [r["test_error"] for r in sel if r["name"] == name and r["step"] == s]
                cells.append(f"{100 * statistics.mean(errs):8.1f}" if errs else f"{'':8s}")
            lines.append(f"{name:10s} " + " ".join(cells))
        lines.append("")
    adam = [r for r in rows if r["name"].startswith("Adam")]
    for name in ADAM:
        errs = [r["test_error"] for r in adam if r["name"] == name]
        if errs:
            lines.append(f"{name:10s} {100 * statistics.mean(errs):5.1f}% "
                         f"(+- {100 * (statistics.pstdev(errs)):.1f}, {len(errs)} seeds)")
    lines.append("")
    lines.append("Reference numbers from the issue (test error at 1e-4): " + ", ".join(
        f"{k} {100 * v[1e-4]:.1f}%" for k, v in REFERENCE.items()))
    if overhead:
        lines.append("")
        lines.append("ms per step (fastest of 10 interleaved rounds) by tower height SGD^k "
                     "(0 = gradient only, no update):")
        lines.append("  " + ", ".join(f"{r['height']}: {r['ms_per_step']:.3f}" for r in overhead))
        hs = [r["height"] for r in overhead if r["height"] >= 1]
        ts = [r["ms_per_step"] for r in overhead if r["height"] >= 1]
        if len(hs) >= 2:
            slope, icpt = np.polyfit(hs, ts, 1)
            lines.append(f"  linear fit over heights >= 1: {icpt:.3f} ms + {slope:.4f} ms/level")
    if memory:
        lines.append("")
        lines.append("memory while Adam/SGD/SGD trains (torch backend), step: RSS MiB / live "
                     "tensors / gc objects:")
        lines.append("  " + ", ".join(f"{m['step']}: {m['rss_mib']:.1f} / {m['live_tensors']}"
                                      f" / {m['gc_objects']}" for m in memory))
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], overhead: list[dict[str, Any]], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    variants = [v for v in ("reference", "ours") if any(r["variant"] == v for r in rows)]
    fig, axes = plt.subplots(1, len(variants) + 1, figsize=(5 * (len(variants) + 1), 4))
    axes = np.atleast_1d(axes)
    for ax, variant in zip(axes, variants):
        sel = [r for r in rows if r["variant"] == variant and r["name"].startswith("SGD")]
        for name in sorted({r["name"] for r in sel}, key=height_of):
            steps = sorted({r["step"] for r in sel if r["name"] == name})
            errs = [100 * statistics.mean(r["test_error"] for r in sel
                                          if r["name"] == name and r["step"] == s) for s in steps]
            ax.plot(steps, errs, marker="o", label=name)
        ax.set(xscale="log", xlabel="initial step size (every level)", ylabel="test error %",
               title=f"digits MLP, {variant}", ylim=(0, 100))
        ax.legend()
    ax = axes[-1]
    if overhead:
        ax.plot([r["height"] for r in overhead], [r["ms_per_step"] for r in overhead],
                marker="o")
    ax.set(xlabel="tower height k (SGD^k)", ylabel="ms per step", title="cost of a level")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backend", choices=["torch", "numpy"], default="torch")
    ap.add_argument("--quick", action="store_true", help="2 epochs, 1 seed, 3 step sizes")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--steps", type=float, nargs="*", default=None, help="initial step sizes")
    ap.add_argument("--heights", type=int, nargs="*", default=[1, 2, 3, 4],
                    help="SGD tower heights to train (none: skip the sensitivity runs)")
    ap.add_argument("--variants", nargs="*", default=None, choices=["reference", "ours"])
    ap.add_argument("--overhead-heights", type=int, nargs="*", default=None)
    ap.add_argument("--no-adam", action="store_true")
    ap.add_argument("--memory-steps", type=int, default=None,
                    help="steps of the memory profile (torch backend; 0 skips)")
    ap.add_argument("--trust", type=lambda v: None if v == "none" else float(v), default=1.0,
                    help="hyperopt's trust bound for ours ('none': unbounded)")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes (1 thread each)")
    ap.add_argument("--executor", choices=["local", "ray"], default="local",
                    help="where the runs go: local processes or Ray actors (agents.executors)")
    ap.add_argument("--ray-address", default="", help="a running Ray cluster (default: start "
                    "a local Ray)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "hyperopt_results")
    ap.add_argument("--tag", default="", help="suffix for the output file names")
    args = ap.parse_args(argv)
    epochs = args.epochs or (2 if args.quick else 20)
    seeds = args.seeds or (1 if args.quick else 3)
    steps = args.steps or ([1e-4, 1e-2, 1.0] if args.quick else STEP_SIZES)
    variants = args.variants or (["ours"] if args.backend == "numpy" else ["reference", "ours"])
    oh = args.overhead_heights
    if oh is None:
        oh = [0, 1, 2, 3, 4] if args.quick else [0, 1, 2, 3, 4, 10, 20, 30, 40, 50]
    runs = [Run(v, sgd_name(h), s, seed, args.trust) for v in variants for h in args.heights
            for s in steps for seed in range(seeds)]
    if not args.no_adam and "ours" in variants:
        runs += [Run("ours", name, ADAM[name][0], seed, args.trust)
                 for name in ADAM for seed in range(seeds)]
    rows = []
    work = [(args.backend, r, epochs, args.batch_size) for r in runs]
    # the project's executor interface: local processes (--jobs 1: this process) or Ray
    # actors; every run is seeded, so results do not depend on where it ran
    from agents.executors import make_executor
    with make_executor(args.executor, args.jobs, args.ray_address or None) as pool:
        done = pool.map(_work, [(w,) for w in work], desc="training runs", progress=True)
    for run, res in done:
        rows.append({**dataclasses.asdict(run), "backend": args.backend, "epochs": epochs,
                     **res})
    overhead = step_overhead(args.backend, oh, steps=20 if args.quick else 100) if oh else []
    mem_steps = args.memory_steps if args.memory_steps is not None else \
        (0 if args.quick or args.backend != "torch" else 5000)
    memory = memory_profile(mem_steps) if mem_steps else []
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = ("" if args.backend == "torch" else f"_{args.backend}") + \
        ("_quick" if args.quick else "") + (f"_{args.tag}" if args.tag else "")
    for name, table in (("sensitivity", rows), ("overhead", overhead), ("memory", memory)):
        if table:
            with open(args.out / f"{name}{suffix}.csv", "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=list(table[0]))
                writer.writeheader()
                writer.writerows(table)
    plot(rows, overhead, args.out / f"sensitivity{suffix}.png")
    text = summarize(rows, overhead, memory)
    (args.out / f"summary{suffix}.txt").write_text(
        f"python benchmarks/hyperopt_sensitivity.py {' '.join(argv or sys.argv[1:])}\n"
        f"epochs={epochs} seeds={seeds} batch={args.batch_size} backend={args.backend}\n\n"
        + text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    raise SystemExit(main())
