"""`LLMPolicy`: the search environment driven by any OpenAI-compatible chat-completions
endpoint, with rollouts written as JSONL (messages, tokens, log-probabilities, reward) for GPU
trainers.

Input: a base URL serving `POST {base_url}/chat/completions` (OpenAI protocol with `tools`),
a model name, tasks and a `SearchEnv`. Output: per episode one JSONL line: the task, the full
message list, one entry per assistant turn (the message, its tokens and log-probabilities as
the server returned them, finish reason, usage), the env's episode record, and `reward` (the
grader's score).
Invariants: the model acts only through three JSON tool schemas (search, read, answer); the
first tool call of a turn is executed and only that call is kept in the transcript (every
kept call gets exactly one tool reply, so the conversation stays valid for the next request);
a turn without a tool call answers with its text; malformed arguments reach the env as an
invalid action and come back as an error observation, never an exception; network errors are
retried `max_retries` times, then raised.

Pointing it at vLLM (on a GPU machine; the server needs a tool-call parser for the model):

    vllm serve Qwen/Qwen2.5-7B-Instruct --port 8000 \\
        --enable-auto-tool-choice --tool-call-parser hermes
    python -m agents.llm --base-url http://127.0.0.1:8000/v1 \\
        --model Qwen/Qwen2.5-7B-Instruct --regimes constraint report --n 20 --out runs/llm

`--token-ids` asks vLLM for token ids (`return_tokens_as_token_ids`), which trainers need to
rebuild the exact sequences; other servers may reject that field, so it is opt-in.
"""
from __future__ import annotations

import argparse
import json
import random
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from .baselines import run_episode
from .env import MAX_K, SearchEnv
from .tasks import Task

TOOL_SCHEMAS = [
    {"type": "function", "function": {
        "name": "search", "description": "BM25 search over the company's documents.",
        "parameters": {"type": "object", "properties": {
            "query": {"type": "string", "description": "keywords"},
            "k": {"type": "integer", "minimum": 1, "maximum": MAX_K}},
            "required": ["query"]}}},
    {"type": "function", "function": {
        "name": "read", "description": "Read a document by id (text is cut; use offset).",
        "parameters": {"type": "object", "properties": {
            "doc_id": {"type": "string", "description": "e.g. doc-000042"},
            "offset": {"type": "integer", "minimum": 0}}, "required": ["doc_id"]}}},
    {"type": "function", "function": {
        "name": "answer", "description": "Submit the final answer; ends the episode.",
        "parameters": {"type": "object", "properties": {
            "answer": {"anyOf": [{"type": "string"}, {"type": "number"},
                                 {"type": "array", "items": {"type": "string"}}]}},
            "required": ["answer"]}}},
]
SYSTEM = ("You answer questions about a company by searching its internal documents. Use the "
          "tools: search for documents, read the promising ones, then call answer exactly "
          "once with the answer in the requested format. Be economical: every call costs.")


class ChatClient:
    """Minimal OpenAI-compatible client (urllib only, so no extra dependency)."""

    def __init__(self, base_url: str, model: str, api_key: str | None = None,
                 timeout: float = 60.0, max_retries: int = 2, extra: dict | None = None):
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model, self.api_key, self.timeout = model, api_key, timeout
        self.max_retries, self.extra = max_retries, dict(extra or {})

    def complete(self, messages: list[dict], **params: Any) -> dict:
        body = json.dumps({"model": self.model, "messages": messages, **self.extra,
                           **params}).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        for attempt in range(self.max_retries + 1):
            req = urllib.request.Request(self.url, body, headers, method="POST")
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    return json.loads(resp.read())
            except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
                if attempt == self.max_retries or (isinstance(e, urllib.error.HTTPError)
                                                   and e.code < 500):
                    raise
                time.sleep(0.5 * 2 ** attempt)  # a restarting server gets a moment
        raise AssertionError("unreachable")


def _logprobs(choice: dict) -> tuple[list[str], list[float]]:
    content = (choice.get("logprobs") or {}).get("content") or []
    return [t.get("token", "") for t in content], [float(t.get("logprob", 0.0)) for t in content]


class LLMPolicy:
    """An `Agent` (see agents.baselines) whose every action is one chat completion."""

    privileged = False

    def __init__(self, client: ChatClient, temperature: float = 0.7, max_tokens: int = 512,
                 system: str = SYSTEM, name: str = "llm"):
        self.client, self.temperature, self.max_tokens = client, temperature, max_tokens
        self.system, self.name = system, name

    def begin(self, observation: dict, task: Task | None = None,
              rng: random.Random | None = None) -> None:
        self.messages: list[dict] = [{"role": "system", "content": self.system},
                                     {"role": "user", "content": observation["text"]}]
        self.turns: list[dict] = []
        self.call_id: str | None = None
        self.seed = (rng or random.Random(0)).randrange(2**31)

    def act(self, observation: dict) -> Any:
        if observation["type"] != "question" and self.call_id is not None:
            self.messages.append({"role": "tool", "tool_call_id": self.call_id,
                                  "content": observation["text"]})
        elif observation["type"] != "question":
            self.messages.append({"role": "user", "content": observation["text"]})
        resp = self.client.complete(self.messages, tools=TOOL_SCHEMAS, tool_choice="auto",
                                    temperature=self.temperature, max_tokens=self.max_tokens,
                                    logprobs=True, seed=self.seed + len(self.turns))
        choice = resp["choices"][0]
        msg = dict(choice.get("message") or {"role": "assistant", "content": ""})
        msg["role"] = "assistant"
        calls = msg.get("tool_calls") or []
        tokens, logprobs = _logprobs(choice)
        self.turns.append({"message": msg, "tokens": tokens, "logprobs": logprobs,
                           "finish_reason": choice.get("finish_reason"),
                           "usage": resp.get("usage", {})})
        if not calls:
            self.call_id = None
            self.messages.append({"role": "assistant", "content": msg.get("content") or ""})
            return {"tool": "answer", "answer": (msg.get("content") or "").strip() or "unknown"}
        call = calls[0]
        self.call_id = call.get("id") or f"call_{len(self.turns)}"
        self.messages.append({"role": "assistant", "content": msg.get("content"),
                              "tool_calls": [dict(call, id=self.call_id)]})
        fn = call.get("function", {})
        try:
            args = json.loads(fn.get("arguments") or "{}")
        except json.JSONDecodeError:
            return fn.get("arguments") or ""  # the env reports it as invalid JSON
        if not isinstance(args, dict):
            return json.dumps(args)
        return {"tool": fn.get("name"), **args}


def run_llm(env: SearchEnv, policy: LLMPolicy, tasks: list[Task], out: str | Path,
            seed: int = 0) -> list[dict]:
    """Run one episode per task and append each as a JSONL line to `out`."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    with open(out, "a") as f:
        for t in tasks:
            rec = run_episode(env, policy, t, seed=seed)
            line = {"task": t.to_json(), "model": policy.client.model, "reward": rec["score"],
                    "messages": policy.messages, "turns": policy.turns, "record": rec,
                    "tools": TOOL_SCHEMAS}
            f.write(json.dumps(line, default=str) + "\n")
            lines.append(line)
    return lines


def main(argv: list[str] | None = None) -> None:
    from .rl.data import prepare  # the evaluation questions every other agent is scored on
    p = argparse.ArgumentParser(prog="python -m agents.llm")
    p.add_argument("--base-url", required=True, help="e.g. http://127.0.0.1:8000/v1")
    p.add_argument("--model", required=True)
    p.add_argument("--api-key", default=None)
    p.add_argument("--out", default="runs/llm")
    p.add_argument("--data-dir", default="runs/default/data")
    p.add_argument("--regimes", nargs="+", default=None)
    p.add_argument("--n", type=int, default=10, help="questions per regime")
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--token-ids", action="store_true", help="vLLM: return token ids")
    a = p.parse_args(argv)
    data = prepare(a.data_dir)
    env = SearchEnv(data.index)
    client = ChatClient(a.base_url, a.model, a.api_key,
                        extra={"return_tokens_as_token_ids": True} if a.token_ids else None)
    tasks = [t for r, ts in data.eval_tasks.items() if a.regimes is None or r in a.regimes
             for t in ts[:a.n]]
    lines = run_llm(env, LLMPolicy(client, a.temperature), tasks, Path(a.out) / "rollouts.jsonl")
    by: dict[str, list[float]] = {}
    for ln in lines:
        by.setdefault(ln["task"]["regime"], []).append(ln["reward"])
    print(json.dumps({r: sum(v) / len(v) for r, v in by.items()}, indent=2))


if __name__ == "__main__":
    main()
