"""What a policy remembers within one episode: the question, searches, hits, reads and the
working memory of extracted and composed items.

Input: the env's observations, in order (`Memory.observe`), and the policy's own extract and
compose actions (`Memory.add`). Output: the state that candidate generation and features
read: analysed question, issued queries, every hit with its best rank and relative BM25
score, documents read (parsed), working-memory items, steps and tokens used.
Invariants: built from the question text, the step count and tool results only (never the
task, the world, the observation's regime name or its answer-format line); `observe`
accepts every observation type, errors included, and never raises.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .items import Item
from .text import ParsedDoc, Question, analyse, parse_doc


@dataclass
class HitInfo:
    doc_id: str
    title: str
    snippet: str
    rank: int  # best (lowest) rank over all searches, 0-based
    rel_score: float  # BM25 score / the top score of its search, in (0, 1]
    search: int  # index of the search that ranked it best
    query: int  # which query (index into Memory.queries) found it first


@dataclass
class Memory:
    question: Question
    budget: int
    steps: int = 0
    queries: list[str] = field(default_factory=list)
    query_kinds: list[str] = field(default_factory=list)
    hits: dict[str, HitInfo] = field(default_factory=dict)
    read: list[ParsedDoc] = field(default_factory=list)
    read_ids: set[str] = field(default_factory=set)
    errors: int = 0
    tokens_seen: int = 0
    last_results: int = -1  # how many hits the latest search returned (-1: none yet)
    items: list[Item] = field(default_factory=list)  # working memory, in the order added
    item_keys: set = field(default_factory=set)
    internal: int = 0  # extract/compose actions this episode
    internal_run: int = 0  # extract/compose actions since the last tool call
    units: dict = field(default_factory=dict)  # doc id -> its extractable units (a cache)
    feats: dict = field(default_factory=dict)  # item -> its question-dependent features
    max_day: int = 0  # the latest document date of any memory item (0: none dated)
    auto_done: set = field(default_factory=set)  # read doc ids already auto-extracted
    composed: dict = field(default_factory=dict)  # (op, ids of its memory items) -> result

    @classmethod
    def start(cls, observation: dict) -> "Memory":
        # the question text only: the regime name and the answer-format line are not read
        q = analyse(observation.get("question", ""))
        return cls(q, int(observation.get("steps_left", 12)))

    @property
    def steps_left(self) -> int:
        return max(0, self.budget - self.steps)

    def add(self, item: Item) -> bool:
        """Put an extracted or composed item into working memory (False: already there)."""
        self.internal += 1
        self.internal_run += 1
        return self.put(item)

    def put(self, item: Item) -> bool:
        """`add` without counting an extract action (the automatic extraction on reading)."""
        if item.key in self.item_keys:
            return False
        self.item_keys.add(item.key)
        self.items.append(item)
        self.max_day = max(self.max_day, item.day)
        return True

    def note_action(self, action: dict, kind: str) -> None:
        """Called with each tool call the agent makes (before the env answers)."""
        self.steps += 1
        self.internal_run = 0
        if action.get("tool") == "search":
            self.queries.append(action["query"])
            self.query_kinds.append(kind)

    def observe(self, obs: dict) -> None:
        self.tokens_seen += len(obs.get("text", "")) // 4
        kind = obs.get("type")
        if kind == "search_results":
            results = obs.get("results", [])
            self.last_results = len(results)
            top = max((r.get("score", 0.0) for r in results), default=0.0) or 1.0
            n = len(self.queries) - 1
            for rank, r in enumerate(results):
                old = self.hits.get(r["doc_id"])
                if old is None or rank < old.rank:
                    self.hits[r["doc_id"]] = HitInfo(
                        r["doc_id"], r.get("title", ""), r.get("snippet", ""), rank,
                        float(r.get("score", 0.0)) / top, n,
                        old.query if old else n)
        elif kind == "document":
            doc_id = obs.get("doc_id", "")
            if doc_id not in self.read_ids and obs.get("offset", 0) == 0:
                self.read_ids.add(doc_id)
                self.read.append(parse_doc(doc_id, obs.get("content", "")))
        elif kind == "error":
            self.errors += 1

    def unread_hits(self) -> list[HitInfo]:
        """Hits not read yet, the latest search's first, then by rank."""
        last = len(self.queries) - 1
        return sorted((h for h in self.hits.values() if h.doc_id not in self.read_ids),
                      key=lambda h: (h.search != last, h.rank, h.doc_id))
