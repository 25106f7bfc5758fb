"""Evaluation: any agent on tasks of several regimes, one rollout or N with aggregation.

Input: a `Sampler`, tasks per regime, the agent ("random", "heuristic" or "policy" with
params), the number of samples N. Output: per regime the mean score, tool calls, tokens and
latency, each question's score and costs (for the bootstrap intervals), and the episode
records. With N = 1 the policy acts greedily; with N > 1
(test-time compute) it samples N rollouts per task (at `temperature`) and answers by
plurality vote over the normalised answers, ties broken by the policy's mean confidence in that answer (the answer
decision's log-probability); the grade is the chosen answer's.
Invariants: the vote never sees the gold answer or a score; cost of an N-rollout answer is
the sum over its rollouts (tokens, tool calls) and latency is the slowest rollout (the N run
in parallel); episode seeds are fixed by (seed, regime, task, sample).
"""
from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import numpy as np

from ..tasks import Task, grade
from ..tasks.normalize import normalize_text
from .rollout import Job, Sampler, episode_seed

STATS = ("score", "tool_calls", "tokens", "latency")


def episode_stats(rec: dict) -> dict[str, float]:
    c = rec["cost"]
    return {"score": rec["score"], "tool_calls": c["tool_calls"], "tokens": c["tokens"],
            "latency": c["wall_seconds"]}


def mean_stats(rows: list[dict[str, float]]) -> dict[str, float]:
    out = {k: float(np.mean([r[k] for r in rows])) if rows else 0.0 for k in STATS}
    out["n"] = len(rows)
    return out


def answer_key(answer: Any) -> str:
    """Answers that normalise to the same thing vote together (lists as sets of items)."""
    if isinstance(answer, (list, tuple)):
        return json.dumps(sorted(normalize_text(a) for a in answer))
    return normalize_text(answer)


def vote(task: Task, rollouts: list[dict]) -> dict[str, float]:
    votes: dict[str, list[dict]] = defaultdict(list)
    for r in rollouts:
        votes[answer_key(r["record"]["answer"])].append(r)
    best = max(votes.values(), key=lambda rs: (len(rs), np.mean([r.get("answer_logp", 0.0)
                                                                 for r in rs])))
    costs = [r["record"]["cost"] for r in rollouts]
    return {"score": grade(task, best[0]["record"]["answer"]),
            "tool_calls": sum(c["tool_calls"] for c in costs),
            "tokens": sum(c["tokens"] for c in costs),
            "latency": max(c["wall_seconds"] for c in costs)}


def evaluate_agent(sampler: Sampler, tasks: dict[str, list[Task]], agent: str = "policy",
                   params: dict | None = None, samples: int = 1, seed: int = 0,
                   progress: bool = False, desc: str | None = None,
                   temperature: float = 1.0) -> dict[str, Any]:
    """{"per_regime": {regime: stats}, "scores": {regime: [score of task i, in task order]},
    "costs": {stat: {regime: [tool calls / tokens / latency of task i]}},
    "episodes": [record, ...]} (the per-task scores feed the paired bootstrap, the per-task
    costs the intervals of the cost columns)."""
    return evaluate_votes(sampler, tasks, agent, params, (samples,), seed, progress, desc,
                          temperature)[samples]


def evaluate_votes(sampler: Sampler, tasks: dict[str, list[Task]], agent: str = "policy",
                   params: dict | None = None, samples: tuple[int, ...] = (1,), seed: int = 0,
                   progress: bool = False, desc: str | None = None,
                   temperature: float = 1.0) -> dict[int, dict[str, Any]]:
    """`evaluate_agent` for several numbers of samples at once: {N: result}. Sample s of a
    task has the same seed whatever N is, so the N-sample vote uses the first N rollouts of
    the largest N's: the rollouts are run once, for max(N), not once per N (N = 1 is greedy,
    a run of its own)."""
    out: dict[int, dict[str, Any]] = {}
    if 1 in samples:
        out[1] = summarise(tasks, _run(sampler, tasks, agent, params, 1, seed, progress, desc,
                                        temperature), 1)
    many = max((n for n in samples if n > 1), default=0)
    if many:
        results = _run(sampler, tasks, agent, params, many, seed, progress, desc, temperature)
        for n in samples:
            if n > 1:
                out[n] = summarise(tasks, [r for r in results if r["tag"]["sample"] < n], n)
    return out


def _run(sampler: Sampler, tasks: dict[str, list[Task]], agent: str, params: dict | None,
         samples: int, seed: int, progress: bool, desc: str | None, temperature: float
         ) -> list[dict]:
    jobs = [Job(t, episode_seed("eval", seed, r, t.task_id, s), agent, greedy=samples == 1,
                tag={"regime": r, "task": i, "sample": s}, temperature=temperature,
                decisions=False)
            for r, ts in tasks.items() for i, t in enumerate(ts) for s in range(samples)]
    return sampler.run(jobs, params, desc=desc or f"eval {agent}", progress=progress)


def summarise(tasks: dict[str, list[Task]], results: list[dict], samples: int
               ) -> dict[str, Any]:
    per: dict[str, list[dict[str, float]]] = defaultdict(list)
    scores: dict[str, list[float]] = {r: [0.0] * len(ts) for r, ts in tasks.items()}
    costs: dict[str, dict[str, list[float]]] = {
        k: {r: [0.0] * len(ts) for r, ts in tasks.items()} for k in STATS[1:]}

    def put(r: str, i: int, st: dict[str, float]) -> None:
        per[r].append(st)
        scores[r][i] = st["score"]
        for k in STATS[1:]:
            costs[k][r][i] = st[k]
    if samples == 1:
        for res in results:
            put(res["tag"]["regime"], res["tag"]["task"], episode_stats(res["record"]))
    else:
        by_task: dict[tuple[str, int], list[dict]] = defaultdict(list)
        for res in results:
            by_task[res["tag"]["regime"], res["tag"]["task"]].append(res)
        for (r, i), rs in by_task.items():
            put(r, i, vote(tasks[r][i], rs))
    return {"per_regime": {r: mean_stats(per[r]) for r in tasks}, "scores": scores,
            "costs": costs,
            "episodes": [dict(res["record"], tag=res["tag"]) for res in results]}


def overall(per_regime: dict[str, dict[str, float]], regimes: tuple[str, ...] | list[str]
            ) -> dict[str, float]:
    """Unweighted mean over the given regimes (each regime counts once)."""
    rows = [per_regime[r] for r in regimes if r in per_regime]
    return {k: float(np.mean([x[k] for x in rows])) if rows else 0.0 for k in STATS}
