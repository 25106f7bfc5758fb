"""Regime 5: procedural reasoning over technical documentation.

Input: a world, an rng, a difficulty (1: a runbook with one variant; 2: a runbook whose steps
differ by product version, asked for one version; 3: a runbook that refers to a shared
procedure documented elsewhere, which must be expanded in place, and the product's
prerequisite steps must come first). Output: a Task whose answer is the ordered list of
steps (with shared procedures always expanded).
`meta["wrong_steps"]` holds the steps of the runbook's other version variants and of its
deprecated edition that are not gold steps.
Grade (see agents/tasks/README.md): each answered step is matched to at most one gold step
(token-set Jaccard >= 0.6 after normalisation, best match first); L = the longest run of
matched steps that keeps the gold order (LIS over the matched gold indices); order-aware
recall R = L / len(gold), precision P = L / len(answer) (extra, repeated and misordered steps
cost), F = 2PR/(P+R); each answered step that is closer to a wrong-version step than to
every gold step (and Jaccard >= 0.6 to it) is never matched and multiplies F by
WRONG_VERSION (1/3), and so does each step repeated word for word (variants often differ
only in the order of the same steps): mixing versions is worse than omitting a step; answers longer than len(gold) + 3 steps are scaled by
(len(gold) + 3) / len(answer). 1.0 exactly for the gold procedure.
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
WRONG_VERSION = 1 / 3  # factor per step that belongs to another version of the runbook
SLACK_STEPS = 3  # steps beyond the gold length an answer may have before it is scaled down


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
                key, {"product": rb.product, "version": version, "code": rb.code,
                      "wrong_steps": _wrong_steps(world, rb, i, steps)})


def _wrong_steps(world: World, rb, variant: int, gold: list[str]) -> list[str]:
    """Steps of the runbook's other variants and deprecated edition that are not gold steps
    (the deprecated edition is read back from its document: it exists only rendered)."""
    other = [s for j, v in enumerate(rb.variants) if j != variant
             for s in world.expand_steps(rb.product, v.steps)]
    by_id = world.__dict__.setdefault("_doc_by_id", {})
    if not by_id:
        by_id.update({d.doc_id: d for d in world.docs})
    for doc_id in world.docs_for(f"deprecated:{rb.rid}"):
        other += re.findall(r"^\d+\. (.+)$", by_id[doc_id].text, re.M)
    # Exact comparison: variants differ in a parameter ("batch size to 8" vs "to 64"), which
    # the Jaccard match would not tell apart.
    gt = {_tokens(g) for g in gold}
    return list(dict.fromkeys(s for s in other if _tokens(s) not in gt))


def _tokens(step: str) -> frozenset[str]:
    return frozenset(normalize_text(step).split())


def _similarity(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def order_score(pred: list[str], gold: list[str], wrong: list[str] = ()) -> float:
    """F of order-aware recall and precision, times WRONG_VERSION per wrong-version step and
    the length budget (see the module docstring)."""
    if not pred or not gold:
        return 0.0
    pt, gt = [_tokens(p) for p in pred], [_tokens(g) for g in gold]
    wt = [_tokens(w) for w in wrong]
    # A step closer to a wrong-version step than to every gold step is a wrong-version step:
    # it is never matched to gold ("batch size to 64" where this version needs 8).
    best_gold = [max((_similarity(p, g) for g in gt), default=0.0) for p in pt]
    best_wrong = [max((_similarity(p, w) for w in wt), default=0.0) for p in pt]
    off = {i for i in range(len(pt)) if best_wrong[i] >= MATCH and best_wrong[i] > best_gold[i]}
    # A step given twice (same words) is treated alike: variants often differ only in the
    # order of the same steps, and an answer listing both orders has not chosen a version.
    off |= {i for i in range(len(pt)) if pt[i] in pt[:i]}
    pairs = sorted(((_similarity(p, g), -i, -j) for i, p in enumerate(pt) if i not in off
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
    f = 2 * len(tails) / (len(pred) + len(gold))  # = 2PR/(P+R), P = L/|pred|, R = L/|gold|
    n_wrong = len(off)
    limit = len(gold) + SLACK_STEPS
    return f * WRONG_VERSION ** n_wrong * min(1.0, limit / len(pred))


def grade(task: Task, answer: Any) -> float:
    return order_score(split_items(answer, commas=False), task.answer,
                       task.meta.get("wrong_steps", ()))


REGIME = register(Regime(
    "procedure", "procedural reasoning over technical docs",
    "the ordered steps as a list of strings (or one per line)", generate, grade))
