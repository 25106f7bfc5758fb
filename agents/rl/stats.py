"""Paired-bootstrap 95% intervals for per-regime scores and their means.

Input: per-question scores {regime: [score of question i]} for one agent, or for two agents
on the same questions (the same order). Output: intervals as [lo, hi] (percentile bootstrap).
The mean over several regimes is resampled stratified: each replicate draws every regime's
questions with replacement within that regime (so each regime keeps its weight of one), and
the two agents of a paired comparison share the same draws, so the interval is that of the
difference on identical questions (much narrower than two separate intervals when the agents
succeed on the same questions).
Invariants: deterministic per `seed`; regimes with no question are skipped; an empty input
gives [nan, nan].
"""
from __future__ import annotations

import math

import numpy as np

B = 2000  # replicates
LEVEL = 0.95


def _draws(scores: dict[str, list[float]], regimes: list[str] | tuple[str, ...],
           seed: int, n_boot: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {r: rng.integers(0, len(scores[r]), size=(n_boot, len(scores[r])))
            for r in regimes if len(scores.get(r, ())) > 0}


def _mean_of_means(scores: dict[str, list[float]], draws: dict[str, np.ndarray]) -> np.ndarray:
    per = [np.asarray(scores[r], dtype=float)[idx].mean(axis=1) for r, idx in draws.items()]
    return np.mean(per, axis=0)


def _interval(values: np.ndarray) -> list[float]:
    if values.size == 0:
        return [math.nan, math.nan]
    a = (1 - LEVEL) / 2
    lo, hi = np.quantile(values, [a, 1 - a])
    return [float(lo), float(hi)]


def interval(scores: dict[str, list[float]], regimes: list[str] | tuple[str, ...],
             seed: int = 0, n_boot: int = B) -> list[float]:
    """95% interval of the mean over `regimes` of the per-regime mean score."""
    draws = _draws(scores, regimes, seed, n_boot)
    if not draws:
        return [math.nan, math.nan]
    return _interval(_mean_of_means(scores, draws))


def paired(a: dict[str, list[float]], b: dict[str, list[float]],
           regimes: list[str] | tuple[str, ...], seed: int = 0,
           n_boot: int = B) -> dict[str, float]:
    """Mean difference a - b over `regimes` (regime means averaged) with its paired 95%
    interval; a and b must hold scores of the same questions in the same order."""
    for r in regimes:
        if len(a.get(r, ())) != len(b.get(r, ())):
            raise ValueError(f"paired bootstrap needs the same questions: regime {r} has "
                             f"{len(a.get(r, ()))} vs {len(b.get(r, ()))} scores")
    diff = {r: list(np.asarray(a[r], float) - np.asarray(b[r], float))
            for r in regimes if len(a.get(r, ())) > 0}
    if not diff:
        return {"diff": math.nan, "lo": math.nan, "hi": math.nan, "n": 0}
    draws = _draws(diff, list(diff), seed, n_boot)
    lo, hi = _interval(_mean_of_means(diff, draws))
    point = float(np.mean([np.mean(v) for v in diff.values()]))
    return {"diff": point, "lo": lo, "hi": hi, "n": sum(len(v) for v in diff.values())}
