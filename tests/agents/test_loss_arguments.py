"""Fast unit checks of what the trainer hands to its losses (before: only a slow training run
noticed a mixed-up beta/beta1). Each hyperparameter gets a distinct value, and the packed
arguments are compared with references written from the definitions."""
from __future__ import annotations

import numpy as np
import pytest

from agents.policy import grpo_loss, oapl_loss
from agents.rl.batch import pack
from agents.rl.config import TrainConfig
from agents.rl.trainer import loss_and_args


def _batch(seed: int = 0, n_ep: int = 6):
    rng = np.random.default_rng(seed)
    results = []
    for _ in range(n_ep):
        n_cand = [int(rng.integers(1, 4)) for _ in range(int(rng.integers(1, 3)))]
        results.append({"X": rng.normal(size=(sum(n_cand), 5)), "n_cand": n_cand,
                        "chosen": [int(rng.integers(0, n)) for n in n_cand],
                        "logp": list(rng.normal(-1.0, 0.3, len(n_cand)))})
    rewards = np.array([0.0, 1.0, 0.25, 0.9, 0.1, 0.6])[:n_ep]
    return pack(results, rewards, [e // 3 for e in range(n_ep)])


def test_oapl_gets_beta_as_weight_and_beta1_as_temperature():
    batch = _batch()
    cfg = TrainConfig(run_dir="unused", algo="oapl", beta=0.13, beta1=0.71)
    fn, args = loss_and_args(cfg, batch)
    assert fn is oapl_loss
    names = oapl_loss.__code__.co_varnames[1:oapl_loss.__code__.co_argcount]
    packed = dict(zip(names, args))
    assert packed["beta"] == 0.13
    # target = r - V(x), V = beta1 * log(mean(exp(r / beta1))) per question group
    for g in batch.groups:
        r = batch.rewards[g]
        v = 0.71 * np.log(np.mean(np.exp(r / 0.71)))
        np.testing.assert_allclose(packed["target"][g, 0], r - v, rtol=1e-12)
    # the other way round would differ: the check can fail
    swapped = TrainConfig(run_dir="unused", algo="oapl", beta=0.71, beta1=0.13)
    other = dict(zip(names, loss_and_args(swapped, batch)[1]))
    assert other["beta"] != packed["beta"] and not np.allclose(other["target"], packed["target"])


def test_grpo_gets_its_clip():
    batch = _batch()
    fn, args = loss_and_args(TrainConfig(run_dir="unused", algo="grpo", clip_eps=0.37), batch)
    assert fn is grpo_loss
    names = grpo_loss.__code__.co_varnames[1:grpo_loss.__code__.co_argcount]
    assert dict(zip(names, args))["clip_eps"] == 0.37


def test_an_unknown_algorithm_is_refused():
    with pytest.raises(ValueError, match="unknown algo"):
        loss_and_args(TrainConfig(run_dir="unused", algo="ppo"), _batch())
