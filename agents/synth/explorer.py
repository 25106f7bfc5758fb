"""The explorer: walks the corpus through the search tools and writes grounded questions.

Input: a `SearchIndex` (tools only: no world, no ground truth), a seed, how many questions.
Output: synthesized `Task`s whose `answer` is what the explorer read, with provenance in
`meta["synth"]`: evidence doc ids, tool calls spent, the seed query and a `claim` (a
structured statement of what was asked, used only afterwards to audit the answer against
ground truth). Invariants: the explorer sees only search results and document text, so its
answers can be wrong exactly where a careless reader would be (stale notes, superseded
figures, missed pages); deterministic per (index, seed, avoid). `avoid` names customers the
explorer should not write about (the pipeline passes those that evaluation questions, or
questions it already kept, ask about: a question about them would be dropped as asking the
same thing, so it picks among the other customers it has found instead). It is a list of
names, never an answer or a fact.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from .. import extract as X
from ..tasks import Task
from ..tools import Hit, SearchIndex


_TABLE_CLASSES = {"Industry": "industry", "Stage": "stage", "HQ": "city", "Size": "size",
                  "Owner": "person", "Product": "product", "Name": "person"}


@dataclass
class ToolSession:
    """search/read over an index, counting calls and remembering what was read."""
    index: SearchIndex
    calls: int = 0
    read_ids: list[str] = field(default_factory=list)
    customers: set[str] = field(default_factory=set)
    teams: set[str] = field(default_factory=set)
    projects: set[str] = field(default_factory=set)
    # Values of each claim class seen so far (what the explorer knows a brief could state
    # wrongly): industry, stage, status, city, region, size, person, product.
    values: dict[str, set[str]] = field(default_factory=dict)
    avoid: frozenset[str] = frozenset()  # customers not to write questions about

    def search(self, query: str, k: int = 10) -> list[Hit]:
        self.calls += 1
        return self.index.search(query, k)

    def read(self, doc_id: str) -> str:
        self.calls += 1
        self.read_ids.append(doc_id)
        text, _ = self.index.read(doc_id, 0, 100_000)
        self._remember(text)
        return text

    def _remember(self, text: str) -> None:
        """Grow the explorer's vocabulary of entities from whatever it reads."""
        for rows in X.tables(text):
            self.customers.update(r["Customer"] for r in rows if "Customer" in r)
            for r in rows:
                for col, cls in _TABLE_CLASSES.items():
                    if r.get(col):
                        self.values.setdefault(cls, set()).add(r[col])
        for key, cls in (("stage", "stage"), ("account owner", "person"), ("owner", "person"),
                         ("industry", "industry"), ("headquarters", "city")):
            if (v := X.fields(text).get(key)):
                self.values.setdefault(cls, set()).add(v.strip())
        for st in re.findall(r"account status is now (.+?)\.$", text, re.M):
            self.values.setdefault("status", set()).add(st)
        title = X.title_of(text)
        if (m := re.match(r"Account profile: (.+)$", title)):
            self.customers.add(m.group(1))
        if (m := re.match(r"(.+?) team (?:sync|roster|weekly digest)", title)):
            self.teams.add(m.group(1))
        self.projects.update(re.findall(r"Project [A-Z]\w+", text))


@dataclass
class Draft:
    """What a writer produces before it becomes a Task."""
    regime: str
    question: str
    answer: object
    answer_type: str
    meta: dict
    claim: dict
    evidence: list[str]


SEED_QUERIES = {
    "constraint": ("customer directory", "account profile customer since"),
    "report": ("customer directory", "account profile account owner"),
    "numeric": ("division quarterly financial statement", "quarterly financial statement"),
    "exhaustive": ("customer directory", "team roster office"),
    "procedure": ("runbook error steps", "runbook applies to"),
    "aggregate": ("team sync decisions action items", "team sync project budget"),
}


def explore(index: SearchIndex, n: int, seed: int = 0,
            regimes: tuple[str, ...] = tuple(SEED_QUERIES), max_calls_per_question: int = 40,
            round_id: int = 1, avoid: frozenset[str] | set[str] = frozenset()) -> list[Task]:
    """About n questions spread round-robin over regimes (fewer if writers keep failing);
    questions about a customer start from one not in `avoid`."""
    from .writers import WRITERS
    rng = random.Random(f"explore:{seed}:{round_id}")
    session = ToolSession(index, avoid=frozenset(avoid))
    out: list[Task] = []
    failures = 0
    while len(out) < n and failures < 20 * n + 50:
        regime = regimes[(len(out) + failures) % len(regimes)]
        start_calls, start_reads = session.calls, len(session.read_ids)
        seed_query = rng.choice(SEED_QUERIES[regime])
        if not session.customers or rng.random() < 0.1:
            _warm_up(session, rng, seed_query)
        draft = WRITERS[regime](session, rng)
        spent = session.calls - start_calls
        if draft is None or spent > max_calls_per_question:
            failures += 1
            continue
        key = f"synth:{draft.regime}:{draft.question}"
        meta = dict(draft.meta)
        meta["synth"] = {"round": round_id, "evidence": draft.evidence, "claim": draft.claim,
                         "tool_calls": spent, "seed_query": seed_query,
                         "read": session.read_ids[start_reads:]}
        out.append(Task(f"synth-r{round_id}-s{seed}-{len(out):05d}", draft.regime, 0,
                        draft.question, draft.answer, draft.answer_type, draft.evidence, key,
                        meta))
    return out


def _warm_up(session: ToolSession, rng: random.Random, query: str) -> None:
    hits = session.search(query, 10)
    for h in rng.sample(hits, min(2, len(hits))):
        session.read(h.doc_id)
