"""The Ray executor: one actor per worker, on a cluster or on a local Ray started here.

Input/Output: see `base.Executor`. `address` is a running cluster's address ("auto",
"ray://host:10001", "host:6379"); without one, a local Ray is started with two CPUs on
127.0.0.1 (no dashboard) and shut down by `close`.
Invariants: each actor runs `init(*initargs)` in its constructor, so a restarted actor is set
up again before it takes calls; actors restart without limit and retry their unfinished calls
(`max_restarts=-1`, `max_task_retries=-1`), which is safe because a call's result depends only
on its arguments; calls go to the actor with the fewest calls in flight, and results do not
depend on which actor ran them.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Callable

from .base import Executor, Handle

try:
    import ray
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError("the Ray executor needs the `ray` extra: python -m pip install "
                      "'coarsen[ray]' (or python -m pip install ray)") from e


def _code_path() -> str:
    """PYTHONPATH for the job's workers: the folder this `agents` package was imported from
    first, so that workers run the driver's code (a checkout, not an older installed copy);
    a cluster whose nodes lack that folder falls back to the copy installed there."""
    root = str(Path(__file__).resolve().parents[2])
    return os.pathsep.join([root] + [p for p in os.environ.get("PYTHONPATH", "").split(
        os.pathsep) if p and p != root])


def connect(address: str | None = None, num_cpus: int = 2) -> None:
    """Join the Ray cluster at `address`, or start a private local Ray: `num_cpus` CPUs, on
    the loopback interface (nothing listens beyond 127.0.0.1), no dashboard. Either way the
    job's workers import this checkout's code (see `_code_path`)."""
    warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called")  # see local.py
    env = {"env_vars": {"PYTHONPATH": _code_path()}}
    if address:
        ray.init(address=address, log_to_driver=False, runtime_env=env)
    else:
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False,
                 _node_ip_address="127.0.0.1", log_to_driver=False, runtime_env=env)


class _Worker:
    """The actor: holds whatever `init` set up (e.g. a loaded search index) between calls."""

    def __init__(self, init: Callable | None, initargs: tuple):
        if init is not None:
            init(*initargs)

    def call(self, fn: Callable, *args: Any) -> Any:
        return fn(*args)

    def pid(self) -> int:
        return os.getpid()


class RayHandle(Handle):
    def __init__(self, ref: Any, slot: int, ex: "RayExecutor"):
        self.ref, self.slot, self.ex, self._done = ref, slot, ex, False

    def done(self) -> bool:
        if not self._done:
            ready, _ = ray.wait([self.ref], timeout=0)
            if ready:
                self._finish()
        return self._done

    def _finish(self) -> None:
        if not self._done:
            self._done = True
            self.ex.in_flight[self.slot] -= 1

    def result(self) -> Any:
        try:
            return ray.get(self.ref)
        finally:
            self._finish()


class RayExecutor(Executor):
    kind = "ray"

    def __init__(self, workers: int = 2, init: Callable | None = None, initargs: tuple = (),
                 address: str | None = None, num_cpus: int = 2):
        if workers < 1:
            raise ValueError(f"workers must be >= 1, not {workers}")
        self.workers = workers
        self.started = False
        if not ray.is_initialized():
            connect(address, num_cpus)
            self.started = not address
        actor = ray.remote(num_cpus=1 if address else 0, max_restarts=-1,
                           max_task_retries=-1)(_Worker)
        self.actors = [actor.remote(init, tuple(initargs)) for _ in range(workers)]
        self.in_flight = [0] * workers

    def submit(self, fn: Callable, *args: Any) -> Handle:
        if not self.actors:
            raise RuntimeError("the executor is closed")
        slot = min(range(self.workers), key=self.in_flight.__getitem__)
        self.in_flight[slot] += 1
        return RayHandle(self.actors[slot].call.remote(fn, *args), slot, self)

    def worker_pids(self) -> list[int]:
        """The actors' processes (for tests that kill one)."""
        return ray.get([a.pid.remote() for a in self.actors])

    def close(self) -> None:
        for a in self.actors:
            ray.kill(a, no_restart=True)
        self.actors = []
        if self.started:
            ray.shutdown()
            self.started = False
