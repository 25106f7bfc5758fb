"""Pack sampled episodes into the padded 2-D arrays the policy's losses take.

Input: policy results from `rollout.run_jobs` (each: X stacked over its decisions, n_cand,
chosen, logp) with rewards, grouped by question. Output: `Batch` with `X` (n_dec * n_cand, F),
`neg`/`onehot` (n_dec, n_cand), `seg` (n_episodes, n_dec), the lagged log-probabilities per
episode and per decision, and the OAPL targets / GRPO advantages.
Invariants: decisions keep episode order; padding rows are zero with `neg = NEG`, so they
carry no probability; `seg @ lag_dec == logp_lag`; groups are the question's G rollouts.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..policy.model import NEG, grpo_advantages, oapl_value


@dataclass
class Batch:
    X: np.ndarray
    neg: np.ndarray
    onehot: np.ndarray
    seg: np.ndarray
    logp_lag: np.ndarray  # (n_ep, 1)
    lag_dec: np.ndarray  # (n_dec, 1)
    rewards: np.ndarray  # (n_ep,)
    groups: list[np.ndarray]  # episode indices per question
    n_dec: int
    n_cand: int

    def oapl_args(self, beta: float, beta1: float) -> tuple:
        target = np.zeros((len(self.rewards), 1))
        for g in self.groups:
            target[g, 0] = self.rewards[g] - oapl_value(self.rewards[g], beta1)
        return (self.X, self.neg, self.onehot, self.seg, self.logp_lag, target, float(beta),
                self.n_dec, self.n_cand)

    def grpo_args(self, clip_eps: float) -> tuple:
        adv = np.zeros((len(self.rewards), 1))
        for g in self.groups:
            adv[g, 0] = grpo_advantages(self.rewards[g])
        return (self.X, self.neg, self.onehot, self.lag_dec, self.seg.T @ adv,
                float(clip_eps), self.n_dec, self.n_cand)


def pack(results: list[dict], rewards: np.ndarray, group_of: list[int]) -> Batch:
    n_dec = sum(len(r["n_cand"]) for r in results)
    C = max(n for r in results for n in r["n_cand"])
    F = results[0]["X"].shape[1]
    X = np.zeros((n_dec * C, F))
    neg = np.full((n_dec, C), NEG)
    onehot = np.zeros((n_dec, C))
    seg = np.zeros((len(results), n_dec))
    lag_dec = np.zeros((n_dec, 1))
    d = 0
    for e, r in enumerate(results):
        row = 0
        for n, ch, lp in zip(r["n_cand"], r["chosen"], r["logp"]):
            X[d * C: d * C + n] = r["X"][row: row + n]
            neg[d, :n] = 0.0
            onehot[d, ch] = 1.0
            seg[e, d] = 1.0
            lag_dec[d, 0] = lp
            row += n
            d += 1
    groups: dict[int, list[int]] = {}
    for e, g in enumerate(group_of):
        groups.setdefault(g, []).append(e)
    return Batch(X, neg, onehot, seg, seg @ lag_dec, lag_dec, np.asarray(rewards, float),
                 [np.array(v) for _, v in sorted(groups.items())], n_dec, C)
