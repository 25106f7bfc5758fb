"""`PolicyAgent`: the trainable policy behind the `Agent` protocol of `agents.baselines`.

Input: parameters (see `model`), observations from `SearchEnv`. Output: actions; for
training, one `Decision` per choice (features of every candidate, the chosen index and its
log-probability under the parameters that acted). A choice is a tool call (search, read,
answer) or a working-memory action (extract, compose) that calls no tool: `act` keeps
choosing until it picks a tool call, so one env step may hold several decisions.
Invariants: acts from observations only (`privileged = False`); sampling uses the episode's
`random.Random` from `run_episode`, so an episode is a pure function of (params, task, seed);
greedy mode takes the arg-max (ties: first candidate); the recorded log-probability is
`model.distribution`'s (at temperature 1, whatever the sampling temperature), the same
scores training recomputes.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import numpy as np

from .candidates import Candidate, build_candidates
from .features import featurize
from .memory import Memory
from .model import distribution


@dataclass
class Decision:
    X: np.ndarray  # (n_candidates, N_FEATURES)
    chosen: int
    logp: float  # log pi(chosen) under the acting parameters
    tool: str
    sub: str


class PolicyAgent:
    privileged = False

    def __init__(self, params: dict[str, np.ndarray], greedy: bool = False,
                 name: str = "policy", temperature: float = 1.0):
        # temperature != 1 is for test-time sampling only: training needs the recorded
        # log-probabilities to be the model's own (temperature 1).
        self.params, self.greedy, self.name = params, greedy, name
        self.temperature = temperature
        self.decisions: list[Decision] = []

    def begin(self, observation: dict, task: Any = None, rng: random.Random | None = None):
        self.rng = rng or random.Random(0)
        self.mem = Memory.start(observation)
        self.decisions = []
        self.last: Candidate | None = None

    def act(self, observation: dict) -> dict:
        if observation.get("type") != "question":
            self.mem.observe(observation)
        # The env's count is the truth (errors cost steps too).
        self.mem.steps = self.mem.budget - int(observation.get("steps_left", self.mem.budget))
        while True:
            cands = build_candidates(self.mem)
            X = featurize(cands, self.mem)
            logp = distribution(self.params, X)
            if self.greedy:
                i = int(np.argmax(logp))
            elif self.temperature == 1.0:
                i = _sample(logp, self.rng)
            else:
                z = logp / self.temperature
                i = _sample(z - np.log(np.sum(np.exp(z - z.max()))) - z.max(), self.rng)
            c = cands[i]
            self.decisions.append(Decision(X, i, float(logp[i]), c.tool, c.sub))
            self.last = c
            if c.tool in ("extract", "compose"):
                self.mem.add(c.item)  # working memory only: no tool call, no env step
                continue
            self.mem.note_action(c.action, c.sub)
            return c.action

    @property
    def answer_logp(self) -> float:
        """Log-probability of the final (answer) decision: the policy's confidence."""
        return self.decisions[-1].logp if self.decisions else 0.0


def _sample(logp: np.ndarray, rng: random.Random) -> int:
    u, acc = rng.random(), 0.0
    p = np.exp(logp)
    for i, pi in enumerate(p):
        acc += pi
        if u < acc:
            return i
    return int(len(p) - 1)
