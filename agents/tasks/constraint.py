"""Regime 1: constraint-driven entity search.

Input: a world, an rng, a difficulty (1: two constraints; 2: three; 3: three or four with
one that must be checked in another document: the account owner's office or team, or a deal).
Output: a Task whose answer is the one entity (customer or employee) satisfying all
constraints. Invariants: the target is the only entity of its kind that satisfies every
constraint and no constraint is redundant (dropping any one admits another entity), so every
constraint has to be checked. Grade: 1.0 iff the answer names the target after name
normalisation (case, accents, punctuation, 'Last, First', legal suffixes), else 0.0.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from itertools import combinations
from typing import Any, Callable

import numpy as np

from ..world.entities import World
from .base import Regime, Task, register
from .normalize import normalize_name, split_items


@dataclass(frozen=True)
class Constraint:
    phrase: str
    test: Callable[[Any], bool]
    cross_doc: tuple[str, ...] = ()  # refs of other documents needed to check it


def _customer_constraints(world: World, c, rng: random.Random) -> list[Constraint]:
    prod = rng.choice(c.products)
    out = [
        Constraint(f"is in the {c.industry} industry", lambda x, v=c.industry: x.industry == v),
        Constraint(f"is in the {c.region} region", lambda x, v=c.region: x.region == v),
        Constraint(f"is headquartered in {c.hq_city}", lambda x, v=c.hq_city: x.hq_city == v),
        Constraint(f"is {article(c.size)} {c.size} account", lambda x, v=c.size: x.size == v),
        Constraint(f"uses {prod}", lambda x, v=prod: v in x.products),
        Constraint(f"has been a customer since {c.since.year}",
                   lambda x, v=c.since.year: x.since.year == v),
    ]
    y = c.founded + rng.randint(1, 6)
    out.append(Constraint(f"was founded before {y}", lambda x, v=y: x.founded < v))
    y = c.founded - rng.randint(0, 5)
    out.append(Constraint(f"was founded in or after {y}", lambda x, v=y: x.founded >= v))
    n = int(round(c.employees * rng.uniform(0.6, 0.95), -1))
    out.append(Constraint(f"has more than {n:,} employees", lambda x, v=n: x.employees > v))
    owner = world.people[c.owner]
    out.append(Constraint(f"has an account owner based in the {owner.location} office",
                          lambda x, v=owner.location: world.people[x.owner].location == v,
                          (f"person:{owner.pid}",)))
    out.append(Constraint(f"has an account owner on the {owner.team} team",
                          lambda x, v=owner.team: world.people[x.owner].team == v,
                          (f"person:{owner.pid}",)))
    deals = [d for d in world.deals.values() if d.customer == c.cid]
    if deals:
        d = rng.choice(deals)
        out.append(Constraint(
            f"has {article(d.product)} {d.product} deal at the {d.stage} stage",
            lambda x, p=d.product, s=d.stage: any(
                e.customer == x.cid and e.product == p and e.stage == s
                for e in _deals_of(world, x.cid)), (f"deal:{d.did}",)))
    return out


def article(word: str) -> str:
    """'an' before a vowel sound: an Atlas, an SMB; a Mid-Market."""
    vowel = word[:1] in "AEIOU" or (word[:2].isupper() and word[:1] in "FHLMNRSX")
    return "an" if vowel else "a"


def _deals_of(world: World, cid: str) -> list:
    cache = world.__dict__.setdefault("_deals_by_customer", {})
    if not cache:
        for d in world.deals.values():
            cache.setdefault(d.customer, []).append(d)
    return cache.get(cid, [])


def _person_constraints(world: World, p, rng: random.Random) -> list[Constraint]:
    out = [
        Constraint(f"is on the {p.team} team", lambda x, v=p.team: x.team == v),
        Constraint(f"works in the {p.location} office", lambda x, v=p.location: x.location == v),
        Constraint(f"has the role {p.role}", lambda x, v=p.role: x.role == v),
        Constraint(f"works in {p.department}", lambda x, v=p.department: x.department == v),
        Constraint(f"joined in {p.start.year}", lambda x, v=p.start.year: x.start.year == v),
    ]
    y = p.start.year + rng.randint(1, 3)
    out.append(Constraint(f"joined before {y}", lambda x, v=y: x.start.year < v))
    if p.manager:
        m = world.people[p.manager]
        out.append(Constraint(f"reports to a manager based in the {m.location} office",
                              lambda x, v=m.location: bool(x.manager) and
                              world.people[x.manager].location == v, (f"person:{m.pid}",)))
    return out


def generate(world: World, rng: random.Random, difficulty: int) -> Task | None:
    kind = "customer" if rng.random() < 0.65 else "person"
    pool = list(world.customers.values() if kind == "customer" else world.people.values())
    target = rng.choice(pool)
    cons = (_customer_constraints if kind == "customer" else _person_constraints)(
        world, target, rng)
    size = {1: 2, 2: 3}.get(difficulty, rng.choice((3, 4)))
    combos = [c for c in combinations(range(len(cons)), size)
              if (difficulty == 3) == any(cons[i].cross_doc for i in c)]
    rng.shuffle(combos)
    # One pass over the pool per constraint; combinations are then boolean intersections.
    masks = np.array([[c.test(x) for x in pool] for c in cons], dtype=bool)
    for combo in combos[:60]:
        sub = masks[list(combo)]
        if sub.all(axis=0).sum() != 1:  # the target always matches, so 1 means only it
            continue
        if any(np.delete(sub, i, axis=0).all(axis=0).sum() == 1 for i in range(len(combo))):
            continue  # a constraint could be dropped: not every one is needed
        return _task(world, kind, target, [cons[i] for i in combo], difficulty)
    return None


def _task(world: World, kind: str, target, chosen: list[Constraint], difficulty: int) -> Task:
    parts = [c.phrase for c in chosen]
    joined = ", ".join(parts[:-1]) + " and " + parts[-1]
    noun = "customer" if kind == "customer" else "employee"
    own = f"customer:{target.cid}" if kind == "customer" else f"person:{target.pid}"
    refs = [own] + [r for c in chosen for r in c.cross_doc]
    key = f"constraint:{own}:" + "|".join(sorted(parts))
    return Task("", "constraint", difficulty,
                f"Which {noun} {joined}? Answer with the {noun}'s name.",
                target.name, "entity", world.docs_for(*refs), key,
                {"entity_kind": kind, "constraints": parts})


def grade(task: Task, answer: Any) -> float:
    items = split_items(answer, commas=False) if isinstance(answer, (list, tuple)) else [answer]
    if len(items) != 1:
        return 0.0
    return float(normalize_name(items[0]) == normalize_name(task.answer))


REGIME = register(Regime(
    "constraint", "constraint-driven entity search",
    "the entity's name as a string", generate, grade))
