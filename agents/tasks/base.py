"""Tasks, the regime registry and seeded train/eval sampling.

Input: a `World`, a regime name, a split and a seed. Output: `Task` records that carry
everything their grader needs (so a task is gradable from its JSON alone). Invariants:
`sample_tasks` is deterministic per (world seed, regime, split, seed, n, difficulties); a task
belongs to the split that a stable hash of its `key` (what it asks) selects, so train and eval
never share a question; within one sample no key repeats. The evaluation share of the keys is
25%, more for the regimes whose questions are fewer (`EVAL_FRACTIONS`: the default world then
supplies at least 100 evaluation questions per regime); raising a share only adds keys to the
evaluation split (a key is eval when its hash is below the share), it never moves one out.
"""
from __future__ import annotations

import hashlib
import random
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from ..world.entities import World

EVAL_FRACTION = 0.25
# Regimes with few distinct questions per world (one per customer with a status history, per
# runbook version, per project field or team quarter) give more of their keys to evaluation,
# so that the default world (seed 0, scale 2000) supplies >= 100 evaluation questions each
# (report 105 of 232 keys, procedure 106 of 295, aggregate 116 of 382). Training questions
# are synthesized (agents.synth) and de-duplicated against these by what they ask.
EVAL_FRACTIONS = {"report": 0.45, "procedure": 0.35, "aggregate": 0.35}
# The KARLBench order of the regimes.
REGIME_NAMES = ("constraint", "report", "numeric", "exhaustive", "procedure", "aggregate")
DIFFICULTIES = (1, 2, 3)


@dataclass
class Task:
    task_id: str
    regime: str
    difficulty: int
    question: str
    answer: Any  # the canonical answer; its grade is 1.0
    answer_type: str  # entity | report | number | set | steps | value
    gold_docs: list[str]
    key: str
    meta: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_json(d: dict) -> "Task":
        return Task(**d)


@dataclass(frozen=True)
class Regime:
    name: str
    description: str
    answer_format: str  # shown to agents with every question
    generate: Callable[[World, random.Random, int], Task | None]
    grade: Callable[[Task, Any], float]


REGIMES: dict[str, Regime] = {}


def register(regime: Regime) -> Regime:
    if regime.name in REGIMES:
        raise ValueError(f"regime {regime.name!r} registered twice")
    REGIMES[regime.name] = regime
    return regime


def eval_fraction(regime: str) -> float:
    """The share of a regime's keys that are evaluation questions."""
    return EVAL_FRACTIONS.get(regime, EVAL_FRACTION)


def split_of(key: str, eval_fraction: float | None = None) -> str:
    """"eval" or "train" by a stable hash of the key; the share is the key's regime's (its
    prefix before the first ":") unless `eval_fraction` is given."""
    if eval_fraction is None:
        eval_fraction = EVAL_FRACTIONS.get(key.split(":", 1)[0], EVAL_FRACTION)
    h = int.from_bytes(hashlib.sha1(key.encode()).digest()[:8], "big") / 2**64
    return "eval" if h < eval_fraction else "train"


def grade(task: Task, answer: Any) -> float:
    """The task's regime grader, clamped to [0, 1]; never raises on malformed answers."""
    try:
        score = REGIMES[task.regime].grade(task, answer)
    except (TypeError, ValueError, KeyError, AttributeError):
        return 0.0
    return min(1.0, max(0.0, float(score)))


def sample_tasks(world: World, regime: str, n: int, split: str = "train", seed: int = 0,
                 difficulties: tuple[int, ...] = DIFFICULTIES,
                 max_tries: int = 1000) -> list[Task]:
    """n tasks of one regime (fewer only if the world cannot supply them), cycling through
    the difficulty levels so each is equally represented while it lasts: a level that gave
    no new task in `max_tries` draws in a row is exhausted and the cycle goes on over the
    others (before, the first exhausted level ended the sample: 3 x its supply)."""
    if split not in ("train", "eval"):
        raise ValueError(f"split must be 'train' or 'eval', not {split!r}")
    gen = REGIMES[regime].generate
    rng = random.Random(f"{world.seed}:{world.scale}:{regime}:{split}:{seed}")
    out: list[Task] = []
    keys: set[str] = set()
    active = list(difficulties)
    streak = dict.fromkeys(difficulties, 0)
    slot = 0  # the cycle's position: len(out) until a level is exhausted
    while len(out) < n and active:
        diff = active[slot % len(active)]
        task = gen(world, rng, diff)
        if task is None or task.key in keys or split_of(task.key) != split:
            streak[diff] += 1
            if streak[diff] >= max_tries:
                active.remove(diff)  # the next level takes its place in the cycle
            continue
        streak[diff] = 0
        slot += 1
        keys.add(task.key)
        task.task_id = f"{regime}-{split}-s{seed}-{len(out):04d}"
        out.append(task)
    return out


def sample_mixed(world: World, n_per_regime: int, split: str = "train", seed: int = 0,
                 regimes: tuple[str, ...] | None = None) -> list[Task]:
    """Tasks of several regimes, interleaved deterministically (multi-task training)."""
    names = regimes or REGIME_NAMES
    per = [sample_tasks(world, r, n_per_regime, split, seed) for r in names]
    out: list[Task] = []
    for i in range(max((len(p) for p in per), default=0)):
        out += [p[i] for p in per if i < len(p)]
    return out
