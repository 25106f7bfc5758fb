"""Near-duplicate detection for questions: MinHash over word 3-grams, checked on content.

Input: reference questions (the evaluation sets, then every accepted candidate) and
candidates. Output: for a candidate, the closest reference and whether it is a
near-duplicate. A candidate is a near-duplicate of a reference when
  1. the MinHash estimate of the Jaccard similarity of their word 3-gram sets is >= threshold
     (same wording, up to small edits), and
  2. they name the same things: the Jaccard of their salient tokens (capitalised words,
     numbers, codes, dates) is >= `salient_min`.
Why 2: questions come from a few templates, so "the launch date of Project A" and "the launch
date of Project B" share most 3-grams but ask different things. Paraphrases that share few
3-grams are not caught (the usual limit of n-gram de-duplication).
Invariants: signatures depend only on the text and a fixed seed (blake2b, not `hash`), so
results are stable across processes; an exact duplicate always scores 1.0.
"""
from __future__ import annotations

import hashlib
import re

import numpy as np

from ..tasks.normalize import normalize_text

NUM_PERM = 128
_rng = np.random.default_rng(20240611)
# Multiply-shift hashing (Dietzfelbinger et al.): h(x) = (a*x + b) mod 2^64 >> 32 with odd a;
# uint64 wrap-around is the intended modulus.
_A = _rng.integers(1, 2**63, NUM_PERM, dtype=np.uint64) | np.uint64(1)
_B = _rng.integers(0, 2**63, NUM_PERM, dtype=np.uint64)
_TEMPLATE_CAPS = {"what", "which", "who", "how", "according", "name", "prepare", "list",
                  "answer", "give", "start", "begin", "write", "cover", "use", "by", "across",
                  "us", "the", "in", "on", "for"}


def shingles(text: str, n: int = 3) -> set[str]:
    words = normalize_text(text).split()
    if len(words) < n:
        return {" ".join(words)}
    return {" ".join(words[i:i + n]) for i in range(len(words) - n + 1)}


def salient(text: str) -> frozenset[str]:
    """Capitalised words and tokens with digits: the entities, periods and codes asked about."""
    toks = re.findall(r"\b(?:[A-Z][\w-]*|[\w.-]*\d[\w.-]*)\b", text)
    return frozenset(t.lower() for t in toks if t.lower() not in _TEMPLATE_CAPS)


def _hash(s: str) -> int:
    return int.from_bytes(hashlib.blake2b(s.encode(), digest_size=4).digest(), "big")


def signature(text: str) -> np.ndarray:
    hs = np.array([_hash(s) for s in shingles(text)], dtype=np.uint64)
    with np.errstate(over="ignore"):
        vals = (_A[:, None] * hs[None, :] + _B[:, None]) >> np.uint64(32)
    return vals.min(axis=1)


def signatures(texts: list[str]) -> np.ndarray:
    if not texts:
        return np.zeros((0, NUM_PERM), dtype=np.uint64)
    return np.stack([signature(t) for t in texts])


def jaccard(a, b) -> float:
    """Exact Jaccard of two sets, or of two texts' 3-gram sets (MinHash estimates this)."""
    if isinstance(a, str):
        a, b = shingles(a), shingles(b)
    return len(a & b) / len(a | b) if a | b else 1.0


class NearDuplicates:
    """References to compare against; grows as candidates are accepted."""

    def __init__(self, references: list[str], threshold: float = 0.7,
                 salient_min: float = 0.8):
        self.threshold, self.salient_min = threshold, salient_min
        self.sigs = signatures(references)
        self.keys = [salient(t) for t in references]
        self.sources = ["eval"] * len(references)

    def check(self, text: str) -> tuple[bool, float, str]:
        """(is near-duplicate, 3-gram similarity of the closest reference, its source)."""
        if len(self.sigs) == 0:
            return False, 0.0, ""
        sims = (self.sigs == signature(text)[None, :]).mean(axis=1)
        key = salient(text)
        for i in np.argsort(-sims, kind="stable"):
            if sims[i] < self.threshold:
                break
            if jaccard(key, self.keys[i]) >= self.salient_min:
                return True, float(sims[i]), self.sources[i]
        i = int(np.argmax(sims))
        return False, float(sims[i]), self.sources[i]

    def add(self, text: str) -> None:
        self.sigs = np.vstack([self.sigs, signature(text)[None]])
        self.keys.append(salient(text))
        self.sources.append("kept")
