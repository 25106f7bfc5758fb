"""Leave-one-regime-out: for every regime, train on the other five and evaluate on it.

    python -m agents.rl.cli loro --run-dir runs/loro [--iterations 16] [--n 100]

Input: a `TrainConfig` (the base of every run; its `regimes` are ignored) and the number of
evaluation questions per held-out regime. Output: <run_dir>/<regime>/ (one training run each,
as `train --hold-out REGIME` writes it), loro.json and loro.md: per held-out regime the
scores of the heuristic, the untrained policy ("base", the runs' initial parameters) and the
policy trained without that regime, with n, bootstrap 95% intervals and the paired-bootstrap
differences trained - base and trained - heuristic on the same questions, tool calls with
their bootstrap intervals; loro.json keeps the per-question scores and tool calls, and both
files carry the mean over the held-out regimes (each regime weighing one; intervals resampled
within each regime, `stats.py`) with its n (loro.json "mean", loro.md's last row).
Invariants: each run sees no question of its held-out regime (training questions are
filtered by regime, evaluation questions are the evaluation split's); every agent is
evaluated on the same questions with the same episode seeds; a rerun resumes or reuses the
runs already there (`train_run(resume=True)`).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..tasks import REGIME_NAMES
from .config import TrainConfig
from .data import prepare
from .evaluate import evaluate_agent
from .rollout import Sampler
from .runfiles import atomic_write
from .stats import interval, paired
from .trainer import initial_params, train_run


def run_loro(base: TrainConfig, n_per_regime: int = 100, regimes: tuple[str, ...] =
             REGIME_NAMES, seed: int = 0) -> dict[str, Any]:
    root = Path(base.run_dir)
    root.mkdir(parents=True, exist_ok=True)
    data = prepare(base.data_dir or root / "data", base.world_seed, base.scale,
                   base.eval_per_regime, base.synth_per_round, base.synth_rounds,
                   progress=base.progress, workers=base.workers, executor=base.executor,
                   ray_address=base.ray_address)
    p0 = initial_params(base)
    out: dict[str, Any] = {"config": base.to_json(), "n_per_regime": n_per_regime,
                           "held_out": {}}
    with Sampler(str(data.index_dir), base.step_budget, base.workers, base.executor,
                 base.ray_address or None) as sampler:
        for held in regimes:
            train_on = tuple(r for r in REGIME_NAMES if r != held)
            cfg = base.replace(run_dir=str(root / held), regimes=train_on,
                               data_dir=base.data_dir or str(root / "data"))
            res = train_run(cfg, resume=True, data=data, sampler=sampler)
            tasks = {held: data.eval_tasks[held][:n_per_regime]}
            scores, calls, stats = {}, {}, {}
            for label, agent, params in (("heuristic", "heuristic", None),
                                         ("base", "policy", p0),
                                         ("trained", "policy", res.params)):
                ev = evaluate_agent(sampler, tasks, agent, params, seed=seed,
                                    progress=base.progress, desc=f"{held}: {label}")
                scores[label] = ev["scores"]
                calls[label] = ev["costs"]["tool_calls"]
                st = dict(ev["per_regime"][held])
                st["ci"] = interval(ev["scores"], (held,), seed)
                st["cost_ci"] = {"tool_calls": interval(calls[label], (held,), seed)}
                stats[label] = st
            out["held_out"][held] = {
                "trained_on": list(train_on), "n": len(tasks[held]), "agents": stats,
                "trained_vs_base": paired(scores["trained"], scores["base"], (held,), seed),
                "trained_vs_heuristic": paired(scores["trained"], scores["heuristic"],
                                               (held,), seed),
                "scores": scores, "tool_calls": calls,
                "training_reward": [m["reward"] for m in res.metrics]}
    if out["held_out"]:
        out["mean"] = loro_mean(out["held_out"], seed)
    atomic_write(root / "loro.json", json.dumps(out, indent=2).encode())
    atomic_write(root / "loro.md", loro_markdown(out).encode())
    return out


def loro_mean(held_out: dict[str, Any], seed: int = 0) -> dict[str, Any]:
    """The mean over the held-out regimes (each weighing one) of every agent's score with its
    bootstrap 95% interval, and the two paired differences, from the per-question scores."""
    regs = tuple(held_out)
    sc = {label: {r: h["scores"][label][r] for r, h in held_out.items()}
          for label in ("heuristic", "base", "trained")}
    agents = {}
    for label, s in sc.items():
        rows = [held_out[r]["agents"][label] for r in regs]
        agents[label] = {"score": sum(x["score"] for x in rows) / len(rows),
                         "tool_calls": sum(x["tool_calls"] for x in rows) / len(rows),
                         "ci": interval(s, regs, seed)}
        if all("tool_calls" in h for h in held_out.values()):
            tc = {r: h["tool_calls"][label][r] for r, h in held_out.items()}
            agents[label]["cost_ci"] = {"tool_calls": interval(tc, regs, seed)}
    return {"regimes": list(regs), "n": sum(h["n"] for h in held_out.values()),
            "agents": agents,
            "trained_vs_base": paired(sc["trained"], sc["base"], regs, seed),
            "trained_vs_heuristic": paired(sc["trained"], sc["heuristic"], regs, seed)}


def loro_markdown(out: dict[str, Any]) -> str:
    lines = ["| held-out regime (n) | heuristic | base (untrained) | trained on the other five "
             "| trained - base | trained - heuristic | tool calls heuristic / trained |",
             "|---|---|---|---|---|---|---|"]

    def ci(st: dict) -> str:
        return f"{st['score']:.3f} [{st['ci'][0]:.2f}, {st['ci'][1]:.2f}]"

    def diff(d: dict) -> str:
        return f"{d['diff']:+.3f} [{d['lo']:+.2f}, {d['hi']:+.2f}]"

    def calls(st: dict) -> str:
        ci = st.get("cost_ci", {}).get("tool_calls")
        return f"{st['tool_calls']:.1f}" + (f" [{ci[0]:.1f}, {ci[1]:.1f}]" if ci else "")

    rows = list(out["held_out"].items())
    if out.get("mean"):
        rows.append((f"mean of {len(out['mean']['regimes'])}", out["mean"]))
    for r, h in rows:
        a = h["agents"]
        lines.append(f"| {r} ({h['n']}) | {ci(a['heuristic'])} | {ci(a['base'])} | "
                     f"{ci(a['trained'])} | {diff(h['trained_vs_base'])} | "
                     f"{diff(h['trained_vs_heuristic'])} | {calls(a['heuristic'])} "
                     f"/ {calls(a['trained'])} |")
    return "\n".join(lines) + "\n"
