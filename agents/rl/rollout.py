"""Episodes in parallel worker processes, for training batches and for evaluation.

Input: `Job`s (task, seed, which agent, greedy or sampled) and the policy parameters to act
with. Output: one result dict per job, in job order: the env's episode record, the job's tag,
and for the policy the answer decision's log-probability and (unless the job says
`decisions=False`, as evaluations do) its decisions as arrays (`X` stacked over decisions,
`n_cand`, `chosen`, `logp`).
Invariants: an episode is a pure function of (params, task, seed), so results do not depend
on the number of workers or on which worker ran which chunk (`workers=1` runs in-process and
gives identical results, and so do the local and the Ray executor); workers load the persisted
index once (the executor's per-worker init) and keep their parsed-document caches across
iterations; results come back in job order. Where the episodes run is an `agents.executors`
executor: embedded local processes by default, Ray actors with `executor="ray"`.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..baselines import make_agent, run_episode
from ..env import SearchEnv
from ..executors import Executor, Handle, make_executor
from ..policy import PolicyAgent
from ..tasks import Task
from ..tools import SearchIndex

_ENV: SearchEnv | None = None


@dataclass
class Job:
    task: Task
    seed: int
    agent: Any = "policy"  # policy | random | heuristic | a picklable agent factory
    greedy: bool = False
    tag: dict = field(default_factory=dict)
    temperature: float = 1.0
    # the policy's decisions (features of every candidate, choices, log-probabilities) come
    # back only where training needs them: an evaluation needs the record and the answer's
    # log-probability, and the features are nearly all of an episode's result
    decisions: bool = True


def episode_seed(*parts: Any) -> int:
    """A fixed 31-bit seed from any labels (crc32: stable across processes and runs)."""
    return zlib.crc32(":".join(str(p) for p in parts).encode()) & 0x7FFFFFFF


def _init(index_dir: str, step_budget: int) -> None:
    global _ENV
    try:  # bm25s picks JAX for top-k when it is importable; a forked worker must not touch
        # JAX's runtime (its threads do not survive a fork), and NumPy's top-k is as fast
        # at this corpus size. With workers=1 this applies to the calling process too; only
        # the top-k backend changes (rankings can differ only among ties at the k-th place).
        import bm25s.selection
        bm25s.selection.JAX_IS_AVAILABLE = False
    except (ImportError, AttributeError):
        pass
    _ENV = SearchEnv(SearchIndex.load(index_dir), step_budget=step_budget)


def run_jobs(jobs: list[Job], params: dict[str, np.ndarray] | None) -> list[dict]:
    """Run jobs one after another in this process (the worker's body)."""
    assert _ENV is not None, "call _init first"
    out = []
    for job in jobs:
        if job.agent == "policy":
            agent = PolicyAgent(params, greedy=job.greedy, temperature=job.temperature)
        elif callable(job.agent):
            agent = job.agent()
        else:
            agent = make_agent(job.agent)
        rec = run_episode(_ENV, agent, job.task, seed=job.seed)
        res: dict[str, Any] = {"record": rec, "tag": job.tag}
        if job.agent == "policy":
            res["answer_logp"] = agent.answer_logp
        if job.agent == "policy" and job.decisions:
            ds = agent.decisions
            res.update(X=np.concatenate([d.X for d in ds]), n_cand=[len(d.X) for d in ds],
                       chosen=[d.chosen for d in ds], logp=[d.logp for d in ds],
                       tools=[d.tool for d in ds])
        out.append(res)
    return out


class _WireX(np.ndarray):
    """Decision features that pickle sparsely. About 3/4 of the entries are zero, and X is
    nearly all of an episode's result (~300 KB), so a worker's results cross the process
    boundary ~3x smaller; the parent unpickles a plain ndarray with the same bits (nonzero is
    decided on the bit pattern: -0.0 and NaN payloads survive)."""

    def __reduce__(self) -> tuple:
        a = self.view(np.ndarray)
        flat = np.ascontiguousarray(a).reshape(-1)
        idx = np.flatnonzero(flat.view(np.dtype(f"u{flat.itemsize}")))
        return _dense, (a.shape, a.dtype.str, idx.astype(np.int32 if flat.size < 2**31 else
                                                          np.int64), flat[idx])

    def __reduce_ex__(self, protocol: int) -> tuple:  # ndarray's own would win at protocol 5
        return self.__reduce__()


def _dense(shape: tuple, dtype: str, idx: np.ndarray, values: np.ndarray) -> np.ndarray:
    out = np.zeros(shape, dtype)
    out.reshape(-1)[idx] = values
    return out


def _run_chunk(args: tuple[list[Job], dict | None, bool]) -> list[dict]:
    jobs, params, wire = args
    out = run_jobs(jobs, params)
    if wire:  # results will be pickled back to the caller
        for r in out:
            if "X" in r:
                r["X"] = r["X"].view(_WireX)
    return out


class Sampler:
    """Episode workers behind an executor ("local": forked processes, or this process when
    workers == 1; "ray": Ray actors, `ray_address` of a cluster or None for a local Ray), or
    an `Executor` already made (whose workers must have run `_init`)."""

    def __init__(self, index_dir: str, step_budget: int = 12, workers: int = 2,
                 executor: str | Executor = "local", ray_address: str | None = None):
        self.workers, self.step_budget = workers, step_budget
        if isinstance(executor, Executor):
            self.executor, self.own = executor, False
        else:
            self.executor = make_executor(executor, workers, ray_address or None, init=_init,
                                          initargs=(str(index_dir), step_budget))
            self.own = True

    def submit(self, jobs: list[Job], params: dict | None, chunk: int = 8) -> list[Handle]:
        """Start the jobs in chunks; each handle's result is that chunk's list of results."""
        wire = not self.executor.in_process
        return [self.executor.submit(_run_chunk, (jobs[i:i + chunk], params, wire))
                for i in range(0, len(jobs), chunk)]

    def run(self, jobs: list[Job], params: dict | None, desc: str = "episodes",
            progress: bool = False, chunk: int = 8) -> list[dict]:
        wire = not self.executor.in_process
        chunks = [((jobs[i:i + chunk], params, wire),) for i in range(0, len(jobs), chunk)]
        res = self.executor.map(_run_chunk, chunks, desc=desc, progress=progress,
                                weights=[len(c[0][0]) for c in chunks])
        return [r for part in res for r in part]

    def close(self) -> None:
        if self.own:
            self.executor.close()

    def __enter__(self) -> "Sampler":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
