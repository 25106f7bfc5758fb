"""The learned policy is regime-agnostic: it cannot tell which regime asked.

Two checks. Statically, no module of `agents/policy` names a regime, imports the regime
registry, or reads the observation's regime or answer-format fields. Behaviourally, an
environment wrapper that renames every regime and shuffles (and rewrites) the answer-format
lines leaves the policy's decisions unchanged: the same candidates with the same features,
the same choices and log-probabilities, the same trajectory and score, on every regime, with
non-trivial (random) weights and sampled actions.
"""
from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np
import pytest

from agents import SearchEnv, SearchIndex, build_world, run_episode, sample_tasks
from agents.policy import N_FEATURES, PolicyAgent, init_params
from agents.tasks import REGIME_NAMES, REGIMES

POLICY_DIR = Path(__file__).resolve().parents[2] / "agents" / "policy"


def test_policy_package_never_names_a_regime():
    sources = sorted(POLICY_DIR.glob("*.py"))
    assert len(sources) >= 5
    bad = []
    for path in sources:
        text = path.read_text()
        for name in REGIME_NAMES:
            for m in re.finditer(rf"\b{name}\b", text, re.IGNORECASE):
                bad.append(f"{path.name}: regime name {m.group(0)!r}")
        for pat in (r"answer_format", r"[\"']regime[\"']", r"\bREGIMES\b", r"\bREGIME_NAMES\b",
                    r"from \.\.tasks import", r"from \.\.tasks\.base", r"FORMAT_KINDS"):
            if re.search(pat, text):
                bad.append(f"{path.name}: {pat}")
    assert not bad, "agents/policy must not know regimes:\n" + "\n".join(bad)


def test_static_check_would_catch_a_regime_name(tmp_path):
    """The pattern the static test uses does fire on a regime name (it can fail)."""
    text = 'if kind == "numeric":\n    pass\n'
    assert any(re.search(rf"\b{n}\b", text, re.IGNORECASE) for n in REGIME_NAMES)


class RenamingEnv:
    """The same environment, with regimes renamed and answer-format lines shuffled among the
    regimes and rewritten, in every observation the agent sees."""

    def __init__(self, env: SearchEnv, seed: int):
        self.env = env
        rng = random.Random(seed)
        names = list(REGIME_NAMES)
        formats = [REGIMES[r].answer_format for r in names]
        rng.shuffle(formats)
        self.rename = {r: f"kind-{rng.randrange(10**6)}" for r in names}
        self.format = {r: f"{f.upper()} (or anything else)" for r, f in zip(names, formats)}

    def reset(self, task):
        obs = dict(self.env.reset(task))
        r = obs["regime"]
        obs["text"] = obs["text"].replace(f"({r})", f"({self.rename[r]})").replace(
            obs["answer_format"], self.format[r])
        obs["regime"], obs["answer_format"] = self.rename[r], self.format[r]
        return obs

    def step(self, action):
        return self.env.step(action)

    def record(self):
        return self.env.record()


@pytest.fixture(scope="module")
def env_world():
    world = build_world(seed=0)
    return SearchEnv(SearchIndex.build(world.docs)), world


@pytest.mark.parametrize("seed,cardinality", [(0, False), (1, False), (2, True)])
def test_renamed_regimes_and_shuffled_formats_leave_behaviour_unchanged(env_world, seed,
                                                                        cardinality,
                                                                        monkeypatch):
    """(cardinality: with AGENTS_POLICY_CARDINALITY's descriptors of how many values an item
    holds, crossed with the question's words.)"""
    import agents.policy.candidates as candidates
    monkeypatch.setattr(candidates, "CARDINALITY", cardinality)
    env, world = env_world
    rng = np.random.default_rng(seed)
    params = init_params(N_FEATURES, 8, seed)
    params["w0"] = rng.normal(0, 0.5, (N_FEATURES, 1))  # a non-uniform policy
    wrapped = RenamingEnv(env, seed)
    changed_obs = 0
    for regime in REGIME_NAMES:
        for task in sample_tasks(world, regime, 2, split="eval", seed=seed):
            a, b = PolicyAgent(params), PolicyAgent(params)
            ra = run_episode(env, a, task, seed=seed)
            rb = run_episode(wrapped, b, task, seed=seed)
            changed_obs += wrapped.reset(task)["text"] != env.reset(task)["text"]
            assert ra["trajectory"] == rb["trajectory"] and ra["score"] == rb["score"]
            assert len(a.decisions) == len(b.decisions)
            for da, db in zip(a.decisions, b.decisions):
                assert np.array_equal(da.X, db.X) and da.chosen == db.chosen
                assert da.logp == db.logp
    assert changed_obs == 2 * len(REGIME_NAMES)  # the wrapper really changed what is shown


def test_cardinality_descriptor_is_how_many_values_an_item_holds(monkeypatch):
    import agents.policy.candidates as candidates
    from agents.policy.items import Item
    def item(value):
        return Item("set", value, "customers", "", ("doc-1",), None, False, "list")
    monkeypatch.setattr(candidates, "CARDINALITY", False)
    assert candidates._tokens("answer", item(("a", "b"))) == (
        "answer", "answer:set", "answer:list", "answer:set:list")
    monkeypatch.setattr(candidates, "CARDINALITY", True)
    got = {n: candidates._tokens("answer", item(tuple("abcdefg"[:n])))[-1] for n in (1, 2, 4, 5)}
    assert got == {1: "answer:n:one", 2: "answer:n:few", 4: "answer:n:few", 5: "answer:n:many"}
    assert candidates._tokens("compose", item("Acme"))[-1] == "compose:n:one"
