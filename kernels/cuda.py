"""The "cuda" target (optional: `pip install coarsen[gpu]` brings numba-cuda and cupy)."""
from __future__ import annotations

from typing import Callable


def compile_cuda(source: str, name: str, label: str) -> Callable:
    try:
        import numba.cuda  # noqa: F401
    except ImportError as err:
        from kernels.targets import TargetUnavailable
        raise TargetUnavailable("target 'cuda' needs numba-cuda and cupy: pip install 'coarsen[gpu]'") from err
    from kernels.targets import TargetUnavailable
    raise TargetUnavailable("target 'cuda' compiles vmap kernels only: use coarsen.vmap(f, target='cuda')")
