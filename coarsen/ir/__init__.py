"""The IR: structured SSA with typed values (see `nodes`)."""
from coarsen.ir.builder import Builder
from coarsen.ir.interpreter import interpret
from coarsen.ir.nodes import Function, Instr, Op, Region, Value, walk
from coarsen.ir.printer import format_function
from coarsen.ir.types import BOOL, F64, I64, Type
from coarsen.ir.verifier import verify

__all__ = ["Builder", "Function", "Instr", "Op", "Region", "Value", "Type", "F64", "I64", "BOOL",
           "interpret", "format_function", "verify", "walk"]
