"""The synthesis loop: explore, de-duplicate, estimate pass rates, filter, bootstrap.

Input: a `SearchIndex`, evaluation questions to protect, a list of solver factories (one per
round, increasingly capable), and sizes. Output: `SynthResult` with the kept tasks (each with
`meta["synth"]` provenance: round, evidence, claim, solver, rollout scores, pass rate), the
per-round statistics, and `write_jsonl` for the run directory.
Per round r: the explorer writes candidates (tools only); candidates that ask what an
evaluation question asks (the same entity, attribute and time, see `asks`: catches
paraphrases) or near-duplicates (MinHash over word 3-grams >= `dup_threshold` and the same
salient tokens, see `dedup`) of any evaluation question or of an earlier candidate are
dropped; candidates whose answer fails the explorer's own deeper re-derivation (`recheck`,
tools only) are dropped; solver r runs `rollouts` episodes per survivor, scored against the synthesized answer; a
rollout passes when its score >= `pass_score`; questions solved always (too easy) or never
(too hard, or wrong) are dropped. Invariants: deterministic per seed; evaluation questions are
only read as text and as what they ask for de-duplication; with `world` given, every
synthesis is audited against the ground truth (`check.audit`, reporting only:
`SynthResult.audit` holds the remaining label error rate).
"""
from __future__ import annotations

import json
import pickle
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable

from tqdm import tqdm

from ..baselines import Agent, run_episode
from ..env import SearchEnv
from ..heuristic import HeuristicAgent
from ..tasks import Task
from ..tools import SearchIndex
from ..world.entities import World
from .asks import asks
from .check import audit
from .dedup import NearDuplicates
from .explorer import explore
from .recheck import recheck


def heuristic_solver(noise: float, reads: int) -> Agent:
    agent = HeuristicAgent(noise=noise, reads=reads)
    agent.name = f"heuristic(noise={noise},reads={reads})"
    return agent


def default_solvers() -> list[Callable[[], Agent]]:
    """Round r's solver: the heuristic with less noise and more reads each round (partials of
    a module-level function, so they pickle and can run in executor workers)."""
    return [partial(heuristic_solver, 0.6, 2), partial(heuristic_solver, 0.35, 3),
            partial(heuristic_solver, 0.15, 4)]


@dataclass
class SynthResult:
    kept: list[Task] = field(default_factory=list)
    rounds: list[dict] = field(default_factory=list)
    dropped: list[dict] = field(default_factory=list)
    audit: dict | None = None  # ground-truth audit of `kept` (when a world was given)

    def write_jsonl(self, path: str | Path) -> Path:
        path = Path(path)
        with open(path, "w") as f:
            for t in self.kept:
                f.write(json.dumps(t.to_json()) + "\n")
        return path


def pass_rates(index: SearchIndex, tasks: list[Task], solver: Callable[[], Agent],
               rollouts: int, pass_score: float, seed: int, progress: bool = False,
               step_budget: int = 12, sampler: Any = None) -> list[list[float]]:
    """Scores of `rollouts` solver episodes per task. With a `sampler`
    (`agents.rl.rollout.Sampler` over this index, any executor) the episodes run in its
    workers, with the same seeds and so the same scores (a solver that does not pickle runs
    here instead)."""
    if sampler is not None and sampler.step_budget == step_budget and _picklable(solver):
        from ..rl.rollout import Job
        jobs = [Job(t, seed * 1000 + i, solver) for t in tasks for i in range(rollouts)]
        recs = sampler.run(jobs, None, desc="rollouts", progress=progress)
        return [[r["record"]["score"] for r in recs[k * rollouts:(k + 1) * rollouts]]
                for k in range(len(tasks))]
    env = SearchEnv(index, step_budget=step_budget)
    scores = []
    for t in tqdm(tasks, desc="rollouts", disable=not progress, leave=False):
        agent = solver()
        scores.append([run_episode(env, agent, t, seed=seed * 1000 + i)["score"]
                       for i in range(rollouts)])
    return scores


def synthesize(index: SearchIndex, eval_questions: list[str], per_round: int = 60,
               rounds: int = 2, rollouts: int = 6, solvers: list[Callable[[], Agent]] | None
               = None, dup_threshold: float = 0.7, pass_score: float = 0.8, seed: int = 0,
               progress: bool = False, eval_tasks: list[Task] | None = None,
               world: World | None = None, sampler: Any = None) -> SynthResult:
    """`eval_tasks` (optional) adds de-duplication by what is asked; `world` (optional) adds
    the ground-truth audit of the kept questions; `sampler` (optional, a
    `agents.rl.rollout.Sampler` over the same index) runs the solver rollouts in its
    executor's workers (same results)."""
    solvers = solvers or default_solvers()
    res = SynthResult()
    dups = NearDuplicates(eval_questions, dup_threshold)
    asked = {a for t in eval_tasks or () for a in asks(t)}
    taken: set[tuple] = set()  # asked by an earlier kept candidate
    for r in range(1, rounds + 1):
        solver = solvers[min(r - 1, len(solvers) - 1)]
        # customers that evaluation or kept questions ask about: a question about one would
        # be dropped below, so the explorer writes about the others it finds
        avoid = {a[1] for a in asked | taken if a[0] == "customer"}
        cands = explore(index, per_round, seed=seed, round_id=r, avoid=avoid)
        stats = {"round": r, "solver": solver().name, "generated": len(cands),
                 "dup_eval": 0, "dup_kept": 0, "same_ask_eval": 0, "same_ask_kept": 0,
                 "failed_recheck": 0, "too_easy": 0, "too_hard": 0, "kept": 0}
        fresh = []
        for t in cands:
            what = asks(t)
            if what & asked or what & taken:
                source = "eval" if what & asked else "kept"
                stats[f"same_ask_{source}"] += 1
                res.dropped.append({"task_id": t.task_id, "round": r,
                                    "reason": f"asks what a {source} question asks",
                                    "asks": [list(a) for a in sorted(what & (asked | taken))],
                                    "question": t.question})
                continue
            dup, sim, source = dups.check(t.question)
            if dup:
                stats[f"dup_{source}"] += 1
                res.dropped.append({"task_id": t.task_id, "round": r,
                                    "reason": f"near-duplicate of a {source} question",
                                    "similarity": round(sim, 3), "question": t.question})
                continue
            t.meta["synth"]["max_similarity"] = round(sim, 3)
            ok, why = recheck(index, t)
            if not ok:
                stats["failed_recheck"] += 1
                res.dropped.append({"task_id": t.task_id, "round": r,
                                    "reason": f"failed the re-check: {why}",
                                    "question": t.question})
                continue
            fresh.append(t)
            dups.add(t.question)  # later candidates of this round must differ from it too
            taken |= what
        scores = pass_rates(index, fresh, solver, rollouts, pass_score, seed + r, progress,
                            sampler=sampler)
        for t, sc in zip(fresh, scores):
            rate = sum(s >= pass_score for s in sc) / len(sc)
            t.meta["synth"].update(solver=stats["solver"], rollout_scores=sc, pass_rate=rate)
            if rate in (0.0, 1.0):
                reason = "too_easy" if rate == 1.0 else "too_hard"
                stats[reason] += 1
                res.dropped.append({"task_id": t.task_id, "round": r, "reason": reason,
                                    "question": t.question})
                continue
            stats["kept"] += 1
            res.kept.append(t)
        res.rounds.append(stats)
    if world is not None:
        res.audit = audit(world, res.kept)
    return res


def _picklable(obj: Any) -> bool:
    try:
        pickle.dumps(obj)
        return True
    except Exception:
        return False
