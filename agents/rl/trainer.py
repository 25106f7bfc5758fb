"""Iterative large-batch off-policy RL: sample from the lagged policy, then several steps.

Input: a `TrainConfig` (and optionally prepared `Data` and a running `Sampler`).
Output: a run directory — config.json, rollouts.jsonl (every training episode), metrics.csv
(one row per iteration: loss, learned step size, timings), curves.csv (per iteration and
regime: training reward/score and greedy evaluation score), ckpt/, policy.npz — and the
trained parameters.
Each iteration: pick `questions_per_iter` training questions (regimes interleaved), run G
rollouts of each with the lagged policy (the parameters at the start of the iteration) in the
worker pool; reward = grade - tool_cost * tool calls; then `grad_steps` steps of the hyperopt
tower on the OAPL loss (V(x) per question group, no importance ratio, no clipping) or, with
algo="grpo", on the clipped GRPO surrogate; the lagged policy is refreshed at the next
iteration. Invariants: deterministic given the config (fixed episode seeds, ordered results,
deterministic gradients), so a run resumed from its last checkpoint ends in exactly the state
an uninterrupted run reaches; config.json, checkpoints and policy.npz are written atomically
and the first two verified by checksum on resume (see `checkpoint`, `runfiles`).
With `max_lag` > 0 or `replay` > 1 the iterations run asynchronously instead, samplers ahead
of the learner (`async_oapl`); episodes run wherever `executor` says (`agents.executors`).
With `members` K > 1 the run is K such runs of iterations / K iterations (`<run_dir>/member-k`,
seed `seed * K + k`) and its policy.npz their mean scorer (`mean_scorer`: K x hidden units).
"""
from __future__ import annotations

import csv
import io
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

import hyperopt

from ..policy import N_FEATURES, grpo_loss, init_params, oapl_loss
from ..tasks import Task
from .batch import pack
from .checkpoint import load_latest, save_checkpoint, truncate_logs
from .config import TrainConfig
from .data import Data, prepare
from .evaluate import episode_stats, evaluate_agent, mean_stats
from .rollout import Job, Sampler, episode_seed
from .runfiles import RunFileError, atomic_write

METRIC_FIELDS = ("iteration", "episodes", "decisions", "reward", "score", "tool_calls",
                 "loss_first", "loss_last", "alpha", "sample_seconds", "update_seconds",
                 "iteration_seconds")
CURVE_FIELDS = ("iteration", "split", "regime", "score", "tool_calls", "tokens", "latency", "n")


@dataclass
class TrainResult:
    params: dict[str, np.ndarray]
    run_dir: Path
    metrics: list[dict[str, Any]]


def is_async(cfg: TrainConfig) -> bool:
    """Runs with lag, replay or OAPL anchored at the learner go through `async_oapl` (which,
    at max_lag 0 and replay 1, reproduces this module's synchronous loop exactly)."""
    from .async_oapl import check_config
    check_config(cfg)
    return (cfg.max_lag > 0 or cfg.replay > 1
            or cfg.resolved().oapl_anchor != "behaviour")


def make_optimizer(cfg: TrainConfig) -> hyperopt.Optimizer:
    """The default tower: Adam whose step size and betas are learned by SGD."""
    return hyperopt.Adam(cfg.lr, optimizer=hyperopt.SGD(cfg.hyper_lr))


def schedule(tasks: dict[str, list[Task]], iteration: int, cfg: TrainConfig) -> list[Task]:
    """The iteration's questions: an equal share per regime, each regime's pool walked in a
    fresh seeded permutation per epoch, so every question is used before any repeats."""
    names = [r for r in cfg.regimes if tasks.get(r)]
    out: list[Task] = []
    for k, r in enumerate(names):
        pool = tasks[r]
        per = cfg.questions_per_iter // len(names) + (k < cfg.questions_per_iter % len(names))
        for j in range(per):
            p = iteration * per + j
            perm = list(range(len(pool)))
            random.Random(f"{cfg.seed}:{r}:epoch{p // len(pool)}").shuffle(perm)
            out.append(pool[perm[p % len(pool)]])
    return out


def _append_csv(path: Path, fields: tuple[str, ...], rows: list[dict]) -> None:
    new = not path.exists() or path.stat().st_size == 0
    with open(path, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        if new:
            w.writeheader()
        w.writerows(rows)


def _curve_rows(iteration: int, split: str, per_regime: dict[str, dict]) -> list[dict]:
    return [dict(iteration=iteration, split=split, regime=r, **{k: round(v, 5) for k, v in
                                                              s.items()})
            for r, s in per_regime.items()]


def initial_params(cfg: TrainConfig) -> dict[str, np.ndarray]:
    """What training starts from: the initial scorer, or with `members` > 1 the mean of the
    members' initial scorers (the untrained policy a trained ensemble is compared with)."""
    if cfg.members == 1:
        return init_params(N_FEATURES, cfg.hidden, cfg.policy_init_seed)
    return mean_scorer([initial_params(cfg.member(k)) for k in range(cfg.members)])


def mean_scorer(ps: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """One scorer whose candidate scores are the mean of `ps`'s: the hidden layers side by
    side (W1, b1 concatenated, w2 stacked and divided by their number), w0 averaged; the
    softmax over these scores is the ensemble's policy, run by the unchanged PolicyAgent."""
    k = len(ps)
    return {"w0": sum(p["w0"] for p in ps) / k,
            "W1": np.concatenate([p["W1"] for p in ps], axis=1),
            "b1": np.concatenate([p["b1"] for p in ps], axis=1),
            "w2": np.concatenate([p["w2"] for p in ps], axis=0) / k}


def _train_members(cfg: TrainConfig, resume: bool, data: Data | None,
                   sampler: Sampler | None) -> TrainResult:
    """`members` > 1: train each member as a run of its own (`TrainConfig.member`: its own
    seed, iterations / members iterations, `<run_dir>/member-k`, resumable), one after
    another on the same data and sampler, and save their mean scorer as the run's policy.
    The run's metrics.csv and curves.csv are the members' rows in turn, iterations numbered
    on (member k's iteration i is k * iterations / members + i), so the run reports
    `iterations` iterations of `episodes_per_iter` episodes, as a one-member run does."""
    if cfg.iterations % cfg.members:
        raise ValueError(f"iterations ({cfg.iterations}) must be a multiple of members "
                         f"({cfg.members})")
    run_dir = Path(cfg.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if (run_dir / "config.json").exists() and resume:
        cfg.resolved().check_compatible(TrainConfig.load(run_dir / "config.json").resolved())
    elif any((run_dir / f"member-{k}").exists() for k in range(cfg.members)) and not resume:
        raise FileExistsError(f"{run_dir} already holds a run; pass resume=True (--resume) "
                              f"to continue it, or choose another run directory")
    cfg.save(run_dir / "config.json")
    data = data or prepare(cfg.data_dir or run_dir / "data", cfg.world_seed, cfg.scale,
                           cfg.eval_per_regime, cfg.synth_per_round, cfg.synth_rounds,
                           progress=cfg.progress, workers=cfg.workers, executor=cfg.executor,
                           ray_address=cfg.ray_address)
    mcfgs = [cfg.member(k) for k in range(cfg.members)]
    if not cfg.data_dir:  # the members share the run's data directory
        mcfgs = [m.replace(data_dir=str(run_dir / "data")) for m in mcfgs]
    results = [train_run(m, resume=resume, data=data, sampler=sampler) for m in mcfgs]
    per = cfg.iterations // cfg.members
    metrics = [dict(row, iteration=k * per + int(row["iteration"]))
               for k, r in enumerate(results) for row in r.metrics]
    for name, fields in (("metrics.csv", METRIC_FIELDS), ("curves.csv", CURVE_FIELDS)):
        rows = []
        for k, m in enumerate(mcfgs):
            path = Path(m.run_dir) / name
            if path.exists():
                with open(path, newline="") as f:
                    rows += [dict(row, iteration=k * per + int(row["iteration"]))
                             for row in csv.DictReader(f)
                             if k == 0 or int(row["iteration"]) > 0]
        (run_dir / name).unlink(missing_ok=True)
        _append_csv(run_dir / name, fields, rows)
    params = mean_scorer([r.params for r in results])
    buf = io.BytesIO()
    np.savez(buf, **params)
    atomic_write(run_dir / "policy.npz", buf.getvalue())
    return TrainResult(params, run_dir, metrics)


def train_run(cfg: TrainConfig, resume: bool = False, data: Data | None = None,
              sampler: Sampler | None = None) -> TrainResult:
    if cfg.members > 1:
        return _train_members(cfg, resume, data, sampler)
    run_dir = Path(cfg.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt = None
    has_ckpt = (run_dir / "ckpt").exists() and any((run_dir / "ckpt").iterdir())
    if resume and (run_dir / "config.json").exists():
        # TrainConfig.load and load_latest verify checksums: a damaged config.json is a
        # clear error, a damaged newest checkpoint falls back (with a warning) to the one
        # before it; an "auto" anchor takes the saved run's (see TrainConfig.resolved)
        saved = TrainConfig.load(run_dir / "config.json")
        cfg = cfg.resolved(saved)
        cfg.check_compatible(saved.resolved())   # (a config saved unresolved reads as it ran)
        ckpt = load_latest(run_dir)
        if ckpt and "config" in ckpt:
            cfg.check_compatible(TrainConfig.from_json(ckpt["config"]).resolved())
    elif resume and has_ckpt:
        raise RunFileError(f"{run_dir / 'config.json'} is missing, so the checkpoints in "
                           f"{run_dir / 'ckpt'} cannot be checked against this config")
    elif has_ckpt:
        raise FileExistsError(f"{run_dir} already holds a run; pass resume=True (--resume) "
                              f"to continue it, or choose another run directory")
    cfg = cfg.resolved()
    cfg.save(run_dir / "config.json")
    truncate_logs(run_dir, ckpt["offsets"] if ckpt else {})
    data = data or prepare(cfg.data_dir or run_dir / "data", cfg.world_seed, cfg.scale,
                           cfg.eval_per_regime, cfg.synth_per_round, cfg.synth_rounds,
                           progress=cfg.progress, workers=cfg.workers, executor=cfg.executor,
                           ray_address=cfg.ray_address)
    tasks = data.train_tasks(cfg.regimes)
    if not any(tasks.values()):
        raise ValueError(f"no synthesized training tasks for regimes {cfg.regimes}")
    curve_tasks = {r: ts[:cfg.curve_per_regime] for r, ts in data.eval_tasks.items()}
    opt = make_optimizer(cfg)
    if ckpt:
        check_policy_shapes(ckpt["params"], cfg.hidden, run_dir / "ckpt")
        params, state, start, metrics = (ckpt["params"], ckpt["opt_state"], ckpt["iteration"],
                                         ckpt["metrics"])
    else:
        params = init_params(N_FEATURES, cfg.hidden, cfg.policy_init_seed)
        state, start, metrics = opt.init(params), 0, []
    own = sampler is None
    sampler = sampler or Sampler(str(data.index_dir), cfg.step_budget, cfg.workers,
                                 cfg.executor, cfg.ray_address or None)
    try:
        if start == 0 and cfg.curve_per_regime:
            ev = evaluate_agent(sampler, curve_tasks, "policy", params, seed=cfg.seed)
            _append_csv(run_dir / "curves.csv", CURVE_FIELDS, _curve_rows(0, "eval",
                                                                          ev["per_regime"]))
        bar = tqdm(desc=f"train {run_dir.name}", disable=not cfg.progress, initial=start,
                   total=cfg.iterations)
        if is_async(cfg):
            from .async_oapl import train_loop
            params, state = train_loop(cfg, run_dir, params, state, opt, start, metrics, ckpt,
                                       tasks, curve_tasks, sampler, bar)
        for it in range(start, cfg.iterations) if not is_async(cfg) else ():
            params, state, row = _iteration(cfg, it, params, state, opt, tasks, sampler,
                                            run_dir)
            if cfg.curve_per_regime:
                ev = evaluate_agent(sampler, curve_tasks, "policy", params, seed=cfg.seed)
                _append_csv(run_dir / "curves.csv", CURVE_FIELDS,
                            _curve_rows(it + 1, "eval", ev["per_regime"]))
            metrics.append(row)
            _append_csv(run_dir / "metrics.csv", METRIC_FIELDS, [row])
            save_checkpoint(run_dir, it + 1, {"params": params, "opt_state": state,
                                              "metrics": metrics, "config": cfg.to_json()})
            bar.set_postfix(reward=f"{row['reward']:.3f}", loss=f"{row['loss_last']:.4f}",
                            s_per_iter=f"{row['iteration_seconds']:.1f}")
            bar.update(1)
        bar.close()
    finally:
        if own:
            sampler.close()
    buf = io.BytesIO()
    np.savez(buf, **params)
    atomic_write(run_dir / "policy.npz", buf.getvalue())
    return TrainResult(params, run_dir, metrics)


def check_policy_shapes(params: dict[str, np.ndarray], hidden: int, where: Path) -> None:
    """Refuse parameters written for another feature layout (an older policy: before the
    regime-agnostic action space of #16 a policy had 114 features) with a clear error."""
    want = {k: v.shape for k, v in init_params(N_FEATURES, hidden, 0).items()}
    got = {k: tuple(np.shape(v)) for k, v in params.items()}
    if got != want:
        raise RunFileError(
            f"{where}: parameters of shapes {got} do not fit this policy ({want}: "
            f"{N_FEATURES} features, {hidden} hidden units); they were written by an older "
            f"policy version and cannot be resumed or evaluated; train a fresh run in another "
            f"directory")


def loss_and_args(cfg: TrainConfig, batch: Any) -> tuple[Any, tuple]:
    """The configured loss and its arguments for one packed batch (a seam of its own, so a
    mixed-up hyperparameter is caught by a unit test, not only by a slow training run)."""
    if cfg.algo == "oapl":
        return oapl_loss, batch.oapl_args(beta=cfg.beta, beta1=cfg.beta1)
    if cfg.algo == "grpo":
        return grpo_loss, batch.grpo_args(cfg.clip_eps)
    raise ValueError(f"unknown algo {cfg.algo!r}; use 'oapl' or 'grpo'")


def _iteration(cfg: TrainConfig, it: int, params: dict, state: Any, opt: Any,
               tasks: dict[str, list[Task]], sampler: Sampler, run_dir: Path
               ) -> tuple[dict, Any, dict]:
    questions = schedule(tasks, it, cfg)
    jobs = [Job(t, episode_seed(cfg.seed, it, q, t.task_id, g), "policy", False,
                {"q": q, "g": g, "regime": t.regime})
            for q, t in enumerate(questions) for g in range(cfg.group_size)]
    t0 = time.perf_counter()
    results = sampler.run(jobs, params, desc=f"iteration {it + 1} rollouts",
                          progress=cfg.progress)
    t1 = time.perf_counter()
    rewards = np.array([r["record"]["score"] - cfg.tool_cost * r["record"]["cost"]["tool_calls"]
                        for r in results])
    batch = pack(results, rewards, [j.tag["q"] for j in jobs])
    loss_fn, args = loss_and_args(cfg, batch)
    losses = []
    for _ in range(cfg.grad_steps):
        loss, params, state = opt.step(loss_fn, params, state, *args)
        losses.append(loss)
    t2 = time.perf_counter()
    with open(run_dir / "rollouts.jsonl", "a") as f:
        for r, rew in zip(results, rewards):
            f.write(json.dumps(dict(r["record"], iteration=it + 1, reward=float(rew),
                                    logp=float(sum(r["logp"])), **r["tag"]),
                               default=str) + "\n")
    by_regime: dict[str, list[dict]] = {}
    for r in results:
        by_regime.setdefault(r["tag"]["regime"], []).append(episode_stats(r["record"]))
    _append_csv(run_dir / "curves.csv", CURVE_FIELDS, _curve_rows(
        it + 1, "train", {k: mean_stats(v) for k, v in by_regime.items()}))
    alpha = opt.hyperparameters(state)[0]["alpha"]
    row = {"iteration": it + 1, "episodes": len(results), "decisions": batch.n_dec,
           "reward": float(rewards.mean()),
           "score": float(np.mean([r["record"]["score"] for r in results])),
           "tool_calls": float(np.mean([r["record"]["cost"]["tool_calls"] for r in results])),
           "loss_first": losses[0] if losses else 0.0, "loss_last": losses[-1] if losses else 0.0,
           "alpha": float(np.mean(alpha)), "sample_seconds": round(t1 - t0, 3),
           "update_seconds": round(t2 - t1, 3), "iteration_seconds": round(t2 - t0, 3)}
    return params, state, row
