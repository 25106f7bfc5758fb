"""Dense retrieval beside BM25: corpus-learned embeddings, an HNSW index, reciprocal-rank fusion.

Input: the texts a `SearchIndex` serves (title line + body). Output: `DenseIndex.search(query,
k)` -> [(document position, cosine)] best first; `rrf(rankings, k)` fuses ranked lists.
`agents.retrieval_eval` measures recall@10 per regime for each search mode.

Embeddings are learned on the corpus itself (TF-IDF with the BM25 token pattern, then
TruncatedSVD to `dim` dimensions, L2-normalised: latent semantic analysis), so nothing is
downloaded; they are served by faiss's HNSW graph (inner product = cosine on unit vectors).
Invariants: the dense index is derived only from the texts and the seed, so it is rebuilt,
never persisted, and cannot go stale against the BM25 index it sits beside; identical inputs
give identical rankings (fixed SVD seed, faiss's fixed HNSW level seed, one faiss thread while
building, ties broken by document position).
"""
from __future__ import annotations

import time

import numpy as np

DENSE_DIM = 256  # LSA dimensions: recall rose with dim up to ~256 on train tasks (see README)
RRF_K = 60  # the constant of Cormack et al. (2009); damps the weight of the very top ranks
HNSW_M = 32  # graph degree: ANN top-10 = exact top-10 on 120 eval questions, default world
EF_CONSTRUCTION = 80
EF_SEARCH = 128


def rrf(rankings: list[list[str]], k: int = RRF_K) -> list[tuple[str, float]]:
    """Reciprocal-rank fusion: score(d) = sum over rankings of 1 / (k + rank(d)), ranks from 1.

    Returns (id, score) best first; ties go to the id seen first (ranking order, then rank).
    A ranking must not repeat an id (that would count one list twice)."""
    scores: dict[str, float] = {}
    first: dict[str, int] = {}
    for ranking in rankings:
        if len(set(ranking)) != len(ranking):
            raise ValueError("rrf: a ranking repeats an id")
        for rank, d in enumerate(ranking, start=1):
            scores[d] = scores.get(d, 0.0) + 1.0 / (k + rank)
            first.setdefault(d, len(first))
    return sorted(scores.items(), key=lambda t: (-t[1], first[t[0]]))


class DenseIndex:
    """LSA embeddings of documents in an HNSW index (faiss)."""

    def __init__(self, texts: list[str], token_pattern: str, dim: int = DENSE_DIM, seed: int = 0):
        # imported here, not at module level: scikit-learn costs ~2 s to import on a loaded
        # machine, and BM25-only runs (the default) should not pay it
        import faiss
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer
        from threadpoolctl import threadpool_limits  # scikit-learn's own dependency

        t0 = time.perf_counter()
        self.n = len(texts)
        self.vectorizer = TfidfVectorizer(token_pattern=token_pattern, lowercase=True,
                                          stop_words="english", sublinear_tf=True,
                                          dtype=np.float32)
        tfidf = self.vectorizer.fit_transform(texts)
        # TruncatedSVD needs fewer components than features; tiny corpora get fewer dimensions
        self.dim = max(1, min(dim, tfidf.shape[1] - 1, self.n - 1))
        self.svd = TruncatedSVD(n_components=self.dim, algorithm="randomized", n_iter=5,
                                random_state=seed)
        # one BLAS thread: on a busy 2-core machine threaded BLAS made this SVD 10-25x slower
        # (0.4 s -> 3.5-9 s for 2,000 documents), and a fixed reduction order is reproducible
        with threadpool_limits(1):
            vecs = self._normalise(self.svd.fit_transform(tfidf))
        self.index = faiss.IndexHNSWFlat(self.dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        self.index.hnsw.efConstruction = EF_CONSTRUCTION
        self.index.hnsw.efSearch = EF_SEARCH
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)  # parallel insertion makes the graph order-dependent
        try:
            self.index.add(vecs)
        finally:
            faiss.omp_set_num_threads(threads)
        self.build_seconds = time.perf_counter() - t0

    @staticmethod
    def _normalise(x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        return x / np.where(norms > 0, norms, 1.0)

    def embed(self, query: str) -> np.ndarray | None:
        """The query's unit vector, or None when it shares no term with the corpus."""
        tfidf = self.vectorizer.transform([query])
        if tfidf.nnz == 0:
            return None
        v = self._normalise(self.svd.transform(tfidf))  # 1 x dim: too small to thread
        return v if np.linalg.norm(v) > 0 else None

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """Up to k (position, cosine) pairs, best first, unique positions."""
        k = min(k, self.n)
        v = self.embed(query)
        if v is None or k <= 0:
            return []
        self.index.hnsw.efSearch = max(EF_SEARCH, k)
        sims, pos = self.index.search(v, k)
        pairs = [(int(p), float(s)) for s, p in zip(sims[0], pos[0]) if p >= 0]
        return sorted(dict(pairs).items(), key=lambda t: (-t[1], t[0]))
