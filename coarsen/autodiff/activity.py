"""Activity analysis: which values need an adjoint.

A value is *varied* if it depends on a differentiated parameter and *useful* if the
differentiated outputs depend on it; only float values that are both are *active*. Both are
reachability questions on the dataflow graph (networkx), whose edges follow data through ops,
IF joins (yields -> results) and loops (inits and yields -> loop parameters and results).
Edges whose derivative is zero everywhere (into integer/bool values, floor division, sign,
comparisons) are left out, so no adjoint code is emitted for them.
"""
from __future__ import annotations

import networkx as nx

from coarsen.ir.nodes import Function, Op, Region
from coarsen.ops import REGISTRY

# ops with a zero derivative: these, and every registry entry declared not differentiable
_ZERO_DERIVATIVE = frozenset({Op.SHAPE, Op.ZEROS, Op.ONES, Op.EMPTY, Op.CONST}) | frozenset(
    Op[s.member] for s in REGISTRY.entries.values() if not s.differentiable)


def dataflow_graph(fn: Function) -> nx.DiGraph:
    g = nx.DiGraph()
    for p in fn.params:
        g.add_node(p.id)

    def float_edge(src, dst) -> None:
        if dst.type.dtype == "f64" and src.type.dtype == "f64":
            g.add_edge(src.id, dst.id)

    def visit(region: Region) -> None:
        for instr in region.instrs:
            for r in instr.results:
                g.add_node(r.id)
            if instr.op is Op.IF:
                for sub in instr.regions:
                    visit(sub)
                    for y, r in zip(sub.yields, instr.results):
                        float_edge(y, r)
            elif instr.op in (Op.FOR, Op.WHILE):
                inits = instr.args[3:] if instr.op is Op.FOR else instr.args
                for sub in instr.regions:
                    visit(sub)
                    params = sub.params[1:] if instr.op is Op.FOR else sub.params
                    for init, p in zip(inits, params):
                        float_edge(init, p)
                body = instr.regions[-1]
                body_params = body.params[1:] if instr.op is Op.FOR else body.params
                for k, (init, y, r) in enumerate(zip(inits, body.yields, instr.results)):
                    float_edge(init, r)
                    float_edge(y, r)
                    for sub in instr.regions:   # the back edge feeds every region's params
                        params = sub.params[1:] if instr.op is Op.FOR else sub.params
                        float_edge(y, params[k])
            elif instr.op not in _ZERO_DERIVATIVE:
                differentiable = instr.args
                if instr.op in (Op.GETITEM, Op.SETITEM):
                    differentiable = [instr.args[0]] + ([instr.args[-1]] if instr.op is Op.SETITEM else [])
                if instr.op in (Op.WHERE,):
                    differentiable = instr.args[1:]
                for a in differentiable:
                    for r in instr.results:
                        float_edge(a, r)
    visit(fn.body)
    return g


def active_values(fn: Function, wrt: list[int], outputs: list[int]) -> set[int]:
    """Ids of active values for differentiating `outputs` (value ids) w.r.t. params `wrt`."""
    g = dataflow_graph(fn)
    varied: set[int] = set()
    for w in wrt:
        varied.add(w)
        varied |= nx.descendants(g, w)
    useful: set[int] = set()
    for o in outputs:
        if o in g:
            useful.add(o)
            useful |= nx.ancestors(g, o)
    return varied & useful
