"""The IR: structured SSA with typed values (see `nodes`).

Names load on first use (PEP 562): `coarsen.ir.types` (what a cached program's metadata needs)
must not pull in the nodes' op table and, through it, phicalc and SymPy.
"""
from __future__ import annotations

import importlib
from typing import Any

_LAZY = {"Builder": "builder", "interpret": "interpreter", "Function": "nodes", "Instr": "nodes",
         "Op": "nodes", "Region": "nodes", "Value": "nodes", "walk": "nodes",
         "format_function": "printer", "BOOL": "types", "F64": "types", "I64": "types",
         "Type": "types", "verify": "verifier"}

__all__ = ["Builder", "Function", "Instr", "Op", "Region", "Value", "Type", "F64", "I64", "BOOL",
           "interpret", "format_function", "verify", "walk"]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'coarsen.ir' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"coarsen.ir.{_LAZY[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
