"""Regime 6: fact aggregation over internal meeting notes.

Input: a world, an rng, a difficulty. Two question families:
- latest value of a project field (launch date, budget, project lead); difficulty 1: decided
  once; 2: changed by later notes of the same team; 3: changed in another team's notes.
- counts; difficulty 1: action items assigned in one team's notes in one quarter (3-15);
  2: those of them not cancelled by a later note; 3: customers whose most recent account
  status in one team's notes is a given status (a count of 1 is kept at 30% rate).
  Counts are spread so that no constant answer scores above 0.15 on the regime
  (tests/agents/test_grader_attacks.py).
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
from .base import Regime, Task, register, split_of
from .normalize import normalize_name, number_matches, parse_date, parse_quantity, single

# Share of the status counts equal to 1 that are asked at all: decided by a hash of the
# question's key (not the rng), so that resampling cannot bring the dropped ones back.
ONE_KEEP = 0.3
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
    """Action items of one team's syncs in one quarter (difficulty 2: those not cancelled in
    a later meeting, which may be held in the next quarter). Team totals, not one person's:
    a person's count is almost always 1-3, so a constant answer would score well."""
    team = rng.choice(list(world.teams.values()))
    notes = [n for n in world.notes.values() if n.team == team.name]
    if not notes:
        return None
    period = _quarter(rng.choice(notes).date)
    window = [n for n in notes if _quarter(n.date) == period]
    items = [world.actions[a] for n in window for a in n.actions]
    cancelled = [a for a in items if a.cancelled_in]
    if not items or (difficulty == 2 and not cancelled):
        return None
    if difficulty == 2:
        question = (f"How many action items assigned in the {team.name} team syncs held in "
                    f"{period} were not cancelled in a later meeting?")
        refs = [f"note:{n.nid}" for n in window] + [f"note:{a.cancelled_in}" for a in cancelled]
        count = len(items) - len(cancelled)
    else:
        question = (f"How many action items were assigned in the {team.name} team syncs held "
                    f"in {period}?")
        refs = [f"note:{n.nid}" for n in window]
        count = len(items)
    return Task("", "aggregate", difficulty, question, count, "value",
                world.docs_for(*dict.fromkeys(refs)),
                f"aggregate:actions:{team.name}:{period}:{difficulty}",
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
    key = f"aggregate:statuses:{team}:{status}"
    if len(hits) == 1 and split_of(key + ":keep", ONE_KEEP) == "train":
        return None  # most teams have one customer per status: keep "1" from dominating
    question = (f"Across the {team} team's sync notes, how many customers have "
                f"'{status}' as their most recent account status?")
    refs = [f"note:{latest[c][2]}" for c in hits]
    return Task("", "aggregate", 3, question, len(hits), "value",
                world.docs_for(*dict.fromkeys(refs)),
                key, {"kind": "count", "family": "statuses"})


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
