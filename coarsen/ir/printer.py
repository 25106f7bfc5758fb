"""The one text form of the IR, deterministic and meant for a terminal.

    func f(%x: f64, %n: i64) -> (f64):
      %s = for %i = 0 to %n step 1 iter(%s.1 = %x) -> (f64):
        %s.2 = mul %s.1, 2.0
        yield %s.2
      return %s

Scalar constants print inline at their uses; names come from the source variable names.
"""
from __future__ import annotations

from coarsen.ir.nodes import Function, Instr, Op, Region, Value


class _Namer:
    def __init__(self, hints: dict[int, str] | None = None) -> None:
        self.hints = hints or {}
        self.names: dict[int, str] = {}
        self.taken: set[str] = set()
        self.inline: dict[int, str] = {}
        self.counter = 0

    def define(self, value: Value) -> str:
        base = value.hint or self.hints.get(value.id, "")
        if base:
            name, k = base, 1
            while name in self.taken:
                name = f"{base}.{k}"
                k += 1
        else:
            name = str(self.counter)
            while name in self.taken:
                self.counter += 1
                name = str(self.counter)
            self.counter += 1
        self.taken.add(name)
        self.names[value.id] = "%" + name
        return self.names[value.id]

    def use(self, value: Value) -> str:
        if value.id in self.inline:
            return self.inline[value.id]
        return self.names.get(value.id, f"%<undefined {value.id}>")


def _types(values) -> str:
    return "(" + ", ".join(str(v.type) for v in values) + ")"


def _index(instr: Instr, namer: _Namer) -> str:
    args = list(instr.args[1:])
    parts = []
    for p in instr.attrs["index"]:
        if p in ("i", "a"):
            parts.append(namer.use(args.pop(0)))
        elif p == "n":
            parts.append("None")
        else:
            lo = namer.use(args.pop(0)) if p[1] == "1" else ""
            hi = namer.use(args.pop(0)) if p[2] == "1" else ""
            st = ":" + namer.use(args.pop(0)) if p[3] == "1" else ""
            parts.append(f"{lo}:{hi}{st}")
    return ", ".join(parts), args


def _print_region(region: Region, namer: _Namer, indent: int, lines: list[str]) -> None:
    pad = "  " * indent
    for instr in region.instrs:
        _print_instr(instr, namer, indent, lines)
    lines.append(f"{pad}yield " + ", ".join(namer.use(v) for v in region.yields))


def _print_instr(instr: Instr, namer: _Namer, indent: int, lines: list[str]) -> None:
    pad = "  " * indent
    op = instr.op
    if op is Op.CONST and instr.result.type.rank == 0:
        namer.inline[instr.result.id] = repr(instr.attrs["value"])
        return
    if op in (Op.IF, Op.FOR, Op.WHILE):
        lhs = ", ".join(namer.define(v) for v in instr.results)
        lhs = f"{lhs} = " if lhs else ""
        if op is Op.IF:
            lines.append(f"{pad}{lhs}if {namer.use(instr.args[0])} -> {_types(instr.results)}:")
            for label, region in zip(("then", "else"), instr.regions):
                lines.append(f"{pad}  {label}:")
                _print_region(region, namer, indent + 2, lines)
            return
        if op is Op.FOR:
            start, stop, step, *inits = instr.args
            body = instr.regions[0]
            index = namer.define(body.params[0])
            carried = ", ".join(f"{namer.define(p)} = {namer.use(v)}" for p, v in zip(body.params[1:], inits))
            lines.append(f"{pad}{lhs}for {index} = {namer.use(start)} to {namer.use(stop)} step "
                         f"{namer.use(step)} iter({carried}) -> {_types(instr.results)}:")
            _print_region(body, namer, indent + 1, lines)
            return
        cond, body = instr.regions
        carried = ", ".join(f"{namer.define(p)} = {namer.use(v)}" for p, v in zip(cond.params, instr.args))
        for p, q in zip(body.params, cond.params):
            namer.names[p.id] = namer.names[q.id]
        lines.append(f"{pad}{lhs}while iter({carried}) -> {_types(instr.results)}:")
        lines.append(f"{pad}  cond:")
        _print_region(cond, namer, indent + 2, lines)
        lines.append(f"{pad}  body:")
        _print_region(body, namer, indent + 2, lines)
        return
    if op in (Op.GETITEM, Op.SETITEM):
        index, rest = _index(instr, namer)
        operand = f"{namer.use(instr.args[0])}[{index}]"
        if op is Op.SETITEM:
            operand += f", {namer.use(rest[0])}" + (" {add}" if instr.attrs.get("add") else "")
        text = f"{op.value} {operand}"
    else:
        text = op.value + (" " if instr.args else "") + ", ".join(namer.use(a) for a in instr.args)
        attrs = {k: v for k, v in instr.attrs.items()}
        if op is Op.CONST:
            text += f" <array {attrs.pop('value').shape}>"
        if attrs:
            text += " {" + ", ".join(f"{k}={v!r}" for k, v in sorted(attrs.items())) + "}"
    lhs = ", ".join(namer.define(v) for v in instr.results)
    lines.append(f"{pad}{lhs} = {text} : {instr.result.type}")


def format_function(fn: Function) -> str:
    namer = _Namer(fn.names)
    params = ", ".join(f"{namer.define(p)}: {p.type}" for p in fn.params)
    lines = [f"func {fn.name}({params}) -> {_types(fn.results)}:"]
    for instr in fn.body.instrs:
        _print_instr(instr, namer, 1, lines)
    lines.append("  return " + ", ".join(namer.use(v) for v in fn.results))
    return "\n".join(lines)


def format_region(region: Region) -> str:
    namer = _Namer()
    for p in region.params:
        namer.define(p)
    lines: list[str] = []
    _print_region(region, namer, 0, lines)
    return "\n".join(lines)
