"""Render runbooks, meeting notes and filler into documents.

Input: a `World` with runbooks, notes and projects, and a `random.Random`. Output: lists of
`Document`. Invariants: a runbook variant's steps appear in order as a numbered list under an
"Applies to" line giving its version range; deprecated runbooks say so in their title; shared
procedures that runbook steps refer to have their own documents; a meeting note states each
decision, action item, cancellation and account status it holds, with dates; filler documents
mention real entities but state no fact that contradicts the ground truth.
"""
from __future__ import annotations

import random

from .entities import Document, World
from .render import fmt_date, fmt_money


def versions_text(product: str, versions: list[str], all_versions: list[str]) -> str:
    """A contiguous run of versions as a range, as runbooks write them: the reader has to
    place a version inside '2.1 through 3.0' or '3.1 and later' itself."""
    a, b = versions[0], versions[-1]
    first, last = a == all_versions[0], b == all_versions[-1]
    if first and last:
        return f"all {product} versions"
    if a == b:
        return f"{product} {a} only"
    if first:
        return f"{product} {b} and earlier"
    if last:
        return f"{product} {a} and later"
    return f"{product} {a} through {b}"


def numbered(steps: list[str]) -> str:
    return "\n".join(f"{i}. {s}" for i, s in enumerate(steps, 1))


def render_runbooks(world: World, rng: random.Random) -> list[Document]:
    docs = []
    for p, steps in world.prereqs.items():
        title = f"{p} operations prerequisites"
        text = (f"# {title}\n\nBefore running any {p} runbook, complete these prerequisite "
                f"steps in order:\n\n{numbered(steps)}\n")
        docs.append(Document("", title, text, "prereq", (f"prereq:{p}",)))
    for p, procs in world.procedures.items():
        for name, steps in procs.items():
            title = f"{p} procedure: {name}"
            text = (f"# {title}\n\nA shared procedure that several {p} runbooks refer to.\n\n"
                    f"{numbered(steps)}\n")
            docs.append(Document("", title, text, "procedure", (f"procedure:{p}:{name}",)))
    for rb in world.runbooks.values():
        allv = world.products[rb.product].versions
        head = f"Runbook: {rb.product} error {rb.code} ({rb.message})"
        intro = (f"Symptom: the {rb.component} raises {rb.code}. Complete the {rb.product} "
                 f"operations prerequisites first.")
        if rng.random() < 0.3:  # a retired procedure that still ranks for the error code
            old = _retired(rng, rb.variants[0].steps)
            text = (f"# [DEPRECATED] {head}\n\nThis runbook is deprecated and kept for "
                    f"reference only; follow the current runbook for {rb.code}.\n\n"
                    f"## Steps\n\n{numbered(old)}\n")
            docs.append(Document("", f"[DEPRECATED] {head}", text, "deprecated",
                                 (f"deprecated:{rb.rid}",)))
        if len(rb.variants) == 1 or rng.random() < 0.75:
            for i, var in enumerate(rb.variants):
                scope = versions_text(rb.product, var.versions, allv)
                title = head if len(rb.variants) == 1 else f"{head}, {scope}"
                text = (f"# {title}\n\n{intro}\n\nApplies to: {scope}.\n\n## Steps\n\n"
                        f"{numbered(var.steps)}\n")
                docs.append(Document("", title, text, "runbook",
                                     (f"runbook:{rb.rid}:{i}",)))
        else:
            parts = [f"# {head}\n\n{intro}\n"]
            for var in rb.variants:
                parts.append(f"## Applies to: {versions_text(rb.product, var.versions, allv)}."
                             f"\n\n{numbered(var.steps)}\n")
            docs.append(Document("", head, "\n".join(parts), "runbook",
                                 tuple(f"runbook:{rb.rid}:{i}"
                                       for i in range(len(rb.variants)))))
    return docs


def _retired(rng: random.Random, steps: list[str]) -> list[str]:
    """An older procedure: some steps dropped and two swapped."""
    old = [s for s in steps if rng.random() < 0.75] or steps[:1]
    if len(old) > 2:
        i = rng.randrange(len(old) - 1)
        old[i], old[i + 1] = old[i + 1], old[i]
    return old


def decision_text(world: World, project: str, field: str, value: str, prev: str | None,
                  style: int) -> str:
    if field == "launch date":
        from datetime import date
        shown = fmt_date(date.fromisoformat(value), style)
    elif field == "budget":
        shown = fmt_money(int(value), style)
    else:
        shown = world.people[value].name
    owner_team = world.projects[project].team
    where = "" if world.notes_team == owner_team else f" ({owner_team} team)"
    if prev is None:
        return (f"{project}{where}: {field} set to {shown}." if style % 2 == 0 else
                f"We agreed that the {field} for {project}{where} is {shown}.")
    when = fmt_date(world.notes[prev].date, style + 1)
    return (f"{project}{where}: {field} changed to {shown} (supersedes the decision of "
            f"{when})." if style % 2 == 0 else
            f"Update: the {field} for {project}{where} is now {shown}; this replaces the "
            f"{when} decision.")


def render_notes(world: World, rng: random.Random) -> list[Document]:
    docs = []
    pname = {p.pid: p.name for p in world.people.values()}
    for note in world.notes.values():
        world.notes_team = note.team  # read by decision_text: cross-team notes name the team
        style = rng.randrange(4)
        when = fmt_date(note.date, style)
        title = f"{note.team} team sync, {when}"
        parts = [f"# {title}\n", "Attendees: " + ", ".join(pname[a] for a in note.attendees)]
        refs = [f"note:{note.nid}"]
        if note.decisions:
            parts.append("\n## Decisions\n")
            parts += [f"- {decision_text(world, *d, style)}" for d in note.decisions]
        parts.append("\n## Action items\n")
        for aid in note.actions:
            a = world.actions[aid]
            parts.append(f"- {pname[a.owner]} to {a.text} (due {fmt_date(a.due, style)})")
        for aid in note.cancels:
            a = world.actions[aid]
            made = fmt_date(world.notes[a.note].date, style + 1)
            parts.append(f"- Cancelled: the action item for {pname[a.owner]} to {a.text} "
                         f"(from the {made} meeting) is no longer needed.")
        if note.statuses:
            parts.append("\n## Accounts\n")
            for cid, status in note.statuses:
                parts.append(f"- {world.customers[cid].name}: account status is now {status}.")
        docs.append(Document("", title, "\n".join(parts) + "\n", "note", tuple(refs)))
    del world.notes_team
    return docs


_POLICIES = ("travel and expenses", "remote work", "data retention", "incident response",
             "vendor onboarding", "code review", "security awareness", "parental leave",
             "procurement approvals", "on-call compensation")


def render_filler(world: World, rng: random.Random, n: int) -> list[Document]:
    """n newsletters, policy pages and team digests: plausible noise for the search index."""
    docs = []
    people = list(world.people.values())
    customers = list(world.customers.values())
    products = list(world.products.values())
    team_projects: dict[str, list[str]] = {}
    for proj in world.projects.values():
        team_projects.setdefault(proj.team, []).append(proj.name)
    for i in range(n):
        kind = rng.randrange(3)
        if kind == 0:
            joiners = rng.sample(people, min(4, len(people)))
            c = rng.choice(customers)
            p = rng.choice(products)
            title = f"Company newsletter #{i + 1}"
            text = (f"# {title}\n\nWelcome to our new colleagues: "
                    + ", ".join(f"{x.name} ({x.team})" for x in joiners)
                    + f". Customer spotlight: {c.name}, a long-standing {c.industry} partner, "
                    f"shared feedback on {p.name}. The {p.name} team thanks everyone who "
                    f"joined the {p.line} roadmap review.\n")
        elif kind == 1:
            topic = rng.choice(_POLICIES)
            title = f"Policy: {topic} (revision {rng.randint(1, 9)})"
            text = (f"# {title}\n\nThis policy describes how employees handle {topic}. "
                    f"Questions go to the {rng.choice(list(world.teams))} team. Managers "
                    f"approve exceptions in writing; see the internal wiki for templates.\n")
        else:
            team = rng.choice(list(world.teams.values()))
            mention = ", ".join(team_projects.get(team.name, [])) or "ongoing maintenance"
            title = f"{team.name} weekly digest #{rng.randint(1, 80)}"
            text = (f"# {title}\n\nThis week the {team.name} team focused on {mention}. "
                    f"Ask {world.people[team.lead].name} for details. Decisions are recorded "
                    f"in the team sync notes, not here.\n")
        docs.append(Document("", title, text, "filler", ()))
    return docs
