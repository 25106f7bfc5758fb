"""SearchEnv.step keeps its promise under hostile actions: any value, of any size or depth,
as a Python object or as JSON text, yields an observation (an error observation when it is
malformed), and the episode record stays small and JSON-serialisable."""
from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.env import (MAX_ACTION_CHARS, MAX_ACTION_DEPTH, TOOLS, InvalidAction, SearchEnv,
                        json_like_problem)
from agents.tasks import sample_tasks

OBS_TYPES = {"error", "search_results", "document", "final"}


def nest(depth: int, kind: str, leaf: object = 1) -> object:
    """`depth` levels of lists or dicts around `leaf`, built without recursion."""
    v = leaf
    for _ in range(depth):
        v = [v] if kind == "list" else {"k": v}
    return v


def deep_json(depth: int, kind: str) -> str:
    return ("[" * depth + "]" * depth) if kind == "list" else \
        ('{"k":' * depth + "1" + "}" * depth)


scalars = (st.none() | st.booleans() | st.floats() | st.text(max_size=40)
           | st.integers() | st.integers(0, 6000).map(lambda n: 10 ** n)
           | st.integers(0, 60_000).map(lambda n: "x" * n))
json_like = st.recursive(scalars, lambda c: st.lists(c, max_size=6)
                         | st.dictionaries(st.text(max_size=8), c, max_size=6)
                         | st.tuples(c, c), max_leaves=30)
deep = st.builds(nest, st.integers(0, 100_000), st.sampled_from(["list", "dict"]))
values = json_like | deep
tools = st.sampled_from(TOOLS + ("delete", "", "SEARCH")) | json_like
shaped = st.fixed_dictionaries({"tool": tools}, optional={
    "query": values | st.text(min_size=1, max_size=60), "k": values | st.integers(-3, 25),
    "doc_id": values | st.sampled_from(["doc-000001", "doc-000002", "../x"]),
    "offset": values | st.integers(-5, 5000), "answer": values, "extra": values})


def as_json(v: object) -> str | None:
    try:
        return json.dumps(v)
    except (TypeError, ValueError, RecursionError):
        return None


texts = (st.builds(deep_json, st.integers(0, 100_000), st.sampled_from(["list", "dict"]))
         | st.integers(4000, 6000).map(lambda n: '{"tool": "search", "query": "x", "k": '
                                                 + "7" * n + "}")
         | st.builds(lambda n: '{"tool": "answer", "answer": ' + deep_json(n, "list") + "}",
                     st.integers(0, 20_000))
         | shaped.map(as_json).filter(lambda s: s is not None)
         | st.text(max_size=200))
actions = (shaped | values | texts | st.builds(InvalidAction, st.text(max_size=2000))
           | st.sampled_from([{1, 2}, object(), b"bytes", {1: "x"}, {("t",): 1}]))


@pytest.fixture(scope="module")
def env_task(index, world):
    return SearchEnv(index, step_budget=4), sample_tasks(world, "numeric", 1, "eval", 0)[0]


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(st.lists(actions, min_size=1, max_size=5))
def test_step_answers_every_action_with_an_observation(env_task, steps):
    env, task = env_task
    env.reset(task)
    for action in steps:
        obs, reward, done, info = env.step(action)
        assert isinstance(obs, dict) and obs["type"] in OBS_TYPES | ({"error"} if done else set())
        assert isinstance(obs["text"], str) and len(obs["text"]) < 3 * MAX_ACTION_CHARS
        assert isinstance(done, bool) and 0.0 <= reward <= 1.0
        if obs["type"] == "error":
            assert obs["text"].startswith("Error:") and len(obs["error"]) < 2000
        if done:
            break
    line = json.dumps(env.record())
    assert len(line) < 20 * MAX_ACTION_CHARS


@pytest.mark.parametrize("action", [
    "[" * 100_000, '{"tool": "search", "query": "x", "k": ' + "9" * 4301 + "}",
    {"tool": "answer", "answer": nest(5000, "list", "x")}, nest(100_000, "dict"),
    {"tool": "read", "doc_id": "doc-000001", "offset": 10 ** 5000},
    {"tool": "search", "query": "q" * (MAX_ACTION_CHARS + 1)},
], ids=["deep-json-text", "4301-digit-int", "5000-deep-answer", "100k-deep-dict",
        "5000-digit-offset", "long-query"])
def test_the_reported_crashes_are_error_observations(env_task, action):
    env, task = env_task
    env.reset(task)
    obs, reward, done, _ = env.step(action)
    assert obs["type"] == "error" and not done and reward == 0.0
    assert env.cost.errors == 1
    json.dumps(env.record())


def test_cyclic_values_and_invalid_actions(env_task):
    env, task = env_task
    env.reset(task)
    cyc: list = []
    cyc.append(cyc)
    loop: dict = {"tool": "answer"}
    loop["answer"] = loop
    for action in (cyc, loop, InvalidAction("the completion had no choices")):
        obs, *_ = env.step(action)
        assert obs["type"] == "error"
    assert obs["error"] == "the completion had no choices"
    assert env.record()["trajectory"][-1]["action"] == {
        "invalid": "the completion had no choices"}


def test_limits_admit_every_sensible_action():
    assert json_like_problem({"tool": "answer", "answer": ["Ada", "Bob"] * 50}) is None
    assert json_like_problem({"tool": "answer", "answer": {"a": [["x"]]}}) is None
    assert json_like_problem(nest(MAX_ACTION_DEPTH - 1, "list")) is None
    assert "deeper" in json_like_problem(nest(MAX_ACTION_DEPTH, "list"))
    assert "bits" in json_like_problem([2 ** 64])
