"""Regime 4: exhaustive entity retrieval.

Input: a world, an rng, a difficulty (the size of the answer set: 1: 2-3 entities,
2: 4-7, 3: 8-15). Output: a Task asking for every customer, employee or deal matching a
condition of two or three attributes; the answer is the sorted list of names (deal ids for
deals). Grade: set F1 between the normalised answer items and the gold set (duplicates
ignored); an empty answer scores 0. Invariants: the gold set is computed from the ground
truth, not from any document, so incomplete directory pages cannot shrink it.
"""
from __future__ import annotations

import random
from typing import Any

from ..world.entities import World
from .base import Regime, Task, register
from .normalize import normalize_name, split_items

SIZES = {1: (2, 3), 2: (4, 7), 3: (8, 15)}


def _condition(world: World, rng: random.Random) -> tuple[str, str, list, list[str]] | None:
    """(noun, condition phrase, members, member refs) built around a random seed entity."""
    pick = rng.randrange(6)
    if pick <= 2:
        c = rng.choice(list(world.customers.values()))
        if pick == 0:
            phrase = f"in the {c.industry} industry and the {c.region} region"
            test = lambda x: x.industry == c.industry and x.region == c.region  # noqa: E731
        elif pick == 1:
            p = rng.choice(c.products)
            phrase = f"classified as {c.size} accounts in the {c.region} region that use {p}"
            test = lambda x: (x.size == c.size and x.region == c.region  # noqa: E731
                              and p in x.products)
        else:
            phrase = f"in the {c.industry} industry that became customers in {c.since.year} " \
                     f"or later"
            test = lambda x: x.industry == c.industry and x.since.year >= c.since.year  # noqa: E731
        members = [x for x in world.customers.values() if test(x)]
        return "customers", phrase, members, [f"customer:{x.cid}" for x in members]
    if pick <= 4:
        p = rng.choice(list(world.people.values()))
        if pick == 3:
            phrase = f"in the {p.department} department based in the {p.location} office"
            test = lambda x: x.department == p.department and x.location == p.location  # noqa: E731
        else:
            phrase = f"on the {p.team} team who joined in {p.start.year} or earlier"
            test = lambda x: x.team == p.team and x.start.year <= p.start.year  # noqa: E731
        members = [x for x in world.people.values() if test(x)]
        return "employees", phrase, members, [f"person:{x.pid}" for x in members]
    d = rng.choice(list(world.deals.values()))
    owner = world.people[d.owner].name
    phrase = f"owned by {owner} for {d.product}"
    members = [x for x in world.deals.values() if x.owner == d.owner and x.product == d.product]
    if rng.random() < 0.5:
        phrase = f"owned by {owner} at the {d.stage} stage"
        members = [x for x in world.deals.values() if x.owner == d.owner and x.stage == d.stage]
    return "deals", phrase, members, [f"deal:{x.did}" for x in members]


def generate(world: World, rng: random.Random, difficulty: int) -> Task | None:
    noun, phrase, members, refs = _condition(world, rng)
    lo, hi = SIZES[difficulty]
    if not lo <= len(members) <= hi:
        return None
    names = sorted(getattr(m, "did", None) or m.name for m in members)
    what = "deal ids" if noun == "deals" else "names"
    question = f"List all {noun} {phrase}. Answer with the {what}, one per line."
    key = f"exhaustive:{noun}:{phrase}"
    return Task("", "exhaustive", difficulty, question, names, "set", world.docs_for(*refs), key,
                {"noun": noun, "condition": phrase})


def set_f1(pred: list[str], gold: list[str]) -> float:
    p = {normalize_name(x) for x in pred} - {""}
    g = {normalize_name(x) for x in gold}
    hit = len(p & g)
    if not p or not hit:
        return 0.0
    precision, recall = hit / len(p), hit / len(g)
    return 2 * precision * recall / (precision + recall)


def grade(task: Task, answer: Any) -> float:
    return set_f1(split_items(answer, commas=True), task.answer)


REGIME = register(Regime(
    "exhaustive", "exhaustive entity retrieval",
    "a list of names (or deal ids), e.g. ['A', 'B'] or one per line", generate, grade))
