"""The default run's shortcuts change no result: cached rankings, cached item features, the
vectorised featurizer, and vote@N sampled once for the largest N (issue #16, run time).

Each test compares a shortcut with the straightforward computation it replaces.
"""
from __future__ import annotations

import numpy as np
import pytest

from agents.baselines import run_episode
from agents.env import SearchEnv
from agents.policy import N_FEATURES, PolicyAgent, init_params
from agents.policy.candidates import item_feats
from agents.policy.features import DENSE, INDEX, _cross, cross_words, featurize
from agents.rl.evaluate import evaluate_agent, evaluate_votes
from agents.tasks import REGIME_NAMES, Task, sample_tasks
from agents.tools import SearchIndex


def reference_featurize(cands, mem) -> np.ndarray:
    """The featurizer as first written: one candidate at a time, one feature at a time."""
    X = np.zeros((len(cands), N_FEATURES))
    progress = mem.steps / max(1, mem.budget)
    n_reads, n_searches = min(len(mem.read), 8) / 4.0, min(len(mem.queries), 8) / 4.0
    n_items = min(len(mem.items), 16) / 8.0
    cw = cross_words(mem.question)
    scale = 1.0 / np.sqrt(max(1, len(cw)))
    for i, c in enumerate(cands):
        row, t = X[i], c.tool
        row[INDEX[f"tool:{t}"]] = 1.0
        row[INDEX[f"{t}*progress"]] = progress
        row[INDEX[f"{t}*reads"]] = n_reads
        row[INDEX[f"{t}*items"]] = n_items
        if t == "search":
            row[INDEX["search*searches"]] = n_searches
            row[INDEX["search*empty_last"]] = float(mem.last_results == 0)
            row[INDEX[f"q:{c.sub}"]] = 1.0
        elif t == "answer":
            row[INDEX["answer*searches"]] = n_searches
            row[INDEX["answer*last_chance"]] = float(mem.steps_left <= 2)
        elif t in ("extract", "compose"):
            row[INDEX["internal*run"]] = mem.internal_run / 4.0
        if c.item is not None and t != "answer":
            row[INDEX[f"kind:{c.item.kind}"]] = 1.0
            row[INDEX[f"how:{c.item.how}"]] = 1.0
        for name, v in c.feats.items():
            row[INDEX[name]] = v
        for tok in c.tokens:
            row[len(DENSE):] += _cross(tok, cw) * scale
    return X


@pytest.mark.parametrize("regime", REGIME_NAMES)
def test_vectorised_features_equal_the_reference(regime, monkeypatch, world, index):
    import agents.policy.agent as agent_module
    checked = []

    def checking(cands, mem):
        X = featurize(cands, mem)
        assert np.array_equal(X, reference_featurize(cands, mem))
        for c in cands:
            if c.item is not None:  # the cached newest-flag against the whole memory
                days = [i.day for i in mem.items if i.day] + [c.item.day]
                want = float(bool(c.item.day) and c.item.day >= max(days))
                assert item_feats(mem, c.item)["i_newest"] == want
        checked.append(len(cands))
        return X

    monkeypatch.setattr(agent_module, "featurize", checking)
    task = sample_tasks(world, regime, 1, split="eval", seed=1)[0]
    rec = run_episode(SearchEnv(index), PolicyAgent(init_params(N_FEATURES, seed=4)), task,
                      seed=3)
    assert rec["trajectory"][-1]["action"]["tool"] == "answer" and len(checked) >= 3


def test_search_cache_returns_the_fresh_ranking(index):
    fresh = SearchIndex(index.ids, index.titles, index.texts, index.retriever)
    for q in ("Summit division Q2 2023", "error E-3124 Atlas", "Project Keystone budget",
              "Summit division Q2 2023"):
        for k in (1, 5, 10):
            a, b = index.search(q, k), fresh._search(q, k, "bm25")
            assert a == b and len(a) <= k
    assert ("Summit division Q2 2023", 5, "bm25") in index._cache
    hits = index.search("Summit division Q2 2023", 5)
    hits.clear()  # callers get their own list
    assert len(index.search("Summit division Q2 2023", 5)) == 5


class CountingSampler:
    """Stands in for the worker pool: a rollout's answer is fixed by (task, sample)."""

    def __init__(self):
        self.jobs = 0

    def run(self, jobs, params, desc=None, progress=False):
        self.jobs += len(jobs)
        return [{"tag": j.tag, "answer_logp": -0.1 * j.tag["sample"], "record": {
            "score": 0.0, "answer": f"name {(j.tag['task'] * j.tag['sample']) % 3}",
            "cost": {"tool_calls": 1 + j.tag["sample"], "tokens": 10,
                     "wall_seconds": 0.01 * j.tag["sample"]}}} for j in jobs]


def test_vote_at_n_uses_the_first_n_rollouts_of_the_largest_n():
    tasks = {r: [Task(f"{r}-{i}", r, 1, "q", f"name {i % 3}", "value", [], f"{r}:{i}")
                 for i in range(5)] for r in ("constraint", "aggregate")}
    both = CountingSampler()
    votes = evaluate_votes(both, tasks, "policy", {}, (4, 8), temperature=0.5)
    assert both.jobs == 8 * 10  # sampled once, for N = 8
    for n in (4, 8):
        alone = CountingSampler()
        want = evaluate_agent(alone, tasks, "policy", {}, samples=n, temperature=0.5)
        assert alone.jobs == n * 10
        assert votes[n]["scores"] == want["scores"]
        assert votes[n]["per_regime"] == want["per_regime"]
        assert len(votes[n]["episodes"]) == len(want["episodes"]) == n * 10


def test_evaluation_jobs_leave_the_decisions_behind_and_change_nothing_else(world, index,
                                                                          tmp_path):
    """An evaluation job (`decisions=False`) returns the same episode and answer
    log-probability as a training job, without the decision arrays it does not need."""
    from agents.rl import rollout
    from agents.rl.rollout import Job, run_jobs
    index.save(tmp_path / "index")
    rollout._init(str(tmp_path / "index"), 12)
    params = init_params(N_FEATURES, seed=2)
    task = sample_tasks(world, "numeric", 1, split="eval", seed=0)[0]
    full, lean = (run_jobs([Job(task, 5, "policy", False, {"t": 0}, 0.5, decisions=d)],
                           params)[0] for d in (True, False))
    assert "X" in full and "X" not in lean and "logp" not in lean
    assert lean["answer_logp"] == full["answer_logp"] == full["logp"][-1]
    strip = ("wall_seconds", "tool_seconds")
    same = [{k: v for k, v in r["record"]["cost"].items() if k not in strip}
            for r in (full, lean)]
    assert same[0] == same[1]
    assert full["record"]["trajectory"] == lean["record"]["trajectory"]
    assert full["record"]["score"] == lean["record"]["score"]


def test_hashed_crosses_equal_the_loop_over_words():
    from agents.policy.features import _bucket
    cws = [(), ("list",), ("all", "list", "list_all", "customers", "the", "in", "the_region")]
    for token in ("answer", "answer:set", "compose:number:growth", "read:account profile"):
        for cw in cws:
            want = np.zeros(N_FEATURES - len(DENSE))
            for w in cw:
                j, sign = _bucket(token, w)
                want[j - len(DENSE)] += sign
            assert np.array_equal(_cross(token, cw), want)
    # two words of one bucket add up (a collision is a sum, not an overwrite)
    hits = {}
    for k in range(2000):
        j, sign = _bucket("answer", f"w{k}")
        if (j, sign) in hits:
            pair = (hits[(j, sign)], f"w{k}")
            break
        hits[(j, sign)] = f"w{k}"
    assert _cross("answer", pair)[j - len(DENSE)] == 2 * sign


def test_vocabulary_leaves_out_only_the_crosses_of_unseen_words(monkeypatch):
    """AGENTS_POLICY_VOCAB (an experiment): a question whose words are all in the vocabulary
    is featurized as without one; other words and pairs are left out of the crosses."""
    import agents.policy.features as features
    from agents.policy.text import analyse
    q = analyse("Name the customer that operates in the Banking industry.")
    other = analyse("Which customers are in the Banking industry? All of them.")
    full, other_full = cross_words(q), cross_words(other)
    assert {"customers", "are", "the_industry"} <= set(other_full)
    monkeypatch.setattr(features, "VOCAB", frozenset(full) | {"are"})
    features.cross_words.cache_clear()
    try:
        assert features.cross_words(q) == full
        assert features.cross_words(other) == (
            "are", "in", "in_the", "industry", "the", "the_industry")
    finally:
        monkeypatch.setattr(features, "VOCAB", None)
        features.cross_words.cache_clear()
