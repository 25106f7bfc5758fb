"""The IR verifier, run after every pass in the tests.

Invariants checked:
1. every value is defined exactly once (function params, region params, instruction results);
2. every use is dominated by its definition: defined earlier in the same region, or in an
   enclosing region before the instruction that holds this region, or a region parameter;
3. single-result ops have the type `coarsen.ir.typing.infer` gives their arguments; constants
   match their value;
4. control flow is well formed: IF takes a bool scalar and two parameterless regions yielding
   the result types; FOR takes i64 start/stop/step, its body takes (i64, carried...) and
   yields carried values of the result types; WHILE's cond yields one bool scalar and its body
   yields the carried types; loop parameters, inits and results agree in type.
"""
from __future__ import annotations

from coarsen.errors import InternalError
from coarsen.ir.nodes import Function, Instr, Op, Region, Value
from coarsen.ir.printer import format_function
from coarsen.ir.types import BOOL, I64
from coarsen.ir.typing import TypeRuleError, infer


class _Checker:
    def __init__(self, fn: Function, pass_name: str) -> None:
        self.fn = fn
        self.pass_name = pass_name
        self.defined: set[int] = set()

    def fail(self, message: str, instr: Instr | None = None) -> None:
        excerpt = format_function(self.fn)
        where = f" at {instr.op.value} ({instr.loc})" if instr else ""
        raise InternalError(f"IR verification failed after pass '{self.pass_name}'{where}: "
                            f"{message}\n{excerpt}", instr.loc if instr else None)

    def define(self, value: Value, scope: set[int], instr: Instr | None = None) -> None:
        if value.id in self.defined:
            self.fail(f"value {value.id} is defined twice", instr)
        self.defined.add(value.id)
        scope.add(value.id)

    def use(self, value: Value, scope: set[int], instr: Instr | None) -> None:
        if value.id not in scope:
            self.fail(f"value {value.id} ({value.hint or 'unnamed'}) is used before it is defined", instr)

    def region(self, region: Region, outer: set[int], param_types, yield_types, instr) -> None:
        scope = set(outer)
        if [p.type for p in region.params] != list(param_types):
            self.fail(f"region parameters {[str(p.type) for p in region.params]} != "
                      f"{[str(t) for t in param_types]}", instr)
        for p in region.params:
            self.define(p, scope, instr)
        for inner in region.instrs:
            self.instr(inner, scope)
        for v in region.yields:
            self.use(v, scope, instr)
        if [v.type for v in region.yields] != list(yield_types):
            self.fail(f"region yields {[str(v.type) for v in region.yields]}, expected "
                      f"{[str(t) for t in yield_types]}", instr)

    def instr(self, instr: Instr, scope: set[int]) -> None:
        for a in instr.args:
            self.use(a, scope, instr)
        op, results = instr.op, instr.results
        result_types = [r.type for r in results]
        if op is Op.IF:
            if instr.args[0].type != BOOL or len(instr.regions) != 2:
                self.fail("if needs one bool scalar condition and two regions", instr)
            for region in instr.regions:
                self.region(region, scope, [], result_types, instr)
        elif op is Op.FOR:
            start, stop, step, *inits = instr.args
            if any(v.type != I64 for v in (start, stop, step)):
                self.fail("for bounds must be i64 scalars", instr)
            if [v.type for v in inits] != result_types:
                self.fail("for inits and results differ in type", instr)
            self.region(instr.regions[0], scope, [I64, *result_types], result_types, instr)
        elif op is Op.WHILE:
            if [v.type for v in instr.args] != result_types or len(instr.regions) != 2:
                self.fail("while inits and results differ in type", instr)
            self.region(instr.regions[0], scope, result_types, [BOOL], instr)
            self.region(instr.regions[1], scope, result_types, result_types, instr)
        elif op is Op.CONST:
            if len(results) != 1:
                self.fail("const has one result", instr)
        else:
            try:
                expected = infer(op, [a.type for a in instr.args], instr.attrs)
            except TypeRuleError as err:
                self.fail(str(err), instr)
            if len(results) != 1 or results[0].type != expected:
                self.fail(f"result type {result_types} != {expected}", instr)
        for r in results:
            self.define(r, scope, instr)


def verify(fn: Function, pass_name: str = "frontend") -> Function:
    """Check the invariants above; return fn unchanged, or raise InternalError naming the pass."""
    checker = _Checker(fn, pass_name)
    scope: set[int] = set()
    for p in fn.params:
        checker.define(p, scope)
    for instr in fn.body.instrs:
        checker.instr(instr, scope)
    for v in fn.body.yields:
        checker.use(v, scope, None)
    return fn
