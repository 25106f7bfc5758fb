"""`agents.rl.reach`: the reachability measurement separates expressivity, exploration and
choice, and can fail.

The closure from the gold documents must make the exact answer of simple questions (one
statement cell, a project's latest decided value), must not credit an answer the documents
do not support (the closure over unrelated documents stays below 1), and the probe's
"offered" grade bounds what the policy answered in the same episode.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from agents import SearchEnv, run_episode, sample_tasks
from agents.policy import N_FEATURES, init_params
from agents.rl.reach import Probe, gold_closure


def _tasks(world, regime, n=12):
    return [t for t in sample_tasks(world, regime, n, split="eval", seed=0) if t.difficulty == 1]


def test_closure_makes_the_answer_of_single_document_questions(world, index):
    env = SearchEnv(index)
    for regime in ("numeric", "aggregate", "procedure"):
        tasks = _tasks(world, regime)[:2]
        assert tasks
        for t in tasks:
            assert gold_closure(env, t) >= 0.999, (regime, t.question)


def test_closure_does_not_credit_unrelated_documents(world, index):
    env = SearchEnv(index)
    t = _tasks(world, "numeric")[0]
    other = [d.doc_id for d in world.docs if d.doc_id not in t.gold_docs
             and d.kind in ("person", "filler")][:3]
    assert gold_closure(env, dataclasses.replace(t, gold_docs=other)) < 0.5


def test_what_the_policy_answers_was_offered(world, index):
    env = SearchEnv(index)
    params = init_params(N_FEATURES, seed=3)
    rng = np.random.default_rng(0)
    params["w0"] = rng.normal(0, 0.5, params["w0"].shape)
    for regime in ("numeric", "procedure", "constraint"):
        for s, t in enumerate(sample_tasks(world, regime, 3, split="eval", seed=0)):
            a = Probe(params, name="probe")
            a.task = t
            rec = run_episode(env, a, t, seed=s)
            assert a.best_offer >= rec["score"] - 1e-9
