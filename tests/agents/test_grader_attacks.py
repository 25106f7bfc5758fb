"""Degenerate answers that need no search must not score: the graders reward being right.

Each attack answers every evaluation question of a regime without reading anything the
question points to (or by dumping what a search returns), and must score at most
ATTACK_MAX (0.15) on average on every regime, while the oracle still scores 1.0:
- vocabulary dumps: every industry, stage, status, city, region, product, person and customer
  of the world, with a grid of numbers;
- document dumps: the text of the top BM25 hits for the question;
- constant answers: the best single constant (counts, amounts, percentages, dates, names);
- answer grids: many numbers, percentages or dates at once;
- every-entity lists: all customers, people or deal ids;
- every-variant step lists: all steps of every runbook variant of the product (and error);
- oversize answers: through the environment, an answer over the token budget scores 0.
`test_report_attack_scores` prints the table (run with -s) for the record.
"""
from __future__ import annotations

import functools

import pytest

from agents.env import SearchEnv
from agents.tasks import REGIME_NAMES, grade, sample_tasks
from agents.tools import SearchIndex
from agents.world import build_world
from agents.world import names as N

ATTACK_MAX = 0.15
N_EVAL = 100  # per regime: the evaluation's default, which the default world supplies


@functools.lru_cache(maxsize=None)
def cached_world():
    return build_world(0, 2000)


@functools.lru_cache(maxsize=None)
def cached_index():
    return SearchIndex.build(cached_world().docs)


@functools.lru_cache(maxsize=None)
def eval_tasks(regime: str):
    return tuple(sample_tasks(cached_world(), regime, N_EVAL, "eval", 0))


@functools.lru_cache(maxsize=None)
def vocabulary() -> tuple[str, ...]:
    w = cached_world()
    words = [*N.INDUSTRIES, *N.DEAL_STAGES, *N.STATUSES, *N.REGIONS, *N.SIZES,
             *(c for cs in N.REGION_CITIES.values() for c in cs), *w.products,
             *(p.name for p in w.people.values()), *(c.name for c in w.customers.values())]
    return tuple(dict.fromkeys(words))


def number_grid() -> list[str]:
    return ([str(i) for i in range(0, 101)] + [f"{i * 10_000:,}" for i in range(1, 200)]
            + [f"{i / 2}%" for i in range(-60, 61)])


def date_grid() -> list[str]:
    return [f"{y}-{m:02d}-15" for y in (2023, 2024, 2025) for m in range(1, 13)]


def every_entity() -> list[str]:
    w = cached_world()
    return ([c.name for c in w.customers.values()] + [p.name for p in w.people.values()]
            + [d.did for d in w.deals.values()])


def every_step(task) -> list[str]:
    w = cached_world()
    product = task.meta.get("product")
    code = task.meta.get("code")
    rbs = [r for r in w.runbooks.values() if r.product == product and r.code == code] or \
        list(w.runbooks.values())[:5]
    steps = list(w.prereqs.get(product, [])) if "prerequisite" in task.question else []
    for rb in rbs:
        for v in rb.variants:
            steps += w.expand_steps(rb.product, v.steps)
    return steps


def doc_dump(task, k: int = 3) -> str:
    index = cached_index()
    hits = index.search(task.question, k)
    return "\n".join(index.read(h.doc_id, 0, 100_000)[0] for h in hits)


CONSTANTS = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "12", "$1,000,000",
             "$500,000", "$2,000,000", "0%", "5%", "10%", "-5%", "20%", "2024-01-01",
             "2023-06-30", "2024-06-30", "yes", "none"]

ATTACKS = {
    "vocabulary dump (text)": lambda t: ", ".join(vocabulary()) + " " + " ".join(number_grid()),
    "vocabulary dump (list)": lambda t: list(vocabulary()),
    "document dump (top 3)": doc_dump,
    "document copy (top 1)": lambda t: doc_dump(t, 1),
    "number grid": lambda t: number_grid(),
    "number grid (text)": lambda t: " ".join(number_grid()),
    "date grid": lambda t: date_grid(),
    "every entity": lambda t: every_entity(),
    "every variant's steps": every_step,
}


def mean_score(regime: str, make) -> float:
    ts = eval_tasks(regime)
    return sum(grade(t, make(t)) for t in ts) / len(ts)


@functools.lru_cache(maxsize=None)
def attack_score(regime: str, attack: str) -> float:
    """Cached: the summary test reuses what the bounded tests computed."""
    return mean_score(regime, ATTACKS[attack])


@functools.lru_cache(maxsize=None)
def best_constant(regime: str) -> tuple[float, str]:
    return max((mean_score(regime, lambda t, c=c: c), c) for c in CONSTANTS)


@pytest.mark.parametrize("regime", REGIME_NAMES)
def test_oracle_answers_still_score_one(regime):
    assert len(eval_tasks(regime)) == N_EVAL  # the attacks run on the full evaluation set
    assert all(grade(t, t.answer) == 1.0 for t in eval_tasks(regime))


# Not attacks where they are the answer: a single-variant runbook's steps are its procedure
# (tested where a version must be chosen, below), and copying the one top-ranked document is
# a naive search agent, reported by `test_report_attack_scores`, not bounded.
NOT_ATTACKS = {("procedure", "every variant's steps")}
INFORMATIONAL = {"document copy (top 1)"}


@pytest.mark.parametrize("regime", REGIME_NAMES)
@pytest.mark.parametrize("attack", sorted(set(ATTACKS) - INFORMATIONAL))
def test_attack_scores_low(regime, attack):
    if (regime, attack) in NOT_ATTACKS:
        pytest.skip("the attack is the answer where there is no version to choose")
    assert attack_score(regime, attack) <= ATTACK_MAX, (regime, attack)


@pytest.mark.parametrize("regime", REGIME_NAMES)
def test_no_constant_answer_scores(regime):
    score, const = best_constant(regime)
    assert score <= ATTACK_MAX, (regime, const, score)


def test_every_variant_dump_scores_low_where_there_is_a_choice():
    """Where a runbook has several version variants, answering all of them (without
    choosing the version) scores far below choosing; with one variant it is the answer."""
    ts = [t for t in eval_tasks("procedure") if variants(t) > 1]
    assert len(ts) >= 10
    assert sum(grade(t, every_step(t)) for t in ts) / len(ts) <= ATTACK_MAX
    one = [t for t in eval_tasks("procedure") if every_step(t) == t.answer]
    assert one and all(grade(t, every_step(t)) == 1.0 for t in one)


def variants(task) -> int:
    return sum(len(r.variants) for r in cached_world().runbooks.values()
               if r.product == task.meta["product"] and r.code == task.meta["code"])


def test_oversize_answer_is_over_the_token_budget_and_scores_zero():
    t = eval_tasks("report")[0]
    # An answer that takes the episode over the token budget is recorded, not graded.
    env = SearchEnv(cached_index(), token_budget=2000)
    env.reset(t)
    padded = t.answer + " " + "filler " * 1_400  # ~10,000 characters: ~2,500 tokens
    obs, reward, done, info = env.step({"tool": "answer", "answer": padded})
    assert done and reward == 0.0 and env.score == 0.0 and obs["type"] == "final"
    assert "token budget" in info["reason"]
    rec = env.record()
    assert rec["score"] == 0.0 and "token budget" in rec["end_reason"]
    assert rec["answer"][:100] == padded[:100] and rec["cost"]["tokens"] > 2000
    env.reset(t)  # the same answer within budget is graded as usual
    assert env.step({"tool": "answer", "answer": t.answer})[1] == 1.0
    # A 400,000-character answer never reaches the grader, whatever the budget.
    env = SearchEnv(cached_index(), token_budget=None)
    env.reset(t)
    obs, reward, done, _ = env.step({"tool": "answer", "answer": t.answer + " x" * 200_000})
    assert reward == 0.0 and env.score == 0.0 and (obs["type"] == "error" or done)


def test_report_length_budget_scales_long_briefs():
    t = eval_tasks("report")[0]
    long = t.answer + " " + "Nothing else to add. " * 200
    assert 0.0 < grade(t, long) < 0.25


def test_report_attack_scores(capsys):
    """Not an assertion beyond the others: prints the attack table (pytest -s)."""
    rows = []
    for regime in REGIME_NAMES:
        scores = {a: attack_score(regime, a) for a in ATTACKS
                  if a not in INFORMATIONAL and (regime, a) not in NOT_ATTACKS}
        copy = attack_score(regime, "document copy (top 1)")
        score, const = best_constant(regime)
        rows.append((regime, len(eval_tasks(regime)), max(scores.values()),
                     max(scores, key=scores.get), score, const, copy))
    with capsys.disabled():
        print("\nregime       n  worst attack (score)                  best constant   "
              "top-1 copy (not bounded)")
        for regime, n, s, a, cs, c, cp in rows:
            print(f"{regime:<11} {n:>3}  {a:<28} {s:.3f}   {c!r}: {cs:.3f}   {cp:.3f}")
    assert all(s <= ATTACK_MAX for _, _, s, *_ in rows)
