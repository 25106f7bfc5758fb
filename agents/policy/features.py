"""Feature vectors of candidate actions: the only way anything reaches the policy's weights.

Input: the `Candidate`s of one decision and the `Memory`. Output: a float64 array
(n_candidates, N_FEATURES): named dense features (`DENSE`: tool indicators, tool x episode
progress, query and read evidence, the kind of working-memory item and the extraction or
operation that made it (for extract and compose; answers carry their kind only in the hashed
crosses), the item's overlap with the question, how much of its value the question already
says, recency) followed by `N_HASHED` signed
hashed crosses of each candidate's descriptors (e.g. "compose:number:growth",
"read:account profile") with the question's plain words and word pairs.
Invariants: deterministic across processes (crc32, not Python's salted `hash`); a feature a
candidate does not have is 0; values are O(1); only the question text, the tool results and
the policy's own memory are inputs (no regime name, no answer-format line, no table from
question or format words to answer kinds: the crosses are learned).
"""
from __future__ import annotations

import os
import re
import zlib
from functools import lru_cache
from pathlib import Path

import numpy as np

from .candidates import Candidate
from .items import EXTRACTS, KINDS, OPS
from .memory import Memory
from .text import Question, words

TOOLS = ("search", "read", "extract", "compose", "answer")
DENSE = (
    # tools, and tools crossed with progress: state alone would cancel in the softmax
    *(f"tool:{t}" for t in TOOLS),
    *(f"{t}*progress" for t in TOOLS), *(f"{t}*reads" for t in TOOLS),
    *(f"{t}*items" for t in TOOLS),
    "search*searches", "answer*searches", "answer*last_chance", "search*empty_last",
    "internal*run",
    # queries
    "q:question", "q:phrases", "q:uncovered", "q:phrase", "q:hop",
    "q_phrase_frac", "q_novelty", "q_len",
    # reads
    "r_rank_inv", "r_rel_score", "r_title_phrases", "r_snippet_phrases", "r_words",
    "r_latest", "r_stale", "r_hop", "r_entity_seen",
    # working-memory items (extract, compose, answer)
    *(f"kind:{k}" for k in KINDS), *(f"how:{h}" for h in EXTRACTS + OPS),
    "i_label_q", "i_q_label", "i_cov", "i_in_question", "i_stale", "i_scope", "i_period",
    "i_parts", "i_docs", "i_newest", "i_percent", "i_gloss", "i_best", "c_args", "a_len",
    "a_fallback", "i_echo", "i_label_plain", "a_latest_item",
)
INDEX = {name: i for i, name in enumerate(DENSE)}
N_HASHED = 128
N_FEATURES = len(DENSE) + N_HASHED
# every column's name (the hashed buckets by their index among the buckets, which does not
# move when a named feature is added): what `model.init_params` seeds each row's draw by
FEATURE_NAMES = DENSE + tuple(f"hash:{i}" for i in range(N_HASHED))
_TOKEN = re.compile(r"[A-Za-z]+")
# Ablations for experiments (e.g. AGENTS_POLICY_ABLATE=i_gloss, read at import, so forked
# workers inherit it): named dense features held at 0 for every candidate. Empty by default.
ABLATE = tuple(sorted(n for n in os.environ.get("AGENTS_POLICY_ABLATE", "").split(",") if n))
if set(ABLATE) - set(INDEX):
    raise ValueError(f"AGENTS_POLICY_ABLATE: unknown features {sorted(set(ABLATE) - set(INDEX))}"
                     f"; known: {', '.join(DENSE)}")


# AGENTS_POLICY_VOCAB=path (an experiment of issue #16, off by default): a file of the words and
# word pairs of the questions a policy was trained on (one a line); crosses with any other
# word are left out, as a tokenizer maps an unseen word to nothing: a word no training question
# had has crosses that training never set, whose weights are those of whatever trained
# crosses share their hashed buckets. Training questions are all in it, so training is
# unchanged; only questions with unseen words are featurized differently.
_VOCAB_PATH = os.environ.get("AGENTS_POLICY_VOCAB", "")
VOCAB = frozenset(Path(_VOCAB_PATH).read_text().split()) if _VOCAB_PATH else None


@lru_cache(maxsize=4096)
def cross_words(q: Question) -> tuple[str, ...]:
    """The question's plain lower-case words (not capitalised names, numbers or codes) and
    its adjacent plain-word pairs: what a question asks for, not whom it asks about."""
    names = set(words(" ".join(q.phrases)))
    toks = [t for t in _TOKEN.findall(q.text) if t.islower() and t not in names]
    pairs = [f"{a}_{b}" for a, b in zip(toks, toks[1:])]
    out = set(toks) | set(pairs)
    if VOCAB is not None:
        out &= VOCAB
    return tuple(sorted(out))


@lru_cache(maxsize=1 << 18)  # descriptors x question words: a small vocabulary, reused
def _bucket(token: str, word: str) -> tuple[int, float]:
    h = zlib.crc32(f"{token}|{word}".encode())
    return len(DENSE) + h % N_HASHED, 1.0 if (h >> 20) & 1 else -1.0


@lru_cache(maxsize=65536)
def _cross(token: str, cw: tuple[str, ...]) -> np.ndarray:
    """The hashed crosses of one descriptor with the question's words (unscaled)."""
    v = np.zeros(N_HASHED)
    if cw:  # sums of +-1: exact in any order, so one scatter-add equals the loop over words
        js, signs = zip(*(_bucket(token, w) for w in cw))
        np.add.at(v, np.asarray(js) - len(DENSE), np.asarray(signs))
    return v


@lru_cache(maxsize=65536)
def _crosses(tokens: tuple[str, ...], cw: tuple[str, ...]) -> np.ndarray:
    """The hashed crosses of all of a candidate's descriptors, scaled (read-only: shared)."""
    scale = 1.0 / np.sqrt(max(1, len(cw)))
    v = np.zeros(N_HASHED)
    for tok in tokens:
        v += _cross(tok, cw) * scale
    v.flags.writeable = False
    return v


_TOOL_COLS = {t: (INDEX[f"tool:{t}"], INDEX[f"{t}*progress"], INDEX[f"{t}*reads"],
                  INDEX[f"{t}*items"]) for t in TOOLS}
_SEARCH_COLS = (INDEX["search*searches"], INDEX["search*empty_last"])
_ANSWER_COLS = (INDEX["answer*searches"], INDEX["answer*last_chance"])
_RUN_COL = INDEX["internal*run"]


def featurize(cands: list[Candidate], mem: Memory) -> np.ndarray:
    n = len(cands)
    X = np.zeros((n, N_FEATURES))
    progress = mem.steps / max(1, mem.budget)
    n_reads, n_searches = min(len(mem.read), 8) / 4.0, min(len(mem.queries), 8) / 4.0
    n_items = min(len(mem.items), 16) / 8.0
    cw = cross_words(mem.question)
    empty_last = float(mem.last_results == 0)
    last_chance = float(mem.steps_left <= 2)
    run = mem.internal_run / 4.0
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    for i, c in enumerate(cands):
        t = c.tool
        cs = _TOOL_COLS[t]
        rows += (i, i, i, i)
        cols += cs
        vals += (1.0, progress, n_reads, n_items)
        if t == "search":
            rows += (i, i, i)
            cols += (*_SEARCH_COLS, INDEX[f"q:{c.sub}"])
            vals += (n_searches, empty_last, 1.0)
        elif t == "answer":
            rows += (i, i)
            cols += _ANSWER_COLS
            vals += (n_searches, last_chance)
        elif t in ("extract", "compose"):
            rows.append(i)
            cols.append(_RUN_COL)
            vals.append(run)
        if c.item is not None and t != "answer":
            # An answer is chosen by generic evidence (label and value against the question,
            # relevance, recency) and by the hashed crosses of its kind with the question's
            # words, not by a kind preference learned on the training questions' answers
            # (that prior kept every number and every latest fact from being answered).
            rows += (i, i)
            cols += (INDEX[f"kind:{c.item.kind}"], INDEX[f"how:{c.item.how}"])
            vals += (1.0, 1.0)
        for name, v in c.feats.items():
            rows.append(i)
            cols.append(INDEX[name])
            vals.append(v)
        if c.tokens:
            X[i, len(DENSE):] = _crosses(c.tokens, cw)
    X[rows, cols] = vals
    for name in ABLATE:
        X[:, INDEX[name]] = 0.0
    return X
