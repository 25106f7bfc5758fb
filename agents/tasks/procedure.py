"""Regime 5: procedural reasoning over technical documentation.

Input: a world, an rng, a difficulty (1: a runbook with one variant; 2: a runbook whose steps
differ by product version, asked for one version; 3: a runbook that refers to a shared
procedure documented elsewhere, which must be expanded in place, and the product's
prerequisite steps must come first). Output: a Task whose answer is the ordered list of
steps (with shared procedures always expanded).
Grade: order-aware partial credit. Each answered step is matched to at most one gold step
(token-set Jaccard >= 0.6 after normalisation, best match first); the longest run of matched
steps that keeps the gold order (LIS over the matched gold indices) gives
score = 2 * LIS / (len(answer) + len(gold)): 1.0 for the exact procedure, less for missing,
extra or misordered steps.
"""
from __future__ import annotations

import random
import re
from bisect import bisect_left
from typing import Any

from ..world.entities import World
from .base import Regime, Task, register
from .normalize import normalize_text, split_items

MATCH = 0.6


def generate(world: World, rng: random.Random, difficulty: int) -> Task | None:
    rb = rng.choice(list(world.runbooks.values()))
    i = rng.randrange(len(rb.variants))
    var = rb.variants[i]
    subs = [m.group(1) for s in var.steps
            if (m := re.match(rf"Perform the {re.escape(rb.product)} (.+?) procedure", s))]
    level = 3 if subs else 1 if len(rb.variants) == 1 else 2
    if level != difficulty:
        return None
    version = rng.choice(var.versions)
    steps = world.expand_steps(rb.product, var.steps)
    refs = [f"runbook:{rb.rid}:{i}"] + [f"procedure:{rb.product}:{s}" for s in subs]
    extra = ""
    if difficulty == 3:
        steps = world.prereqs[rb.product] + steps
        refs.append(f"prereq:{rb.product}")
        extra = (" Start with the product's prerequisite steps and expand any referenced "
                 "procedure into its steps.")
    question = (f"{rb.product} {version} raises error {rb.code} ({rb.message}). What are the "
                f"steps to resolve it, in order?{extra} Answer with one step per line.")
    key = f"procedure:{rb.rid}:{version}:{difficulty == 3}"
    return Task("", "procedure", difficulty, question, steps, "steps", world.docs_for(*refs),
                key, {"product": rb.product, "version": version, "code": rb.code})


def _tokens(step: str) -> frozenset[str]:
    return frozenset(normalize_text(step).split())


def _similarity(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def order_score(pred: list[str], gold: list[str]) -> float:
    if not pred or not gold:
        return 0.0
    pt, gt = [_tokens(p) for p in pred], [_tokens(g) for g in gold]
    pairs = sorted(((_similarity(p, g), -i, -j) for i, p in enumerate(pt)
                    for j, g in enumerate(gt)), reverse=True)
    match: dict[int, int] = {}
    used: set[int] = set()
    for sim, ni, nj in pairs:
        if sim < MATCH:
            break
        if -ni not in match and -nj not in used:
            match[-ni] = -nj
            used.add(-nj)
    seq = [match[i] for i in range(len(pred)) if i in match]
    tails: list[int] = []  # longest strictly increasing subsequence
    for x in seq:
        k = bisect_left(tails, x)
        tails[k:k + 1] = [x]
    return 2 * len(tails) / (len(pred) + len(gold))


def grade(task: Task, answer: Any) -> float:
    return order_score(split_items(answer, commas=False), task.answer)


REGIME = register(Regime(
    "procedure", "procedural reasoning over technical docs",
    "the ordered steps as a list of strings (or one per line)", generate, grade))
