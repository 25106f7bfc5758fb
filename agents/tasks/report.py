"""Regime 2: cross-document report synthesis.

Input: a world, an rng, a difficulty (1: three facts; 2: six; 3: eight, and the customer's
account status must have changed over time). Output: a Task asking for a brief on one
customer; `meta["nuggets"]` lists the facts to cover, each found in a different kind of
document (account profile, deal record, meeting notes), so every task spans >= 3 documents.
Grade: nugget recall with a penalty: a nugget scores +1 when its value is stated, and -1 when
a contradicting value is stated (a stale status from a superseded note, the previous account
owner from an archived profile, another industry, a stale employee count); the score is
max(0, sum) / number of nuggets. Invariants: the canonical answer (a short brief) grades 1.0.
"""
from __future__ import annotations

import random
from typing import Any

from ..world import names as N
from ..world.entities import World
from .base import Regime, Task, register
from .normalize import close, contains_phrase, find_quantities, normalize_text, to_text


def _status_history(world: World, cid: str) -> list[tuple[str, str]]:
    """(nid, status) for every note recording this customer's status, oldest first."""
    index = world.__dict__.setdefault("_status_by_customer", {})
    if not index:
        for note in sorted(world.notes.values(), key=lambda n: n.date):
            for c, st in note.statuses:
                index.setdefault(c, []).append((note.nid, st))
    return index.get(cid, [])


def _nugget(field: str, kind: str, values: list, wrong: list, refs: list[str]) -> dict:
    return {"field": field, "kind": kind, "values": values, "wrong": wrong, "refs": refs}


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
    prof, deal = f"customer:{c.cid}", deals[-1]
    dref, nref = f"deal:{deal.did}", f"note:{history[-1][0]}"
    owner, prev = world.people[c.owner].name, c.previous
    nuggets = [
        _nugget("industry", "text", [c.industry], [i for i in N.INDUSTRIES if i != c.industry],
                [prof]),
        _nugget("latest deal stage", "text", [deal.stage], [], [dref]),
        _nugget("account status", "text", [history[-1][1]], stale, [nref]),
    ]
    if difficulty >= 2:
        nuggets += [
            _nugget("account owner", "text", [owner],
                    [world.people[prev.owner].name] if prev else [], [prof]),
            _nugget("headquarters", "text", [c.hq_city], [], [prof]),
            _nugget("latest deal amount", "number", [deal.amount], [], [dref]),
        ]
    if difficulty >= 3:
        nuggets += [
            _nugget("employees", "number", [c.employees], [prev.employees] if prev else [],
                    [prof]),
            _nugget("products in use", "all", list(c.products), [], [prof]),
        ]
    fields = ", ".join(n["field"] for n in nuggets)
    question = (f"Write a short brief on the customer {c.name}. Cover: {fields}. Use the "
                f"latest information and the most recent deal.")
    refs = [r for n in nuggets for r in n["refs"]]
    key = f"report:{c.cid}:{difficulty}"
    return Task("", "report", difficulty, question, _reference(c.name, nuggets), "report",
                world.docs_for(*dict.fromkeys(refs)), key,
                {"customer": c.name, "nuggets": nuggets})


def _reference(name: str, nuggets: list[dict]) -> str:
    def show(n: dict) -> str:
        if n["kind"] == "number":
            return f"{n['values'][0]:,}"
        return ", ".join(str(v) for v in n["values"])
    return f"Brief on {name}. " + " ".join(f"{n['field'].capitalize()}: {show(n)}."
                                           for n in nuggets)


def _stated(norm: str, numbers: list[float], kind: str, value: Any) -> bool:
    if kind == "number":
        return any(close(x, float(value), 0.01) for x in numbers)
    return contains_phrase(norm, str(value))


def grade(task: Task, answer: Any) -> float:
    text = to_text(answer)
    norm = normalize_text(text)
    numbers = [q.value for q in find_quantities(text) if not q.percent]
    total = 0
    for n in task.meta["nuggets"]:
        kind = n["kind"]
        if kind == "all":
            hit = all(_stated(norm, numbers, "text", v) for v in n["values"])
        else:
            hit = any(_stated(norm, numbers, kind, v) for v in n["values"])
        wrong = any(_stated(norm, numbers, kind, v) for v in n["wrong"])
        total += int(hit) - int(wrong)
    return max(0.0, total / len(task.meta["nuggets"]))


REGIME = register(Regime(
    "report", "cross-document report synthesis",
    "a short prose brief (string) covering the requested facts", generate, grade))
