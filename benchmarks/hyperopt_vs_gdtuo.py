"""hyperopt side by side with the paper's reference implementation (gdtuo), same model and data.

Input: scikit-learn's digits and the MLP 64-128-10 (tanh, float64) of
benchmarks/hyperopt_sensitivity.py, minibatches of 16, 20 epochs, seeds 0..2, one torch thread;
gdtuo is PyPI ``gradient-descent-the-ultimate-optimizer`` (module ``gdtuo``, ``pip install
'.[bench]'``), run the way its README runs it (``ModuleWrapper``, ``backward(create_graph=True)``).
Output (in --out, default benchmarks/hyperopt_results/):
- gdtuo_errors.csv: one row per (implementation, tower, initial step size, seed): test error,
  final learned step size, whether training stopped on NaN/inf.
- gdtuo_timing.csv: milliseconds per training step (forward, backward, update) of every tower
  for gdtuo, hyperopt update="paper", hyperopt update="log" and plain torch.optim.SGD, on the
  digits MLP and on a larger MLP (256-512-512-10, float32, batch 64, random data).
- gdtuo_summary.txt: the tables (also printed).

Implementations: "gdtuo"; "paper" = hyperopt.torch with ``update="paper"`` (the paper's
additive hyperparameter update, what gdtuo does); "log" = hyperopt's default (log-coordinate
update, trust bound 1).  SGD towers learn the step size only (gdtuo's SGD with mu=0 never uses
its mu), every level starting at the same step size; Adam towers learn alpha, beta1, beta2.
A run that meets NaN/inf stops there and is evaluated as it stands (non-finite logits count as
90% error), for every implementation alike.
Timing: CPU time of this process (``time.process_time``: one torch thread, so it is the
step's own time, not other jobs' on a shared machine), every configuration in the same
process, round-robin (``--rounds`` rounds of ``--timing-steps`` steps each, fastest round
kept), so what load remains (caches, frequency) hits all of them alike; ratios are what to read.

Run:  python benchmarks/hyperopt_vs_gdtuo.py [--quick] [--jobs 2] [--no-train] [--no-timing]
"""
from __future__ import annotations

import argparse
import csv
import math
import os
import statistics
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
sys.path.insert(0, str(Path(__file__).resolve().parent))
from hyperopt_sensitivity import STEP_SIZES, batches, load_digits_split, make_model  # noqa: E402

SGD_TOWERS = ["SGD", "SGD^2", "SGD^3", "SGD^4"]
# name: (bottom alpha, [(kind, step size) of the levels above, bottom first])
ADAM_TOWERS = {"Adam": (1e-3, []), "Adam/SGD": (1e-3, [("SGD", 1e-5)]),
               "Adam/Adam": (1e-3, [("Adam", 1e-4)])}
IMPLS = ["gdtuo", "paper", "log"]


def _height(name: str) -> int:
    return 1 if name == "SGD" else int(name.split("^")[1])


def gdtuo_optimizer(name: str, step: float) -> Any:
    from gradient_descent_the_ultimate_optimizer import gdtuo
    top: Any = gdtuo.NoOpOptimizer()
    if name.startswith("Adam"):
        alpha, uppers = ADAM_TOWERS[name]
        for kind, s in reversed(uppers):
            top = getattr(gdtuo, kind)(s, optimizer=top)
        return gdtuo.Adam(alpha, optimizer=top)
    for _ in range(_height(name)):
        top = gdtuo.SGD(step, optimizer=top)
    return top


def hyperopt_spec(name: str, step: float, update: str) -> Any:
    import hyperopt
    if name.startswith("Adam"):
        alpha, uppers = ADAM_TOWERS[name]
        top = None
        for kind, s in reversed(uppers):
            top = getattr(hyperopt, kind)(s, optimizer=top, update=update)
        return hyperopt.Adam(alpha, optimizer=top, update=update)
    spec = None
    for _ in range(_height(name)):
        spec = hyperopt.SGD(step, optimizer=spec, update=update,
                            learn=["alpha"] if spec is not None else None)
    return spec


class Trainer:
    """One model and one optimizer; ``step(x, y)`` is one training step, as each library's
    README writes it.  ``impl`` is "gdtuo", "paper", "log" or "torch" (torch.optim.SGD)."""

    def __init__(self, impl: str, name: str, step: float, model: Any) -> None:
        import torch
        import hyperopt.torch as ht
        self.impl, self.model = impl, model
        self.loss_fn = torch.nn.functional.cross_entropy
        if impl == "gdtuo":
            from gradient_descent_the_ultimate_optimizer import gdtuo
            self.mw = gdtuo.ModuleWrapper(model, optimizer=gdtuo_optimizer(name, step))
            self.mw.initialize()
        elif impl == "torch":
            self.opt = torch.optim.SGD(model.parameters(), lr=step)
        else:
            self.opt = ht.from_spec(model.parameters(), hyperopt_spec(name, step, impl))

    def step(self, x: Any, y: Any) -> float:
        if self.impl == "gdtuo":
            self.mw.begin()
            self.mw.zero_grad()
            loss = self.loss_fn(self.mw.forward(x), y)
            loss.backward(create_graph=True)
            self.mw.step()
            return loss.item()
        self.opt.zero_grad()
        loss = self.loss_fn(self.model(x), y)
        loss.backward()
        self.opt.step()
        return loss.item()

    def forward(self, x: Any) -> Any:
        return self.mw.forward(x) if self.impl == "gdtuo" else self.model(x)

    def alpha(self) -> float:
        if self.impl == "gdtuo":
            return float(self.mw.optimizer.parameters["alpha"].detach())
        return float(self.opt.hyperparameters()[0]["alpha"])


def train(args: tuple[str, str, float, int, int, int]) -> dict[str, Any]:
    impl, name, step, seed, epochs, batch = args
    import torch
    import hyperopt
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message="Using backward")  # gdtuo's create_graph=True
    xtr, xte, ytr, yte = (torch.from_numpy(np.asarray(a)) for a in load_digits_split())
    trainer = Trainer(impl, name, step, make_model(seed))
    stopped, loss, start = "", math.nan, time.perf_counter()
    for idx in batches(len(xtr), batch, epochs, seed):
        try:
            loss = trainer.step(xtr[idx], ytr[idx])
        except hyperopt.NonFiniteError:
            stopped = "NonFiniteError"
            break
        if not math.isfinite(loss):
            stopped = "non-finite loss"
            break
    with torch.no_grad():
        logits = trainer.forward(xte)
        ok = bool(torch.isfinite(logits).all())
        err = float((logits.argmax(1) != yte).double().mean()) if ok else 0.9
    return {"impl": impl, "tower": name, "step": step, "seed": seed, "test_error": err,
            "final_alpha": trainer.alpha(), "last_loss": loss, "stopped": stopped,
            "seconds": time.perf_counter() - start}


def timing(model_name: str, towers: list[str], steps: int, rounds: int
           ) -> list[dict[str, Any]]:
    """ms per training step of every (implementation, tower), interleaved rounds."""
    import torch
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message="Using backward")
    if model_name == "digits":
        xtr, _, ytr, _ = load_digits_split()
        x, y = torch.from_numpy(xtr[:16]), torch.from_numpy(ytr[:16])
        make = make_model
    else:  # a larger MLP, float32, random data
        gen = torch.Generator().manual_seed(0)
        x = torch.randn(64, 256, generator=gen)
        y = torch.randint(0, 10, (64,), generator=gen)

        def make(seed: int) -> Any:
            torch.manual_seed(seed)
            return torch.nn.Sequential(torch.nn.Linear(256, 512), torch.nn.Tanh(),
                                       torch.nn.Linear(512, 512), torch.nn.Tanh(),
                                       torch.nn.Linear(512, 10))
    configs: dict[tuple[str, str], Callable[[], Any]] = {
        ("torch", "SGD"): _stepper(Trainer("torch", "SGD", 1e-3, make(0)), x, y)}
    for name in towers:
        for impl in IMPLS:
            configs[(impl, name)] = _stepper(Trainer(impl, name, 1e-3, make(0)), x, y)
    for one in configs.values():
        for _ in range(20):  # warm-up: every level active
            one()
    times: dict[tuple[str, str], list[float]] = {k: [] for k in configs}
    for _ in range(rounds):
        for key, one in configs.items():
            t = time.process_time()  # CPU time: another job's load does not count
            for _ in range(steps):
                one()
            times[key].append((time.process_time() - t) / steps * 1e3)
    return [{"model": model_name, "impl": impl, "tower": name, "ms_per_step": min(ts),
             "ms_median": statistics.median(ts)} for (impl, name), ts in times.items()]


def _stepper(trainer: Trainer, x: Any, y: Any) -> Callable[[], Any]:
    return lambda: trainer.step(x, y)


def summarize(rows: list[dict[str, Any]], tim: list[dict[str, Any]]) -> str:
    lines = []
    if rows:
        steps = sorted({r["step"] for r in rows if r["tower"].startswith("SGD")})
        seeds = len({r["seed"] for r in rows})
        lines.append(f"Test error % (mean of {seeds} seed(s)) by initial step size (every level "
                     f"of an SGD tower starts there); Adam towers at alpha=1e-3.")
        for impl in [i for i in IMPLS if any(r["impl"] == i for r in rows)]:
            lines.append("")
            lines.append(f"{impl:10s} " + " ".join(f"{s:>8g}" for s in steps))
            for name in SGD_TOWERS:
                cells = []
                for s in steps:
                    errs = [r["test_error"] for r in rows
                            if r["impl"] == impl and r["tower"] == name and r["step"] == s]
                    cells.append(f"{100 * statistics.mean(errs):8.1f}" if errs else " " * 8)
                lines.append(f"{name:10s} " + " ".join(cells))
            for name in ADAM_TOWERS:
                errs = [r["test_error"] for r in rows if r["impl"] == impl and r["tower"] == name]
                if errs:
                    lines.append(f"{name:10s} {100 * statistics.mean(errs):8.1f}")
        lines.append("")
        lines.append("paper - gdtuo, points of test error (mean over seeds; seed spread of "
                     "gdtuo in brackets):")
        for name in SGD_TOWERS + list(ADAM_TOWERS):
            cells = []
            for s in (steps if name.startswith("SGD") else [None]):
                def sel(impl: str) -> list[float]:
                    return [100 * r["test_error"] for r in rows if r["impl"] == impl and
                            r["tower"] == name and (s is None or r["step"] == s)]
                a, b = sel("paper"), sel("gdtuo")
                if a and b:
                    spread = max(b) - min(b)
                    cells.append(f"{statistics.mean(a) - statistics.mean(b):+6.1f} "
                                 f"[{spread:4.1f}]")
            if cells:
                lines.append(f"{name:10s} " + " ".join(cells))
    if tim:
        for model in sorted({t["model"] for t in tim}):
            sel = {(t["impl"], t["tower"]): t["ms_per_step"] for t in tim if t["model"] == model}
            sgd = sel[("torch", "SGD")]
            lines.append("")
            lines.append(f"ms per training step, {model} MLP (fastest of the interleaved "
                         f"rounds); torch.optim.SGD: {sgd:.3f} ms")
            lines.append(f"{'tower':10s} {'gdtuo':>8s} {'paper':>8s} {'log':>8s} "
                         f"{'paper/gdtuo':>12s} {'log/gdtuo':>10s} {'paper/SGD':>10s} "
                         f"{'log/SGD':>8s}")
            for name in [t for t in SGD_TOWERS + list(ADAM_TOWERS) if ("gdtuo", t) in sel]:
                g, p, lg = sel[("gdtuo", name)], sel[("paper", name)], sel[("log", name)]
                lines.append(f"{name:10s} {g:8.3f} {p:8.3f} {lg:8.3f} {p / g:12.2f} "
                             f"{lg / g:10.2f} {p / sgd:10.2f} {lg / sgd:8.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 epochs, 1 seed, 3 step sizes")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--steps", type=float, nargs="*", default=None, help="initial step sizes")
    ap.add_argument("--towers", nargs="*", default=None,
                    choices=SGD_TOWERS + list(ADAM_TOWERS))
    ap.add_argument("--impls", nargs="*", default=IMPLS, choices=IMPLS,
                    help="implementations to train (timing runs all)")
    ap.add_argument("--no-train", action="store_true", help="timing only")
    ap.add_argument("--no-timing", action="store_true")
    ap.add_argument("--timing-steps", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--jobs", type=int, default=1, help="worker processes (1 thread each)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "hyperopt_results")
    ap.add_argument("--tag", default="", help="suffix for the output file names")
    args = ap.parse_args(argv)
    epochs = args.epochs or (2 if args.quick else 20)
    seeds = args.seeds or (1 if args.quick else 3)
    steps = args.steps or ([1e-4, 1e-2, 1.0] if args.quick else STEP_SIZES)
    towers = args.towers or SGD_TOWERS + list(ADAM_TOWERS)
    work = [(impl, name, s, seed, epochs, args.batch_size) for impl in args.impls
            for name in towers
            for s in (steps if name.startswith("SGD") else [ADAM_TOWERS[name][0]])
            for seed in range(seeds)]
    rows: list[dict[str, Any]] = []
    if not args.no_train:
        if args.jobs > 1:
            with ProcessPoolExecutor(args.jobs) as pool:
                rows = list(pool.map(train, work))
        else:
            rows = [train(w) for w in work]
    tim: list[dict[str, Any]] = []
    if not args.no_timing:
        n = 10 if args.quick else args.timing_steps
        r = 3 if args.quick else args.rounds
        tim = timing("digits", towers, n, r) + timing("larger", towers, max(n // 5, 2), r)
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = ("_quick" if args.quick else "") + (f"_{args.tag}" if args.tag else "")
    for fname, table in ((f"gdtuo_errors{suffix}.csv", rows),
                         (f"gdtuo_timing{suffix}.csv", tim)):
        if table:
            with open(args.out / fname, "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=list(table[0]))
                writer.writeheader()
                writer.writerows(table)
    text = summarize(rows, tim)
    (args.out / f"gdtuo_summary{suffix}.txt").write_text(
        f"python benchmarks/hyperopt_vs_gdtuo.py {' '.join(argv or sys.argv[1:])}\n"
        f"epochs={epochs} seeds={seeds} batch={args.batch_size}\n\n" + text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    raise SystemExit(main())
