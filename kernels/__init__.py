"""kernels: compile generated source for a target and run it (knows nothing of differentiation).

Public API: `compile_source`, `TARGETS`, `TargetUnavailable` (from `kernels.targets`), loaded on
first use (PEP 562) so that `import kernels` costs nothing; Numba is imported only when a
"cpu" or "cuda" program is compiled. `kernels.locations.warn` attributes warnings to the
user's line.
"""
from __future__ import annotations

import importlib
from typing import Any

_LAZY = {"compile_source": "kernels.targets", "TARGETS": "kernels.targets",
         "TargetUnavailable": "kernels.targets"}

__all__ = ["compile_source", "TARGETS", "TargetUnavailable"]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'kernels' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
