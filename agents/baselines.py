"""Reference agents and the episode loop.

Input: a `SearchEnv`, an agent and a `Task`. Output: the episode record (see
`SearchEnv.record`). Agents implement `begin(observation, task, rng)` and
`act(observation) -> action`; only agents with `privileged = True` (the oracle) are handed
the task, every other agent gets `task=None` and must work from tool output.
- `OracleAgent`: reads the gold documents, then submits the canonical answer. It must score
  1.0 everywhere: that proves each question is answerable and each grader accepts the truth.
- `RandomAgent`: random queries from a fixed word list, random reads, and an answer of the
  right shape cut at random from what it read: the floor.
- `HeuristicAgent` (agents.heuristic): the keyword-BM25 baseline a trained policy must beat.
Invariants: `run_episode` always terminates (the env enforces the step budget) and is
deterministic for a given agent, task and seed (latencies aside).
"""
from __future__ import annotations

import random
import re
from typing import Any, Protocol

from .env import SearchEnv
from .heuristic import HeuristicAgent
from .tasks import Task


class Agent(Protocol):
    name: str
    privileged: bool

    def begin(self, observation: dict, task: Task | None, rng: random.Random) -> None: ...

    def act(self, observation: dict) -> dict: ...


def run_episode(env: SearchEnv, agent: Agent, task: Task, seed: int = 0) -> dict:
    obs = env.reset(task)
    rng = random.Random(f"{seed}:{task.task_id}:{agent.name}")
    agent.begin(obs, task if getattr(agent, "privileged", False) else None, rng)
    done = False
    while not done:
        obs, _, done, _ = env.step(agent.act(obs))
    rec = env.record()
    rec["agent"] = agent.name
    return rec


class OracleAgent:
    name = "oracle"
    privileged = True

    def begin(self, observation: dict, task: Task | None, rng: random.Random) -> None:
        if task is None:
            raise ValueError("the oracle needs the task")
        budget = observation["steps_left"] - 1
        self.plan = [{"tool": "read", "doc_id": d} for d in task.gold_docs[:budget]]
        self.plan.append({"tool": "answer", "answer": task.answer})

    def act(self, observation: dict) -> dict:
        return self.plan.pop(0)


WORDS = ("account", "profile", "revenue", "team", "sync", "runbook", "error", "deal", "stage",
         "customer", "region", "division", "quarter", "statement", "product", "release",
         "notes", "policy", "newsletter", "owner", "budget", "launch", "status", "steps",
         "directory", "pipeline", "engineer", "manager", "office", "segment")


class RandomAgent:
    name = "random"
    privileged = False

    def __init__(self, steps: int = 4):
        self.steps = steps

    def begin(self, observation: dict, task: Task | None, rng: random.Random) -> None:
        self.rng, self.regime, self.left = rng, observation["regime"], self.steps
        self.hits: list[str] = []
        self.texts: list[str] = []

    def act(self, observation: dict) -> dict:
        if observation["type"] == "search_results":
            self.hits = [h["doc_id"] for h in observation["results"]]
        elif observation["type"] == "document":
            self.texts.append(observation["content"])
        self.left -= 1
        if self.left <= 0 or observation["steps_left"] <= 1:
            return {"tool": "answer", "answer": self._answer()}
        if self.hits and self.rng.random() < 0.5:
            return {"tool": "read", "doc_id": self.rng.choice(self.hits)}
        return {"tool": "search", "query": " ".join(self.rng.sample(WORDS, 2)),
                "k": self.rng.randint(1, 10)}

    def _answer(self) -> Any:
        text = "\n".join(self.texts)
        lines = [ln.strip("-# ").strip() for ln in text.splitlines() if ln.strip()] or ["none"]
        names = re.findall(r"\b[A-Z][a-z]+ [A-Z][a-z]+\b", text) or ["Nobody Known"]
        numbers = re.findall(r"\$?\d[\d,]*(?:\.\d+)?%?", text) or ["0"]
        pick = self.rng.choice
        if self.regime == "constraint":
            return pick(names)
        if self.regime == "exhaustive":
            return self.rng.sample(names, min(len(names), self.rng.randint(1, 5)))
        if self.regime == "procedure":
            return self.rng.sample(lines, min(len(lines), self.rng.randint(2, 6)))
        if self.regime == "report":
            return " ".join(self.rng.sample(lines, min(len(lines), 4)))
        if self.regime == "numeric":
            return pick(numbers)
        return pick(names + numbers)


def make_agent(name: str, **kwargs: Any) -> Agent:
    factories = {"oracle": OracleAgent, "random": RandomAgent, "heuristic": HeuristicAgent}
    if name not in factories:
        raise ValueError(f"unknown agent {name!r}; choose from {', '.join(factories)}")
    return factories[name](**kwargs)


AGENT_NAMES = ("oracle", "random", "heuristic")
