"""The executor interface: submit a call, get a handle; map a function over argument tuples.

Input: a picklable callable and arguments. Output: `Handle`s whose `result()` blocks and
`done()` polls; `map` returns results in argument order.
Invariants: every implementation runs `init(*initargs)` once in each worker before any call
there; results do not depend on the worker; `close` is idempotent.
"""
from __future__ import annotations

import abc
import time
from typing import Any, Callable, Iterable

from tqdm import tqdm


class Handle(abc.ABC):
    """A submitted call. Subclasses implement `done` and `result`."""

    @abc.abstractmethod
    def done(self) -> bool:
        """Whether the call has finished (never blocks)."""

    @abc.abstractmethod
    def result(self) -> Any:
        """The call's value; blocks until it finished, re-raises its error."""


class DoneHandle(Handle):
    """A call already run (in-process execution)."""

    def __init__(self, value: Any = None, error: BaseException | None = None):
        self.value, self.error = value, error

    def done(self) -> bool:
        return True

    def result(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.value


class LazyHandle(Handle):
    """A call run in this process when its result is first asked for (in-process execution:
    progress bars then advance call by call)."""

    def __init__(self, fn: Callable, args: tuple):
        self.fn, self.args, self.handle = fn, args, None

    def _run(self) -> DoneHandle:
        if self.handle is None:
            try:
                self.handle = DoneHandle(self.fn(*self.args))
            except Exception as e:  # raised at result(), like a pool would
                self.handle = DoneHandle(error=e)
            self.fn = self.args = None
        return self.handle

    def done(self) -> bool:
        return self._run().done()

    def result(self) -> Any:
        return self._run().result()


class Executor(abc.ABC):
    """Base class: `submit` is the one primitive; `map` is built on it."""

    kind = "base"
    workers = 1
    #: whether calls run in the caller's process (their arguments and results are then the
    #: caller's own objects, never pickled)
    in_process = False

    @abc.abstractmethod
    def submit(self, fn: Callable, *args: Any) -> Handle:
        """Run fn(*args) in a worker; the handle gives its result."""

    def map(self, fn: Callable, arglist: Iterable[tuple], desc: str = "",
            progress: bool = False, weights: list[int] | None = None) -> list:
        """fn(*args) for every tuple, results in order; `weights` (e.g. episodes per call)
        only scale the progress bar."""
        arglist = list(arglist)
        handles = [self.submit(fn, *a) for a in arglist]
        w = weights or [1] * len(handles)
        out = []
        with tqdm(total=sum(w), desc=desc, disable=not progress, leave=False) as bar:
            for h, k in zip(handles, w):
                out.append(h.result())
                bar.update(k)
        return out

    def close(self) -> None:
        pass

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def wait_any(handles: list[Handle], timeout: float | None = None, poll: float = 0.005
             ) -> list[int]:
    """Indices of the handles that are done, waiting until at least one is (or `timeout`)."""
    start = time.monotonic()
    while True:
        ready = [i for i, h in enumerate(handles) if h.done()]
        if ready or not handles or (timeout is not None and time.monotonic() - start >= timeout):
            return ready
        time.sleep(poll)
