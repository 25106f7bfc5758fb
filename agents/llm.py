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
a turn without a tool call answers with its text; every malformed completion (no or empty
`choices`, a message that is not an object, `tool_calls` that is not a list of call objects,
`arguments` that is not a JSON string, longer than `max_argument_chars`, not JSON, nested too
deeply, not an object) reaches the env as an `InvalidAction` and comes back to the model as
an error observation costing one step (the episode goes on, or ends scored 0 when the budget
runs out), never as an exception; the turn keeps what the server sent and the error; the
transcript re-sent to the server holds only well-formed calls. Transport failures (see
`agents.llm_client`: deadline, retries with backoff, no redirects, size cap) end in one
`LLMError` naming the endpoint and the last status, which `run_llm` lets through after the
finished episodes are written: zero rewards for a dead server would be silently wrong data.

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
from pathlib import Path
from typing import Any

from .baselines import run_episode
from .env import MAX_ACTION_CHARS, MAX_K, TOOLS, InvalidAction, SearchEnv
from .llm_client import ChatClient, LLMError
from .tasks import Task

__all__ = ["TOOL_SCHEMAS", "ChatClient", "LLMError", "LLMPolicy", "run_llm"]

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


class MalformedCompletion(ValueError):
    """What was wrong with a completion; shown to the model as an error observation."""


def _logprobs(choice: dict) -> tuple[list[str], list[float], str | None]:
    """Tokens and log-probabilities of a choice, and why they are missing when malformed."""
    lp = choice.get("logprobs")
    content = lp.get("content") if isinstance(lp, dict) else None
    if lp is not None and not isinstance(lp, dict):
        return [], [], "logprobs is not an object"
    if content is None:
        return [], [], None
    if not isinstance(content, list):
        return [], [], "logprobs.content is not a list"
    tokens, values = [], []
    for t in content:
        lv = t.get("logprob", 0.0) if isinstance(t, dict) else None
        if not isinstance(t, dict) or not isinstance(t.get("token", ""), str) or \
                isinstance(lv, bool) or not isinstance(lv, (int, float)):
            return [], [], "logprobs.content holds a malformed entry"
        tokens.append(t.get("token", ""))
        values.append(float(lv))
    return tokens, values, None


def _message(resp: Any) -> tuple[dict, dict]:
    """(choice, message) of the first choice, or MalformedCompletion."""
    choices = resp.get("choices") if isinstance(resp, dict) else None
    if not isinstance(choices, list) or not choices:
        raise MalformedCompletion("the completion had no choices")
    choice = choices[0]
    if not isinstance(choice, dict):
        raise MalformedCompletion("the completion's first choice is not an object")
    msg = choice.get("message")
    if msg is None:
        msg = {"role": "assistant", "content": ""}
    if not isinstance(msg, dict):
        raise MalformedCompletion("the completion's message is not an object")
    if not isinstance(msg.get("content"), (str, type(None))):
        raise MalformedCompletion("the message content is not a string")
    calls = msg.get("tool_calls")
    if calls is not None and not isinstance(calls, list):
        raise MalformedCompletion("tool_calls is not a list")
    return choice, msg


class LLMPolicy:
    """An `Agent` (see agents.baselines) whose every action is one chat completion."""

    privileged = False

    def __init__(self, client: ChatClient, temperature: float = 0.7, max_tokens: int = 512,
                 system: str = SYSTEM, name: str = "llm",
                 max_argument_chars: int = MAX_ACTION_CHARS):
        self.client, self.temperature, self.max_tokens = client, temperature, max_tokens
        self.system, self.name, self.max_argument_chars = system, name, max_argument_chars

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
        usage = resp.get("usage") if isinstance(resp, dict) else None
        turn: dict[str, Any] = {"message": None, "tokens": [], "logprobs": [],
                                "finish_reason": None,
                                "usage": usage if isinstance(usage, dict) else {}}
        self.turns.append(turn)
        self.call_id = None
        try:
            choice, msg = _message(resp)
        except MalformedCompletion as e:
            return self._invalid(turn, e, "")
        turn["message"] = dict(msg, role="assistant")
        turn["finish_reason"] = choice.get("finish_reason")
        turn["tokens"], turn["logprobs"], lp_error = _logprobs(choice)
        if lp_error:
            turn["logprobs_error"] = lp_error  # the episode is fine; a trainer must know
        content = msg.get("content") or ""
        calls = msg.get("tool_calls") or []
        if not calls:
            self.messages.append({"role": "assistant", "content": content})
            return {"tool": "answer", "answer": content.strip() or "unknown"}
        try:
            name, arguments, call_id = self._call(calls[0])
        except MalformedCompletion as e:
            return self._invalid(turn, e, content)
        # Only the normalised call is re-sent, and its arguments at most at the limit.
        self.call_id = call_id
        self.messages.append({"role": "assistant", "content": msg.get("content"),
                              "tool_calls": [{"id": call_id, "type": "function", "function": {
                                  "name": name,
                                  "arguments": arguments[:self.max_argument_chars]}}]})
        try:
            return self._action(name, arguments)
        except MalformedCompletion as e:
            turn["error"] = str(e)
            return InvalidAction(str(e))

    def _invalid(self, turn: dict, error: Exception, content: str) -> InvalidAction:
        """A turn that produced no usable call: the transcript gets a plain assistant message
        (so the error observation follows as a user message) and the env an InvalidAction."""
        turn["error"] = str(error)
        self.messages.append({"role": "assistant", "content": content})
        return InvalidAction(str(error))

    def _call(self, call: Any) -> tuple[str, str, str]:
        """(name, arguments, id) of a structurally valid tool call, else MalformedCompletion."""
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict):
            raise MalformedCompletion("a tool call must be an object holding a 'function' "
                                      "object")
        name, arguments = fn.get("name"), fn.get("arguments")
        if not isinstance(name, str) or not 0 < len(name) <= 64:
            raise MalformedCompletion(f"the tool call needs a function name (one of "
                                      f"{', '.join(TOOLS)})")
        if arguments is None:
            arguments = "{}"
        if not isinstance(arguments, str):
            got = "an object" if isinstance(arguments, dict) else type(arguments).__name__
            raise MalformedCompletion(f"'arguments' must be a JSON-encoded string, got {got}")
        cid = call.get("id")
        if not isinstance(cid, str) or not 0 < len(cid) <= 128:
            cid = f"call_{len(self.turns)}"
        return name, arguments, cid

    def _action(self, name: str, arguments: str) -> dict:
        """The env action for a call; the env checks the fields (types, depth, size)."""
        if len(arguments) > self.max_argument_chars:
            raise MalformedCompletion(f"arguments are {len(arguments)} characters long; the "
                                      f"limit is {self.max_argument_chars}")
        try:
            args = json.loads(arguments or "{}")
        except json.JSONDecodeError as e:
            raise MalformedCompletion(f"arguments are not valid JSON: {e.msg}") from None
        except RecursionError:
            raise MalformedCompletion("arguments are nested too deeply") from None
        except ValueError:  # an integer literal beyond Python's digit limit
            raise MalformedCompletion("arguments hold an integer with too many digits") \
                from None
        if not isinstance(args, dict):
            raise MalformedCompletion(f"arguments must be a JSON object, got "
                                      f"{type(args).__name__}")
        if "tool" in args:
            raise MalformedCompletion("arguments may not hold a 'tool' field: the function "
                                      "name says which tool")
        return {"tool": name, **args}


def run_llm(env: SearchEnv, policy: LLMPolicy, tasks: list[Task], out: str | Path,
            seed: int = 0) -> list[dict]:
    """Run one episode per task and append each as a JSONL line to `out`.

    A malformed completion never raises here (it is an error observation in its episode);
    an `LLMError` (the endpoint failed for good) does, after the finished episodes are
    written."""
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
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per socket operation")
    p.add_argument("--deadline", type=float, default=300.0,
                   help="seconds per request, retries and waits included")
    p.add_argument("--max-retries", type=int, default=4)
    p.add_argument("--max-response-bytes", type=int, default=4 << 20)
    a = p.parse_args(argv)
    data = prepare(a.data_dir)
    env = SearchEnv(data.index)
    client = ChatClient(a.base_url, a.model, a.api_key, timeout=a.timeout,
                        max_retries=a.max_retries, deadline=a.deadline,
                        max_response_bytes=a.max_response_bytes,
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
