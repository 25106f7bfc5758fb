"""Regime 6: fact aggregation over internal meeting notes.

Input: a world, an rng, a difficulty. Two question families:
- latest value of a project field (launch date, budget, project lead); difficulty 1: decided
  once; 2: changed by later notes of the same team; 3: changed in another team's notes.
- counts; difficulty 1: action items assigned to a person in one team's notes in one quarter;
  2: those of a year that were not cancelled by a later note; 3: customers whose most recent
  account status in one team's notes is a given status.
Output: a Task whose answer is an int (count), an ISO date, whole dollars or a person's name.
Grade (by `meta["kind"]`): counts exact (digits or number words); dates equal after parsing
any common format; money within 0.5%; names equal after name normalisation.
Invariants: superseded decisions, cancelled action items and older statuses never count.
"""
from __future__ import annotations

import random
from datetime import date
from typing import Any

from ..world import names as N
from ..world.entities import World
from .base import Regime, Task, register
from .normalize import normalize_name, number_matches, parse_date, parse_quantity, single

KINDS = {"launch date": "date", "budget": "money", "project lead": "name"}


def _latest(world: World, rng: random.Random, difficulty: int) -> Task | None:
    proj = rng.choice(list(world.projects.values()))
    field = rng.choice(N.PROJECT_FIELDS)
    hist = proj.history[field]
    cross = any(world.notes[u.note].team != proj.team for u in hist)
    level = 1 if len(hist) == 1 else 3 if cross else 2
    if level != difficulty:
        return None
    value = hist[-1].value
    answer: Any = world.people[value].name if field == "project lead" else (
        int(value) if field == "budget" else value)
    question = (f"According to the meeting notes, what is the current {field} of "
                f"{proj.name}?")
    docs = world.docs_for(*(f"note:{u.note}" for u in reversed(hist)))
    return Task("", "aggregate", difficulty, question, answer, "value", docs,
                f"aggregate:latest:{proj.name}:{field}",
                {"kind": KINDS[field], "family": "latest"})


def _quarter(d: date) -> str:
    return f"Q{(d.month - 1) // 3 + 1} {d.year}"


def _count_actions(world: World, rng: random.Random, difficulty: int) -> Task | None:
    team = rng.choice(list(world.teams.values()))
    person = world.people[rng.choice(team.members)]
    notes = [n for n in world.notes.values() if n.team == team.name]
    if not notes:
        return None
    pivot = rng.choice(notes).date
    if difficulty == 1:
        window = [n for n in notes if _quarter(n.date) == _quarter(pivot)]
        period = _quarter(pivot)
    else:
        window = [n for n in notes if n.date.year == pivot.year]
        period = str(pivot.year)
    items = [world.actions[a] for n in window for a in n.actions
             if world.actions[a].owner == person.pid]
    cancelled = [a for a in items if a.cancelled_in]
    if difficulty == 2:
        if not cancelled:
            return None
        kept = [a for a in items if not a.cancelled_in]
        question = (f"How many action items assigned to {person.name} in the {team.name} team "
                    f"syncs during {period} were not cancelled in a later meeting?")
        refs = [f"note:{a.note}" for a in items] + [f"note:{a.cancelled_in}" for a in cancelled]
        count = len(kept)
    else:
        if not items:
            return None
        question = (f"How many action items were assigned to {person.name} in the {team.name} "
                    f"team syncs held in {period}?")
        refs = [f"note:{a.note}" for a in items]
        count = len(items)
    return Task("", "aggregate", difficulty, question, count, "value",
                world.docs_for(*dict.fromkeys(refs)),
                f"aggregate:actions:{team.name}:{person.pid}:{period}:{difficulty}",
                {"kind": "count", "family": "actions"})


def _count_statuses(world: World, rng: random.Random) -> Task | None:
    team = rng.choice(list(world.teams))
    latest: dict[str, tuple[date, str, str]] = {}
    for n in world.notes.values():
        if n.team == team:
            for cid, st in n.statuses:
                if cid not in latest or n.date > latest[cid][0]:
                    latest[cid] = (n.date, st, n.nid)
    if not latest:
        return None
    status = rng.choice([st for _, st, _ in latest.values()])
    hits = [cid for cid, (_, st, _) in latest.items() if st == status]
    # Only interesting when an older status of some customer would change the count.
    older = [cid for n in world.notes.values() if n.team == team
             for cid, st in n.statuses if st == status and cid not in hits]
    if not older:
        return None
    question = (f"Across the {team} team's sync notes, how many customers have "
                f"'{status}' as their most recent account status?")
    refs = [f"note:{latest[c][2]}" for c in hits]
    return Task("", "aggregate", 3, question, len(hits), "value",
                world.docs_for(*dict.fromkeys(refs)),
                f"aggregate:statuses:{team}:{status}", {"kind": "count", "family": "statuses"})


def generate(world: World, rng: random.Random, difficulty: int) -> Task | None:
    if rng.random() < 0.5:
        return _latest(world, rng, difficulty)
    if difficulty == 3:
        return _count_statuses(world, rng)
    return _count_actions(world, rng, difficulty)


def grade(task: Task, answer: Any) -> float:
    kind = task.meta["kind"]
    answer = single(answer)
    if answer is None:
        return 0.0
    if kind == "count":
        q = parse_quantity(answer)
        return float(q is not None and not q.percent and q.value == float(task.answer))
    if kind == "date":
        return float(parse_date(answer) == date.fromisoformat(task.answer))
    if kind == "money":
        return float(number_matches(float(task.answer), answer, "money", 0.005))
    return float(normalize_name(answer) == normalize_name(task.answer))


REGIME = register(Regime(
    "aggregate", "fact aggregation over notes",
    "a count (integer), a date, an amount or a name, as a string or number", generate, grade))
