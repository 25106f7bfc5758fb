"""Search tools over a world's documents: a persisted BM25 index, search and read.

Input: a list of `Document` (or a directory written by `SearchIndex.save`). Output:
`SearchIndex.search(query, k, mode)` -> ranked `Hit`s with a query-focused snippet, by BM25
(the default), a dense index (`agents.retrieval`) or both fused by reciprocal rank;
`SearchIndex.read(doc_id, offset, max_chars)` -> the document text cut to a context budget.
Invariants: the index is real BM25 (`bm25s`, Lucene variant) over title + text with one
token pattern that keeps versions ('3.2'), error codes ('e-4312') and ISO dates whole;
documents are data only: their text is returned, never interpreted; identical inputs give
identical rankings (ties broken by document order).
"""
from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path

import bm25s
import numpy as np

from .retrieval import DENSE_DIM, DenseIndex, rrf
from .world.entities import Document

TOKEN_PATTERN = r"(?u)\b\w+(?:[.\-]\w+)*\b"
SEARCH_MODES = ("bm25", "dense", "hybrid")
HYBRID_DEPTH = 50  # how deep each ranking goes into the fusion (RRF needs more than the top k)
SEARCH_CACHE = 20000  # rankings kept per process (Hits are immutable)
CHARS_PER_TOKEN = 4  # the usual rule of thumb for English text under BPE tokenizers


def approx_tokens(text: str) -> int:
    """Token count estimate: ceil(characters / 4)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def tokenize(texts: list[str]) -> list[list[str]]:
    return bm25s.tokenize(texts, token_pattern=TOKEN_PATTERN, stopwords="en",
                          return_ids=False, show_progress=False)


@dataclass(frozen=True)
class Hit:
    doc_id: str
    title: str
    score: float
    snippet: str


class SearchIndex:
    """BM25 over (doc_id, title, text) triples, with save/load beside a run."""

    def __init__(self, ids: list[str], titles: list[str], texts: list[str],
                 retriever: bm25s.BM25, build_seconds: float = 0.0, dense_dim: int = DENSE_DIM):
        self.ids, self.titles, self.texts = ids, titles, texts
        self.dense_dim = dense_dim
        self.retriever = retriever
        self.build_seconds = build_seconds
        self.position = {d: i for i, d in enumerate(ids)}
        # (query, k, mode) -> hits: the corpus is fixed, and training repeats queries (the
        # G rollouts of a question issue the same first search), so a ranking is computed
        # once per process; bounded, cleared when full
        self._cache: dict[tuple[str, int, str], tuple[Hit, ...]] = {}
        self._dense = None  # built on first use: BM25-only runs pay nothing for it

    @classmethod
    def build(cls, docs: list[Document], dense_dim: int = DENSE_DIM) -> "SearchIndex":
        t0 = time.perf_counter()
        ids = [d.doc_id for d in docs]
        titles = [d.title for d in docs]
        texts = [d.text for d in docs]
        tokens = bm25s.tokenize(texts, token_pattern=TOKEN_PATTERN, stopwords="en",
                                show_progress=False)
        retriever = bm25s.BM25()
        retriever.index(tokens, show_progress=False)
        return cls(ids, titles, texts, retriever, time.perf_counter() - t0, dense_dim)

    def save(self, directory: str | Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.retriever.save(str(directory / "bm25"), show_progress=False)
        with open(directory / "docs.jsonl", "w") as f:
            for i, t, x in zip(self.ids, self.titles, self.texts):
                f.write(json.dumps({"doc_id": i, "title": t, "text": x}) + "\n")
        meta = {"n_docs": len(self.ids), "token_pattern": TOKEN_PATTERN,
                "build_seconds": self.build_seconds, "bm25s": bm25s.__version__}
        (directory / "index.json").write_text(json.dumps(meta, indent=2))
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> "SearchIndex":
        directory = Path(directory)
        meta = json.loads((directory / "index.json").read_text())
        if meta.get("token_pattern") != TOKEN_PATTERN:
            raise ValueError(f"{directory}: index built with another token pattern; rebuild it")
        retriever = bm25s.BM25.load(str(directory / "bm25"), show_progress=False)
        ids, titles, texts = [], [], []
        with open(directory / "docs.jsonl") as f:
            for line in f:
                d = json.loads(line)
                ids.append(d["doc_id"])
                titles.append(d["title"])
                texts.append(d["text"])
        return cls(ids, titles, texts, retriever, meta.get("build_seconds", 0.0))

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def dense(self) -> DenseIndex:
        """The dense (LSA + HNSW) index over the same texts, built once on first use."""
        if self._dense is None:
            self._dense = DenseIndex(self.texts, TOKEN_PATTERN, self.dense_dim)
        return self._dense

    def search(self, query: str, k: int = 5, mode: str = "bm25") -> list[Hit]:
        """Top-k documents for the query, at most k and unique, best first.

        mode "bm25": documents with a positive BM25 score (may be fewer than k); "dense":
        nearest documents by cosine of corpus-learned embeddings (score = cosine); "hybrid":
        the two rankings, each HYBRID_DEPTH deep, fused by reciprocal rank (score = RRF)."""
        if mode not in SEARCH_MODES:
            raise ValueError(f"search mode must be one of {SEARCH_MODES}, got {mode!r}")
        key = (query, k, mode)
        hits = self._cache.get(key)
        if hits is None:
            if len(self._cache) >= SEARCH_CACHE:
                self._cache.clear()
            hits = self._cache[key] = tuple(self._search(query, k, mode))
        return list(hits)

    def _search(self, query: str, k: int, mode: str) -> list[Hit]:
        q = tokenize([query])[0]
        if k <= 0:
            return []
        k = min(k, len(self.ids))
        if mode == "bm25":
            ranked = self._bm25(q, k)
        elif mode == "dense":
            ranked = self.dense.search(query, k)
        else:
            depth = max(k, HYBRID_DEPTH)
            lists = [[self.ids[i] for i, _ in self._bm25(q, depth)],
                     [self.ids[i] for i, _ in self.dense.search(query, depth)]]
            ranked = [(self.position[d], s) for d, s in rrf(lists)[:k]]
        qset = set(q)
        return [Hit(self.ids[i], self.titles[i], round(float(s), 6 if mode == "hybrid" else 4),
                    self._snippet(i, qset)) for i, s in ranked]

    def _bm25(self, q: list[str], k: int) -> list[tuple[int, float]]:
        """(position, BM25 score) of the top-k documents with a positive score, best first."""
        if not q:
            return []
        k = min(k, len(self.ids))
        docs, scores = self.retriever.retrieve([q], k=k, show_progress=False, n_threads=0,
                                               backend_selection="numpy")
        order = sorted(zip(scores[0].tolist(), docs[0].tolist()), key=lambda t: (-t[0], t[1]))
        return [(int(i), float(s)) for s, i in order if s > 0]

    def _snippet(self, i: int, qset: set[str], width: int = 160) -> str:
        """The body line sharing most words with the query, cut to `width` characters."""
        lines = [ln for ln in self.texts[i].splitlines()[1:] if ln.strip()]
        if not lines:
            return ""
        overlap = [len(qset.intersection(re.findall(TOKEN_PATTERN, ln.lower()))) for ln in lines]
        best = lines[int(np.argmax(overlap))]
        return best if len(best) <= width else best[: width - 3] + "..."

    def read(self, doc_id: str, offset: int = 0, max_chars: int = 2400) -> tuple[str, int]:
        """(text[offset:offset + max_chars], total length). KeyError for unknown ids."""
        text = self.texts[self.position[doc_id]]
        return text[offset: offset + max_chars], len(text)
