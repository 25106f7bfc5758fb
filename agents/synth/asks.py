"""What a question asks, as (kind, entity, attribute, time) tuples, for any task.

Input: an evaluation `Task` (its `key` and `meta`, as `agents.tasks` generates them) or a
synthesized one (its `meta["synth"]["claim"]`). Output: `asks(task)`, a set of tuples such as
("finance", "Summit", "Licenses", "2022-Q2", "revenue"), ("customer", "Refio Systems"),
("project", "Project Keystone", "budget"), ("runbook", "Atlas", "E-3124", "1.1"),
("notes", "Routing", "2023-Q2"), ("customer_set", "Aerospace", "LATAM").
Two questions that share a tuple ask the same fact or about the same entity, however they
are worded: a training question sharing one with an evaluation question is a leak
(text-only MinHash misses paraphrases such as "What operating expenses did its Licenses
segment report" vs "What was the operating expenses of the Licenses segment").
Invariants: pure; unknown kinds give an empty set (never a false match).
"""
from __future__ import annotations

import re

from ..tasks import Task

_QUARTER = re.compile(r"(\d{4})-?(Q[1-4])|(Q[1-4]) (\d{4})")


def _quarter(q: str) -> str:
    """'2022Q2', '2022-Q2' or 'Q2 2022' -> '2022-Q2'."""
    m = _QUARTER.search(q)
    if not m:
        return q
    return f"{m.group(1)}-{m.group(2)}" if m.group(1) else f"{m.group(4)}-{m.group(3)}"


def asks(task: Task) -> set[tuple]:
    claim = (task.meta or {}).get("synth", {}).get("claim")
    return _from_claim(claim, task) if claim else _from_eval(task)


def _from_claim(c: dict, task: Task) -> set[tuple]:
    t = c.get("type")
    if t == "finance":
        what = "margin" if c.get("op") == "margin" else c.get("metric")
        return {("finance", c["division"], c["segment"], _quarter(c["quarter"]), what)}
    if t == "customer_brief":
        return {("customer", c["customer"])}
    if t == "customer_match":
        return {("customer", str(task.answer))}
    if t == "project_field":
        return {("project", c["project"], c["field"])}
    if t == "action_count":
        return {("notes", c["team"], _quarter(c["quarter"]))}
    if t == "runbook":
        return {("runbook", c["product"], c["code"], c["version"])}
    if t == "customer_set":
        return {("customer_set", c["industry"], c["region"])}
    if t == "person_set":
        return {("person_set", c["team"], c["office"])}
    return set()


def _from_eval(task: Task) -> set[tuple]:
    parts = task.key.split(":")
    m = task.meta or {}
    if task.regime == "numeric":
        kind, div, rest = parts[1], parts[2], parts[3:]
        if kind in ("lookup", "growth", "margin"):
            seg, q = rest[0], _quarter(rest[1])
            what = "margin" if kind == "margin" else rest[2]
            out = {("finance", div, seg, q, what)}
            if kind == "growth":  # also asks the same cell a year earlier
                year, qq = q.split("-")
                out.add(("finance", div, seg, f"{int(year) - 1}-{qq}", what))
            return out
        return set()  # fiscal-year totals and growth: no single cell
    if task.regime == "report":
        return {("customer", m.get("customer", ""))}
    if task.regime == "constraint":
        return {("customer" if m.get("entity_kind") == "customer" else "person",
                 str(task.answer))}
    if task.regime == "aggregate":
        if parts[1] == "latest":
            return {("project", parts[2], parts[3])}
        if parts[1] == "actions":
            return {("notes", parts[2], _quarter(parts[3]))}
        return set()
    if task.regime == "procedure":
        return {("runbook", m.get("product"), m.get("code"), m.get("version"))}
    if task.regime == "exhaustive":
        cond = m.get("condition", "")
        if (x := re.match(r"in the (.+) industry and the (.+) region$", cond)):
            return {("customer_set", x.group(1), x.group(2))}
        return set()
    return set()
