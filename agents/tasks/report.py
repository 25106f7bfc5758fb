"""Regime 2: cross-document report synthesis.

Input: a world, an rng, a difficulty (1: three facts; 2: six; 3: eight, and the customer's
account status must have changed over time). Output: a Task asking for a brief on one
customer; `meta["nuggets"]` lists the facts to cover, each found in a different kind of
document (account profile, deal record, meeting notes), so every task spans >= 3 documents.
Every nugget carries the values that contradict it (`wrong`: another industry, stage, city
or product, a stale status from a superseded note, the previous owner and employee count
from an archived profile, an older deal's stage and amount); `meta["vocab"]` holds every
value of each claim class in the world and `meta["context"]` the customer's true facts that
were not asked.
Grade (see agents/tasks/README.md): nugget recall R (a nugget counts when its value is
stated and no contradicting value is), claim precision P (every distinct vocabulary value or
number the brief states is a claim: correct when it is an asked value, neutral when it is a
true unasked fact about the customer, wrong otherwise), F = 2PR/(P+R), times a length
budget min(1, (100 + 40 n) / characters). Invariants: the canonical answer grades 1.0; a
vocabulary dump, a number grid or a dump of documents scores near 0.
"""
from __future__ import annotations

import random
from typing import Any

from ..world import names as N
from ..world.entities import World
from .base import Regime, Task, register
from .normalize import close, contains_phrase, find_quantities, normalize_text, to_text

# Length budget in characters: about twice the canonical brief (which takes ~25 + 30 n).
BUDGET_BASE, BUDGET_PER_NUGGET = 100, 40
UNASKED = 0.5  # a true but unasked fact costs half a wrong claim: it is noise, not an error
REL_TOL = 0.01  # numbers match within 1%


def _status_history(world: World, cid: str) -> list[tuple[str, str]]:
    """(nid, status) for every note recording this customer's status, oldest first."""
    index = world.__dict__.setdefault("_status_by_customer", {})
    if not index:
        for note in sorted(world.notes.values(), key=lambda n: n.date):
            for c, st in note.statuses:
                index.setdefault(c, []).append((note.nid, st))
    return index.get(cid, [])


def _nugget(field: str, kind: str, cls: str, values: list, wrong: list,
            refs: list[str]) -> dict:
    return {"field": field, "kind": kind, "cls": cls, "values": values,
            "wrong": [w for w in dict.fromkeys(wrong) if w not in values], "refs": refs}


def vocabulary(world: World) -> dict[str, list[str]]:
    """Every value of each text claim class in this world (what a vocabulary dump lists)."""
    cache = world.__dict__.setdefault("_report_vocab", {})
    if not cache:
        cache.update({
            "industry": list(N.INDUSTRIES), "stage": list(N.DEAL_STAGES),
            "status": list(N.STATUSES), "region": list(N.REGIONS), "size": list(N.SIZES),
            "city": sorted({c for cs in N.REGION_CITIES.values() for c in cs}),
            "product": sorted(world.products),
            "person": sorted({p.name for p in world.people.values()})})
    return cache


def generate(world: World, rng: random.Random, difficulty: int) -> Task | None:
    c = rng.choice(list(world.customers.values()))
    history = _status_history(world, c.cid)
    deals = sorted((d for d in world.deals.values() if d.customer == c.cid),
                   key=lambda d: (d.created, d.did))
    if not history or not deals or (len(deals) > 1 and deals[-1].created == deals[-2].created):
        return None
    stale = sorted({s for _, s in history[:-1]} - {history[-1][1]})
    if difficulty == 3 and not stale:
        return None
    vocab = vocabulary(world)
    prof, deal = f"customer:{c.cid}", deals[-1]
    dref, nref = f"deal:{deal.did}", f"note:{history[-1][0]}"
    owner, prev = world.people[c.owner].name, c.previous
    older = deals[:-1]
    # Wrong values: stale and other-deal ones first (the traps), then the rest of the class.
    nuggets = [
        _nugget("industry", "text", "industry", [c.industry], vocab["industry"], [prof]),
        _nugget("latest deal stage", "text", "stage", [deal.stage],
                [d.stage for d in older] + vocab["stage"], [dref]),
        _nugget("account status", "text", "status", [history[-1][1]], stale + vocab["status"],
                [nref]),
    ]
    if difficulty >= 2:
        nuggets += [
            _nugget("account owner", "text", "person", [owner],
                    [world.people[prev.owner].name] if prev else [], [prof]),
            _nugget("headquarters", "text", "city", [c.hq_city], vocab["city"], [prof]),
            _nugget("latest deal amount", "number", "number", [deal.amount],
                    [d.amount for d in older], [dref]),
        ]
    if difficulty >= 3:
        nuggets += [
            _nugget("employees", "number", "number", [c.employees],
                    [prev.employees] if prev else [], [prof]),
            _nugget("products in use", "all", "product", list(c.products),
                    [p for p in vocab["product"] if p not in c.products], [prof]),
        ]
    fields = ", ".join(n["field"] for n in nuggets)
    question = (f"Write a short brief on the customer {c.name}. Cover: {fields}. Use the "
                f"latest information and the most recent deal.")
    refs = [r for n in nuggets for r in n["refs"]]
    key = f"report:{c.cid}:{difficulty}"
    # True facts about the customer: stating them is neither rewarded nor penalised.
    context = {"text": [c.industry, c.hq_city, c.region, c.size, owner, deal.stage,
                        history[-1][1], *c.products],
               "number": [c.employees, c.revenue, deal.amount]}
    return Task("", "report", difficulty, question, _reference(c.name, nuggets), "report",
                world.docs_for(*dict.fromkeys(refs)), key,
                {"customer": c.name, "nuggets": nuggets, "vocab": vocab, "context": context})


def _reference(name: str, nuggets: list[dict]) -> str:
    def show(n: dict) -> str:
        if n["kind"] == "number":
            return f"{n['values'][0]:,}"
        return ", ".join(str(v) for v in n["values"])
    return f"Brief on {name}. " + " ".join(f"{n['field'].capitalize()}: {show(n)}."
                                           for n in nuggets)


def _stated(norm: str, numbers: list[float], kind: str, value: Any) -> bool:
    if kind == "number":
        return any(close(x, float(value), REL_TOL) for x in numbers)
    return contains_phrase(norm, str(value))


def _is_claim_number(x: float) -> bool:
    """Numbers that state a fact: not years (ambiguous with dates) and not small counts."""
    return abs(x) >= 10 and not (x == int(x) and 1900 <= x <= 2100)


def claims(task: Task, answer: Any) -> dict[str, set]:
    """The distinct claims of an answer, split into correct, wrong and neutral ones."""
    meta = task.meta
    text = to_text(answer)
    norm = f" {normalize_text(text)} ".replace(f" {normalize_text(meta['customer'])} ", " ")
    gold = {normalize_text(v) for n in meta["nuggets"] if n["kind"] != "number"
            for v in n["values"]}
    gold_num = [float(v) for n in meta["nuggets"] if n["kind"] == "number" for v in n["values"]]
    ctx = meta.get("context", {})
    neutral = {normalize_text(v) for v in ctx.get("text", [])} - gold
    ctx_num = [float(v) for v in ctx.get("number", [])]
    out: dict[str, set] = {"correct": set(), "wrong": set(), "neutral": set()}
    vocab = {normalize_text(v) for vs in meta.get("vocab", {}).values() for v in vs}
    vocab |= {normalize_text(w) for n in meta["nuggets"] if n["kind"] != "number"
              for w in n["wrong"]} | gold
    for v in vocab:
        if v and f" {v} " in norm:
            out["correct" if v in gold else "neutral" if v in neutral else "wrong"].add(v)
    for q in find_quantities(text):
        x = q.value
        if q.percent or not _is_claim_number(x):
            continue
        key = f"{x:.6g}"
        if any(close(x, g, REL_TOL) for g in gold_num):
            out["correct"].add(key)
        elif any(close(x, g, REL_TOL) for g in ctx_num):
            out["neutral"].add(key)
        else:
            out["wrong"].add(key)
    return out


def grade(task: Task, answer: Any) -> float:
    text = to_text(answer)
    norm = normalize_text(text)
    numbers = [q.value for q in find_quantities(text) if not q.percent]
    nuggets = task.meta["nuggets"]
    recalled = 0
    for n in nuggets:
        kind = "text" if n["kind"] == "all" else n["kind"]
        hit = (all if n["kind"] == "all" else any)(
            _stated(norm, numbers, kind, v) for v in n["values"])
        contradicted = any(_stated(norm, numbers, kind, v) for v in n["wrong"])
        recalled += hit and not contradicted
    c = claims(task, answer)
    good, bad = len(c["correct"]), len(c["wrong"])
    if not recalled or not good:
        return 0.0
    recall = recalled / len(nuggets)
    precision = good / (good + bad + UNASKED * len(c["neutral"]))
    f = 2 * precision * recall / (precision + recall)
    budget = BUDGET_BASE + BUDGET_PER_NUGGET * len(nuggets)
    return f * min(1.0, budget / max(1, len(text)))


REGIME = register(Regime(
    "report", "cross-document report synthesis",
    "a short prose brief (string) covering the requested facts", generate, grade))
