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
Where it runs: with a `sampler` (`agents.rl.rollout.Sampler`, any executor) exploration,
re-checks and solver rollouts are executor calls in its workers, over the workers' copy of
the index; the bookkeeping (asks, de-duplication, filters) stays here and consumes the calls'
results in candidate order, so the result is the in-process one for every executor and
worker count. A round's explorer is one call (it is sequential: one tool session); round r+1's
runs while round r's rollouts do (it needs only the questions round r kept before them).
Re-checks are submitted for every candidate that the filters known at the round's start let
through, and consumed in order: a candidate that a kept question of the same round then
shadows was re-checked for nothing (the filters only grow, so none is missed).
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
from ..executors.base import Handle, LazyHandle
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
    return _submit_rollouts(index, tasks, solver, rollouts, seed, step_budget, sampler,
                            progress)()


def _submit_rollouts(index: SearchIndex, tasks: list[Task], solver: Callable[[], Agent],
                     rollouts: int, seed: int, step_budget: int, sampler: Any,
                     progress: bool) -> Callable[[], list[list[float]]]:
    """Start `pass_rates`'s episodes (in the sampler's workers, when it can run them); the
    returned function waits for them and gives the scores."""
    if sampler is not None and sampler.step_budget == step_budget and _picklable(solver):
        from ..rl.rollout import Job
        jobs = [Job(t, seed * 1000 + i, solver) for t in tasks for i in range(rollouts)]
        handles = sampler.submit(jobs, None)

        def collect() -> list[list[float]]:
            recs = [r for h in tqdm(handles, desc="rollouts", disable=not progress,
                                    leave=False) for r in h.result()]
            return [[r["record"]["score"] for r in recs[k * rollouts:(k + 1) * rollouts]]
                    for k in range(len(tasks))]
        return collect

    def here() -> list[list[float]]:
        env = SearchEnv(index, step_budget=step_budget)
        scores = []
        for t in tqdm(tasks, desc="rollouts", disable=not progress, leave=False):
            agent = solver()
            scores.append([run_episode(env, agent, t, seed=seed * 1000 + i)["score"]
                           for i in range(rollouts)])
        return scores
    return here


def _worker_index(index: SearchIndex | None) -> SearchIndex:
    """`index`, or in an executor's worker (index None) the index its `_init` loaded."""
    if index is not None:
        return index
    from ..rl import rollout
    if rollout._ENV is None:
        raise RuntimeError("synthesis calls need an executor whose workers ran "
                           "agents.rl.rollout._init (use an agents.rl.rollout.Sampler)")
    return rollout._ENV.index


def _explore(index: SearchIndex | None, n: int, seed: int, round_id: int,
             avoid: frozenset[str]) -> list[Task]:
    return explore(_worker_index(index), n, seed=seed, round_id=round_id, avoid=avoid)


def _recheck_all(index: SearchIndex | None, tasks: list[Task]) -> list[tuple[bool, str]]:
    idx = _worker_index(index)
    return [recheck(idx, t) for t in tasks]


RECHECK_CHUNK = 4  # candidates per re-check call (a call is a few ms of work)


def synthesize(index: SearchIndex, eval_questions: list[str], per_round: int = 60,
               rounds: int = 2, rollouts: int = 6, solvers: list[Callable[[], Agent]] | None
               = None, dup_threshold: float = 0.7, pass_score: float = 0.8, seed: int = 0,
               progress: bool = False, eval_tasks: list[Task] | None = None,
               world: World | None = None, sampler: Any = None) -> SynthResult:
    """`eval_tasks` (optional) adds de-duplication by what is asked; `world` (optional) adds
    the ground-truth audit of the kept questions; `sampler` (optional, a
    `agents.rl.rollout.Sampler` over the same index) runs exploration, re-checks and solver
    rollouts in its executor's workers (same results)."""
    solvers = solvers or default_solvers()
    res = SynthResult()
    dups = NearDuplicates(eval_questions, dup_threshold)
    asked = {a for t in eval_tasks or () for a in asks(t)}
    taken: set[tuple] = set()  # asked by an earlier kept candidate
    if sampler is None:  # in this process, each call when its result is asked for
        def submit(fn: Callable, *args: Any) -> Handle:
            return LazyHandle(fn, (index,) + args)
    else:  # in the sampler's workers, over their index
        def submit(fn: Callable, *args: Any) -> Handle:
            return sampler.executor.submit(fn, None, *args)

    def explore_round(r: int) -> Handle:
        # customers that evaluation or kept questions ask about: a question about one would
        # be dropped below, so the explorer writes about the others it finds
        avoid = frozenset(a[1] for a in asked | taken if a[0] == "customer")
        return submit(_explore, per_round, seed, r, avoid)

    explored = explore_round(1)
    for r in range(1, rounds + 1):
        solver = solvers[min(r - 1, len(solvers) - 1)]
        cands = explored.result()
        stats = {"round": r, "solver": solver().name, "generated": len(cands),
                 "dup_eval": 0, "dup_kept": 0, "same_ask_eval": 0, "same_ask_kept": 0,
                 "failed_recheck": 0, "too_easy": 0, "too_hard": 0, "kept": 0}
        # re-checks of the candidates that pass the filters as they stand now (they only
        # grow during the round), submitted at once and consumed in candidate order
        hopeful = [t for t in cands
                   if not asks(t) & (asked | taken) and not dups.check(t.question)[0]]
        chunks = [hopeful[i:i + RECHECK_CHUNK] for i in range(0, len(hopeful), RECHECK_CHUNK)]
        handles = [submit(_recheck_all, c) for c in chunks]
        checked = {id(t): (h, k) for h, c in zip(handles, chunks) for k, t in enumerate(c)}
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
            h, k = checked.get(id(t)) or (submit(_recheck_all, [t]), 0)  # (never: see above)
            ok, why = h.result()[k]
            if not ok:
                stats["failed_recheck"] += 1
                res.dropped.append({"task_id": t.task_id, "round": r,
                                    "reason": f"failed the re-check: {why}",
                                    "question": t.question})
                continue
            fresh.append(t)
            dups.add(t.question)  # later candidates of this round must differ from it too
            taken |= what
        if r < rounds:  # the next round's explorer runs alongside this round's rollouts
            explored = explore_round(r + 1)
        scores = _submit_rollouts(index, fresh, solver, rollouts, seed + r, 12, sampler,
                                  progress)()
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
