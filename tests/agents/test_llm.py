"""LLMPolicy against a loopback server that speaks the OpenAI chat-completions protocol.

The server (127.0.0.1, port chosen by the OS, at most MAX_REQUESTS requests) plays a scripted
model: search with the question, read the first hit, answer. It checks every request the way
a real server would (tools declared, each tool call answered by one tool message with its id)
and returns tokens with log-probabilities, which must come back in the JSONL rollouts.
"""
from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agents import SearchEnv, SearchIndex, build_world, sample_tasks
from agents.llm import TOOL_SCHEMAS, ChatClient, LLMPolicy, run_llm

MAX_REQUESTS = 40


class ScriptedModel:
    """Decides the next assistant message from the conversation so far."""

    def __init__(self, answer: object = None, bad_first: bool = False):
        self.answer, self.bad_first = answer, bad_first
        self.requests: list[dict] = []
        self.errors: list[str] = []

    def check(self, body: dict) -> None:
        names = sorted(t["function"]["name"] for t in body.get("tools", []))
        if names != ["answer", "read", "search"]:
            self.errors.append(f"tools {names}")
        msgs = body["messages"]
        pending = None
        for m in msgs:
            if m["role"] == "assistant" and m.get("tool_calls"):
                if pending is not None or len(m["tool_calls"]) != 1:
                    self.errors.append("tool call left unanswered")
                pending = m["tool_calls"][0]["id"]
            elif m["role"] == "tool":
                if m.get("tool_call_id") != pending:
                    self.errors.append("tool reply without its call")
                pending = None

    def reply(self, body: dict) -> dict:
        self.requests.append(body)
        self.check(body)
        msgs = body["messages"]
        turn = sum(m["role"] == "assistant" for m in msgs)
        if self.bad_first and turn == 0:
            return _call("search", "{not json", "c0")
        last = msgs[-1]
        if last["role"] != "tool" or last["content"].startswith("Error"):
            q = re.sub(r"^Question \(\w+\): ", "", msgs[1]["content"].splitlines()[0])
            return _call("search", json.dumps({"query": q, "k": 5}), f"c{turn}")
        hit = re.search(r"^\[(doc-\d+)\]", last["content"], re.M)
        if hit:
            return _call("read", json.dumps({"doc_id": hit.group(1)}), f"c{turn}")
        return _call("answer", json.dumps({"answer": self.answer or "nobody"}), f"c{turn}")


def _call(name: str, arguments: str, cid: str) -> dict:
    msg = {"role": "assistant", "content": None, "tool_calls": [
        {"id": cid, "type": "function", "function": {"name": name, "arguments": arguments}}]}
    toks = ["<tool>", name, arguments[:8]]
    return {"id": "cmpl", "object": "chat.completion", "choices": [{
        "index": 0, "message": msg, "finish_reason": "tool_calls",
        "logprobs": {"content": [{"token": t, "logprob": -0.25 * (i + 1), "bytes": []}
                                 for i, t in enumerate(toks)]}}],
        "usage": {"prompt_tokens": 100, "completion_tokens": len(toks)}}


@pytest.fixture()
def server():
    model = ScriptedModel()
    count = {"n": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's naming)
            count["n"] += 1
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if self.path != "/v1/chat/completions" or count["n"] > MAX_REQUESTS:
                self.send_response(404 if count["n"] <= MAX_REQUESTS else 503)
                self.end_headers()
                return
            out = json.dumps(model.reply(body)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *args):  # keep the test output clean
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", model
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def env_and_tasks():
    world = build_world(seed=0)
    env = SearchEnv(SearchIndex.build(world.docs))
    return env, sample_tasks(world, "constraint", 2, split="eval")


def test_llm_policy_rollouts_jsonl(server, env_and_tasks, tmp_path):
    url, model = server
    env, tasks = env_and_tasks
    model.answer = tasks[0].answer  # a model that happens to know: the reward must be 1
    policy = LLMPolicy(ChatClient(url, "scripted", timeout=10))
    lines = run_llm(env, policy, tasks[:1], tmp_path / "rollouts.jsonl")
    assert model.errors == []
    saved = [json.loads(x) for x in (tmp_path / "rollouts.jsonl").read_text().splitlines()]
    assert len(saved) == 1 and saved[0]["reward"] == lines[0]["reward"] == 1.0
    ep = saved[0]
    assert [t["action"]["tool"] for t in ep["record"]["trajectory"]] == \
        ["search", "read", "answer"]
    assert len(ep["turns"]) == 3
    for turn in ep["turns"]:
        assert len(turn["tokens"]) == len(turn["logprobs"]) == 3
        assert turn["logprobs"] == [-0.25, -0.5, -0.75]
    roles = [m["role"] for m in ep["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "tool", "assistant"]
    assert model.requests[0]["tools"] == TOOL_SCHEMAS
    assert model.requests[0]["logprobs"] is True


def test_llm_policy_wrong_answer_and_malformed_call(server, env_and_tasks, tmp_path):
    url, model = server
    env, tasks = env_and_tasks
    model.bad_first = True
    model.answer = "Nobody Inparticular"
    lines = run_llm(env, LLMPolicy(ChatClient(url, "scripted", timeout=10)), tasks[1:2],
                    tmp_path / "r.jsonl")
    rec = lines[0]["record"]
    assert lines[0]["reward"] == 0.0 and rec["cost"]["errors"] == 1
    assert rec["trajectory"][0]["observation"] == "error"
    assert "not valid JSON" in lines[0]["messages"][3]["content"]
    assert model.errors == [] and len(model.requests) <= MAX_REQUESTS


def test_llm_client_raises_on_refused_requests(server):
    url, _ = server
    client = ChatClient(url.replace("/v1", "/nope"), "scripted", timeout=5, max_retries=0)
    with pytest.raises(Exception):
        client.complete([{"role": "user", "content": "hi"}])
