"""The Ray executor: one actor per worker, on a cluster or on a local Ray started here.

Input/Output: see `base.Executor`. `address` is a running cluster's address ("auto",
"ray://host:10001", "host:6379"); without one, a local Ray is started with two CPUs on
127.0.0.1 (no dashboard) and shut down by `close`.
Invariants: each actor runs `init(*initargs)` in its constructor, so a restarted actor is set
up again before it takes calls; actors restart without limit and retry their unfinished calls
(`max_restarts=-1`, `max_task_retries=-1`), which is safe because a call's result depends only
on its arguments; calls go to the actor with the fewest calls in flight, and results do not
depend on which actor ran them. No wait on Ray is unbounded: an address where nothing listens
is an error after `AGENTS_RAY_CONNECT_TIMEOUT` seconds (default 60); the actors must be up (placed,
`init` run) within `start_timeout` seconds (`AGENTS_RAY_START_TIMEOUT`, default 600), else a
clear error instead of a hang; and while calls are in flight, one of them must finish at least
every `call_timeout` seconds (`AGENTS_RAY_CALL_TIMEOUT`, default 1800; actor restarts and
retries happen inside that time), else the waiting handle is done and `result()` raises
`RayCallTimeout` saying so. The clock is the executor's progress, not each call's age, so a
long queue of calls (a large `map`) is not mistaken for a stuck actor; a single call may take
up to `call_timeout`.
"""
from __future__ import annotations

import os
import socket
import time
import warnings
from pathlib import Path
from typing import Any, Callable

from .base import Executor, Handle

CONNECT_TIMEOUT = float(os.environ.get("AGENTS_RAY_CONNECT_TIMEOUT", 60))
START_TIMEOUT = float(os.environ.get("AGENTS_RAY_START_TIMEOUT", 600))
CALL_TIMEOUT = float(os.environ.get("AGENTS_RAY_CALL_TIMEOUT", 1800))


class RayCallTimeout(TimeoutError):
    """The actors did not start, or no call finished, within the executor's timeout."""

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


def check_reachable(address: str, timeout: float | None = None) -> None:
    """A `host:port` or `ray://host:port` address must accept a TCP connection within
    `timeout` seconds (`AGENTS_RAY_CONNECT_TIMEOUT`, default 60), else `ConnectionError`:
    `ray.init` itself retries an address where nothing listens for ever (measured with Ray
    2.60: still waiting after 5 minutes). "auto" and other forms are left to Ray."""
    timeout = CONNECT_TIMEOUT if timeout is None else timeout
    host, _, port = address.split("://", 1)[-1].rpartition(":")
    if not port.isdigit():
        return
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((host or "127.0.0.1", int(port)),
                                     timeout=max(0.1, min(5.0, timeout))).close()
            return
        except OSError as e:
            if time.monotonic() >= deadline:
                raise ConnectionError(
                    f"no Ray cluster answers at {address} ({e}; tried for {timeout:g} s): "
                    f"start one (ray start --head --port PORT) or leave --ray-address empty "
                    f"for a private local Ray") from None
            time.sleep(0.5)


def connect(address: str | None = None, num_cpus: int = 2) -> None:
    """Join the Ray cluster at `address`, or start a private local Ray: `num_cpus` CPUs, on
    the loopback interface (nothing listens beyond 127.0.0.1), no dashboard. Either way the
    job's workers import this checkout's code (see `_code_path`). An address where nothing
    listens is a `ConnectionError` after `AGENTS_RAY_CONNECT_TIMEOUT` seconds, not a hang."""
    warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called")  # see local.py
    env = {"env_vars": {"PYTHONPATH": _code_path()}}
    if address:
        check_reachable(address)
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
    """A call on an actor: pending, then finished (its value or error in Ray's object store)
    or timed out (no call of the executor finished for `call_timeout` seconds)."""

    def __init__(self, ref: Any, slot: int, ex: "RayExecutor", fn: Callable):
        self.ref, self.slot, self.ex = ref, slot, ex
        self.name = getattr(fn, "__name__", repr(fn))
        self.state = "pending"

    def _settle(self, state: str) -> None:
        if self.state == "pending":
            self.state = state
            self.ex.in_flight[self.slot] -= 1
            self.ex.pending.remove(self)

    def done(self) -> bool:
        if self.state == "pending":
            self.ex._observe(0)
            if self.state == "pending" and self.ex._stall_left() <= 0:
                self._settle("timeout")
        return self.state != "pending"

    def result(self) -> Any:
        while self.state == "pending":
            left = self.ex._stall_left()
            if left <= 0:
                self._settle("timeout")
                break
            self.ex._observe(min(left, 1.0))
        if self.state == "timeout":
            raise RayCallTimeout(
                f"{self.name!r} on Ray actor {self.slot}: no call on the {self.ex.workers} "
                f"actors finished for {self.ex.call_timeout:g} s while calls were in flight "
                f"(actor restarts and retries included): an actor is stuck or cannot restart "
                f"on the cluster; set AGENTS_RAY_CALL_TIMEOUT to wait longer")
        return ray.get(self.ref)  # finished: at once (raises the call's error, if any)


class RayExecutor(Executor):
    kind = "ray"

    def __init__(self, workers: int = 2, init: Callable | None = None, initargs: tuple = (),
                 address: str | None = None, num_cpus: int = 2,
                 start_timeout: float | None = None, call_timeout: float | None = None):
        if workers < 1:
            raise ValueError(f"workers must be >= 1, not {workers}")
        self.workers = workers
        self.call_timeout = CALL_TIMEOUT if call_timeout is None else float(call_timeout)
        self.start_timeout = START_TIMEOUT if start_timeout is None else float(start_timeout)
        self.pending: list[RayHandle] = []
        self.progress_at = time.monotonic()  # the last time a call finished (or work began)
        self.started = False
        if not ray.is_initialized():
            connect(address, num_cpus)
            self.started = not address
        need = 1 if address else 0
        actor = ray.remote(num_cpus=need, max_restarts=-1, max_task_retries=-1)(_Worker)
        self.actors = [actor.remote(init, tuple(initargs)) for _ in range(workers)]
        self.in_flight = [0] * workers
        try:  # the actors are up (placed on the cluster, `init` run), or a clear error
            self.worker_pids(self.start_timeout)
        except ray.exceptions.GetTimeoutError:
            self.close()
            raise RayCallTimeout(
                f"{workers} Ray actors ({need} CPU each) did not start within "
                f"{self.start_timeout:g} s: the cluster may lack free CPUs; set "
                f"AGENTS_RAY_START_TIMEOUT to wait longer") from None
        except BaseException:   # a failing init, Ctrl-C: no actors left behind, the error as is
            self.close()
            raise

    def _observe(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for any call in flight to finish; settle every
        finished one (which restarts the progress clock)."""
        refs = [h.ref for h in self.pending]
        if not refs:
            return
        ready, _ = ray.wait(refs, num_returns=1, timeout=timeout)
        if ready:
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
            done = set(ready)
            for h in [h for h in self.pending if h.ref in done]:
                h._settle("finished")
            self.progress_at = time.monotonic()

    def _stall_left(self) -> float:
        """Seconds until the executor counts as stuck (no call finished for call_timeout)."""
        return self.call_timeout - (time.monotonic() - self.progress_at)

    def submit(self, fn: Callable, *args: Any) -> Handle:
        if not self.actors:
            raise RuntimeError("the executor is closed")
        slot = min(range(self.workers), key=self.in_flight.__getitem__)
        if not self.pending:  # work begins: the progress clock starts now
            self.progress_at = time.monotonic()
        self.in_flight[slot] += 1
        h = RayHandle(self.actors[slot].call.remote(fn, *args), slot, self, fn)
        self.pending.append(h)
        return h

    def worker_pids(self, timeout: float | None = None) -> list[int]:
        """The actors' processes (for tests that kill one); waits at most `timeout` seconds
        (default: the call timeout), else `ray.exceptions.GetTimeoutError`."""
        return ray.get([a.pid.remote() for a in self.actors],
                       timeout=self.call_timeout if timeout is None else timeout)

    def close(self) -> None:
        for a in self.actors:
            ray.kill(a, no_restart=True)
        self.actors = []
        if self.started:
            ray.shutdown()
            self.started = False
