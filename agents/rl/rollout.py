"""Episodes in parallel worker processes, for training batches and for evaluation.

Input: `Job`s (task, seed, which agent, greedy or sampled) and the policy parameters to act
with. Output: one result dict per job, in job order: the env's episode record, the job's tag,
and for the policy its decisions as arrays (`X` stacked over decisions, `n_cand`, `chosen`,
`logp`) plus the answer decision's log-probability.
Invariants: an episode is a pure function of (params, task, seed), so results do not depend
on the number of workers or on which worker ran which chunk (`workers=1` runs in-process and
gives identical results); workers load the persisted index once (pool initializer) and keep
their parsed-document caches across iterations; results come back in job order.
"""
from __future__ import annotations

import multiprocessing as mp
import warnings
import zlib
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np
from tqdm import tqdm

from ..baselines import make_agent, run_episode
from ..env import SearchEnv
from ..policy import PolicyAgent
from ..tasks import Task
from ..tools import SearchIndex

_ENV: SearchEnv | None = None


@dataclass
class Job:
    task: Task
    seed: int
    agent: str = "policy"  # policy | random | heuristic
    greedy: bool = False
    tag: dict = field(default_factory=dict)
    temperature: float = 1.0


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
        else:
            agent = make_agent(job.agent)
        rec = run_episode(_ENV, agent, job.task, seed=job.seed)
        res: dict[str, Any] = {"record": rec, "tag": job.tag}
        if job.agent == "policy":
            ds = agent.decisions
            res.update(X=np.concatenate([d.X for d in ds]), n_cand=[len(d.X) for d in ds],
                       chosen=[d.chosen for d in ds], logp=[d.logp for d in ds],
                       tools=[d.tool for d in ds], answer_logp=agent.answer_logp)
        out.append(res)
    return out


def _run_chunk(args: tuple[list[Job], dict | None]) -> list[dict]:
    return run_jobs(*args)


class Sampler:
    """A pool of episode workers (or the current process when workers == 1)."""

    def __init__(self, index_dir: str, step_budget: int = 12, workers: int = 2):
        self.workers = workers
        if workers > 1:
            # fork: workers start in milliseconds and need no `if __name__ == "__main__"`
            # guard in the caller's script. The parent may hold JAX's idle runtime threads
            # (bm25s warms JAX up on import); workers never call JAX (see _init), so JAX's
            # at-fork warning does not apply and is silenced.
            ctx = mp.get_context("fork")
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called")
                self.pool = ctx.Pool(workers, initializer=_init,
                                     initargs=(str(index_dir), step_budget))
        else:
            self.pool = None
            _init(str(index_dir), step_budget)

    def run(self, jobs: list[Job], params: dict | None, desc: str = "episodes",
            progress: bool = False, chunk: int = 8) -> list[dict]:
        chunks = [(jobs[i:i + chunk], params) for i in range(0, len(jobs), chunk)]
        it: Iterator[list[dict]]
        if self.pool is None:
            it = map(_run_chunk, chunks)
        else:
            it = self.pool.imap(_run_chunk, chunks)
        out: list[dict] = []
        with tqdm(total=len(jobs), desc=desc, disable=not progress, leave=False) as bar:
            for res in it:
                out += res
                bar.update(len(res))
        return out

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool.join()
            self.pool = None

    def __enter__(self) -> "Sampler":
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.pool is not None and exc[0] is not None:
            self.pool.terminate()
        self.close()
