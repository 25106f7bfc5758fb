"""Where episodes and other independent work run: one interface, two implementations.

    from agents.executors import make_executor
    ex = make_executor("local", workers=2, init=setup, initargs=(index_dir,))
    ex = make_executor("ray", workers=8, address="ray://head:10001")   # or address=None
    handles = [ex.submit(fn, *args) for args in work]    # asynchronous
    results = ex.map(fn, [args, ...])                    # ordered, blocking

Input: a picklable function and its arguments; an optional per-worker `init(*initargs)` that
each worker runs once before its first call (the rollout workers load the search index there
and keep it in a module global). Output: the function's results, through `Handle`s or in
order from `map`.
Implementations: `LocalExecutor` (the embedded default: forked local processes, no extra
service; `workers=1` runs in this process) and `RayExecutor` (Ray actors on a cluster or on a
local Ray it starts itself; needs the `ray` extra). Invariants: a result depends only on the
function and its arguments, never on which worker ran it, so the two executors give the same
results for the same seeds; a worker that dies (a crash, a kill -9) is replaced and its
unfinished calls are run again (locally: a broken pool is rebuilt and the pending calls
resubmitted; on Ray: actors restart and retry their tasks), so callers never see a lost call;
no wait is unbounded: a call that hangs is an error naming it (`LocalCallTimeout` after
`AGENTS_LOCAL_CALL_TIMEOUT` seconds, its worker killed; `RayCallTimeout` on Ray).
"""
from __future__ import annotations

from .base import Executor, Handle, wait_any
from .local import LocalCallTimeout, LocalExecutor

EXECUTORS = ("local", "ray")


def make_executor(kind: str = "local", workers: int = 2, address: str | None = None,
                  init=None, initargs: tuple = ()) -> Executor:
    """`kind` is "local" (embedded processes) or "ray" (`address` of a running cluster, or
    None to start a local Ray with two CPUs on 127.0.0.1)."""
    if kind == "local":
        if address:
            raise ValueError("--ray-address needs --executor ray")
        return LocalExecutor(workers, init, initargs)
    if kind == "ray":
        from .rayexec import RayExecutor
        return RayExecutor(workers, init, initargs, address=address or None)
    raise ValueError(f"unknown executor {kind!r}; use one of {', '.join(EXECUTORS)}")


__all__ = ["Executor", "Handle", "LocalExecutor", "LocalCallTimeout", "make_executor", "wait_any",
           "EXECUTORS"]
