"""Evaluate baselines and trained policies on all six regimes and write the report files.

Input: prepared `Data`, a `Sampler`, trained policies ({label: params}) with the regimes each
was trained on, the baselines to include, and which policy gets test-time compute (best-of-N
by vote; on the first `tts_per_regime` questions of each regime, with the greedy policy's
scores on those questions as a row "<policy> (first K)"). Output (in `out`): eval.json
(per agent: per-regime stats and the means over all regimes, over the regimes every run held
out, over the training regimes), eval.csv,
eval_episodes.jsonl, summary.md (markdown tables), pareto_cost.png, pareto_latency.png.
Every score and every cost column (tool calls, tokens, latency) carries its number of
questions and a bootstrap 95% interval (per regime, and for the means over regimes,
resampled within each regime); every agent is also compared with
the reference baseline (the heuristic) and, when the untrained policy is evaluated under the
label "base", with it, by a paired bootstrap over the same questions (`stats.py`): eval.json
"vs_reference" and "vs_base", summary.md's second and third tables.
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
from .evaluate import STATS, evaluate_agent, evaluate_votes, overall, summarise
from .plots import pareto
from .rollout import Sampler
from .stats import interval, paired

GROUPS = ("train", "held_out", "all")
BASE = "base"  # the label of the untrained policy (initial parameters), when evaluated


def run_evaluation(out: Path, data: Data, sampler: Sampler, policies: dict[str, dict],
                   trained_on: dict[str, tuple[str, ...]],
                   baselines: tuple[str, ...] = ("random", "heuristic"),
                   tts_policy: str | None = None, tts_samples: tuple[int, ...] = (4, 8),
                   n_per_regime: int | None = None, seed: int = 0,
                   progress: bool = True, tts_temperature: float = 0.5,
                   tts_per_regime: int | None = None) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    tasks = {r: ts[:n_per_regime] if n_per_regime else ts for r, ts in data.eval_tasks.items()}
    seen = {r for rs in trained_on.values() for r in rs}
    held_out = tuple(r for r in REGIME_NAMES if r not in seen)
    runs: list[tuple[str, str, dict | None, int]] = [(b, b, None, 1) for b in baselines]
    runs += [(label, "policy", p, 1) for label, p in policies.items()]
    votes: dict[int, dict[str, Any]] = {}
    # vote@N on the first `tts_per_regime` questions of each regime (all when None): N
    # rollouts per question is the evaluation's largest cost; the greedy policy's scores on
    # the same questions are a row of their own (sliced from its run, not re-run), so the
    # vote rows and their Pareto points are compared on identical questions
    tts_tasks = {r: ts[:tts_per_regime] if tts_per_regime else ts for r, ts in tasks.items()}
    subset = tts_tasks != tasks
    tts_greedy = f"{tts_policy} (first {tts_per_regime})" if subset else None
    if tts_policy in policies and tts_samples:
        runs += [(f"{tts_policy} vote@{n}", "policy", policies[tts_policy], n)
                 for n in tts_samples]
        # vote@N uses the first N rollouts of vote@max(N) (the same seeds): sampled once
        votes = evaluate_votes(sampler, tasks=tts_tasks, agent="policy",
                               params=policies[tts_policy], samples=tuple(tts_samples),
                               seed=seed, progress=progress,
                               desc=f"eval {tts_policy} vote@{max(tts_samples)}",
                               temperature=tts_temperature)
    summary: dict[str, Any] = {}
    results: dict[str, dict[str, Any]] = {}
    if tts_greedy and votes:  # after the greedy policy's own row
        k = next(i for i, run in enumerate(runs) if run[0] == tts_policy)
        runs.insert(k + 1, (tts_greedy, "policy", policies[tts_policy], 1))
    with open(out / "eval_episodes.jsonl", "w") as f:
        for label, agent, params, n in runs:
            if n > 1:
                res = votes[n]
            elif label == tts_greedy:
                res = prefix_result(results[tts_policy], tts_tasks)
            else:
                res = results[label] = evaluate_agent(
                    sampler, tasks, agent, params, samples=n, seed=seed, progress=progress,
                    desc=f"eval {label}")
            for ep in res["episodes"]:
                f.write(json.dumps(dict(ep, agent=label), default=str) + "\n")
            per, scores, costs = res["per_regime"], res["scores"], res["costs"]
            own = trained_on.get(label.split(" vote@")[0], ())
            regs = {"all": REGIME_NAMES, "held_out": held_out, "train": tuple(sorted(seen))}
            for r in per:
                per[r]["ci"] = interval(scores, (r,), seed)
                per[r]["cost_ci"] = {k: interval(c, (r,), seed) for k, c in costs.items()}
            summary[label] = {"per_regime": per, "trained_on": list(own), "samples": n,
                              "scores": scores, "costs": costs,
                              "questions": (f"first {tts_per_regime} per regime"
                                            if subset and (n > 1 or label == tts_greedy)
                                            else "all")}
            for g, rs in regs.items():
                summary[label][g] = dict(overall(per, rs), ci=interval(scores, rs, seed),
                                         n=sum(len(scores.get(r, ())) for r in rs),
                                         cost_ci={k: interval(c, rs, seed)
                                                  for k, c in costs.items()})
    reference = next((b for b in ("heuristic", *baselines) if b in summary), None)
    regs = {"all": REGIME_NAMES, "held_out": held_out, "train": tuple(sorted(seen))}
    for key, other in (("vs_reference", reference),
                       ("vs_base", BASE if BASE in summary else None)):
        if not other:
            continue
        for label, s in summary.items():
            # a vote row on the first questions of each regime is paired with the reference's
            # scores on those same questions (the prefix of its evaluation set)
            ref = {r: v[:len(s["scores"].get(r, ()))]
                   for r, v in summary[other]["scores"].items()}
            s[key] = {
                "reference": other,
                "per_regime": {r: paired(s["scores"], ref, (r,), seed) for r in tasks},
                **{g: paired(s["scores"], ref, rs, seed) for g, rs in regs.items()}}
    report = {"held_out_regimes": list(held_out), "training_regimes": sorted(seen),
              "tts": {"policy": tts_policy, "samples": list(tts_samples),
                      "temperature": tts_temperature, "aggregation": "plurality vote",
                      "per_regime": tts_per_regime if subset else None},
              "n_per_regime": {r: len(ts) for r, ts in tasks.items()},
              "intervals": "bootstrap 95% (2000 replicates, resampling questions within each "
                           "regime), of the scores (ci) and of the costs (cost_ci); "
                           "vs_reference and vs_base: paired over the same questions",
              "reference": reference, "base": BASE if BASE in summary else None,
              "agents": summary}
    (out / "eval.json").write_text(json.dumps(report, indent=2))
    with open(out / "eval.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["agent", "regime", *STATS, "n", "ci_lo", "ci_hi"])
        for label, s in summary.items():
            for r, st in s["per_regime"].items():
                w.writerow([label, r, *(round(st[k], 5) for k in STATS), st["n"],
                            *(round(x, 5) for x in st["ci"])])
    pareto(summary, "tokens", out / "pareto_cost.png")
    pareto(summary, "latency", out / "pareto_latency.png")
    (out / "summary.md").write_text(markdown(report, {
        "Pareto: cost": "pareto_cost.png", "Pareto: latency": "pareto_latency.png",
        "eval.json": "eval.json", "eval.csv": "eval.csv"}))
    return report


def prefix_result(res: dict[str, Any], tasks: dict[str, list]) -> dict[str, Any]:
    """A one-rollout evaluation result restricted to the first questions of each regime
    (`tasks`, a prefix of each regime's evaluation set): the same episodes, summarised over
    those questions only."""
    keep = [{"record": ep, "tag": ep["tag"]} for ep in res["episodes"]
            if ep["tag"]["task"] < len(tasks.get(ep["tag"]["regime"], ()))]
    return summarise(tasks, keep, 1)


def _ci(st: dict, digits: int = 3) -> str:
    lo, hi = st.get("ci", [float("nan")] * 2)
    return f"{st['score']:.{digits}f} [{lo:.2f}, {hi:.2f}]"


def _cost(st: dict, key: str) -> str:
    """A cost column: the mean per question and its bootstrap 95% interval (latency in ms)."""
    scale, fmt = (1000.0, ".1f") if key == "latency" else (1.0, ".0f" if key == "tokens"
                                                             else ".1f")
    lo, hi = st.get("cost_ci", {}).get(key, [float("nan")] * 2)
    return f"{scale * st[key]:{fmt}} [{scale * lo:{fmt}}, {scale * hi:{fmt}}]"


def _diff(d: dict) -> str:
    return f"{d['diff']:+.3f} [{d['lo']:+.2f}, {d['hi']:+.2f}]"


def markdown(report: dict[str, Any], links: dict[str, str] | None = None) -> str:
    """The tables of summary.md; `links` ({text: relative path}) are listed first."""
    agents = report["agents"]
    held = set(report["held_out_regimes"])
    n = report.get("n_per_regime", {})
    head = [f"{r}{'*' if r in held else ''} (n={n.get(r, '?')})" for r in REGIME_NAMES]
    any_agent = next(iter(agents.values()), {})
    means = [f"{name} mean (n={any_agent.get(g, {}).get('n', '?')})" for g, name in
             zip(GROUPS, ("train", "held-out", "all"))]
    tts = report.get("tts", {})
    lines = []
    if links:
        lines += ["Files: " + ", ".join(f"[{k}]({v})" for k, v in links.items()), ""]
    lines += ["Score per regime with its bootstrap 95% interval over the questions (n per "
              "regime in the header; * = held out by every trained run); means are over "
              "regimes, each regime weighing one. Cost and latency are means over all six "
              "regimes, per question, with their bootstrap 95% intervals. Policies act "
              "greedily; 'vote@N' samples N rollouts at "
              f"temperature {tts.get('temperature')} and answers by plurality vote (cost: "
              "sum over the N; latency: the slowest, as they run in parallel)"
              + (f", on the first {tts['per_regime']} questions of each regime (the row "
                 f"'{tts.get('policy')} (first {tts['per_regime']})' is the greedy policy on "
                 "those questions; their differences below are paired on them)"
                 if tts.get("per_regime") else "") + ".", "",
              "| agent | " + " | ".join(head + means) + " | tool calls | tokens | latency (ms) |",
              "|---" * (len(head) + len(means) + 4) + "|"]
    for name, s in agents.items():
        per = s["per_regime"]
        lines.append(f"| {name} | " + " | ".join(_ci(per[r]) for r in REGIME_NAMES)
                     + " | " + " | ".join(_ci(s[g]) for g in GROUPS)
                     + " | " + " | ".join(_cost(s["all"], k)
                                          for k in ("tool_calls", "tokens", "latency"))
                     + " |")
    for key, ref in (("vs_reference", report.get("reference")),
                     ("vs_base", report.get("base"))):
        if not ref:
            continue
        what = ref if key == "vs_reference" else f"the {ref} (untrained) policy"
        lines += ["", f"Difference from {what} on the same questions, with its paired-bootstrap "
                  "95% interval (an interval that contains 0 is no evidence of a difference).",
                  "", "| agent | " + " | ".join(head + means) + " |",
                  "|---" * (len(head) + len(means) + 1) + "|"]
        for name, s in agents.items():
            if name == ref or key not in s:
                continue
            v = s[key]
            lines.append(f"| {name} | " + " | ".join(_diff(v["per_regime"][r])
                                                    for r in REGIME_NAMES)
                         + " | " + " | ".join(_diff(v[g]) for g in GROUPS) + " |")
    lines += ["", "Per regime: score / tool calls / tokens / latency (ms), per question, each "
              "with its bootstrap 95% interval.", "",
              "| agent | " + " | ".join(head) + " |", "|---" * (len(head) + 1) + "|"]
    for name, s in agents.items():
        per = s["per_regime"]
        lines.append(f"| {name} | " + " | ".join(
            f"{_ci(per[r], 2)} / " + " / ".join(_cost(per[r], k) for k in
                                                ("tool_calls", "tokens", "latency"))
            for r in REGIME_NAMES) + " |")
    return "\n".join(lines) + "\n"
