"""Compile generated Python source for a target.

`compile_source(source, name, target)` returns the function `name` defined by `source`. The
source is registered with `linecache` under a readable pseudo-file name, so tracebacks and
pdb show the generated code. Targets: "numpy" (plain Python + NumPy, the reference).
"""
from __future__ import annotations

import hashlib
import linecache
from typing import Any, Callable

import numpy as np

from kernels import runtime

TARGETS = ("numpy",)


class TargetUnavailable(RuntimeError):
    pass


def _namespace() -> dict[str, Any]:
    return {"np": np, "rt": runtime}


def compile_source(source: str, name: str, target: str = "numpy", label: str = "") -> Callable:
    if target not in TARGETS:
        raise TargetUnavailable(f"unknown target {target!r}; available: {', '.join(TARGETS)}")
    digest = hashlib.sha1(source.encode()).hexdigest()[:10]
    filename = f"<coarsen {label or name} {digest}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace = _namespace()
    exec(compile(source, filename, "exec"), namespace)   # generated source only
    return namespace[name]
