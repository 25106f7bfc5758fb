"""The embedded executor: forked local processes (no extra service), or this process.

Input/Output: see `base.Executor`. `workers == 1` runs every call in this process (after
running `init` here once), when its result is first asked for. `workers > 1` uses a
`ProcessPoolExecutor` over fork: workers start in milliseconds and need no
`if __name__ == "__main__"` guard in the caller's script.
Invariants: a worker that dies (kill -9, a crash) breaks the whole pool; the executor then
builds a new pool and every unfinished call resubmits itself, at most `MAX_RETRIES` times
(a call that keeps killing its worker is an error, not an endless loop).
"""
from __future__ import annotations

import multiprocessing as mp
import os
import signal
import warnings
from concurrent.futures import Future, ProcessPoolExecutor, TimeoutError
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable

from .base import Executor, Handle, LazyHandle

MAX_RETRIES = 3


class LocalHandle(Handle):
    def __init__(self, ex: "LocalExecutor", fn: Callable, args: tuple):
        self.ex, self.fn, self.args, self.retries = ex, fn, args, 0
        self.future: Future = ex._pool_submit(fn, args)
        self.pool = ex.pool

    def _resubmit(self) -> None:
        self.retries += 1
        if self.retries > MAX_RETRIES:
            raise RuntimeError(f"a local worker died {self.retries} times running "
                               f"{getattr(self.fn, '__name__', self.fn)!r}; giving up")
        self.future = self.ex._pool_submit(self.fn, self.args)
        self.pool = self.ex.pool

    def _orphaned(self) -> bool:
        """Submitted to a pool that broke or was replaced, and not finished: CPython may never
        finish such a future (its work item was being received when the worker died)."""
        return self.pool is not self.ex.pool or bool(getattr(self.pool, "_broken", False))

    def done(self) -> bool:
        if not self.future.done():
            self.ex._break_if_a_worker_died()
            if self._orphaned() and not self.future.done():
                self._resubmit()
            return False
        if isinstance(self.future.exception(), BrokenProcessPool):
            self._resubmit()
            return False
        return True

    def result(self) -> Any:
        while True:
            try:
                return self.future.result(timeout=0.2)
            except TimeoutError:
                self.ex._break_if_a_worker_died()
                if self._orphaned() and not self.future.done():
                    self._resubmit()
            except BrokenProcessPool:
                self._resubmit()


class LocalExecutor(Executor):
    kind = "local"

    def __init__(self, workers: int = 2, init: Callable | None = None, initargs: tuple = ()):
        if workers < 1:
            raise ValueError(f"workers must be >= 1, not {workers}")
        self.workers, self.init, self.initargs = workers, init, tuple(initargs)
        self.pool: ProcessPoolExecutor | None = None
        self.restarts = 0
        if workers == 1:
            if init is not None:
                init(*self.initargs)
        else:
            self.pool = self._new_pool()

    @property
    def in_process(self) -> bool:
        return self.workers == 1

    def _new_pool(self) -> ProcessPoolExecutor:
        # The parent may hold JAX's idle runtime threads (bm25s warms JAX up on import);
        # workers never call JAX (see agents.rl.rollout._init), so JAX's at-fork warning does
        # not apply and is silenced.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called")
            return ProcessPoolExecutor(self.workers, mp_context=mp.get_context("fork"),
                                       initializer=self.init, initargs=self.initargs)

    def _pool_submit(self, fn: Callable, args: tuple) -> Future:
        if self.pool is None:
            raise RuntimeError("the executor is closed")
        with warnings.catch_warnings():  # the pool forks its workers on submit
            warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called")
            try:
                return self.pool.submit(fn, *args)
            except BrokenProcessPool:
                pass
            # the pool broke (a worker died): replace it once, then resubmit there
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = self._new_pool()
            self.restarts += 1
            return self.pool.submit(fn, *args)

    def submit(self, fn: Callable, *args: Any) -> Handle:
        if self.pool is None:
            if self.workers > 1:
                raise RuntimeError("the executor is closed")
            return LazyHandle(fn, args)
        return LocalHandle(self, fn, args)

    def _break_if_a_worker_died(self) -> None:
        """A worker killed while writing its result leaves a partial message in the result
        pipe: the pool's manager thread then blocks reading the rest and never marks the pool
        broken (CPython's ProcessPoolExecutor), and a live worker blocks on the pipe's lock.
        So when a worker is dead and the pool not yet broken, the other workers are killed
        too and the parent's copy of the pipe's write end is closed: the last writer gone, the
        manager reads end-of-file and breaks the pool, and every unfinished call resubmits
        itself."""
        pool = self.pool
        if pool is None or getattr(pool, "_broken", False):
            return
        processes = list((pool._processes or {}).values())
        if not any(p.exitcode is not None for p in processes):
            return
        for p in processes:
            if p.exitcode is None:
                try:
                    os.kill(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for p in processes:
            p.join(5)
        try:   # the parent's own copy of the pipe's write end: closed, the reader gets EOF
            pool._result_queue._writer.close()
        except (AttributeError, OSError):   # a CPython internal; the pool may already be gone
            pass

    def worker_pids(self) -> list[int]:
        """The live worker processes (for tests that kill one)."""
        return [p.pid for p in (self.pool._processes or {}).values()] if self.pool else []

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None
