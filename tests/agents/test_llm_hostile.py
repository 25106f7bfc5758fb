"""ChatClient and LLMPolicy against a loopback server that misbehaves on purpose.

One server (127.0.0.1, port chosen by the OS) plays a scenario named in the request path:
dripping bytes, 429 with Retry-After, 5xx, garbage, truncated bodies, a redirect to a second
server on another port, a 100 MB body, and malformed completions. Every loop in it is
bounded, it answers at most MAX_REQUESTS requests, and a timer shuts it down by itself if a
test forgets to. Retries use a recording `sleep`, so no test waits for a backoff; the only
real waits are the drip tests' half-second deadlines.
"""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agents import SearchEnv, SearchIndex, build_world, sample_tasks
from agents.llm import ChatClient, LLMError, LLMPolicy, run_llm
from agents.llm_client import _retry_after

MAX_REQUESTS = 400
SELF_STOP_SECONDS = 120
OK = {"choices": [{"index": 0, "finish_reason": "stop",
                   "message": {"role": "assistant", "content": "fine"}}]}


def body_of(obj: object) -> bytes:
    return obj if isinstance(obj, bytes) else json.dumps(obj).encode()


class Stub:
    """Scenario state: how many requests each scenario saw and their headers."""

    def __init__(self) -> None:
        self.count: dict[str, int] = {}
        self.headers: dict[str, list[dict]] = {}
        self.script: list[object] = []  # bodies served in order by the "script" scenario
        self.fallback: object = OK
        self.lock = threading.Lock()


def make_server(stub: Stub) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's naming)
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            scenario = self.path.strip("/").split("/")[0]
            with stub.lock:
                n = stub.count[scenario] = stub.count.get(scenario, 0) + 1
                stub.headers.setdefault(scenario, []).append(dict(self.headers))
                total = sum(stub.count.values())
            if total > MAX_REQUESTS:
                return self.reply(503, b"request cap reached")
            try:
                getattr(self, "s_" + scenario.replace("-", "_"))(n)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client hung up, as it should in several scenarios

        def reply(self, status: int, body: bytes, headers: dict | None = None) -> None:
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def s_ok(self, n):
            self.reply(200, body_of(OK))

        def s_drip(self, n):  # a valid body, one byte every 20 ms (about 4 s in all)
            body = body_of(OK)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.flush()
            for b in body:
                self.wfile.write(bytes([b]))
                self.wfile.flush()
                time.sleep(0.02)

        def s_drip_headers(self, n):  # the status line, then headers a byte at a time
            self.wfile.write(b"HTTP/1.0 200 OK\r\n")
            for b in b"X-Slow: " + b"a" * 200 + b"\r\n":
                self.wfile.write(bytes([b]))
                self.wfile.flush()
                time.sleep(0.02)
            self.wfile.write(b"Content-Length: 2\r\n\r\n{}")

        def s_ratelimited(self, n):  # 429 twice, then fine
            if n <= 2:
                return self.reply(429, b"slow down", {"Retry-After": "3"})
            self.s_ok(n)

        def s_ratelimited_long(self, n):
            self.reply(429, b"come back tomorrow", {"Retry-After": "86400"})

        def s_flaky(self, n):  # 503 twice, then fine
            if n <= 2:
                return self.reply(503, b"overloaded")
            self.s_ok(n)

        def s_down(self, n):
            self.reply(500, b"internal error")

        def s_garbage(self, n):
            self.reply(200, b"<html>\xff\xfe not json</html>" if n == 1 else body_of(OK))

        def s_garbage_always(self, n):
            self.reply(200, b'{"choices": [1, 2,')

        def s_deep(self, n):
            self.reply(200, b"[" * 50_000 + b"]" * 50_000)

        def s_bigint(self, n):
            self.reply(200, b'{"choices": [], "n": ' + b"7" * 5000 + b"}")

        def s_not_object(self, n):
            self.reply(200, b"[1, 2, 3]")

        def s_truncated(self, n):  # Content-Length promises more than is sent
            body = body_of(OK)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body) + 500))
            self.end_headers()
            self.wfile.write(body[:-5] if n == 1 else body + b" " * 500)

        def s_truncated_always(self, n):
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b'{"choices": [')

        def s_chunk_cut(self, n):  # a chunked body whose last chunk never arrives
            self.protocol_version = "HTTP/1.1"
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"10\r\n" + b'{"choices": []}\n' + b"\r\n" + b"ff\r\nabc")
            self.close_connection = True

        def s_redirect(self, n):
            self.reply(302, b"", {"Location": stub.other + "/v1/chat/completions"})

        def s_huge(self, n):  # announces 100 MB and streams it until the client hangs up
            self.send_response(200)
            self.send_header("Content-Length", str(100 << 20))
            self.end_headers()
            self.stream(100 << 20)

        def s_huge_unannounced(self, n):  # 100 MB without a length, ended by closing
            self.send_response(200)
            self.end_headers()
            self.stream(100 << 20)

        def stream(self, size: int) -> None:
            block = b"x" * 65536
            for _ in range(size // len(block)):
                self.wfile.write(block)

        def s_error_body_huge(self, n):  # a 400 whose body is huge: only an excerpt is read
            self.send_response(400)
            self.send_header("Content-Length", str(100 << 20))
            self.end_headers()
            self.wfile.write(b"bad request: " + b"y" * 10_000)

        def s_script(self, n):
            with stub.lock:
                body = stub.script.pop(0) if stub.script else stub.fallback
            self.reply(200, body_of(body))

        def log_message(self, *args):  # keep the test output clean
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    return httpd


@pytest.fixture(scope="module")
def stub():
    st, other = Stub(), Stub()
    servers = [make_server(st), make_server(other)]
    st.other = f"http://127.0.0.1:{servers[1].server_address[1]}"
    st.other_stub = other
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    timers = [threading.Timer(SELF_STOP_SECONDS, s.shutdown) for s in servers]
    for t in timers:
        t.daemon = True
        t.start()
    st.base = f"http://127.0.0.1:{servers[0].server_address[1]}"
    yield st
    for t, s in zip(timers, servers):
        t.cancel()
        s.shutdown()
        s.server_close()


def client(stub: Stub, scenario: str, **kw) -> tuple[ChatClient, list[float]]:
    waits: list[float] = []
    kw = {"timeout": 5.0, "deadline": 20.0, "max_retries": 3, "sleep": waits.append, **kw}
    return ChatClient(f"{stub.base}/{scenario}/v1", "m", **kw), waits


HI = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize("scenario", ["drip", "drip-headers"])
def test_a_dripping_server_cannot_hold_a_request_past_its_deadline(stub, scenario):
    c, waits = client(stub, scenario, deadline=0.5)
    with pytest.raises(LLMError, match="deadline") as e:
        c.complete(HI)
    assert e.value.attempts == 1 and waits == [] and scenario in str(e.value)


def test_429_waits_what_retry_after_asks_then_succeeds(stub):
    c, waits = client(stub, "ratelimited")
    assert c.complete(HI) == OK
    assert waits == [3.0, 3.0] and stub.count["ratelimited"] == 3


def test_429_asking_beyond_the_limit_fails_at_once(stub):
    c, waits = client(stub, "ratelimited-long", max_retry_after=60)
    with pytest.raises(LLMError, match="retry after 86400s") as e:
        c.complete(HI)
    assert e.value.status == 429 and e.value.attempts == 1 and waits == []


def test_retry_after_formats():
    assert _retry_after("7") == 7.0 and _retry_after(None) is None
    assert _retry_after("soon") is None and _retry_after("-3") is None
    assert _retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past
    later = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 3600))
    assert 3500 < _retry_after(later) <= 3600


def test_5xx_backs_off_exponentially_with_jitter_then_succeeds(stub):
    c, waits = client(stub, "flaky", backoff=0.5)
    assert c.complete(HI) == OK
    assert len(waits) == 2
    assert 0.25 <= waits[0] <= 0.5 and 0.5 <= waits[1] <= 1.0


def test_a_dead_endpoint_ends_in_one_error_naming_it_and_the_last_status(stub):
    c, waits = client(stub, "down", api_key="sekrit-key")
    with pytest.raises(LLMError) as e:
        c.complete(HI)
    msg = str(e.value)
    assert f"{stub.base}/down/v1/chat/completions" in msg and "last status: 500" in msg
    assert "attempts: 4" in msg and stub.count["down"] == 4 and len(waits) == 3
    assert "sekrit" not in msg


def test_connection_refused_is_retried_then_reported(stub):
    import socket
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    waits: list[float] = []
    c = ChatClient(f"http://127.0.0.1:{port}/v1", "m", max_retries=2, sleep=waits.append)
    with pytest.raises(LLMError, match="connection error") as e:
        c.complete(HI)
    assert e.value.attempts == 3 and len(waits) == 2 and "no response" in str(e.value)


@pytest.mark.parametrize("scenario,good_after", [
    ("garbage", True), ("truncated", True), ("garbage-always", False),
    ("truncated-always", False), ("chunk-cut", False), ("deep", False), ("bigint", False),
    ("not-object", False)])
def test_bad_bodies_are_retried_then_reported(stub, scenario, good_after):
    c, waits = client(stub, scenario)
    if good_after:
        assert c.complete(HI) == OK and len(waits) == 1
        return
    with pytest.raises(LLMError) as e:
        c.complete(HI)
    assert e.value.attempts == 4 and len(waits) == 3 and scenario in str(e.value)


def test_redirects_are_not_followed_and_the_key_stays_home(stub):
    c, _ = client(stub, "redirect", api_key="sekrit-key")
    with pytest.raises(LLMError, match="redirect") as e:
        c.complete(HI)
    assert e.value.status == 302 and e.value.attempts == 1
    assert stub.other_stub.count == {}  # the other origin never saw a request
    assert stub.headers["redirect"][-1]["Authorization"] == "Bearer sekrit-key"


@pytest.mark.parametrize("scenario", ["huge", "huge-unannounced"])
def test_a_100mb_body_is_refused_at_the_cap(stub, scenario):
    c, waits = client(stub, scenario, max_response_bytes=64 << 10)
    with pytest.raises(LLMError, match="max_response_bytes") as e:
        c.complete(HI)
    assert e.value.attempts == 1 and waits == []


def test_an_error_status_quotes_only_an_excerpt(stub):
    c, _ = client(stub, "error-body-huge")
    with pytest.raises(LLMError, match="HTTP 400") as e:
        c.complete(HI)
    assert len(str(e.value)) < 1000 and e.value.attempts == 1


# -- malformed completions through LLMPolicy / run_llm ----------------------------------------
def answer_call(answer: str = "nobody") -> dict:
    return call("answer", json.dumps({"answer": answer}))


def call(name: object, arguments: object, cid: object = "c1") -> dict:
    return {"choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": None, "tool_calls": [
            {"id": cid, "type": "function", "function": {"name": name,
                                                         "arguments": arguments}}]}}]}


def with_message(message: object) -> dict:
    return {"choices": [{"index": 0, "message": message}]}


MALFORMED = {
    "no-choices": {"id": "x"},
    "empty-choices": {"choices": []},
    "choices-not-list": {"choices": {"0": 1}},
    "choice-not-object": {"choices": ["search"]},
    "message-not-object": with_message("hello"),
    "content-not-string": with_message({"role": "assistant", "content": [{"text": "x"}]}),
    "tool-calls-string": with_message({"role": "assistant", "tool_calls": "search"}),
    "tool-calls-of-strings": with_message({"role": "assistant", "tool_calls": ["search"]}),
    "function-not-object": with_message({"role": "assistant",
                                         "tool_calls": [{"function": "search"}]}),
    "no-name": call(None, "{}"),
    "name-not-string": call(["search"], "{}"),
    "arguments-object": call("search", {"query": "x"}),
    "arguments-number": call("search", 5),
    "arguments-not-json": call("search", "{not json"),
    "arguments-deep": call("search", "[" * 15_000 + "]" * 15_000),
    "arguments-deep-valid-size": call("answer", '{"answer": ' + "[" * 50 + "]" * 50 + "}"),
    "arguments-5000-digits": call("search", '{"query": "x", "k": ' + "9" * 5000 + "}"),
    "arguments-too-long": call("search", json.dumps({"query": "q" * 30_000})),
    "arguments-list": call("search", "[1, 2]"),
    "arguments-with-tool": call("search", json.dumps({"tool": "answer", "answer": "x"})),
    "unknown-tool": call("delete", "{}"),
    "bad-field": call("search", json.dumps({"query": "x", "k": "five"})),
}


@pytest.fixture(scope="module")
def env_and_task():
    world = build_world(seed=0)
    return SearchEnv(SearchIndex.build(world.docs), step_budget=4), \
        sample_tasks(world, "constraint", 1, split="eval")[0]


def well_formed(messages: list[dict]) -> bool:
    """Every kept tool call is a normalised call object answered by exactly one tool reply."""
    pending = None
    for m in messages:
        if m["role"] == "assistant" and m.get("tool_calls"):
            (c,) = m["tool_calls"]
            if pending is not None or not isinstance(c["id"], str) or \
                    not isinstance(c["function"]["arguments"], str):
                return False
            pending = c["id"]
        elif m["role"] == "tool":
            if m["tool_call_id"] != pending:
                return False
            pending = None
        elif not isinstance(m.get("content"), str):
            return False
    return True


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_each_malformed_completion_is_an_error_observation(stub, env_and_task, tmp_path, name):
    env, task = env_and_task
    stub.script[:] = [MALFORMED[name], answer_call(task.answer)]
    stub.fallback = OK
    c, _ = client(stub, "script")
    lines = run_llm(env, LLMPolicy(c), [task], tmp_path / "r.jsonl")
    rec = lines[0]["record"]
    assert [s["observation"] for s in rec["trajectory"]] == ["error", "final"], rec
    assert rec["cost"]["errors"] == 1 and lines[0]["reward"] == 1.0
    assert well_formed(lines[0]["messages"])
    json.loads((tmp_path / "r.jsonl").read_text())  # one line, valid JSON


def test_an_endlessly_malformed_model_ends_scored_zero(stub, env_and_task, tmp_path):
    env, task = env_and_task
    stub.script[:] = []
    stub.fallback = MALFORMED["tool-calls-of-strings"]
    c, _ = client(stub, "script")
    try:
        lines = run_llm(env, LLMPolicy(c), [task], tmp_path / "r.jsonl")
    finally:
        stub.fallback = OK
    rec = lines[0]["record"]
    assert lines[0]["reward"] == 0.0 and rec["end_reason"] == "step budget exhausted"
    assert rec["steps"] == 4 and rec["cost"]["errors"] == 4


def test_malformed_logprobs_are_flagged_not_fatal(stub, env_and_task, tmp_path):
    env, task = env_and_task
    bad = answer_call(task.answer)
    bad["choices"][0]["logprobs"] = {"content": [{"token": "a", "logprob": "high"}]}
    stub.script[:] = [bad]
    c, _ = client(stub, "script")
    lines = run_llm(env, LLMPolicy(c), [task], tmp_path / "r.jsonl")
    turn = lines[0]["turns"][0]
    assert lines[0]["reward"] == 1.0 and turn["tokens"] == turn["logprobs"] == []
    assert "logprobs" in turn["logprobs_error"]


def test_run_llm_lets_a_dead_endpoint_through_after_writing_finished_episodes(
        stub, env_and_task, tmp_path):
    env, task = env_and_task
    c, _ = client(stub, "down", max_retries=1)
    with pytest.raises(LLMError, match="last status: 500"):
        run_llm(env, LLMPolicy(c), [task], tmp_path / "r.jsonl")


# -- any completion at all ------------------------------------------------------------------
class FakeClient:
    """Hands LLMPolicy whatever completions a test gives it (as ChatClient.complete would
    after decoding: any JSON object)."""
    model = "fake"

    def __init__(self, replies: list) -> None:
        self.replies = list(replies)

    def complete(self, messages, **params):
        json.dumps(messages)  # the transcript must stay sendable
        return self.replies.pop(0) if self.replies else OK


def _completion_like():
    from hypothesis import strategies as st
    leaf = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
    anything = st.recursive(leaf, lambda c: st.lists(c, max_size=3)
                            | st.dictionaries(st.text(max_size=6), c, max_size=3), max_leaves=12)
    args = anything.map(lambda v: json.dumps(v)) | anything | st.sampled_from(
        ['{"query": "ada"}', '{"doc_id": "doc-000001"}', '{"answer": "x"}', "{", "[[[[", ""])
    fn = st.fixed_dictionaries({}, optional={
        "name": st.sampled_from(["search", "read", "answer", "", "x"]) | anything,
        "arguments": args})
    call = st.fixed_dictionaries({}, optional={"id": anything, "type": anything,
                                               "function": fn | anything}) | anything
    msg = st.fixed_dictionaries({}, optional={
        "role": anything, "content": st.text(max_size=40) | anything,
        "tool_calls": st.lists(call, max_size=2) | anything})
    choice = st.fixed_dictionaries({}, optional={
        "message": msg | anything, "finish_reason": anything,
        "logprobs": st.fixed_dictionaries({"content": st.lists(st.fixed_dictionaries(
            {}, optional={"token": anything, "logprob": anything}), max_size=3) | anything})
        | anything})
    return st.fixed_dictionaries({}, optional={"choices": st.lists(choice | anything,
                                                                   max_size=2) | anything,
                                               "usage": anything}) | anything


def test_run_llm_survives_any_completion(env_and_task, tmp_path_factory):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    env, task = env_and_task
    out = tmp_path_factory.mktemp("any") / "r.jsonl"

    @settings(max_examples=100, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(st.lists(_completion_like(), min_size=1, max_size=4))
    def run(replies):
        lines = run_llm(env, LLMPolicy(FakeClient(replies)), [task], out)
        assert well_formed(lines[0]["messages"])
        assert 0.0 <= lines[0]["reward"] <= 1.0
        json.loads(json.dumps(lines[0], default=str))

    run()
