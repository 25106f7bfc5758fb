"""Reference agents: oracle 1.0 everywhere, random near 0, heuristic in between; recall@10."""
from __future__ import annotations

import random

import pytest

from agents.baselines import OracleAgent, make_agent, run_episode
from agents.env import SearchEnv
from agents.run import recall_at_10
from agents.tasks import REGIME_NAMES, sample_tasks

N = 24


@pytest.fixture(scope="module")
def eval_tasks(world):
    return {r: sample_tasks(world, r, N, "eval", 0) for r in REGIME_NAMES}


def scores(index, tasks, agent_name, **kw):
    env = SearchEnv(index)
    return [run_episode(env, make_agent(agent_name, **kw), t)["score"] for t in tasks]


def mean(xs):
    return sum(xs) / len(xs)


@pytest.mark.parametrize("regime", REGIME_NAMES)
def test_oracle_scores_one_on_every_task(index, world, regime, eval_tasks):
    tasks = eval_tasks[regime] + sample_tasks(world, regime, N, "train", 1)
    assert scores(index, tasks, "oracle") == [1.0] * len(tasks)


@pytest.mark.parametrize("regime", REGIME_NAMES)
def test_random_is_near_zero(index, regime, eval_tasks):
    assert mean(scores(index, eval_tasks[regime], "random")) <= 0.05


def test_heuristic_is_between_random_and_oracle(index, eval_tasks):
    h = {r: mean(scores(index, eval_tasks[r], "heuristic")) for r in REGIME_NAMES}
    rnd = {r: mean(scores(index, eval_tasks[r], "random")) for r in REGIME_NAMES}
    print("heuristic:", {r: round(v, 3) for r, v in h.items()})
    # clearly above random everywhere (constraint is the weakest regime, ~0.3-0.4)
    assert all(h[r] >= rnd[r] + 0.2 for r in REGIME_NAMES), h
    # clearly below the oracle on most regimes
    assert sum(v <= 0.85 for v in h.values()) >= 4, h
    assert 0.4 <= mean(list(h.values())) <= 0.85


def test_episodes_are_deterministic(index, eval_tasks):
    env = SearchEnv(index)
    for r in REGIME_NAMES:
        for name in ("random", "heuristic"):
            a = run_episode(env, make_agent(name), eval_tasks[r][0], seed=3)
            b = run_episode(env, make_agent(name), eval_tasks[r][0], seed=3)
            for rec in (a, b):
                rec["cost"].pop("tool_seconds")
                rec["cost"].pop("wall_seconds")
            assert a == b


def test_only_the_oracle_sees_the_task(index, eval_tasks):
    seen = []

    class Spy:
        name, privileged = "spy", False

        def begin(self, observation, task, rng):
            seen.append(task)
            assert set(observation) >= {"question", "regime", "answer_format", "steps_left"}
            assert "answer" not in observation and "gold" not in str(observation)

        def act(self, observation):
            return {"tool": "answer", "answer": "x"}

    env = SearchEnv(index)
    run_episode(env, Spy(), eval_tasks["numeric"][0])
    assert seen == [None]
    with pytest.raises(ValueError):
        OracleAgent().begin({"steps_left": 3}, None, random.Random(0))


def test_heuristic_noise_makes_a_family_of_solvers(index, eval_tasks):
    tasks = [t for r in REGIME_NAMES for t in eval_tasks[r][:8]]
    env = SearchEnv(index)
    varied = 0
    for t in tasks:
        s = {run_episode(env, make_agent("heuristic", noise=0.6, reads=2), t, seed=i)["score"]
             for i in range(4)}
        varied += len(s) > 1
    assert varied >= 5


def test_bm25_recall_at_10_per_regime(index, eval_tasks, capsys):
    recall = {r: recall_at_10(index, eval_tasks[r]) for r in REGIME_NAMES}
    with capsys.disabled():
        print("\nBM25 recall@10 of gold documents (question as query):",
              {r: round(v, 3) for r, v in recall.items()})
    # Ranking works (far above chance, 10/2000) but the question alone is not enough:
    # multi-document regimes leave gold documents outside the top 10.
    assert all(v >= 0.4 for v in recall.values()), recall
    assert min(recall.values()) < 0.9, recall
