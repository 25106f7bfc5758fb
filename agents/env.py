"""The search environment: episodes of tool calls that end with a graded answer.

Input: a `SearchIndex` (see `agents.tools`) and `Task`s (see `agents.tasks`).
Actions are plain dicts (a JSON string of one is accepted too):
    {"tool": "search", "query": str, "k": int = 5}          1 <= k <= MAX_K
    {"tool": "read", "doc_id": str, "offset": int = 0}      text cut to `read_chars`
    {"tool": "answer", "answer": str | number | list[str]}  ends the episode
Observations are dicts with a "type" ("question", "search_results", "document", "error",
"final"), "steps_left", the structured payload and "text", the same content rendered as a
string for language-model policies. `step` returns (observation, reward, done, info); reward
is 0 until the answer, then the regime grader's score in [0, 1].
Invariants: a malformed action never raises: it costs one step and returns an "error"
observation saying what was wrong; an episode ends on `answer` or when the step budget or
the token budget runs out (score 0); document text is only ever returned, never executed;
cost (tool calls, approximate tokens in and out) and latency are accounted per episode.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Any

from .tasks import REGIMES, Task, grade
from .tools import SearchIndex, approx_tokens

MAX_K = 20
TOOLS = ("search", "read", "answer")


@dataclass
class Cost:
    tool_calls: int = 0
    searches: int = 0
    reads: int = 0
    errors: int = 0
    tokens_in: int = 0  # tokens the agent wrote (queries, answers)
    tokens_out: int = 0  # tokens the agent had to read (question and observations)
    tool_seconds: float = 0.0
    wall_seconds: float = 0.0  # reset to the final step, the agent's own time included

    @property
    def tokens(self) -> int:
        return self.tokens_in + self.tokens_out


class ActionError(ValueError):
    """A malformed action; its message is shown to the agent."""


class SearchEnv:
    def __init__(self, index: SearchIndex, step_budget: int = 12, read_chars: int = 2400,
                 token_budget: int | None = 24000, default_k: int = 5):
        self.index = index
        self.step_budget = step_budget
        self.read_chars = read_chars
        self.token_budget = token_budget
        self.default_k = default_k
        self.task: Task | None = None
        self.done = True

    # -- episode ---------------------------------------------------------------------------
    def reset(self, task: Task) -> dict:
        self.task, self.done = task, False
        self.steps = 0
        self.cost = Cost()
        self.trajectory: list[dict] = []
        self.answer: Any = None
        self.score = 0.0
        self.end_reason = ""
        self._t0 = time.perf_counter()
        regime = REGIMES[task.regime]
        text = (f"Question ({task.regime}): {task.question}\nAnswer format: "
                f"{regime.answer_format}.\nTools: search(query, k), read(doc_id, offset), "
                f"answer(answer). Steps available: {self.step_budget}.")
        self.cost.tokens_out += approx_tokens(text)
        return {"type": "question", "question": task.question, "regime": task.regime,
                "answer_format": regime.answer_format, "steps_left": self.step_budget,
                "text": text}

    def step(self, action: Any) -> tuple[dict, float, bool, dict]:
        if self.task is None or self.done:
            return self._error("the episode is over; call reset(task) first"), 0.0, True, {}
        self.steps += 1
        t0 = time.perf_counter()
        try:
            obs = self._dispatch(action)
        except ActionError as e:
            self.cost.errors += 1
            obs = self._error(str(e))
        self.cost.tool_seconds += time.perf_counter() - t0
        if obs["type"] != "final" and not self.done:
            self.cost.tokens_out += approx_tokens(obs["text"])
            if self.steps >= self.step_budget:
                self._finish(None, "step budget exhausted")
            elif self.token_budget is not None and self.cost.tokens > self.token_budget:
                self._finish(None, "token budget exhausted")
        obs["steps_left"] = max(0, self.step_budget - self.steps)
        self.trajectory.append({"action": _loggable(action), "observation": obs["type"],
                                "detail": obs.get("error") or obs.get("doc_id") or
                                [h["doc_id"] for h in obs.get("results", [])]})
        reward = self.score if self.done else 0.0
        return obs, reward, self.done, {"reason": self.end_reason} if self.done else {}

    def _finish(self, answer: Any, reason: str) -> None:
        self.done, self.answer, self.end_reason = True, answer, reason
        self.score = grade(self.task, answer) if answer is not None else 0.0
        self.cost.wall_seconds = time.perf_counter() - self._t0

    # -- tools -----------------------------------------------------------------------------
    def _dispatch(self, action: Any) -> dict:
        action = _parse(action)
        tool = action["tool"]
        self.cost.tool_calls += 1
        if tool == "search":
            return self._search(action)
        if tool == "read":
            return self._read(action)
        return self._answer(action)

    def _search(self, action: dict) -> dict:
        _check_keys(action, {"tool", "query", "k"})
        query = action.get("query")
        if not isinstance(query, str) or not query.strip():
            raise ActionError("search needs a non-empty string 'query'")
        k = action.get("k", self.default_k)
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
            raise ActionError(f"'k' must be an integer from 1 to {MAX_K}, got {k!r}")
        self.cost.searches += 1
        self.cost.tokens_in += approx_tokens(query)
        hits = self.index.search(query, k)
        lines = [f"[{h.doc_id}] {h.title} :: {h.snippet}" for h in hits] or ["(no results)"]
        return {"type": "search_results", "query": query,
                "results": [asdict(h) for h in hits], "text": "\n".join(lines)}

    def _read(self, action: dict) -> dict:
        _check_keys(action, {"tool", "doc_id", "offset"})
        doc_id = action.get("doc_id")
        offset = action.get("offset", 0)
        if not isinstance(doc_id, str):
            raise ActionError("read needs a string 'doc_id' such as 'doc-000042'")
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise ActionError(f"'offset' must be a non-negative integer, got {offset!r}")
        try:
            text, total = self.index.read(doc_id, offset, self.read_chars)
        except KeyError:
            raise ActionError(f"no document with id {doc_id!r}") from None
        self.cost.reads += 1
        end = offset + len(text)
        more = f"\n[truncated: {total - end} more characters; read with offset={end}]" \
            if end < total else ""
        return {"type": "document", "doc_id": doc_id, "content": text, "offset": offset,
                "total_chars": total, "truncated": end < total, "text": text + more}

    def _answer(self, action: dict) -> dict:
        _check_keys(action, {"tool", "answer"})
        if "answer" not in action or action["answer"] is None:
            raise ActionError("answer needs an 'answer' field")
        ans = action["answer"]
        if not isinstance(ans, (str, int, float, list, tuple, dict)) or isinstance(ans, bool):
            raise ActionError(f"unsupported answer type {type(ans).__name__}")
        self.cost.tokens_in += approx_tokens(json.dumps(ans, default=str))
        self._finish(ans, "answered")
        return {"type": "final", "score": self.score, "text": f"Answer recorded. Score: "
                f"{self.score:.3f}"}

    def _error(self, message: str) -> dict:
        return {"type": "error", "error": message, "text": f"Error: {message}"}

    # -- records ---------------------------------------------------------------------------
    def record(self) -> dict:
        """The finished episode as one JSON-serialisable dict (one JSONL line of a run)."""
        t = self.task
        c = asdict(self.cost)
        c["tokens"] = self.cost.tokens
        return {"task_id": t.task_id, "regime": t.regime, "difficulty": t.difficulty,
                "question": t.question, "answer": _loggable(self.answer), "gold": t.answer,
                "score": self.score, "end_reason": self.end_reason, "steps": self.steps,
                "cost": c, "gold_docs": t.gold_docs, "trajectory": self.trajectory}


def _parse(action: Any) -> dict:
    if isinstance(action, str):
        try:
            action = json.loads(action)
        except json.JSONDecodeError as e:
            raise ActionError(f"action is not valid JSON: {e.msg}") from None
    if not isinstance(action, dict):
        raise ActionError(f"an action must be a dict with a 'tool' key, got "
                          f"{type(action).__name__}")
    tool = action.get("tool")
    if tool not in TOOLS:
        raise ActionError(f"unknown tool {tool!r}; use one of {', '.join(TOOLS)}")
    return action


def _check_keys(action: dict, allowed: set[str]) -> None:
    extra = sorted(str(k) for k in set(action) - allowed)
    if extra:
        raise ActionError(f"unexpected field(s) for {action['tool']}: {', '.join(extra)}")


def _loggable(x: Any) -> Any:
    try:
        json.dumps(x)
        return x
    except (TypeError, ValueError):
        return repr(x)
