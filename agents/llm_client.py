"""`ChatClient`: a small OpenAI-compatible chat-completions client that stays bounded against
a misbehaving or hostile server.

Input: a base URL (`http://` or `https://`), a model name, an optional API key, the messages.
Output: the decoded completion (a JSON object), or one `LLMError` naming the endpoint, the
number of attempts, the last HTTP status and what went wrong.
Invariants:
- one overall deadline per `complete` call covers every attempt and every wait between them;
  a watchdog shuts the socket down when it passes, so a server that drips bytes (headers or
  body) cannot hold a request past it (`timeout` alone only bounds each socket operation);
- retries, up to `max_retries`, with jittered exponential backoff on HTTP 429 (waiting what
  `Retry-After` asks, refusing at once if that is beyond the deadline or `max_retry_after`),
  5xx, connection errors, truncated bodies (fewer bytes than Content-Length, a broken chunk)
  and undecodable bodies (not UTF-8, not JSON, not an object, nested deeper than
  MAX_RESPONSE_DEPTH, an integer beyond 63 bits: what later code could not log or re-send);
  every other status is final at once, and so is passing the deadline;
- redirects are never followed: a 3xx is an error naming the Location, so the API key is
  only ever sent to the configured origin;
- at most `max_response_bytes` are read (a larger Content-Length is refused before reading);
- only the standard library (`http.client`): it lets us read with a byte cap and a deadline
  and sees redirects instead of following them, which urllib's opener does not.
"""
from __future__ import annotations

import email.utils
import http.client
import json
import random
import socket
import threading
import time
from typing import Any, Callable
from urllib.parse import urlsplit

from .env import json_like_problem

MAX_RESPONSE_DEPTH = 64  # a chat completion is about 8 levels deep
ERROR_EXCERPT = 300  # characters of an error body quoted in LLMError


class LLMError(RuntimeError):
    """A chat-completion request that failed for good (after retries where they apply)."""

    def __init__(self, url: str, message: str, status: int | None = None, attempts: int = 1):
        self.url, self.status, self.attempts = url, status, attempts
        super().__init__(f"{url}: {message} (attempts: {attempts}; last status: "
                         f"{status if status is not None else 'no response'})")


class _Retryable(Exception):
    """One attempt failed in a way another attempt may not; `wait` is the server's ask."""

    def __init__(self, reason: str, status: int | None = None, wait: float | None = None):
        super().__init__(reason)
        self.status, self.wait = status, wait


class _Final(Exception):
    def __init__(self, reason: str, status: int | None = None):
        super().__init__(reason)
        self.status = status


class ChatClient:
    """POST {base_url}/chat/completions with retries, a deadline and a response-size cap."""

    def __init__(self, base_url: str, model: str, api_key: str | None = None,
                 timeout: float = 60.0, max_retries: int = 4, extra: dict | None = None,
                 deadline: float = 300.0, max_response_bytes: int = 4 << 20,
                 backoff: float = 0.5, max_backoff: float = 16.0,
                 max_retry_after: float = 120.0, rng: random.Random | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        parts = urlsplit(base_url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base_url must be an http:// or https:// URL, got {base_url!r}")
        if parts.username or parts.password:
            raise ValueError("put the API key in api_key, not in the URL")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self._https, self._host, self._port = (parts.scheme == "https", parts.hostname,
                                               parts.port)
        self._path = parts.path + "/chat/completions" + (f"?{parts.query}" if parts.query
                                                         else "")
        self.model, self.api_key, self.timeout = model, api_key, timeout
        self.max_retries, self.extra = max_retries, dict(extra or {})
        self.deadline, self.max_response_bytes = deadline, max_response_bytes
        self.backoff, self.max_backoff, self.max_retry_after = backoff, max_backoff, \
            max_retry_after
        self._rng, self._sleep = rng or random.Random(), sleep

    def complete(self, messages: list[dict], **params: Any) -> dict:
        """The server's completion as a dict; raises `LLMError` when it cannot get one."""
        body = json.dumps({"model": self.model, "messages": messages, **self.extra,
                           **params}).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        end = time.monotonic() + self.deadline
        last, status = "no attempt", None
        for attempt in range(1, self.max_retries + 2):
            try:
                return self._attempt(body, headers, end)
            except _Final as e:
                raise LLMError(self.url, str(e), e.status, attempt) from None
            except _Retryable as e:
                last, status = str(e), e.status
                wait = e.wait
            if attempt > self.max_retries:
                break
            if wait is not None and wait > self.max_retry_after:
                raise LLMError(self.url, f"{last}; the server asks to retry after {wait:g}s, "
                               f"more than max_retry_after={self.max_retry_after:g}s",
                               status, attempt)
            if wait is None:
                wait = min(self.max_backoff, self.backoff * 2 ** (attempt - 1)) * \
                    (0.5 + 0.5 * self._rng.random())
            if time.monotonic() + wait >= end:
                raise LLMError(self.url, f"{last}; no time left for a retry within the "
                               f"{self.deadline:g}s deadline", status, attempt)
            self._sleep(wait)
        raise LLMError(self.url, f"gave up: {last}", status, self.max_retries + 1)

    # -- one attempt -------------------------------------------------------------------------
    def _attempt(self, body: bytes, headers: dict, end: float) -> dict:
        left = end - time.monotonic()
        if left <= 0:
            raise _Final(f"the {self.deadline:g}s deadline passed")
        cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        conn = cls(self._host, self._port, timeout=min(self.timeout, left))
        expired = threading.Event()

        def watchdog() -> None:  # unblocks any read or write in progress on the socket
            expired.set()
            sock = conn.sock
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        timer = threading.Timer(left, watchdog)
        timer.daemon = True
        timer.start()
        status = None
        try:
            try:
                conn.connect()
                if expired.is_set():
                    raise TimeoutError
                conn.request("POST", self._path, body, headers)
                resp = conn.getresponse()
                status = resp.status
                ok = 200 <= resp.status < 300
                data = self._read(resp, expired, self.max_response_bytes if ok else 4096, ok)
            except (OSError, http.client.HTTPException, ValueError) as e:
                if expired.is_set():
                    raise _Final(f"the {self.deadline:g}s deadline passed while the "
                                 f"request was in progress", status) from None
                raise _Retryable(f"connection error: {type(e).__name__}: "
                                 f"{str(e)[:ERROR_EXCERPT]}", status) from None
        finally:
            timer.cancel()
            conn.close()
        if ok:
            return _decode(data, resp.status)
        excerpt = repr(data[:ERROR_EXCERPT].decode("utf-8", "replace"))
        if resp.status == 429 or resp.status >= 500:
            raise _Retryable(f"HTTP {resp.status}: {excerpt}", resp.status,
                             _retry_after(resp.getheader("Retry-After")))
        if 300 <= resp.status < 400:
            loc = (resp.getheader("Location") or "")[:ERROR_EXCERPT]
            raise _Final(f"HTTP {resp.status} redirect to {loc!r} not followed (so the API "
                         f"key never leaves this origin): use that URL as base_url if it "
                         f"is trusted", resp.status)
        raise _Final(f"HTTP {resp.status}: {excerpt}", resp.status)

    def _read(self, resp: http.client.HTTPResponse, expired: threading.Event, cap: int,
              strict: bool) -> bytes:
        """The body, at most `cap` bytes; `strict`: more is an error, a short body too."""
        declared = resp.getheader("Content-Length")
        if strict and declared and declared.strip().isdigit() and int(declared) > cap:
            raise _Final(f"response of {int(declared)} bytes exceeds max_response_bytes={cap}",
                         resp.status)
        chunks, n = [], 0
        while n <= cap:
            chunk = resp.read1(min(65536, cap + 1 - n))
            if expired.is_set():
                raise TimeoutError
            if not chunk:
                break
            chunks.append(chunk)
            n += len(chunk)
        if n > cap:
            if strict:
                raise _Final(f"response exceeds max_response_bytes={cap}", resp.status)
            return b"".join(chunks)[:cap]
        if strict and resp.length:  # the connection closed before Content-Length bytes
            raise http.client.IncompleteRead(b"", resp.length)
        return b"".join(chunks)


def _decode(data: bytes, status: int) -> dict:
    """The body as a JSON object, or `_Retryable` saying why it is not one."""
    try:
        obj = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise _Retryable(f"HTTP {status} with a body that is not UTF-8", status) from None
    except RecursionError:
        raise _Retryable(f"HTTP {status} with JSON nested too deeply", status) from None
    except ValueError as e:  # JSONDecodeError, or an integer beyond the digit limit
        raise _Retryable(f"HTTP {status} with a body that is not JSON "
                         f"({str(e)[:ERROR_EXCERPT]}; {len(data)} bytes)", status) from None
    if not isinstance(obj, dict):
        raise _Retryable(f"HTTP {status} with JSON that is not an object", status)
    problem = json_like_problem(obj, max_chars=len(data), max_depth=MAX_RESPONSE_DEPTH,
                                max_items=len(data) + 1)
    if problem:
        raise _Retryable(f"HTTP {status} with a completion holding {problem}", status)
    return obj


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None if absent or
    unreadable (the client then uses its own backoff)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit() and len(value) < 12:
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())
