"""Regime 3: tabular numerical reasoning over quarterly financial statements.

Input: a world, an rng, a difficulty (1: one cell of one statement; 2: a growth rate across
two statements or a margin within one; 3: a fiscal-year total or margin across four
statements, or the year-over-year growth of a division's total revenue across eight).
Output: a Task whose answer is a number: US dollars (`kind` money) or a percentage (`kind`
percent). Statements are in USD thousands, preliminary flash reports carry different numbers
and some quarters were restated (the original statement is then wrong), so both the unit and
the document matter. Grade: 1.0 iff the answer's number is within `rel_tol` (1%) of the
gold value (percentages also within 0.05 points), accepting "$1,200,000", "1.2M", "12%",
"0.12" for 12%; else 0.0.
"""
from __future__ import annotations

import random
from typing import Any

from ..world.entities import FinanceRow, World
from ..world.render import quarter_words
from .base import Regime, Task, register
from .normalize import number_matches, single

METRICS = {"revenue": "revenue", "cost of revenue": "cost", "operating expenses": "opex",
           "operating income": "operating_income"}


def _rows(world: World) -> dict[tuple[str, str, str], FinanceRow]:
    cache = world.__dict__.setdefault("_finance_index", {})
    if not cache:
        cache.update({(r.division, r.segment, r.quarter): r for r in world.finance})
    return cache


def _val(world: World, div: str, seg: str, q: str, metric: str) -> float:
    return float(getattr(_rows(world)[(div, seg, q)], METRICS[metric]))


def generate(world: World, rng: random.Random, difficulty: int) -> Task | None:
    rows = _rows(world)
    div, seg, q = rng.choice(sorted(rows))
    segs = sorted({s for (d, s, _) in rows if d == div})
    quarters = world.quarters()
    where = f"the {seg} segment of the {div} division"
    metric = rng.choice(sorted(METRICS))
    if difficulty == 1:
        gold, kind, qs = _val(world, div, seg, q, metric), "money", [q]
        question = f"What was the {metric} of {where} in {quarter_words(q)}? Answer in US dollars."
        key = f"numeric:lookup:{div}:{seg}:{q}:{metric}"
    elif difficulty == 2 and rng.random() < 0.5:
        prev = f"{int(q[:4]) - 1}{q[4:]}"
        if prev not in quarters:
            return None
        metric = rng.choice(("revenue", "operating income"))
        a, b = _val(world, div, seg, prev, metric), _val(world, div, seg, q, metric)
        if a <= 0:
            return None
        gold, kind, qs = (b - a) / a * 100, "percent", [prev, q]
        question = (f"By what percentage did the {metric} of {where} change from "
                    f"{quarter_words(prev)} to {quarter_words(q)}? Answer as a percentage.")
        key = f"numeric:growth:{div}:{seg}:{q}:{metric}"
    elif difficulty == 2:
        r = rows[(div, seg, q)]
        gold, kind, qs = r.operating_income / r.revenue * 100, "percent", [q]
        question = (f"What was the operating margin (operating income as a percentage of "
                    f"revenue) of {where} in {quarter_words(q)}?")
        key = f"numeric:margin:{div}:{seg}:{q}"
    elif (pick := rng.randrange(3)) < 2:
        year = q[:4]
        qs = [x for x in quarters if x.startswith(year)]
        if pick == 0:
            gold, kind = sum(_val(world, div, seg, x, metric) for x in qs), "money"
            question = (f"What was the total {metric} of {where} over fiscal year {year} "
                        f"(Q1 through Q4)? Answer in US dollars.")
            key = f"numeric:fy:{div}:{seg}:{year}:{metric}"
        else:
            inc, rev = (sum(_val(world, div, seg, x, m) for x in qs)
                        for m in ("operating income", "revenue"))
            gold, kind = inc / rev * 100, "percent"
            question = (f"What was the operating margin (operating income as a percentage of "
                        f"revenue) of {where} over fiscal year {year} as a whole?")
            key = f"numeric:fymargin:{div}:{seg}:{year}"
    else:
        year = int(q[:4])
        cur = [x for x in quarters if x.startswith(str(year))]
        old = [x for x in quarters if x.startswith(str(year - 1))]
        if len(old) != 4:
            return None
        tot = [sum(_val(world, div, s, x, "revenue") for s in segs for x in qq)
               for qq in (old, cur)]
        gold, kind, qs = (tot[1] - tot[0]) / tot[0] * 100, "percent", old + cur
        question = (f"By what percentage did the total revenue of the {div} division (all "
                    f"segments) grow from fiscal year {year - 1} to fiscal year {year}?")
        key = f"numeric:fygrowth:{div}:{year}"
    gold_docs = world.docs_for(*(f"finance:{div}:{x}" for x in qs))
    return Task("", "numeric", difficulty, question, round(gold, 4), "number", gold_docs, key,
                {"kind": kind, "rel_tol": 0.01, "abs_tol": 0.05 if kind == "percent" else 0.0,
                 "quarters": qs})


def grade(task: Task, answer: Any) -> float:
    m = task.meta
    return float(number_matches(float(task.answer), single(answer), m["kind"], m["rel_tol"],
                                m["abs_tol"]))


REGIME = register(Regime(
    "numeric", "tabular numerical reasoning",
    "a number (e.g. '$1,234,000', '1.2M' or '12.5%')", generate, grade))
