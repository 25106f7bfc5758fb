"""The embedded executor: forked local processes (no extra service), or this process.

Input/Output: see `base.Executor`. `workers == 1` runs every call in this process (after
running `init` here once), when its result is first asked for. `workers > 1` uses a
`ProcessPoolExecutor` over fork: workers start in milliseconds and need no
`if __name__ == "__main__"` guard in the caller's script.
Invariants: a worker that dies (kill -9, a crash) breaks the whole pool; the executor then
builds a new pool and every unfinished call resubmits itself, at most `MAX_RETRIES` times
(a call that keeps killing its worker is an error, not an endless loop). No call runs for
ever: each worker posts the call it runs and since when on a shared board, and a call
running longer than `call_timeout` seconds (`AGENTS_LOCAL_CALL_TIMEOUT`, default 1800; "inf"
for none; the longest calls today, a hyperopt grid run, take seconds) has its worker
SIGKILLed while a handle is waited on: the pool is replaced as after any death, the other
unfinished calls are resubmitted, and that call's handle is done and `result()` raises
`LocalCallTimeout` naming it (never retried: it would hang again). `workers == 1` runs calls
in this process, which nothing can stop: no bound there.
"""
from __future__ import annotations

import itertools
import multiprocessing as mp
import os
import signal
import time
import warnings
from concurrent.futures import Future, ProcessPoolExecutor, TimeoutError
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing.sharedctypes import RawArray, Synchronized
from typing import Any, Callable

from .base import Executor, Handle, LazyHandle

MAX_RETRIES = 3
CALL_TIMEOUT = float(os.environ.get("AGENTS_LOCAL_CALL_TIMEOUT", 1800))


class LocalCallTimeout(TimeoutError):
    """A call ran longer than the executor's `call_timeout`; its worker was killed."""


@dataclass
class Board:
    """What each worker of one pool runs: slot i holds its pid, the token of its current
    call (0: idle) and since when (`time.monotonic`, one clock for all processes). Shared
    memory inherited over fork; written only by the worker, read by the parent without
    locks (a worker writes `since` before `calls`)."""
    pids: Any
    calls: Any
    since: Any
    taken: Synchronized  # slots claimed so far (by workers' start-up)

    @classmethod
    def make(cls, workers: int) -> "Board":
        ctx = mp.get_context("fork")
        return cls(RawArray("q", workers), RawArray("q", workers), RawArray("d", workers),
                   ctx.Value("i", 0))


_SEAT: tuple[Board, int] | None = None  # in a worker: its pool's board and its slot


def _start_worker(board: Board, init: Callable | None, initargs: tuple) -> None:
    global _SEAT
    with board.taken.get_lock():
        slot = board.taken.value % len(board.pids)
        board.taken.value += 1
    board.pids[slot] = os.getpid()
    _SEAT = (board, slot)
    if init is not None:
        init(*initargs)


def _tracked(token: int, fn: Callable, *args: Any) -> Any:
    """Run fn(*args) in a worker, posting `token` on the board while it runs."""
    board, slot = _SEAT
    board.since[slot] = time.monotonic()
    board.calls[slot] = token
    try:
        return fn(*args)
    finally:
        board.calls[slot] = 0


def _name(fn: Callable) -> str:
    return getattr(fn, "__name__", repr(fn))


class LocalHandle(Handle):
    def __init__(self, ex: "LocalExecutor", fn: Callable, args: tuple):
        self.ex, self.fn, self.args, self.retries = ex, fn, args, 0
        self.error: LocalCallTimeout | None = None
        self.future, self.token = ex._pool_submit(fn, args)
        self.pool = ex.pool

    def _resubmit(self) -> None:
        self.retries += 1
        if self.retries > MAX_RETRIES:
            raise RuntimeError(f"a local worker died {self.retries} times running "
                               f"{_name(self.fn)!r}; giving up")
        self.future, self.token = self.ex._pool_submit(self.fn, self.args)
        self.pool = self.ex.pool

    def _lost(self) -> bool:
        """The future will give nothing (its pool broke): fail the call if it was killed for
        running too long (True: the handle is done), else resubmit it (False)."""
        ran = self.ex.timed_out.get(self.token)
        if ran is None:
            self._resubmit()
            return False
        self.error = LocalCallTimeout(
            f"{_name(self.fn)!r} ran {ran:.0f} s on a local worker, longer than the "
            f"executor's call timeout ({self.ex.call_timeout:g} s): the worker was killed "
            f"(its pool replaced, the other calls resubmitted); set AGENTS_LOCAL_CALL_TIMEOUT "
            f"to allow longer calls")
        self.fn = self.args = None
        return True

    def _orphaned(self) -> bool:
        """Submitted to a pool that broke or was replaced, and not finished: CPython may never
        finish such a future (its work item was being received when the worker died)."""
        return self.pool is not self.ex.pool or bool(getattr(self.pool, "_broken", False))

    def done(self) -> bool:
        if self.error is not None:
            return True
        if not self.future.done():
            self.ex._watch()
            if self._orphaned() and not self.future.done():
                return self._lost()
            return False
        if isinstance(self.future.exception(), BrokenProcessPool):
            return self._lost()
        return True

    def result(self) -> Any:
        while self.error is None:
            try:
                return self.future.result(timeout=0.2)
            except TimeoutError:
                if self.future.done():  # the call's own TimeoutError, not the wait's
                    raise
                self.ex._watch()
                if self._orphaned() and not self.future.done():
                    self._lost()
            except BrokenProcessPool:
                self._lost()
        raise self.error


class LocalExecutor(Executor):
    kind = "local"

    def __init__(self, workers: int = 2, init: Callable | None = None, initargs: tuple = (),
                 call_timeout: float | None = None):
        if workers < 1:
            raise ValueError(f"workers must be >= 1, not {workers}")
        self.workers, self.init, self.initargs = workers, init, tuple(initargs)
        self.call_timeout = CALL_TIMEOUT if call_timeout is None else float(call_timeout)
        self.pool: ProcessPoolExecutor | None = None
        self.board: Board | None = None
        self.tokens = itertools.count(1)
        self.timed_out: dict[int, float] = {}  # token of a call killed -> seconds it ran
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
        self.board = Board.make(self.workers)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called")
            return ProcessPoolExecutor(self.workers, mp_context=mp.get_context("fork"),
                                       initializer=_start_worker,
                                       initargs=(self.board, self.init, self.initargs))

    def _pool_submit(self, fn: Callable, args: tuple) -> tuple[Future, int]:
        if self.pool is None:
            raise RuntimeError("the executor is closed")
        token = next(self.tokens)
        with warnings.catch_warnings():  # the pool forks its workers on submit
            warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called")
            try:
                return self.pool.submit(_tracked, token, fn, *args), token
            except BrokenProcessPool:
                pass
            # the pool broke (a worker died): replace it once, then resubmit there
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = self._new_pool()
            self.restarts += 1
            return self.pool.submit(_tracked, token, fn, *args), token

    def submit(self, fn: Callable, *args: Any) -> Handle:
        if self.pool is None:
            if self.workers > 1:
                raise RuntimeError("the executor is closed")
            return LazyHandle(fn, args)
        return LocalHandle(self, fn, args)

    def _watch(self) -> None:
        """Kill the worker of any call running longer than `call_timeout` (noting the call in
        `timed_out`), then handle dead workers (`_break_if_a_worker_died`)."""
        board, now = self.board, time.monotonic()
        for slot in range(self.workers) if board is not None else ():
            token, pid = board.calls[slot], board.pids[slot]
            ran = now - board.since[slot]
            if token and pid > 0 and ran > self.call_timeout and token not in self.timed_out:
                self.timed_out[token] = ran
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self._break_if_a_worker_died()

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
