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
Invariants: a malformed action never raises, whatever its type, size or depth (a JSON string,
a 100k-deep list, a 5000-digit integer, a cyclic dict, an `InvalidAction` from a policy that
could not form one): it costs one step and returns an "error" observation saying what was
wrong; an action must be JSON-like (str, int, float, bool, None, list, tuple, dict with str
keys) within MAX_ACTION_CHARS characters, MAX_ACTION_DEPTH levels and MAX_ACTION_ITEMS values,
checked without recursion before anything else looks at it, so that no later step (grading,
logging, json.dumps, repr) can hit a recursion or integer-digit limit; error messages quote
at most a short excerpt of what was sent; an episode ends on `answer` or when the step
budget or the token budget runs out (score 0), the answer's own tokens included (an answer
that takes the episode over the token budget is recorded, not graded: score 0); document
text is only ever returned, never
executed; cost (tool calls, approximate tokens in and out) and latency are accounted per
episode.
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
# Limits on one action: generous for any sensible call (an answer is a few names or a short
# report), small enough that parsing, searching and logging it stay cheap.
MAX_ACTION_CHARS = 20_000  # a JSON string action, or all strings of a structured one
MAX_ACTION_DEPTH = 8  # the action dict is level 1, an answer list 2, its strings 3
MAX_ACTION_ITEMS = 2_000  # values in the whole action
MAX_INT_BITS = 63  # larger integers are refused (and never turned into digits)


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


@dataclass(frozen=True)
class InvalidAction:
    """What a policy returns when it could not form an action at all (for example a language
    model's malformed tool call): the env answers with an error observation carrying `reason`
    and charges the step, exactly as for any other malformed action."""
    reason: str


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
            raise ActionError(f"'k' must be an integer from 1 to {MAX_K}, got {_brief(k)}")
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
            raise ActionError(f"'offset' must be a non-negative integer, got {_brief(offset)}")
        try:
            text, total = self.index.read(doc_id, offset, self.read_chars)
        except KeyError:
            raise ActionError(f"no document with id {_brief(doc_id)}") from None
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
        if self.token_budget is not None and self.cost.tokens > self.token_budget:
            # The answer counts against the budget like every other step: an oversize answer
            # is recorded but not graded (score 0), so padding cannot buy recall.
            self._finish(None, "token budget exhausted by the answer")
            self.answer = ans
            return {"type": "final", "score": 0.0, "text": f"Answer recorded but over the "
                    f"token budget ({self.cost.tokens} > {self.token_budget} tokens). Score: 0"}
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
    if isinstance(action, InvalidAction):
        raise ActionError(_cut(str(action.reason), 500))
    if isinstance(action, str):
        if len(action) > MAX_ACTION_CHARS:
            raise ActionError(f"action is {len(action)} characters long; the limit is "
                              f"{MAX_ACTION_CHARS}")
        try:
            action = json.loads(action)
        except json.JSONDecodeError as e:
            raise ActionError(f"action is not valid JSON: {e.msg}") from None
        except RecursionError:
            raise ActionError(f"action JSON is nested deeper than {MAX_ACTION_DEPTH} "
                              f"levels") from None
        except ValueError:  # the one other ValueError: an integer beyond the digit limit
            raise ActionError("action is not valid JSON: an integer literal with too many "
                              "digits") from None
    problem = json_like_problem(action)
    if problem:
        raise ActionError(f"malformed action: {problem}")
    if not isinstance(action, dict):
        raise ActionError(f"an action must be a dict with a 'tool' key, got "
                          f"{type(action).__name__}")
    tool = action.get("tool")
    if tool not in TOOLS:
        raise ActionError(f"unknown tool {_brief(tool)}; use one of {', '.join(TOOLS)}")
    return action


def json_like_problem(x: Any, max_chars: int = MAX_ACTION_CHARS,
                      max_depth: int = MAX_ACTION_DEPTH,
                      max_items: int = MAX_ACTION_ITEMS) -> str | None:
    """Why `x` is not a JSON-like value within the limits, or None when it is.

    An explicit stack, not recursion, and it stops at the first limit crossed, so the cost is
    bounded by the limits whatever `x` is (a cyclic list just runs into `max_depth`)."""
    stack: list[tuple[Any, int]] = [(x, 1)]
    items = chars = 0
    while stack:
        v, depth = stack.pop()
        items += 1
        if items > max_items:
            return f"more than {max_items} values"
        if depth > max_depth:
            return f"nested deeper than {max_depth} levels"
        if v is None or isinstance(v, (bool, float)):
            continue
        if isinstance(v, int):
            if v.bit_length() > MAX_INT_BITS:
                return f"an integer of {v.bit_length()} bits (at most {MAX_INT_BITS})"
        elif isinstance(v, str):
            chars += len(v)
            if chars > max_chars:
                return f"more than {max_chars} characters of text"
        elif isinstance(v, (list, tuple)):
            if items + len(v) > max_items:
                return f"more than {max_items} values"
            stack.extend((c, depth + 1) for c in v)
        elif isinstance(v, dict):
            if items + len(v) > max_items:
                return f"more than {max_items} values"
            for key, c in v.items():
                if not isinstance(key, str):
                    return f"a field name of type {type(key).__name__} (names are strings)"
                chars += len(key)
                stack.append((c, depth + 1))
        else:
            return f"a value of type {type(v).__name__} (not JSON-like)"
    return None


def _cut(text: str, n: int) -> str:
    return text if len(text) <= n else text[:n] + f"... [{len(text) - n} more characters]"


def _brief(x: Any, n: int = 80) -> str:
    """A short, safe rendering of a value for an error message: never recursion, never an
    integer-to-digits conversion beyond the limit, at most about `n` characters."""
    if isinstance(x, str):
        return repr(_cut(x, n))
    if isinstance(x, bool) or x is None or isinstance(x, float):
        return repr(x)
    if isinstance(x, int):
        return repr(x) if x.bit_length() <= MAX_INT_BITS else \
            f"<integer of {x.bit_length()} bits>"
    if isinstance(x, (list, tuple, dict)):
        return f"<{type(x).__name__} of {len(x)} items>"
    return f"<{type(x).__name__}>"


def _check_keys(action: dict, allowed: set[str]) -> None:
    extra = sorted(str(k) for k in set(action) - allowed)
    if extra:
        raise ActionError(f"unexpected field(s) for {action['tool']}: {', '.join(extra)}")


def _loggable(x: Any) -> Any:
    """`x` itself when it is JSON-like within the action limits, else a short description
    (a record must stay small and serialisable whatever the agent sent)."""
    if isinstance(x, InvalidAction):
        return {"invalid": _cut(str(x.reason), 500)}
    if isinstance(x, str):
        return _cut(x, 1000)
    if json_like_problem(x) is None:
        return x
    return _brief(x)
