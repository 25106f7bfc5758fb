"""Entry points: train, evaluate, and the end-to-end default, importable and on the command line.

    python -m agents.rl.cli                                  # the embedded default run
    python -m agents.rl.cli default --run-dir runs/default [--iterations 8]
    python -m agents.rl.cli train --run-dir runs/multi [--regimes constraint report]
                                  [--iterations 8 --algo oapl ...] [--resume]
    python -m agents.rl.cli eval --run-dir runs/eval --policy multi=runs/multi
                                 --policy single=runs/single [--tts multi]
    python -m agents.rl.cli loro --run-dir runs/loro [--n 100]   # leave-one-regime-out

    from agents.rl.cli import train, evaluate, run_default, add_train_arguments

Input: keyword arguments (Python) or flags (argparse; every `TrainConfig` field is a flag).
Output: run directories (see `trainer`, `report`); the default writes
<run_dir>/{data,multi-task,single-constraint,single-report,eval}/, learning_curves.png and
summary.md, and prints the summary.
Invariants: the default resumes whatever a killed default left behind (each training run
continues from its last checkpoint), so rerunning the same command finishes the job; all runs
of one default share one data directory; with the local executor its three trainings run
side by side in forked processes (with Ray, one after another on one worker pool), which
changes no result, as every run is deterministic given its config.
"""
from __future__ import annotations

import argparse
import dataclasses
import multiprocessing as mp
import sys
import time
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ..executors import EXECUTORS
from ..tasks import REGIME_NAMES
from .config import TrainConfig, config_fields
from .data import prepare
from .plots import learning_curves
from .report import markdown, run_evaluation
from .rollout import Sampler
from .runfiles import atomic_write
from .trainer import TrainResult, check_policy_shapes, initial_params, train_run

DEFAULT_RUNS = {"multi-task": ("constraint", "report"),
                "single-constraint": ("constraint",),
                "single-report": ("report",)}

# the default's test-time compute: vote@N for N = 2, 4, 8 (the Pareto plot's points beside the
# greedy N = 1) on the first 50 evaluation questions of each regime, 2,400 rollouts; vote@4 and
# vote@8 on all 600 questions were 4,800 rollouts, a third of the default's wall time
DEFAULT_TTS_SAMPLES = (2, 4, 8)
DEFAULT_TTS_PER_REGIME = 50


class HelpWithDefaults(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help ends with its default, except a `--no-x` switch, whose help says it
    (argparse would print the stored value: "--no-progress (default: True)")."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if isinstance(action, argparse._StoreFalseAction):
            return action.help
        return super()._get_help_string(action)


def train(run_dir: str | Path = "runs/train", resume: bool = False,
          **overrides: Any) -> TrainResult:
    """Train one policy; `overrides` are `TrainConfig` fields (regimes, iterations, algo...)."""
    if "regimes" in overrides:
        overrides["regimes"] = tuple(overrides["regimes"])
    return train_run(TrainConfig(run_dir=str(run_dir), **overrides), resume=resume)


def load_policy(run_dir: str | Path) -> tuple[dict[str, np.ndarray], TrainConfig]:
    run_dir = Path(run_dir)
    cfg = TrainConfig.load(run_dir / "config.json")
    with np.load(run_dir / "policy.npz") as z:
        params = {k: z[k] for k in z.files}
    check_policy_shapes(params, cfg.policy_hidden, run_dir / "policy.npz")
    return params, cfg


def evaluate(out_dir: str | Path, policies: dict[str, str | Path] | None = None,
             data_dir: str | Path | None = None, world_seed: int = 0, scale: int = 2000,
             eval_per_regime: int = 100, baselines: tuple[str, ...] = ("random", "heuristic"),
             tts: str | None = None, tts_samples: tuple[int, ...] = (4, 8),
             tts_per_regime: int | None = None, workers: int = 2, seed: int = 0,
             progress: bool = True,
             executor: str = "local", ray_address: str | None = None,
             include_base: bool = True) -> dict[str, Any]:
    """Evaluate baselines, the untrained policy ("base", the first run's initial parameters)
    and trained runs ({label: run dir}) on all six regimes; writes
    eval.json, eval.csv, summary.md and the Pareto plots into `out_dir`. Episodes run on
    `executor` ("local" processes or "ray", see `agents.executors`)."""
    loaded = {label: load_policy(d) for label, d in (policies or {}).items()}
    made_with: dict[str, Any] = {"eval_per_regime": eval_per_regime}
    if data_dir is None and loaded:
        cfg = next(iter(loaded.values()))[1]
        data_dir = cfg.data_dir or Path(cfg.run_dir) / "data"
        world_seed, scale = cfg.world_seed, cfg.scale
        # the policies' data directory, with the sizes it was made with; `eval_per_regime`
        # then only selects the first questions of its evaluation sets
        made_with = {"eval_per_regime": cfg.eval_per_regime,
                     "synth_per_round": cfg.synth_per_round, "synth_rounds": cfg.synth_rounds}
    data = prepare(data_dir or Path(out_dir) / "data", world_seed, scale, progress=progress,
                   workers=workers, executor=executor, ray_address=ray_address, **made_with)
    policies = {k: p for k, (p, _) in loaded.items()}
    if include_base and loaded:  # the untrained policy the runs started from
        cfg0 = next(iter(loaded.values()))[1]
        policies = {"base": initial_params(cfg0), **policies}
    with Sampler(str(data.index_dir), 12, workers, executor, ray_address) as sampler:
        return run_evaluation(Path(out_dir), data, sampler, policies,
                              {k: c.regimes for k, (_, c) in loaded.items()}, baselines,
                              tts, tts_samples, eval_per_regime, seed, progress,
                              tts_per_regime=tts_per_regime)


def run_default(run_dir: str | Path = "runs/default", iterations: int = 16,
                workers: int = 2, progress: bool = True, members: int = 2,
                **overrides: Any) -> dict[str, Any]:
    """Build the world, synthesize training data, train multi-task and single-task
    policies with OAPL, evaluate everything on all six regimes, write plots and summary.
    Each policy is the mean scorer of `members` runs of iterations / members iterations
    (`TrainConfig.members`; RESULTS.md, 2026-12-07 night: 2 members of 8 iterations beat one
    run of 16 on held-out regimes at the same number of training episodes)."""
    root = Path(run_dir)
    t0 = time.perf_counter()
    base = TrainConfig(run_dir=str(root), data_dir=str(root / "data"), iterations=iterations,
                       workers=workers, progress=progress, members=members, **overrides)
    data = prepare(base.data_dir, base.world_seed, base.scale, base.eval_per_regime,
                   base.synth_per_round, base.synth_rounds, progress=progress,
                   workers=workers, executor=base.executor, ray_address=base.ray_address)
    t_data = time.perf_counter() - t0
    runs = {label: base.replace(run_dir=str(root / label), regimes=regimes)
            for label, regimes in DEFAULT_RUNS.items()}
    done = {label: (root / label / "policy.npz").exists() for label in runs}
    side_by_side = base.executor == "local" and workers >= 2
    if side_by_side:
        results = _train_side_by_side(runs, base, progress)
    with Sampler(str(data.index_dir), base.step_budget, workers, base.executor,
                 base.ray_address or None) as sampler:
        if not side_by_side:  # one after another on one worker pool (Ray, or one worker)
            results = {label: train_run(cfg, resume=True, data=data, sampler=sampler)
                       for label, cfg in runs.items()}
        reused = [label for label, cfg in runs.items()
                  if done[label] and len(results[label].metrics) >= cfg.iterations]
        for label in reused:
            print(f"{root / label}: reusing the trained policy ({base.iterations} iterations "
                  f"already done)")
        if reused:
            print(f"Reused {len(reused)} trained policies from {root}; for a fresh run pass "
                  f"another --run-dir or delete {root}.")
        base_params = initial_params(base)  # what training starts from
        report = run_evaluation(root / "eval", data, sampler,
                                {"base": base_params,
                                 **{k: r.params for k, r in results.items()}},
                                DEFAULT_RUNS, tts_policy="multi-task",
                                tts_samples=DEFAULT_TTS_SAMPLES, progress=progress,
                                tts_per_regime=DEFAULT_TTS_PER_REGIME)
    learning_curves({k: root / k / "curves.csv" for k in DEFAULT_RUNS}, DEFAULT_RUNS,
                    root / "learning_curves.png")
    text = _summary(base, data, results, report, t_data, time.perf_counter() - t0)
    atomic_write(root / "summary.md", text.encode())
    print(text)
    print(f"Wrote {root / 'summary.md'}; plots: {root / 'learning_curves.png'}, "
          f"{root / 'eval' / 'pareto_cost.png'}, {root / 'eval' / 'pareto_latency.png'}; "
          f"evaluation details: {root / 'eval' / 'eval.json'}")
    return {"run_dir": str(root), "report": report,
            "metrics": {k: r.metrics for k, r in results.items()}}


def _train_one(cfg: TrainConfig) -> TrainResult:
    return train_run(cfg, resume=True)


def _train_side_by_side(runs: dict[str, TrainConfig], base: TrainConfig, progress: bool
                        ) -> dict[str, TrainResult]:
    """Train the default's independent runs at the same time, one forked process each,
    sampling in that process (`workers` spread over the runs, at least one each). One run
    alternates between sampling (its workers busy, its learner idle) and updating (the
    reverse); three of them side by side keep both cores busy, where one after another left
    a core idle for most of the run. Each run is a pure function of its config (fixed
    episode seeds, results in job order), so this changes its wall time, not its result."""
    per = max(1, base.workers // len(runs))
    cfgs = {label: cfg.replace(workers=per, progress=False) for label, cfg in runs.items()}
    total = base.iterations * len(runs)
    bar = tqdm(desc="train " + " + ".join(runs), total=total, disable=not progress)
    with ProcessPoolExecutor(len(runs), mp_context=mp.get_context("fork")) as pool:
        futures = {label: pool.submit(_train_one, cfg) for label, cfg in cfgs.items()}
        while not all(f.done() for f in futures.values()):
            wait(list(futures.values()), timeout=1.0, return_when=FIRST_EXCEPTION)
            bar.update(sum(_iterations_done(Path(c.run_dir)) for c in cfgs.values()) - bar.n)
        results = {label: f.result() for label, f in futures.items()}
    bar.update(total - bar.n)
    bar.close()
    return results


def _iterations_done(run_dir: Path) -> int:
    members = sorted(run_dir.glob("member-*"))
    if members and not (run_dir / "metrics.csv").exists():  # a members run still training
        return sum(_iterations_done(m) for m in members)
    try:
        with open(run_dir / "metrics.csv") as f:
            return max(0, sum(1 for _ in f) - 1)
    except OSError:
        return 0


def _summary(cfg: TrainConfig, data: Any, results: dict[str, TrainResult],
             report: dict[str, Any], t_data: float, t_total: float) -> str:
    ens = (f"; each policy the mean scorer of {cfg.members} runs of "
           f"{cfg.iterations // cfg.members} iterations" if cfg.members > 1 else "")
    lines = [f"# Default run ({cfg.episodes_per_iter} episodes x {cfg.iterations} iterations "
             f"per policy{ens}, {cfg.algo.upper()}, {cfg.workers} workers)", "",
             f"Data: {len(data.world.docs)} documents; "
             f"{sum(len(v) for v in data.eval_tasks.values())} evaluation questions; "
             f"{len(data.train_pool)} synthesized training questions "
             f"({', '.join(f'{r}: {sum(t.regime == r for t in data.train_pool)}' for r in REGIME_NAMES)}); "
             f"prepared in {t_data:.1f}s.", ""]
    for label, r in results.items():
        m = r.metrics
        if m:
            its = [x["iteration_seconds"] for x in m[1:]] or [m[0]["iteration_seconds"]]
            lines.append(f"- {label}: training reward {m[0]['reward']:.3f} -> "
                         f"{m[-1]['reward']:.3f}; one iteration of {m[0]['episodes']} episodes "
                         f"takes {np.median(its):.1f}s (median; sampling "
                         f"{np.median([x['sample_seconds'] for x in m]):.1f}s, "
                         f"{cfg.grad_steps} gradient steps "
                         f"{np.median([x['update_seconds'] for x in m]):.1f}s)")
    lines += ["", markdown(report, {
        "learning curves": "learning_curves.png", "Pareto: cost": "eval/pareto_cost.png",
        "Pareto: latency": "eval/pareto_latency.png", "eval.json": "eval/eval.json",
        "per-episode records": "eval/eval_episodes.jsonl",
        "synthesis audit": "data/synth.json"}), f"Total wall time {t_total:.0f}s."]
    return "\n".join(lines) + "\n"


# -- argparse ---------------------------------------------------------------------------------
FIELD_HELP = {
    "data_dir": "shared world/index/tasks cache (empty: <run-dir>/data)",
    "seed": "episode seeds and (unless --init-seed) the policy's initial weights",
    "world_seed": "seed of the generated enterprise",
    "scale": "number of documents in the world",
    "regimes": "regimes to train on",
    "iterations": "training iterations",
    "questions_per_iter": "questions sampled per iteration",
    "group_size": "rollouts per question (G); episodes per iteration = questions x G",
    "grad_steps": "gradient steps per iteration on the same batch (off-policy)",
    "algo": "policy-gradient algorithm",
    "beta": "OAPL: weight of log(pi / pi_lag)",
    "beta1": "OAPL: temperature of the value V(x) = beta1 log mean exp(r / beta1)",
    "clip_eps": "GRPO: ratio clipping",
    "lr": "Adam step size at the bottom of the hyperoptimizer tower",
    "hyper_lr": "SGD step size that learns Adam's hyperparameters",
    "hidden": "hidden units of the policy's tanh layer",
    "tool_cost": "reward = grade - tool_cost x tool calls",
    "step_budget": "tool calls per episode",
    "synth_per_round": "questions the explorer writes per synthesis round",
    "synth_rounds": "synthesis rounds (each with a stronger solver)",
    "eval_per_regime": "evaluation questions requested per regime (the world may supply "
                       "fewer)",
    "curve_per_regime": "questions per regime of the greedy learning-curve evaluation",
    "workers": "rollout worker processes",
    "executor": "where episodes run: local processes or Ray actors",
    "ray_address": "address of a running Ray cluster (empty: start a local Ray)",
    "max_lag": "asynchronous training: batch b is sampled by policy version >= b - max_lag "
               "(0: synchronous)",
    "lag_mode": "enforce: exactly version b - max_lag (deterministic); bound: the newest "
                "version a worker was sent",
    "replay": "an update trains on the last `replay` batches",
    "oapl_anchor": "OAPL's reference policy: the one that sampled the episode, or the "
                   "learner's at the start of the update (learner-is: also V(x) and the "
                   "episode weights importance-corrected for the stale behaviour policy); "
                   "auto: learner-is where data can be stale (max-lag > 0 or replay > 1), "
                   "else behaviour; with --resume, the run's own",
    "is_clip": "oapl_anchor learner-is: truncation of the ratio pi_learner / pi_behaviour",
    "is_normalize": "oapl_anchor learner-is: rescale the episode weights to mean 1 per update",
    "init_seed": "seed of the initial weights (-1: --seed); episodes keep --seed",
    "members": "the policy is the mean of this many scorers, each trained iterations / "
               "members iterations with seed seed * members + k (same total episodes)",
}
CHOICES = {"algo": ("oapl", "grpo"), "executor": EXECUTORS, "lag_mode": ("enforce", "bound"),
           "oapl_anchor": ("auto", "behaviour", "learner", "learner-is")}


def add_executor_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--executor", choices=EXECUTORS, default="local",
                   help=FIELD_HELP["executor"])
    p.add_argument("--ray-address", default="", help=FIELD_HELP["ray_address"])
    return p


def add_train_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Every TrainConfig field as a flag (--iterations, --regimes ..., --no-progress) plus
    --run-dir, --resume and --hold-out; `train_from_args` turns the parsed namespace into a
    run."""
    p.formatter_class = HelpWithDefaults
    p.add_argument("--run-dir", "--out", dest="run_dir", default="runs/train",
                   help="run directory (config, checkpoints, curves, policy)")
    p.add_argument("--resume", action="store_true",
                   help="continue a killed run from its last checkpoint")
    p.add_argument("--hold-out", choices=REGIME_NAMES, default=None,
                   help="leave-one-regime-out: train on every regime but this one (overrides "
                        "--regimes); evaluate with `eval`, whose held-out mean is then this "
                        "regime")
    return add_config_fields(p)


def add_config_fields(p: argparse.ArgumentParser, skip: tuple[str, ...] = ()
                      ) -> argparse.ArgumentParser:
    """Every TrainConfig field (but `skip`) as a flag with its help text and default."""
    for f in config_fields():
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        help_ = FIELD_HELP.get(f.name, f.name.replace("_", " "))
        if f.name == "progress":
            p.add_argument("--no-progress", dest="progress", action="store_false",
                           help="hide the progress bars (default: shown)")
        elif f.name == "regimes":
            p.add_argument(flag, nargs="+", choices=REGIME_NAMES, default=list(f.default),
                           help=help_)
        elif isinstance(f.default, bool):  # --flag / --no-flag (type=bool reads "False" as True)
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default,
                           help=help_)
        else:
            p.add_argument(flag, type=type(f.default), default=f.default, help=help_,
                           choices=CHOICES.get(f.name))
    return p


def train_from_args(ns: argparse.Namespace) -> TrainResult:
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    kw = {k: v for k, v in vars(ns).items() if k in names and k != "run_dir"}
    if getattr(ns, "hold_out", None):
        kw["regimes"] = tuple(r for r in REGIME_NAMES if r != ns.hold_out)
    return train(ns.run_dir, resume=ns.resume, **kw)


def add_loro_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The leave-one-regime-out protocol (`loro`): one run per held-out regime."""
    p.formatter_class = HelpWithDefaults
    p.add_argument("--run-dir", "--out", dest="run_dir", default="runs/loro",
                   help="output directory: one training run per held-out regime, loro.json, "
                        "loro.md; a rerun reuses or resumes the runs in it")
    p.add_argument("--n", type=int, default=100,
                   help="evaluation questions of each held-out regime")
    p.add_argument("--hold-out-regimes", nargs="+", choices=REGIME_NAMES,
                   default=list(REGIME_NAMES), help="the regimes to hold out, one run each")
    return add_config_fields(p, skip=("regimes",))


def loro_from_args(ns: argparse.Namespace) -> dict[str, Any]:
    from .loro import loro_markdown, run_loro
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    kw = {k: v for k, v in vars(ns).items() if k in names and k != "run_dir"}
    out = run_loro(TrainConfig(run_dir=ns.run_dir, **kw), ns.n, tuple(ns.hold_out_regimes))
    print(loro_markdown(out))
    print(f"Wrote {Path(ns.run_dir) / 'loro.md'} and {Path(ns.run_dir) / 'loro.json'}")
    return out


def add_default_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.formatter_class = HelpWithDefaults
    p.add_argument("--run-dir", "--out", dest="run_dir", default="runs/default",
                   help="run directory; a rerun reuses the trained policies in it")
    p.add_argument("--iterations", type=int, default=16, help="training iterations per policy")
    p.add_argument("--members", type=int, default=2,
                   help="each policy is the mean scorer of this many runs, each trained "
                        "iterations / members iterations (1: one run of all iterations)")
    p.add_argument("--scale", type=int, default=TrainConfig.scale,
                   help="documents in the world; the evaluation asks for 100 questions per "
                        "regime, which 2000 supplies for all six (smaller worlds supply fewer)")
    p.add_argument("--workers", type=int, default=2, help="rollout worker processes")
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="hide the progress bars (default: shown)")
    return add_executor_arguments(p)


def add_eval_arguments(e: argparse.ArgumentParser) -> argparse.ArgumentParser:
    e.formatter_class = HelpWithDefaults
    e.add_argument("--run-dir", "--out", dest="run_dir", default="runs/eval",
                   help="output directory (eval.json, summary.md, plots)")
    e.add_argument("--policy", action="append", default=[], metavar="LABEL=RUN_DIR",
                   help="a trained run to evaluate (repeatable)")
    e.add_argument("--n", type=int, default=100, help="evaluation questions per regime")
    e.add_argument("--tts", default=None, help="label of the policy to run with vote@N")
    e.add_argument("--tts-samples", type=int, nargs="+", default=[4, 8],
                   help="the N of vote@N")
    e.add_argument("--tts-n", type=int, default=None,
                   help="vote@N on the first this many questions of each regime (None: all)")
    e.add_argument("--workers", type=int, default=2, help="rollout worker processes")
    e.add_argument("--no-progress", dest="progress", action="store_false",
                   help="hide the progress bars (default: shown)")
    return add_executor_arguments(e)


def default_from_args(ns: argparse.Namespace) -> dict[str, Any]:
    return run_default(ns.run_dir, ns.iterations, ns.workers, ns.progress, ns.members,
                       executor=ns.executor, ray_address=ns.ray_address, scale=ns.scale)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(prog="python -m agents.rl.cli",
                                description="train and evaluate the search policy")
    sub = p.add_subparsers(dest="cmd")
    add_train_arguments(sub.add_parser("train", help="train one policy"))
    add_default_arguments(sub.add_parser("default", help="the end-to-end default run"))
    add_eval_arguments(sub.add_parser("eval", help="evaluate baselines and trained runs"))
    add_loro_arguments(sub.add_parser("loro", help="leave-one-regime-out: train without each "
                                                   "regime, evaluate on it"))
    ns = p.parse_args(argv or ["default"])
    if ns.cmd == "train":
        train_from_args(ns)
    elif ns.cmd == "loro":
        loro_from_args(ns)
    elif ns.cmd == "eval":
        pol = dict(x.split("=", 1) for x in ns.policy)
        rep = evaluate(ns.run_dir, pol, eval_per_regime=ns.n, tts=ns.tts,
                       tts_samples=tuple(ns.tts_samples), tts_per_regime=ns.tts_n,
                       workers=ns.workers, progress=ns.progress, executor=ns.executor,
                       ray_address=ns.ray_address or None)
        print(markdown(rep))
    else:
        default_from_args(ns)


if __name__ == "__main__":
    main()
