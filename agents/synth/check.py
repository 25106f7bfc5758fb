"""Audit synthesized questions against the world's ground truth.

Input: a `World` and synthesized `Task`s carrying `meta["synth"]["claim"]`. Output: for each
task, the true answer of the claim and whether the synthesized answer is correct (it grades
1.0 against the truth with the regime's own grader; a constraint question is also wrong when
the truth admits more than one entity). Invariants: read-only on the world; used for
reporting only, never to filter or repair the synthetic data the pipeline emits.
"""
from __future__ import annotations

import copy
from typing import Any

from ..tasks import Task, grade
from ..tasks.report import _status_history
from ..world.entities import World


def _customer_ok(c, attrs: dict) -> bool:
    get = {"industry": c.industry, "hq": c.hq_city, "size": c.size, "region": c.region,
           "since": c.since.year}
    return all(get.get(a) == v for a, v in attrs.items())


def truth(world: World, claim: dict) -> Any:
    """The true answer of a claim, in the same form the explorer answers."""
    t = claim["type"]
    if t == "customer_match":
        hits = [c.name for c in world.customers.values() if _customer_ok(c, claim["attrs"])]
        return hits[0] if len(hits) == 1 else hits
    if t == "customer_brief":
        c = next(c for c in world.customers.values() if c.name == claim["customer"])
        deals = sorted((d for d in world.deals.values() if d.customer == c.cid),
                       key=lambda d: (d.created, d.did))
        hist = _status_history(world, c.cid)
        return {"industry": c.industry, "headquarters": c.hq_city,
                "account owner": world.people[c.owner].name,
                "latest deal stage": deals[-1].stage if deals else None,
                "account status": hist[-1][1] if hist else None}
    if t == "finance":
        row = next(r for r in world.finance if r.division == claim["division"] and
                   r.segment == claim["segment"] and r.quarter == claim["quarter"])
        if claim["op"] == "margin":
            return row.operating_income / row.revenue * 100
        attr = {"revenue": "revenue", "cost of revenue": "cost", "operating expenses": "opex",
                "operating income": "operating_income"}[claim["metric"]]
        return float(getattr(row, attr))
    if t == "customer_set":
        return sorted(c.name for c in world.customers.values()
                      if c.region == claim["region"] and c.industry == claim["industry"])
    if t == "person_set":
        return sorted(p.name for p in world.people.values()
                      if p.team == claim["team"] and p.location == claim["office"])
    if t == "runbook":
        rb = next(r for r in world.runbooks.values() if r.product == claim["product"] and
                  r.code == claim["code"])
        var = next((v for v in rb.variants if claim["version"] in v.versions), None)
        steps = world.expand_steps(rb.product, var.steps) if var else []
        return (world.prereqs[rb.product] + steps) if claim["prereq"] else steps
    if t == "project_field":
        proj = world.projects[claim["project"]]
        value = proj.history[claim["field"]][-1].value
        if claim["field"] == "project lead":
            return world.people[value].name
        return int(value) if claim["field"] == "budget" else value
    if t == "action_count":
        pid = next(p.pid for p in world.people.values() if p.name == claim["person"])

        def quarter(d) -> str:
            return f"{d.year}-Q{(d.month - 1) // 3 + 1}"
        return sum(1 for a in world.actions.values() if a.owner == pid and
                   world.notes[a.note].team == claim["team"] and
                   quarter(world.notes[a.note].date) == claim["quarter"])
    raise ValueError(f"unknown claim type {t!r}")


def is_correct(world: World, task: Task) -> tuple[bool, Any]:
    claim = task.meta["synth"]["claim"]
    try:
        true = truth(world, claim)
    except (StopIteration, KeyError):
        return False, None
    if claim["type"] == "customer_match" and not isinstance(true, str):
        return False, true  # the constraints do not single out one customer
    if claim["type"] == "customer_brief":
        return task.meta["synth"]["claim"]["fields"] == true, true
    gold = copy.deepcopy(task)
    gold.answer = true
    return grade(gold, task.answer) >= 0.999, true


def audit(world: World, tasks: list[Task]) -> dict:
    """Correct fraction overall and per regime, with the wrong items for inspection."""
    per: dict[str, list[bool]] = {}
    wrong = []
    for t in tasks:
        ok, true = is_correct(world, t)
        per.setdefault(t.regime, []).append(ok)
        if not ok:
            wrong.append({"task_id": t.task_id, "question": t.question, "answer": t.answer,
                          "truth": true})
    flat = [x for v in per.values() for x in v]
    return {"n": len(flat), "correct": sum(flat),
            "rate": sum(flat) / len(flat) if flat else 0.0,
            "per_regime": {r: {"n": len(v), "rate": sum(v) / len(v)} for r, v in per.items()},
            "wrong": wrong}
