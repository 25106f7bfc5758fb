"""Evaluate baselines and trained policies on all six regimes and write the report files.

Input: prepared `Data`, a `Sampler`, trained policies ({label: params}) with the regimes each
was trained on, the baselines to include, and which policy gets test-time compute (best-of-N
by vote). Output (in `out`): eval.json (per agent: per-regime stats and the means over all
regimes, over the regimes every run held out, over the training regimes), eval.csv,
eval_episodes.jsonl, summary.md (markdown tables), pareto_cost.png, pareto_latency.png.
Invariants: every agent sees the same evaluation tasks (the first `n_per_regime` of each
regime's evaluation set, never a training question); held-out means are over regimes no
trained run saw, so single- and multi-task runs are compared on the same tasks.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from ..tasks import REGIME_NAMES
from .data import Data
from .evaluate import STATS, evaluate_agent, overall
from .plots import pareto
from .rollout import Sampler


def run_evaluation(out: Path, data: Data, sampler: Sampler, policies: dict[str, dict],
                   trained_on: dict[str, tuple[str, ...]],
                   baselines: tuple[str, ...] = ("random", "heuristic"),
                   tts_policy: str | None = None, tts_samples: tuple[int, ...] = (4, 8),
                   n_per_regime: int | None = None, seed: int = 0,
                   progress: bool = True, tts_temperature: float = 0.5) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    tasks = {r: ts[:n_per_regime] if n_per_regime else ts for r, ts in data.eval_tasks.items()}
    seen = {r for rs in trained_on.values() for r in rs}
    held_out = tuple(r for r in REGIME_NAMES if r not in seen)
    runs: list[tuple[str, str, dict | None, int]] = [(b, b, None, 1) for b in baselines]
    runs += [(label, "policy", p, 1) for label, p in policies.items()]
    if tts_policy in policies:
        runs += [(f"{tts_policy} vote@{n}", "policy", policies[tts_policy], n)
                 for n in tts_samples]
    summary: dict[str, Any] = {}
    with open(out / "eval_episodes.jsonl", "w") as f:
        for label, agent, params, n in runs:
            res = evaluate_agent(sampler, tasks, agent, params, samples=n, seed=seed,
                                 progress=progress, desc=f"eval {label}",
                                 temperature=tts_temperature if n > 1 else 1.0)
            for ep in res["episodes"]:
                f.write(json.dumps(dict(ep, agent=label), default=str) + "\n")
            per = res["per_regime"]
            own = trained_on.get(label.split(" vote@")[0], ())
            summary[label] = {"per_regime": per, "all": overall(per, REGIME_NAMES),
                              "held_out": overall(per, held_out),
                              "train": overall(per, tuple(sorted(seen))),
                              "trained_on": list(own), "samples": n}
    report = {"held_out_regimes": list(held_out), "training_regimes": sorted(seen),
              "tts": {"policy": tts_policy, "samples": list(tts_samples),
                      "temperature": tts_temperature, "aggregation": "plurality vote"},
              "n_per_regime": {r: len(ts) for r, ts in tasks.items()}, "agents": summary}
    (out / "eval.json").write_text(json.dumps(report, indent=2))
    with open(out / "eval.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["agent", "regime", *STATS, "n"])
        for label, s in summary.items():
            for r, st in s["per_regime"].items():
                w.writerow([label, r, *(round(st[k], 5) for k in STATS), st["n"]])
    pareto(summary, "tokens", out / "pareto_cost.png")
    pareto(summary, "latency", out / "pareto_latency.png")
    (out / "summary.md").write_text(markdown(report))
    return report


def markdown(report: dict[str, Any]) -> str:
    agents = report["agents"]
    held = set(report["held_out_regimes"])
    head = [f"{r}{'*' if r in held else ''}" for r in REGIME_NAMES]
    tts = report.get("tts", {})
    lines = ["Score per regime (* = held out by every trained run); cost and latency are "
             "means over all six regimes, per question. Policies act greedily; 'vote@N' "
             f"samples N rollouts at temperature {tts.get('temperature')} and answers by "
             "plurality vote (cost: sum over the N; latency: the slowest, as they run in "
             "parallel).", "",
             "| agent | " + " | ".join(head) + " | train mean | held-out mean | all | tool "
             "calls | tokens | latency (ms) |",
             "|---" * (len(head) + 7) + "|"]
    for name, s in agents.items():
        per = s["per_regime"]
        lines.append(f"| {name} | " + " | ".join(f"{per[r]['score']:.3f}" for r in REGIME_NAMES)
                     + f" | {s['train']['score']:.3f} | {s['held_out']['score']:.3f} | "
                     f"{s['all']['score']:.3f} | {s['all']['tool_calls']:.1f} | "
                     f"{s['all']['tokens']:.0f} | {1000 * s['all']['latency']:.1f} |")
    lines += ["", "Per regime: score / tool calls / tokens / latency (ms), per question.", "",
              "| agent | " + " | ".join(head) + " |", "|---" * (len(head) + 1) + "|"]
    for name, s in agents.items():
        per = s["per_regime"]
        lines.append(f"| {name} | " + " | ".join(
            f"{per[r]['score']:.2f} / {per[r]['tool_calls']:.1f} / {per[r]['tokens']:.0f} / "
            f"{1000 * per[r]['latency']:.1f}" for r in REGIME_NAMES) + " |")
    return "\n".join(lines) + "\n"
