"""The public entry points of coarsen."""
from __future__ import annotations

from typing import Any

from coarsen.frontend import trace as _trace
from coarsen.ir import Function, format_function


def trace(fn: Any, *example_args: Any) -> Function:
    """The verified IR of `fn` specialised to the types and ranks of `example_args`."""
    return _trace(fn, *example_args)


def explain(fn: Any, *example_args: Any, file=None) -> str:
    """Print (and return) what coarsen makes of `fn` for these argument types: the IR."""
    text = format_function(trace(fn, *example_args))
    print(text, file=file)
    return text
