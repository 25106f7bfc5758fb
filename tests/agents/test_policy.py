"""The policy: OAPL/GRPO losses and their coarsen gradients, masking, and its invariants.

Gradients come from `coarsen.value_and_grad` (the default cpu target, the one training uses)
and are checked against central finite differences of the same NumPy function; the loss
values are checked against a loop-by-loop reference written independently of the padded
arrays.
"""
from __future__ import annotations

import copy

import numpy as np
import pytest

import coarsen
from agents import REGIMES, SearchEnv, SearchIndex, build_world, run_episode, sample_tasks
from agents.policy import (N_FEATURES, PolicyAgent, decision_logp, distribution, grpo_loss,
                           init_params, oapl_loss, oapl_value)
from agents.policy.candidates import build_candidates
from agents.policy.features import featurize
from agents.policy.memory import Memory
from agents.policy.model import NEG
from agents.rl.batch import pack

F, H = 7, 3


def _batch(seed: int = 0, n_ep: int = 5, max_cand: int = 6):
    """Random decisions (ragged candidate counts) packed exactly as training packs them."""
    rng = np.random.default_rng(seed)
    results, group_of = [], []
    for e in range(n_ep):
        n_dec = int(rng.integers(1, 4))
        n_cand = [int(rng.integers(1, max_cand + 1)) for _ in range(n_dec)]
        results.append({"X": rng.normal(size=(sum(n_cand), F)), "n_cand": n_cand,
                        "chosen": [int(rng.integers(0, n)) for n in n_cand],
                        "logp": list(rng.normal(-1.0, 0.3, n_dec))})
        group_of.append(e // 3)
    rewards = rng.uniform(0, 1, n_ep)
    return results, pack(results, rewards, group_of)


def _params(seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = init_params(F, H, seed)
    p["w0"] = rng.normal(0, 0.5, (F, 1))  # away from the uniform start: a generic point
    p["w2"] = rng.normal(0, 0.5, (H, 1))
    p["b1"] = rng.normal(0, 0.3, (1, H))
    return p


def _finite_difference(f, params, eps: float = 1e-6) -> dict[str, np.ndarray]:
    out = {}
    for k, v in params.items():
        g = np.zeros_like(v)
        for idx in np.ndindex(v.shape):
            hi, lo = copy.deepcopy(params), copy.deepcopy(params)
            hi[k][idx] += eps
            lo[k][idx] -= eps
            g[idx] = (f(hi) - f(lo)) / (2 * eps)
        out[k] = g
    return out


def test_oapl_loss_matches_loop_reference():
    results, b = _batch()
    p = _params()
    beta, beta1 = 0.4, 0.7
    args = b.oapl_args(beta, beta1)
    # Reference: per decision, log-softmax over its real candidates only; per group, V.
    lp = []
    for r in results:
        row, total = 0, 0.0
        for n, ch in zip(r["n_cand"], r["chosen"]):
            s = (r["X"][row:row + n] @ p["w0"] + np.tanh(r["X"][row:row + n] @ p["W1"]
                                                          + p["b1"]) @ p["w2"])[:, 0]
            total += s[ch] - np.log(np.sum(np.exp(s)))
            row += n
        lp.append(total)
    ref = 0.0
    for g in b.groups:
        v = beta1 * np.log(np.mean(np.exp(b.rewards[g] / beta1)))
        for i in g:
            ref += (beta * (lp[i] - sum(results[i]["logp"])) - (b.rewards[i] - v)) ** 2
    assert oapl_loss(p, *args) == pytest.approx(ref / len(results), rel=1e-10)


@pytest.mark.slow  # compiling the derivative with Numba takes ~15 s in a fresh cache
@pytest.mark.parametrize("which", ["oapl", "grpo"])
def test_loss_gradient_matches_finite_differences(which):
    _, b = _batch(seed=3)
    p = _params(seed=4)
    fn, args = (oapl_loss, b.oapl_args(0.3, 0.5)) if which == "oapl" else \
        (grpo_loss, b.grpo_args(10.0))  # wide clip: smooth where we difference
    loss, grad = coarsen.value_and_grad(fn)(p, *args)
    assert loss == pytest.approx(fn(p, *args), rel=1e-12)
    fd = _finite_difference(lambda q: fn(q, *args), p)
    for k in p:
        assert grad[k].shape == p[k].shape
        np.testing.assert_allclose(grad[k], fd[k], rtol=1e-5, atol=1e-7, err_msg=k)
    assert max(np.abs(g).max() for g in grad.values()) > 1e-3  # not a vacuous zero gradient


def test_padding_has_zero_probability_and_sampling_logp_matches_training():
    results, b = _batch(seed=5)
    p = _params(seed=6)
    lp = decision_logp(p, b.X, b.neg, b.onehot, b.n_dec, b.n_cand)[:, 0]
    d, expect = 0, []
    for r in results:
        row = 0
        for n, ch in zip(r["n_cand"], r["chosen"]):
            expect.append(distribution(p, r["X"][row:row + n])[ch])
            row += n
            d += 1
    np.testing.assert_allclose(lp, expect, rtol=1e-12, atol=1e-12)
    assert (b.neg[b.onehot == 1] == 0).all() and (b.neg == NEG).any()


def test_oapl_value_between_mean_and_max():
    r = np.array([0.0, 0.2, 1.0, 0.5])
    assert r.mean() < oapl_value(r, 0.5) < r.max()
    assert oapl_value(r, 1e4) == pytest.approx(r.mean(), abs=1e-4)
    assert oapl_value(r, 1e-3) == pytest.approx(r.max(), abs=1e-2)


@pytest.fixture(scope="module")
def env_world():
    world = build_world(seed=0)
    return SearchEnv(SearchIndex.build(world.docs)), world


def test_candidates_respect_episode_structure(env_world):
    env, world = env_world
    task = sample_tasks(world, "constraint", 1, split="eval")[0]
    obs = env.reset(task)
    mem = Memory.start(obs)
    first = build_candidates(mem)
    assert first and {c.tool for c in first} == {"search"}  # nothing to read or answer yet
    act = first[0].action
    mem.note_action(act, first[0].sub)
    mem.observe(env.step(act)[0])
    second = build_candidates(mem)
    assert {c.tool for c in second} == {"search", "read"}
    assert act["query"] not in [c.action.get("query") for c in second]  # no repeats
    mem.steps = mem.budget - 1
    assert {c.tool for c in build_candidates(mem)} == {"answer"}  # the last step answers


def test_features_do_not_see_the_regime_name(env_world):
    env, world = env_world
    task = sample_tasks(world, "report", 1, split="eval")[0]
    agent = PolicyAgent(init_params(N_FEATURES, seed=2))
    run_episode(env, agent, task, seed=1)
    obs = env.reset(task)
    mem_a, mem_b = Memory.start(obs), Memory.start(dict(obs, regime="numeric"))
    for mem in (mem_a, mem_b):
        mem.steps = 2
        for d in agent.mem.read:
            mem.read.append(d)
        mem.hits = dict(agent.mem.hits)
    xa = featurize(build_candidates(mem_a), mem_a)
    xb = featurize(build_candidates(mem_b), mem_b)
    assert np.array_equal(xa, xb) and np.isfinite(xa).all() and xa.shape[1] == N_FEATURES


def test_policy_episodes_are_deterministic_per_seed(env_world):
    env, world = env_world
    p = init_params(N_FEATURES, seed=3)
    for regime in REGIMES:
        task = sample_tasks(world, regime, 1, split="eval")[0]
        a = run_episode(env, PolicyAgent(p), task, seed=7)
        b = run_episode(env, PolicyAgent(p), task, seed=7)
        assert a["trajectory"] == b["trajectory"] and a["score"] == b["score"]
        assert a["trajectory"][-1]["action"]["tool"] == "answer"
    # greedy ignores the sampling rng entirely
    g1 = run_episode(env, PolicyAgent(p, greedy=True), task, seed=1)
    g2 = run_episode(env, PolicyAgent(p, greedy=True), task, seed=2)
    assert g1["trajectory"] == g2["trajectory"]


def _read_gold(env, task) -> Memory:
    obs = env.reset(task)
    mem = Memory.start(obs)
    for d in task.gold_docs[:2]:
        mem.note_action({"tool": "read", "doc_id": d}, "read")
        mem.observe(env.step({"tool": "read", "doc_id": d})[0])
    return mem


def test_auto_extract_puts_the_most_relevant_units_without_a_decision(env_world, monkeypatch):
    from agents.policy import candidates as C
    env, world = env_world
    task = sample_tasks(world, "numeric", 1, split="eval")[0]
    monkeypatch.setattr(C, "AUTO", 0)
    mem0 = _read_gold(env, task)
    build_candidates(mem0)
    assert mem0.items == []  # off: every unit is an extract decision
    monkeypatch.setattr(C, "AUTO", 2)
    mem = _read_gold(env, task)
    cands = build_candidates(mem)
    n_docs = len(mem.read)
    assert 0 < len(mem.items) <= 2 * n_docs and mem.internal == 0  # no extract counted
    for d in mem.read:  # each document's top units by the extract candidates' relevance
        units = [it for it, _ in mem.units[d.doc_id]]
        mine = [it for it in mem.items if it in units]
        best = max(C._rel(f) for _, f in mem.units[d.doc_id])
        assert mine and C._rel(mem.feats[mine[0]]) == best
    assert not any(c.item in mem.items for c in cands if c.tool == "extract")
    assert {c.item for c in cands if c.tool == "answer"} <= set(mem.items)
    build_candidates(mem)
    assert len(mem.items) == len(set(mem.items))  # a document is auto-extracted once


def test_compose_candidates_keep_operations_diverse():
    from agents.policy.candidates import Candidate, _diverse
    cs = [Candidate({"tool": "compose"}, "compose", "ratio", 0, {"i_q_label": 1.0 - i / 10})
          for i in range(6)]
    cs.append(Candidate({"tool": "compose"}, "compose", "sum", 0, {"i_q_label": 0.1}))
    out = _diverse(cs, 3)
    assert [c.sub for c in out] == ["ratio", "sum", "ratio"]
    assert out[0].feats["i_q_label"] == 1.0 and out[2].feats["i_q_label"] == 0.9
