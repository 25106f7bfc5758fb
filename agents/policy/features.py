"""Feature vectors of candidate actions: the only way anything reaches the policy's weights.

Input: the `Candidate`s of one decision and the `Memory`. Output: a float64 array
(n_candidates, N_FEATURES): named dense features (`DENSE`: tool indicators, tool x episode
progress, query/read/answer evidence statistics) followed by `N_HASHED` signed hashed
crosses of each candidate's descriptors (e.g. "answer:number:2", "read:account profile")
with the question's plain words and answer-format words.
Invariants: deterministic across processes (crc32, not Python's salted `hash`); a feature a
candidate does not have is 0; values are O(1); the regime's name is never an input.
"""
from __future__ import annotations

import zlib
from functools import lru_cache

import numpy as np

from .answers import KINDS
from .candidates import Candidate
from .memory import Memory
from .text import Question, words

DENSE = (
    # tools, and tools crossed with progress: state alone would cancel in the softmax
    "tool:search", "tool:read", "tool:answer",
    "search*progress", "read*progress", "answer*progress",
    "search*reads", "read*reads", "answer*reads", "search*searches", "answer*searches",
    "answer*last_chance", "search*empty_last",
    # queries
    "q:question", "q:phrases", "q:uncovered", "q:phrase", "q:hop",
    "q_phrase_frac", "q_novelty", "q_len",
    # reads
    "r_rank_inv", "r_rel_score", "r_title_phrases", "r_snippet_phrases", "r_words",
    "r_latest", "r_stale", "r_hop", "r_entity_seen",
    # answers
    *(f"a:{k}" for k in KINDS),
    "a_format", "a_coverage", "a_coverage_linked", "a_all_covered", "a_in_question",
    "a_stale", "a_support", "a_qualifier", "a_len", "a_v0", "a_v1", "a_v2", "a_v3",
)
INDEX = {name: i for i, name in enumerate(DENSE)}
N_HASHED = 64
N_FEATURES = len(DENSE) + N_HASHED


@lru_cache(maxsize=4096)
def cross_words(q: Question) -> tuple[str, ...]:
    """The question's plain words (not names, numbers or codes) and its format words:
    what a question asks for, independent of which entity it asks about."""
    names = set(words(" ".join(q.phrases)))
    return tuple(sorted({w for w in q.content if w not in names and w.isalpha()} |
                        {w for w in q.fmt_words if len(w) > 2}))


def _bucket(token: str, word: str) -> tuple[int, float]:
    h = zlib.crc32(f"{token}|{word}".encode())
    return len(DENSE) + h % N_HASHED, 1.0 if (h >> 20) & 1 else -1.0


def featurize(cands: list[Candidate], mem: Memory) -> np.ndarray:
    X = np.zeros((len(cands), N_FEATURES))
    progress = mem.steps / max(1, mem.budget)
    n_reads, n_searches = min(len(mem.read), 8) / 4.0, min(len(mem.queries), 8) / 4.0
    cw = cross_words(mem.question)
    scale = 1.0 / np.sqrt(max(1, len(cw)))
    for i, c in enumerate(cands):
        row = X[i]
        t = c.tool
        row[INDEX[f"tool:{t}"]] = 1.0
        row[INDEX[f"{t}*progress"]] = progress
        row[INDEX[f"{t}*reads"]] = n_reads
        if t == "search":
            row[INDEX["search*searches"]] = n_searches
            row[INDEX["search*empty_last"]] = float(mem.last_results == 0)
            row[INDEX[f"q:{c.sub}"]] = 1.0
        elif t == "answer":
            row[INDEX["answer*searches"]] = n_searches
            row[INDEX["answer*last_chance"]] = float(mem.steps_left <= 2)
            row[INDEX[f"a:{c.sub}"]] = 1.0
        for name, v in c.feats.items():
            row[INDEX[name]] = v
        for tok in c.tokens:
            for w in cw:
                j, sign = _bucket(tok, w)
                row[j] += sign * scale
    return X
