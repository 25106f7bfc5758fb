"""Generate meeting notes, projects and action items (the world's changing facts).

Input: a `World` from `generate_entities` and the seed. Output: the same world with
`notes`, `projects` and `actions` filled. Invariants: every team meets every few weeks between
NOTE_START and NOTE_END; a project field's updates sit in notes with strictly increasing dates
and each update names the note it supersedes; an account status is recorded at most once per
customer per day, so "latest" is always well defined; a cancelled action item is cancelled in
a strictly later note of the same team.
"""
from __future__ import annotations

import random
from bisect import bisect_right
from datetime import date, timedelta

from . import names as N
from .entities import ActionItem, FieldUpdate, Note, Project, World

NOTE_START = date(2023, 1, 2)
NOTE_END = date(2024, 6, 28)


def _schedule(rng: random.Random, world: World) -> dict[str, list[Note]]:
    by_team: dict[str, list[Note]] = {}
    for team in world.teams.values():
        notes = []
        d = NOTE_START + timedelta(days=rng.randint(0, 20))
        while d <= NOTE_END:
            k = rng.randint(3, min(6, len(team.members)))
            attendees = rng.sample(team.members, k)
            notes.append(Note("", team.name, d, attendees))
            d += timedelta(days=rng.randint(18, 35))
        by_team[team.name] = notes
    # Ids follow (date, team) so that they carry no information beyond the date.
    everything = sorted((n for ns in by_team.values() for n in ns), key=lambda n: (n.date, n.team))
    for i, n in enumerate(everything):
        n.nid = f"N{i:06d}"
    return by_team


def _value(rng: random.Random, field: str, world: World, team: str) -> str:
    if field == "launch date":
        return (date(2023, 6, 1) + timedelta(days=rng.randint(0, 730))).isoformat()
    if field == "budget":
        return str(rng.randint(10, 400) * 5000)
    return rng.choice(world.teams[team].members)


def _projects(rng: random.Random, world: World, by_team: dict[str, list[Note]],
              everything: list[Note]) -> None:
    names = iter(N.unique_names(rng, 3 * len(by_team), N.project_name))
    team_dates = {t: [n.date for n in ns] for t, ns in by_team.items()}
    all_dates = [n.date for n in everything]  # `everything` is sorted by date
    for team, notes in by_team.items():
        for _ in range(rng.randint(1, 3)):
            proj = Project(next(names), team, {})
            for field in N.PROJECT_FIELDS:
                first = rng.choice(notes[: max(1, len(notes) // 3)])
                chain = [first]
                for _ in range(rng.choices((0, 1, 2, 3), (0.3, 0.35, 0.23, 0.12))[0]):
                    pool, dates = (notes, team_dates[team]) if rng.random() < 0.8 else \
                        (everything, all_dates)
                    start = bisect_right(dates, chain[-1].date)  # first strictly later note
                    if start == len(pool):
                        break
                    chain.append(rng.choice(pool[start:start + 6]))
                history: list[FieldUpdate] = []
                for note in chain:
                    value = _value(rng, field, world, team)
                    while history and value == history[-1].value:
                        value = _value(rng, field, world, team)
                    prev = history[-1].note if history else None
                    note.decisions.append((proj.name, field, value, prev))
                    history.append(FieldUpdate(note.nid, note.date, value))
                proj.history[field] = history
            world.projects[proj.name] = proj


def _actions(rng: random.Random, world: World, by_team: dict[str, list[Note]]) -> None:
    team_projects: dict[str, list[str]] = {}
    for p in world.projects.values():
        team_projects.setdefault(p.team, []).append(p.name)
    for team, notes in by_team.items():
        for i, note in enumerate(notes):
            for _ in range(rng.randint(1, 4)):
                aid = f"A{len(world.actions):06d}"
                text = rng.choice(N.ACTION_TEMPLATES).format(
                    project=rng.choice(team_projects.get(team, [f"the {team} roadmap"])))
                item = ActionItem(aid, note.nid, rng.choice(note.attendees), text,
                                  note.date + timedelta(days=rng.randint(7, 30)))
                world.actions[aid] = item
                note.actions.append(aid)
                if rng.random() < 0.15 and i + 1 < len(notes):
                    canceller = notes[rng.randint(i + 1, min(i + 3, len(notes) - 1))]
                    item.cancelled_in = canceller.nid
                    canceller.cancels.append(aid)


def _statuses(rng: random.Random, world: World, by_team: dict[str, list[Note]],
              everything: list[Note]) -> None:
    cids = list(world.customers)
    pools = {t: rng.sample(cids, min(len(cids), rng.randint(6, 12))) for t in by_team}
    seen: set[tuple[str, date]] = set()
    for note in everything:
        for cid in rng.sample(pools[note.team], rng.randint(0, 2)):
            if (cid, note.date) not in seen:
                seen.add((cid, note.date))
                note.statuses.append((cid, rng.choice(N.STATUSES)))


def generate_notes(seed: int, world: World) -> World:
    rng = random.Random(f"{seed}:notes")
    by_team = _schedule(rng, world)
    everything = sorted((n for ns in by_team.values() for n in ns), key=lambda n: n.nid)
    _projects(rng, world, by_team, everything)
    _actions(rng, world, by_team)
    _statuses(rng, world, by_team, everything)
    world.notes = {n.nid: n for n in everything}
    return world


def latest_status(world: World, cid: str) -> tuple[str, str] | None:
    """(status, nid) of the most recent note recording the customer's account status."""
    best = None
    for note in world.notes.values():
        for c, status in note.statuses:
            if c == cid and (best is None or note.date > world.notes[best[1]].date):
                best = (status, note.nid)
    return best
