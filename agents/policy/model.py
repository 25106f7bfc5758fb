"""The policy's numbers: scores, masked log-softmax, and the RL losses, as plain NumPy.

Input: `params` (a dict of float64 arrays: `w0` (F, 1) linear, `W1` (F, H) (row i drawn at
initialisation from a generator seeded by the run seed and feature i's name), `b1` (1, H),
`w2` (H, 1)), and a batch of decisions packed as 2-D arrays: `X` (n_dec * n_cand, F) features,
`neg` (n_dec, n_cand) 0 for real candidates and -1e9 for padding, `onehot` (n_dec, n_cand) the
chosen candidate, `seg` (n_episodes, n_dec) 0/1 episode membership.
Output: per-decision and per-episode log-probabilities, the OAPL loss, the GRPO loss.
Invariants: every function that takes `params` is written in the subset `coarsen.grad`
differentiates (matmul of rank <= 2, elementwise NumPy, reductions with keepdims, reshape to
2-D, no rank-3 arrays), so the gradient used in training is coarsen's; the same `scores` runs
at sampling time, so the sampled log-probabilities are the model's; padded candidates have
probability exactly 0 and contribute 0 to every sum.
"""
from __future__ import annotations

import zlib
from typing import Sequence

import numpy as np

NEG = -1e9  # additive mask for padded candidates: exp underflows to 0, no inf * 0 = nan


# The hidden layer's initial scale: 1/sqrt(n_features) of the 220-feature layout (92 named, 128
# hashed), fixed, so that adding a feature does not rescale every other feature's row.
W1_STD = 1.0 / np.sqrt(220.0)


def feature_rng(seed: int, name: str) -> np.random.Generator:
    """The generator of one named parameter block: seeded by (run seed, crc32 of the name), a
    stable hash (not Python's salted `hash`), so the draw is the same in every process and
    does not depend on which other features exist or in what order."""
    return np.random.default_rng([int(seed), zlib.crc32(name.encode("utf-8"))])


def init_params(n_features: int, hidden: int = 16, seed: int = 0,
                names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Near-uniform initial policy: zero linear part, small random hidden layer.

    Each feature's row of `W1` is drawn from its own generator, seeded by (seed, the
    feature's name) (`feature_rng`), and `w2` from one seeded by (seed, "output"): adding,
    removing or reordering features leaves every other feature's initial row bit-identical,
    so a feature-set change no longer re-rolls the whole initialisation. `names` defaults to
    the policy's feature names (`features.FEATURE_NAMES`) when `n_features` is their count,
    else to positional names ("#0", "#1", ...)."""
    if names is None:
        from .features import FEATURE_NAMES
        names = FEATURE_NAMES if len(FEATURE_NAMES) == n_features else \
            tuple(f"#{i}" for i in range(n_features))
    if len(names) != n_features or len(set(names)) != n_features:
        raise ValueError(f"init_params: {len(names)} names ({len(set(names))} distinct) "
                         f"for {n_features} features")
    W1 = np.empty((n_features, hidden))
    for i, name in enumerate(names):
        W1[i] = feature_rng(seed, "feature:" + name).normal(0.0, W1_STD, hidden)
    return {"w0": np.zeros((n_features, 1)),
            "W1": W1,
            "b1": np.zeros((1, hidden)),
            "w2": feature_rng(seed, "output").normal(0.0, 0.01, (hidden, 1))}


def scores(params, X):
    """(rows, 1) score of each candidate row: linear + one tanh layer."""
    h = np.tanh(X @ params["W1"] + params["b1"])
    return X @ params["w0"] + h @ params["w2"]


def decision_logp(params, X, neg, onehot, n_dec, n_cand):
    """(n_dec, 1) log-probability of the chosen candidate under the masked softmax."""
    s = np.reshape(scores(params, X), (n_dec, n_cand)) + neg
    m = np.max(s, axis=1, keepdims=True)
    lse = np.log(np.sum(np.exp(s - m), axis=1, keepdims=True)) + m
    return np.sum((s - lse) * onehot, axis=1, keepdims=True)


def episode_logp(params, X, neg, onehot, seg, n_dec, n_cand):
    """(n_episodes, 1) log pi(y|x): the sum of an episode's decision log-probabilities."""
    return seg @ decision_logp(params, X, neg, onehot, n_dec, n_cand)


def oapl_loss(params, X, neg, onehot, seg, logp_lag, target, beta, n_dec, n_cand):
    """OAPL: mean_i (beta * log(pi(y_i|x) / pi_lag(y_i|x)) - (r_i - V(x)))^2.

    `logp_lag` (n_episodes, 1) is the lagged (sampling) policy's log pi(y_i|x), recorded at
    sampling time; `target` (n_episodes, 1) is r_i - V(x) with V from `oapl_value`. No
    importance ratio and no clipping: the squared error pulls beta * log-ratio towards the
    advantage, which is the KL-regularised optimum's closed form. The mean (not the sum) over
    episodes only rescales the step size.
    """
    lp = episode_logp(params, X, neg, onehot, seg, n_dec, n_cand)
    d = beta * (lp - logp_lag) - target
    return np.sum(d * d) / lp.shape[0]


def grpo_loss(params, X, neg, onehot, logp_lag_dec, adv_dec, clip_eps, n_dec, n_cand):
    """GRPO (the comparison): per-decision clipped importance ratio times the episode's
    group-normalised advantage, averaged over decisions; no KL term (as in DAPO)."""
    lp = decision_logp(params, X, neg, onehot, n_dec, n_cand)
    ratio = np.exp(lp - logp_lag_dec)
    clipped = np.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps)
    surrogate = np.minimum(ratio * adv_dec, clipped * adv_dec)
    return -np.sum(surrogate) / lp.shape[0]


# -- plain NumPy helpers (not differentiated) ------------------------------------------------
def oapl_value(rewards: np.ndarray, beta1: float) -> float:
    """V(x) = beta1 * log(mean_i exp(r_i / beta1)), computed stably: between mean and max."""
    z = np.asarray(rewards, dtype=np.float64) / beta1
    m = z.max()
    return float(beta1 * (m + np.log(np.mean(np.exp(z - m)))))


def grpo_advantages(rewards: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    r = np.asarray(rewards, dtype=np.float64)
    return (r - r.mean()) / (r.std() + eps)


def distribution(params: dict, X: np.ndarray) -> np.ndarray:
    """Log-probabilities of one decision's candidates (X: (n, F)), with the training code's
    `scores`, so the sampled log-probabilities equal what training recomputes."""
    s = scores(params, X)[:, 0]
    s = s - s.max()
    return s - np.log(np.sum(np.exp(s)))
