"""The contenders: each turns (benchmark, case) into a zero-argument gradient call.

`Peer.prepare(bench, case)` returns a `Prepared`: `call()` computes the gradient once (the
thing timed), `to_numpy(result)` turns its result into a NumPy array for the agreement check
(not timed), `compile_s` is the first call's time (tracing + compiling + one run), or None for
peers that compile nothing. Which sizes a peer skips is the benchmark's `limits`.

Peers import their library lazily, so a missing one skips itself instead of failing the run.
"""
from __future__ import annotations

import abc
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from benchmarks.backends import autograd_numpy, jax_numpy, rebind, torch_numpy


@dataclass
class Prepared:
    call: Callable[[], Any]
    to_numpy: Callable[[Any], np.ndarray] = np.asarray
    compile_s: float | None = None
    note: str = ""


def _first_call(call: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    out = call()
    return out, time.perf_counter() - start


class Peer(abc.ABC):
    name = ""
    library = ""      # module whose absence skips the peer
    isolated = False  # timed in a child process (see harness._run_isolated)

    def available(self) -> str | None:
        """None if the peer can run here, else why not."""
        if not self.library:
            return None
        try:
            __import__(self.library)
        except ImportError:
            return f"{self.library} is not installed (pip install '.[bench]')"
        return None

    @abc.abstractmethod
    def prepare(self, bench, case) -> Prepared:
        """Build the gradient call for this case, compiling it."""


# ---------------------------------------------------------------------- coarsen
class CoarsenGrad(Peer):
    """`coarsen.grad(program, target=...)` through the public API (what a user calls)."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.name = "coarsen grad"

    def prepare(self, bench, case) -> Prepared:
        import coarsen
        g = coarsen.grad(bench.program, argnums=case.argnum, target=self.target)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _, first = _first_call(lambda: g(*case.args))
        note = "; ".join(str(w.message) for w in caught if "coarsen" in str(w.message))
        return Prepared(lambda: g(*case.args), compile_s=first, note=note)


class CoarsenPrimal(Peer):
    """coarsen's compiled primal (`coarsen.jit`), or the plain Python function where coarsen
    has no `jit` yet: the denominator of the cheap-gradient ratio."""

    def __init__(self, target: str) -> None:
        import coarsen
        self.target = target
        self.compiled = hasattr(coarsen, "jit")
        self.name = "coarsen primal"
        self.kind = f"coarsen.jit[{target}]" if self.compiled else "plain Python/NumPy"

    def prepare(self, bench, case) -> Prepared:
        if not self.compiled:
            return Prepared(lambda: bench.program(*case.args), to_numpy=lambda v: np.float64(v))
        import coarsen
        f = coarsen.jit(bench.program, target=self.target)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _, first = _first_call(lambda: f(*case.args))
        note = "; ".join(str(w.message) for w in caught if "coarsen" in str(w.message))
        return Prepared(lambda: f(*case.args), to_numpy=lambda v: np.float64(v), compile_s=first, note=note)


# ---------------------------------------------------------------------- hand-written Numba
class HandNumba(Peer):
    """The benchmark's hand-written Numba gradient: the practical limit on this machine."""

    name = "hand numba"
    library = "numba"

    def prepare(self, bench, case) -> Prepared:
        _, first = _first_call(lambda: bench.hand_grad(*case.args))
        return Prepared(lambda: bench.hand_grad(*case.args), compile_s=first)


# ---------------------------------------------------------------------- JAX
class JaxJitGrad(Peer):
    """`jax.jit(jax.grad(f))`; Python ints (trip counts, sizes) are static arguments."""

    name = "jax jit(grad)"
    library = "jax"

    def prepare(self, bench, case) -> Prepared:
        import jax
        import jax.numpy as jnp
        program = bench.jax_program or bench.immutable_program or bench.program
        f = rebind(program, jax_numpy())
        # Python numbers other than the differentiated argument are constants of the program
        # (trip counts, sizes, hyperparameters such as GMM's gamma that `math.log` reads)
        static = tuple(i for i, a in enumerate(case.args)
                       if isinstance(a, int) or (isinstance(a, float) and i != case.argnum))
        g = jax.jit(jax.grad(f, argnums=case.argnum), static_argnums=static)
        args = tuple(a if i in static else jnp.asarray(a) for i, a in enumerate(case.args))

        def call():
            return g(*args).block_until_ready()
        _, first = _first_call(call)
        note = f"runs {program.__name__} (see the module docstring)" if program is not bench.program else ""
        return Prepared(call, compile_s=first, note=note)


# ---------------------------------------------------------------------- PyTorch
def _torch_args(case) -> tuple:
    import torch
    return tuple(torch.from_numpy(a) if isinstance(a, np.ndarray) else
                 torch.tensor(a, dtype=torch.float64) if i == case.argnum else a
                 for i, a in enumerate(case.args))


class TorchEager(Peer):
    """Eager torch with `torch.autograd.grad` (the program run op by op, then backward)."""

    name = "torch eager"
    library = "torch"

    def __init__(self) -> None:
        self.compiled = False

    def forward(self, bench):
        # a torch user writes state updates functionally too: autograd refuses an in-place
        # write into a tensor the backward needs (the LSTM's state rows)
        return rebind(bench.immutable_program or bench.program, torch_numpy())

    def prepare(self, bench, case) -> Prepared:
        import torch
        torch.set_num_threads(1)
        f = self.forward(bench)
        args = list(_torch_args(case))
        x = args[case.argnum].detach().clone().requires_grad_(True)
        args[case.argnum] = x

        def call():
            (g,) = torch.autograd.grad(f(*args), x)
            return g
        out, first = _first_call(call)
        return Prepared(call, to_numpy=lambda g: g.detach().numpy(),
                        compile_s=first if self.compiled else None)


class TorchCompile(TorchEager):
    """`torch.compile` (inductor) of the forward; AOTAutograd compiles the backward.

    Timed in a child process: with it in the process, coarsen's CartPole gradient call went
    from 1.7 us to 5-34 us (dynamo's frame hooks), which would skew every other ratio."""

    name = "torch.compile"
    isolated = True

    def __init__(self) -> None:
        self.compiled = True

    def forward(self, bench):
        import torch
        return torch.compile(rebind(bench.immutable_program or bench.program, torch_numpy()), dynamic=False)


class TorchFuncGrad(Peer):
    """`torch.func.grad` (functorch transform, eager)."""

    name = "torch.func.grad"
    library = "torch"

    def prepare(self, bench, case) -> Prepared:
        import torch
        torch.set_num_threads(1)
        g = torch.func.grad(rebind(bench.immutable_program or bench.program, torch_numpy()),
                            argnums=case.argnum)
        args = _torch_args(case)
        return Prepared(lambda: g(*args), to_numpy=lambda v: v.detach().numpy())


# ---------------------------------------------------------------------- HIPS autograd
class HipsAutograd(Peer):
    name = "autograd"
    library = "autograd"

    def prepare(self, bench, case) -> Prepared:
        import autograd
        program = bench.immutable_program or bench.program
        g = autograd.grad(rebind(program, autograd_numpy()), case.argnum)
        note = f"runs {program.__name__}" if program is not bench.program else ""
        return Prepared(lambda: g(*case.args), note=note)


def all_peers(target: str) -> list[Peer]:
    """coarsen first (the reference every other gradient is checked against)."""
    return [CoarsenGrad(target), CoarsenPrimal(target), HandNumba(), JaxJitGrad(), TorchEager(),
            TorchFuncGrad(), TorchCompile(), HipsAutograd()]
