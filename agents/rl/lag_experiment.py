"""The lag experiment: OAPL and GRPO trained at enforced policy lag 0, 1, 2, 4, and throughput.

    python -m agents.rl.lag_experiment --out runs/lag [--seeds 3 --iterations 6 ...]
    python -m agents.rl.lag_experiment --out runs/lag --executor ray [--ray-address ADDR]

Input: sizes (small defaults: about ten minutes on a loaded 2-core machine). Output in --out:
one run directory per (algo, lag, seed) (see `trainer`/`async_oapl`), lag.csv (final greedy
evaluation score per run on the training regimes' evaluation questions, plus the training
reward of the last iteration), lag_curves.jsonl (training reward per iteration, per run),
throughput.csv (episodes per second against workers, and the per-episode and
per-update costs), lag.png (learning curves and final score against lag), lag.md (the
tables, pasted into agents/RESULTS.md).
Design: every run uses the same data directory, the same questions and episode seeds per
seed, and the same episode budget (iterations x questions x G); only the policy version that
samples each batch differs: batch b is sampled by version max(0, b - lag) (`lag_mode =
"enforce"`), so a run is deterministic and the comparison isolates staleness. Intervals are
95% t-intervals over seeds.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..executors import EXECUTORS
from ..policy import N_FEATURES, init_params
from .config import TrainConfig
from .data import prepare
from .evaluate import evaluate_agent, overall
from .rollout import Job, Sampler, episode_seed
from .trainer import train_run

T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
        9: 2.262, 10: 2.228}


def t975(df: int) -> float:
    """The 97.5% quantile of Student's t with `df` degrees of freedom."""
    try:
        from scipy.stats import t
        return float(t.ppf(0.975, df))
    except ImportError:  # scipy comes with scikit-learn; the table otherwise
        return T975.get(df, 1.96 if df > 30 else 2.228)


def t_interval(xs: list[float]) -> tuple[float, float, float]:
    """Mean and 95% t-interval (the mean itself twice for one value)."""
    m = float(np.mean(xs))
    if len(xs) < 2:
        return m, m, m
    h = t975(len(xs) - 1) * float(np.std(xs, ddof=1)) / math.sqrt(len(xs))
    return m, m - h, m + h


def run_grid(out: Path, cfg: TrainConfig, algos: list[str], lags: list[int], seeds: int,
             eval_n: int, sampler: Sampler, data: Any, first_seed: int = 0) -> list[dict]:
    rows = []
    eval_tasks = {r: data.eval_tasks[r][:eval_n] for r in cfg.regimes}
    for algo in algos:
        for lag in lags:
            for seed in range(first_seed, first_seed + seeds):
                # the run's anchor: "auto" is learner-is at lag > 0 and behaviour at lag 0
                run = cfg.replace(algo=algo, max_lag=lag, lag_mode="enforce",
                                  seed=seed).resolved()
                anchor = run.oapl_anchor
                tag = ("" if anchor == "behaviour" or algo != "oapl" else
                       f"-{anchor}" + (f"-c{cfg.is_clip:g}" if anchor == "learner-is" and
                                       cfg.is_clip != 1.0 else "")
                       + ("-norm" if anchor == "learner-is" and cfg.is_normalize else ""))
                run = run.replace(run_dir=str(out / f"{algo}{tag}-lag{lag}-s{seed}"))
                t0 = time.perf_counter()
                res = train_run(run, resume=True, data=data, sampler=sampler)
                ev = evaluate_agent(sampler, eval_tasks, "policy", res.params, seed=1000 + seed)
                score = overall(ev["per_regime"], cfg.regimes)["score"]
                rows.append({"algo": algo, "lag": lag, "seed": seed, "eval_score": score,
                             "final_reward": res.metrics[-1]["reward"],
                             "curve": [m["reward"] for m in res.metrics],
                             "lag_mean": float(np.mean([m.get("lag_mean", 0.0)
                                                        for m in res.metrics])),
                             # learner-is: mean truncated ratio pi_learner / pi_behaviour
                             "is_weight_mean": round(float(np.mean(
                                 [m["is_weight_mean"] for m in res.metrics
                                  if "is_weight_mean" in m])), 4)
                             if any("is_weight_mean" in m for m in res.metrics) else "",
                             "seconds": round(time.perf_counter() - t0, 1)})
                print(f"{algo} lag {lag} seed {seed}: eval {score:.3f}, last reward "
                      f"{rows[-1]['final_reward']:.3f} ({rows[-1]['seconds']}s)", flush=True)
    return rows


def throughput(out: Path, cfg: TrainConfig, data: Any, workers: list[int], episodes: int,
               executor: str, ray_address: str | None) -> list[dict]:
    """Episodes per second sampling a fixed batch with 1..W workers (fresh pools, after a
    warm-up chunk), and the per-update cost of one OAPL update on such a batch."""
    from ..policy import oapl_loss
    from .batch import pack
    from .trainer import make_optimizer
    tasks = [t for ts in data.train_tasks(cfg.regimes).values() for t in ts]
    jobs = [Job(tasks[i % len(tasks)], episode_seed("tp", i)) for i in range(episodes)]
    params = init_params(N_FEATURES, cfg.hidden, 0)
    rows, results = [], None
    for w in workers:
        with Sampler(str(data.index_dir), cfg.step_budget, w, executor, ray_address) as s:
            s.run(jobs[:8 * w], params)  # warm-up: workers loaded and caches filled
            t0 = time.perf_counter()
            results = s.run(jobs, params)
            dt = time.perf_counter() - t0
        rows.append({"workers": w, "episodes": episodes, "seconds": round(dt, 3),
                     "episodes_per_second": round(episodes / dt, 2)})
        print(f"{w} workers: {episodes / dt:.1f} episodes/s", flush=True)
    rewards = np.array([r["record"]["score"] for r in results])
    batch = pack(results, rewards, [i // cfg.group_size for i in range(len(results))])
    opt = make_optimizer(cfg)
    state, p = opt.init(params), params
    args = batch.oapl_args(cfg.beta, cfg.beta1)
    opt.step(oapl_loss, p, state, *args)  # compile
    t0 = time.perf_counter()
    for _ in range(cfg.grad_steps):
        _, p, state = opt.step(oapl_loss, p, state, *args)
    upd = (time.perf_counter() - t0) / episodes  # seconds of update per episode in a batch
    for r in rows:
        r.update(update_seconds_per_episode=round(upd, 5),
                 episode_seconds_one_worker=round(rows[0]["seconds"] / episodes, 5))
    return rows


def summarize(rows: list[dict], tp: list[dict], cfg: TrainConfig, seeds: int) -> str:
    algos = sorted({r["algo"] for r in rows}, key=["oapl", "grpo"].index)
    lags = sorted({r["lag"] for r in rows})
    lines = [f"Enforced lag L: batch b sampled by policy version max(0, b - L). "
             f"{cfg.iterations} iterations x {cfg.questions_per_iter} questions x G = "
             f"{cfg.group_size} ({cfg.iterations * cfg.episodes_per_iter} episodes per run), "
             f"{cfg.grad_steps} gradient steps per batch, {seeds} seeds; final score = greedy "
             f"evaluation on the evaluation questions of {', '.join(cfg.regimes)} (mean of the "
             f"regimes), 95% t-interval over seeds.", "",
             "| algo | lag | final eval score [95% CI] | last-iteration train reward | "
             "change vs lag 0 |", "|---|---|---|---|---|"]
    base = {}
    for a in algos:
        for lag in lags:
            xs = [r["eval_score"] for r in rows if r["algo"] == a and r["lag"] == lag]
            tr = [r["final_reward"] for r in rows if r["algo"] == a and r["lag"] == lag]
            m, lo, hi = t_interval(xs)
            if lag == lags[0]:
                base[a] = m
            rel = f"{100 * (m - base[a]) / base[a]:+.0f}%" if base[a] else "n/a"
            lines.append(f"| {a.upper()} | {lag} | {m:.3f} [{lo:.3f}, {hi:.3f}] | "
                         f"{np.mean(tr):.3f} | {rel if lag != lags[0] else ''} |")
    if tp:
        lines += ["", "| workers | episodes/s | speed-up |", "|---|---|---|"]
    for r in tp:
        lines.append(f"| {r['workers']} | {r['episodes_per_second']:.1f} | "
                     f"{r['episodes_per_second'] / tp[0]['episodes_per_second']:.2f}x |")
    if tp:
        lines.append("")
        lines.append(f"Measured costs: {1e3 * tp[0]['episode_seconds_one_worker']:.1f} ms per "
                     f"episode on one worker; {1e3 * tp[0]['update_seconds_per_episode']:.2f} "
                     f"ms of learner time per episode of a batch ({cfg.grad_steps} gradient "
                     f"steps).")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    algos = sorted({r["algo"] for r in rows}, key=["oapl", "grpo"].index)
    lags = sorted({r["lag"] for r in rows})
    fig, axes = plt.subplots(1, len(algos) + 1, figsize=(5 * (len(algos) + 1), 4))
    for ax, a in zip(axes, algos):
        for lag in lags:
            curves = np.array([r["curve"] for r in rows if r["algo"] == a and r["lag"] == lag])
            ax.plot(range(1, curves.shape[1] + 1), curves.mean(0), marker="o", ms=3,
                    label=f"lag {lag}")
        ax.set_title(f"{a.upper()}: training reward (mean of seeds)")
        ax.set_xlabel("iteration")
        ax.legend()
    ax = axes[-1]
    for a in algos:
        stats = [t_interval([r["eval_score"] for r in rows if r["algo"] == a and r["lag"] == lag])
                 for lag in lags]
        m = np.array([s[0] for s in stats])
        ax.errorbar(lags, m, yerr=[m - [s[1] for s in stats], [s[2] for s in stats] - m],
                    marker="o", capsize=3, label=a.upper())
    ax.set_title("final greedy eval score vs enforced lag (95% CI)")
    ax.set_xlabel("max lag (policy versions)")
    ax.set_xticks(lags)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m agents.rl.lag_experiment",
                                description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("runs/lag"), help="output directory")
    p.add_argument("--algos", nargs="+", default=["oapl", "grpo"], choices=["oapl", "grpo"],
                   help="algorithms to compare")
    p.add_argument("--lags", type=int, nargs="+", default=[0, 1, 2, 4],
                   help="enforced policy lags")
    p.add_argument("--seeds", type=int, default=3, help="training seeds per (algo, lag)")
    p.add_argument("--first-seed", type=int, default=0,
                   help="seeds first-seed .. first-seed + seeds - 1 (to add seeds to a grid)")
    p.add_argument("--iterations", type=int, default=8, help="updates (batches) per run")
    p.add_argument("--questions", type=int, default=12, help="questions per iteration")
    p.add_argument("--group-size", type=int, default=4, help="rollouts per question (G)")
    p.add_argument("--grad-steps", type=int, default=8, help="gradient steps per batch")
    p.add_argument("--eval-n", type=int, default=20, help="evaluation questions per regime")
    p.add_argument("--workers", type=int, default=2, help="rollout workers")
    p.add_argument("--throughput-workers", type=int, nargs="*", default=[1, 2],
                   help="worker counts for the throughput measurement (none: skip it)")
    p.add_argument("--throughput-episodes", type=int, default=96,
                   help="episodes per throughput measurement")
    p.add_argument("--executor", choices=EXECUTORS, default="local", help="where episodes run")
    p.add_argument("--ray-address", default="",
                   help="a Ray cluster to join (empty: start a local Ray)")
    p.add_argument("--no-grid", action="store_true", help="throughput only")
    p.add_argument("--anchor", choices=["auto", "behaviour", "learner", "learner-is"],
                   default="auto", help="OAPL's reference policy (TrainConfig.oapl_anchor; "
                                        "auto: learner-is at lag > 0, behaviour at lag 0)")
    p.add_argument("--is-clip", type=float, default=1.0,
                   help="anchor learner-is: truncation of pi_learner / pi_behaviour")
    p.add_argument("--is-normalize", action="store_true",
                   help="anchor learner-is: episode weights rescaled to mean 1 per update")
    a = p.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    cfg = TrainConfig(data_dir=str(a.out / "data"), iterations=a.iterations,
                      questions_per_iter=a.questions, group_size=a.group_size,
                      grad_steps=a.grad_steps, eval_per_regime=a.eval_n, synth_per_round=180,
                      synth_rounds=1, curve_per_regime=0, workers=a.workers, progress=False,
                      executor=a.executor, ray_address=a.ray_address, oapl_anchor=a.anchor, is_clip=a.is_clip,
                      is_normalize=a.is_normalize)
    data = prepare(cfg.data_dir, cfg.world_seed, cfg.scale, cfg.eval_per_regime,
                   cfg.synth_per_round, cfg.synth_rounds, workers=a.workers,
                   executor=a.executor, ray_address=a.ray_address)
    rows: list[dict] = []
    if not a.no_grid:
        with Sampler(str(data.index_dir), cfg.step_budget, a.workers, a.executor,
                     a.ray_address or None) as s:
            rows = run_grid(a.out, cfg, a.algos, a.lags, a.seeds, a.eval_n, s, data,
                            a.first_seed)
        with open(a.out / "lag.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=[k for k in rows[0] if k != "curve"],
                               extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)
        with open(a.out / "lag_curves.jsonl", "w") as f:
            for r in rows:
                f.write(json.dumps({k: r[k] for k in ("algo", "lag", "seed", "curve")}) + "\n")
        plot(rows, a.out / "lag.png")
    tp = throughput(a.out, cfg, data, a.throughput_workers, a.throughput_episodes,
                    a.executor, a.ray_address or None) if a.throughput_workers else []
    if tp:
        with open(a.out / "throughput.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(tp[0]))
            w.writeheader()
            w.writerows(tp)
    text = summarize(rows, tp, cfg, a.seeds) if rows else json.dumps(tp, indent=1)
    (a.out / "lag.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
