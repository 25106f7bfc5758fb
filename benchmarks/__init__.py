"""Peer benchmarks of coarsen: the coarsening paper's applications against JAX, PyTorch, HIPS
autograd and a hand-written Numba gradient.

    python -m benchmarks [--quick] [--target cpu|numpy] [--only hookean,cartpole]
    python -m benchmarks.hookean              # one application alone

Every peer runs on one thread. The thread settings live here, in the package's `__init__`,
because `python -m benchmarks.x` imports this file before any module that loads NumPy, JAX
or torch (they read these variables once, at import). Values set by the caller win.
"""
import os as _os

for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS",
              "TORCHINDUCTOR_COMPILE_THREADS"):
    _os.environ.setdefault(_name, "1")
_os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
_os.environ.setdefault("JAX_ENABLE_X64", "1")
# steady-state timings measure machine code: compile synchronously (no NumPy first tier);
# `benchmarks.startup` sets COARSEN_TIERED for its processes itself
_os.environ.setdefault("COARSEN_TIERED", "0")
_os.environ.setdefault("JAX_PLATFORMS", "cpu")
